/* plot-tsne.c: t-SNE scatter of embeddings (paper figure 3) with a legend
 * beside the map and a nearest-point lookup for tooltips and clicks. */
#include "config.h"

#include "plot.h"
#include "plot-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  PlotFrame frame;
  double    legend_w;
  double    scale, cx, cy;     /* data -> device: x' = mid + (x - cx) * scale */
  double    mid_x, mid_y;
  gboolean  has_points;
} TsneLayout;

/* Legend names, translated where drawn. */
static const char *kind_names[] = { N_("Train good"), N_("Test good"), N_("Test defect"), N_("CutPaste"), N_("Scar") };

static gboolean
point_valid (const CpPlotTsne *t, size_t i)
{
  return isfinite (t->xy[2 * i]) && isfinite (t->xy[2 * i + 1]) && t->kinds[i] >= CP_PLOT_POINT_TRAIN_GOOD
         && t->kinds[i] <= CP_PLOT_POINT_SCAR;
}

static const PlotColor *
point_color (const CpPlotTsne *t, size_t i)
{
  switch (t->kinds[i])
    {
    case CP_PLOT_POINT_TRAIN_GOOD: return &plot_color_train;
    case CP_PLOT_POINT_TEST_GOOD: return &plot_color_good;
    case CP_PLOT_POINT_CUTPASTE: return &plot_color_cutpaste;
    case CP_PLOT_POINT_SCAR: return &plot_color_scar;
    case CP_PLOT_POINT_TEST_DEFECT:
    default:
      if (t->defect_type != NULL && t->n_defect_names > 1)
        return plot_defect_color (t->defect_type[i]);
      return &plot_color_defect;
    }
}

static int
point_marker (CpPlotPointKind kind)
{
  switch (kind)
    {
    case CP_PLOT_POINT_TRAIN_GOOD: return 5;    /* ring: background context */
    case CP_PLOT_POINT_TEST_GOOD: return 0;
    case CP_PLOT_POINT_TEST_DEFECT: return 2;
    case CP_PLOT_POINT_CUTPASTE: return 4;
    case CP_PLOT_POINT_SCAR: return 3;
    default: return 0;
    }
}

/* Legend entries for the kinds present, defect types listed one by one. */
static int
build_legend (const CpPlotTsne *t, PlotLegendEntry *entries, int max_entries, char (*labels)[96])
{
  size_t present[5] = { 0 };
  size_t *type_present;
  int n = 0, types = t->defect_type != NULL && t->n_defect_names > 1 ? t->n_defect_names : 0;
  static const CpPlotPointKind order[] = { CP_PLOT_POINT_TEST_GOOD, CP_PLOT_POINT_TEST_DEFECT,
                                           CP_PLOT_POINT_TRAIN_GOOD, CP_PLOT_POINT_CUTPASTE, CP_PLOT_POINT_SCAR };

  type_present = g_new0 (size_t, MAX (types, 1));
  for (size_t i = 0; i < t->count; i++)
    if (point_valid (t, i))
      {
        present[t->kinds[i]]++;
        if (t->kinds[i] == CP_PLOT_POINT_TEST_DEFECT && types > 0 && t->defect_type[i] >= 0
            && t->defect_type[i] < types)
          type_present[t->defect_type[i]]++;
      }
  for (int k = 0; k < 5 && n < max_entries; k++)
    {
      CpPlotPointKind kind = order[k];

      if (!present[kind])
        continue;
      if (kind == CP_PLOT_POINT_TEST_DEFECT && types > 0)
        {
          for (int d = 0; d < types && n < max_entries; d++)
            if (type_present[d])
              {
                /* Translators: t-SNE legend; %s is a defect type from the data set, %zu its number of points. */
                snprintf (labels[n], 96, _("Defect: %s (%zu)"), t->defect_names[d] ? t->defect_names[d] : "?",
                          type_present[d]);
                entries[n] = (PlotLegendEntry) { labels[n], plot_defect_color (d), PLOT_SWATCH_MARKER, 2 };
                n++;
              }
          continue;
        }
      snprintf (labels[n], 96, "%s (%zu)", _(kind_names[kind]), present[kind]);
      entries[n] = (PlotLegendEntry) { labels[n], kind == CP_PLOT_POINT_TEST_DEFECT ? &plot_color_defect
                                                  : kind == CP_PLOT_POINT_TRAIN_GOOD ? &plot_color_train
                                                  : kind == CP_PLOT_POINT_TEST_GOOD ? &plot_color_good
                                                  : kind == CP_PLOT_POINT_CUTPASTE ? &plot_color_cutpaste
                                                                                   : &plot_color_scar,
                                       PLOT_SWATCH_MARKER, point_marker (kind) };
      n++;
    }
  g_free (type_present);
  return n;
}

#define MAX_LEGEND 24

/* The layout depends only on the data and the size, so drawing and hit
 * testing agree.  @cr may be a scratch context (text is measured). */
static void
tsne_layout (const CpPlotTsne *t, cairo_t *cr, int width, int height, TsneLayout *l)
{
  PlotLegendEntry entries[MAX_LEGEND];
  char labels[MAX_LEGEND][96];
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY, legend_h = 0;
  char title[256];
  int n_entries = 0;

  memset (l, 0, sizeof *l);
  if (t != NULL && t->title != NULL && t->title[0] != '\0')
    snprintf (title, sizeof title, _("t-SNE of embeddings \342\200\224 %s"), t->title);
  else
    g_strlcpy (title, _("t-SNE of embeddings"), sizeof title);

  /* Measure the legend with a provisional frame (same fonts). */
  plot_frame_begin (&l->frame, cr, width, height, NULL, FALSE, 0);
  if (t != NULL && t->xy != NULL && t->kinds != NULL)
    n_entries = build_legend (t, entries, MAX_LEGEND, labels);
  if (n_entries > 0)
    plot_legend_size (&l->frame, entries, n_entries, &l->legend_w, &legend_h);
  /* The legend sits in a column right of the map, never over points. */
  plot_frame_begin (&l->frame, cr, width, height, title, FALSE,
                    n_entries > 0 ? l->legend_w + 6.0 * l->frame.unit : 0);
  /* No tick labels on t-SNE axes: pull the map closer to the left edge. */
  {
    double line_h;
    plot_text_size (&l->frame, "0", 1.0, FALSE, NULL, &line_h);
    l->frame.left = 0.4 * line_h + line_h + 0.6 * line_h;
    l->frame.bottom = height - (0.4 * line_h + line_h + 0.6 * line_h);
  }

  if (t != NULL && t->xy != NULL && t->kinds != NULL)
    for (size_t i = 0; i < t->count; i++)
      if (point_valid (t, i))
        {
          xmin = MIN (xmin, t->xy[2 * i]);
          xmax = MAX (xmax, t->xy[2 * i]);
          ymin = MIN (ymin, t->xy[2 * i + 1]);
          ymax = MAX (ymax, t->xy[2 * i + 1]);
          l->has_points = TRUE;
        }
  l->mid_x = (l->frame.left + l->frame.right) / 2;
  l->mid_y = (l->frame.top + l->frame.bottom) / 2;
  if (l->has_points)
    {
      /* Equal scale on both axes (t-SNE distances are isotropic), 6% inset
       * so edge markers stay inside the frame. */
      double span_x = MAX (xmax - xmin, 1e-9), span_y = MAX (ymax - ymin, 1e-9);
      double sx = (l->frame.right - l->frame.left) * 0.88 / span_x;
      double sy = (l->frame.bottom - l->frame.top) * 0.88 / span_y;

      l->scale = MIN (sx, sy);
      if (xmax - xmin < 1e-9 && ymax - ymin < 1e-9)
        l->scale = 1.0;       /* every point in one place */
      l->cx = (xmin + xmax) / 2;
      l->cy = (ymin + ymax) / 2;
    }
}

static void
to_device (const TsneLayout *l, double x, double y, double *dx, double *dy)
{
  *dx = l->mid_x + (x - l->cx) * l->scale;
  *dy = l->mid_y - (y - l->cy) * l->scale;
}

void
cp_plot_tsne_draw (cairo_t *cr, int width, int height, const CpPlotTsne *t)
{
  TsneLayout l;
  PlotFrame *f = &l.frame;
  double r;
  static const CpPlotPointKind draw_order[] = { CP_PLOT_POINT_TRAIN_GOOD, CP_PLOT_POINT_CUTPASTE,
                                                CP_PLOT_POINT_SCAR, CP_PLOT_POINT_TEST_GOOD,
                                                CP_PLOT_POINT_TEST_DEFECT };

  tsne_layout (t, cr, width, height, &l);
  plot_axes (f, "t-SNE 1", "t-SNE 2", FALSE);
  if (!l.has_points)
    {
      plot_note (f, _("No embeddings to show"));
      return;
    }
  r = CLAMP (3.2 * f->unit * (t->count > 1500 ? 0.7 : t->count > 500 ? 0.85 : 1.0), 1.5, 8.0);

  cairo_save (cr);
  cairo_rectangle (cr, f->left, f->top, f->right - f->left, f->bottom - f->top);
  cairo_clip (cr);
  /* Context (train, augmented) underneath, test images on top. */
  for (int k = 0; k < 5; k++)
    for (size_t i = 0; i < t->count; i++)
      if (point_valid (t, i) && t->kinds[i] == draw_order[k])
        {
          double x, y;
          to_device (&l, t->xy[2 * i], t->xy[2 * i + 1], &x, &y);
          plot_marker (cr, point_marker (t->kinds[i]), x, y, r, point_color (t, i),
                       t->kinds[i] == CP_PLOT_POINT_TRAIN_GOOD ? 0.75 : 0.9);
        }
  cairo_restore (cr);

  {
    PlotLegendEntry entries[MAX_LEGEND];
    char labels[MAX_LEGEND][96];
    int n = build_legend (t, entries, MAX_LEGEND, labels);

    plot_legend_draw (f, entries, n, f->right + 6.0 * f->unit, f->top);
  }
}

gboolean
cp_plot_tsne_to_pixel (const CpPlotTsne *t, int width, int height, size_t index, double *x, double *y)
{
  TsneLayout l;
  cairo_surface_t *scratch;
  cairo_t *cr;

  if (t == NULL || t->xy == NULL || t->kinds == NULL || index >= t->count || !point_valid (t, index)
      || width <= 0 || height <= 0)
    return FALSE;
  scratch = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 1, 1);
  cr = cairo_create (scratch);
  tsne_layout (t, cr, width, height, &l);
  cairo_destroy (cr);
  cairo_surface_destroy (scratch);
  to_device (&l, t->xy[2 * index], t->xy[2 * index + 1], x, y);
  return TRUE;
}

int
cp_plot_tsne_hit (const CpPlotTsne *t, int width, int height, double x, double y, double max_distance)
{
  TsneLayout l;
  cairo_surface_t *scratch;
  cairo_t *cr;
  double best = max_distance * max_distance;
  int best_i = -1;
  static const CpPlotPointKind draw_order[] = { CP_PLOT_POINT_TRAIN_GOOD, CP_PLOT_POINT_CUTPASTE,
                                                CP_PLOT_POINT_SCAR, CP_PLOT_POINT_TEST_GOOD,
                                                CP_PLOT_POINT_TEST_DEFECT };

  if (t == NULL || t->xy == NULL || t->kinds == NULL || width <= 0 || height <= 0)
    return -1;
  /* Text metrics need a context; a 1 x 1 image surface measures the same
   * fonts as the drawing does. */
  scratch = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 1, 1);
  cr = cairo_create (scratch);
  tsne_layout (t, cr, width, height, &l);
  cairo_destroy (cr);
  cairo_surface_destroy (scratch);
  if (!l.has_points)
    return -1;
  /* Walk in drawing order and prefer later points on ties, so the point
   * reported is the one drawn on top. */
  for (int k = 0; k < 5; k++)
    for (size_t i = 0; i < t->count; i++)
      if (point_valid (t, i) && t->kinds[i] == draw_order[k])
        {
          double dx, dy, d;
          to_device (&l, t->xy[2 * i], t->xy[2 * i + 1], &dx, &dy);
          d = (dx - x) * (dx - x) + (dy - y) * (dy - y);
          if (d <= best)
            {
              best = d;
              best_i = (int) i;
            }
        }
  return best_i;
}
