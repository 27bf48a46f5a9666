/* plot-roc.c: ROC curve with its AUROC, the chance diagonal and a shaded
 * area under the curve. */
#include "config.h"

#include "plot.h"
#include "plot-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>

static void
roc_frame (PlotFrame *f, cairo_t *cr, int width, int height, const CpPlotRoc *roc)
{
  char title[256];
  double w, h;

  if (roc != NULL && roc->title != NULL && roc->title[0] != '\0')
    snprintf (title, sizeof title, _("ROC curve \342\200\224 %s"), roc->title);
  else
    g_strlcpy (title, _("ROC curve"), sizeof title);
  plot_frame_begin (f, cr, width, height, title, FALSE, 0);
  /* A square plot area: both axes are rates. */
  w = f->right - f->left;
  h = f->bottom - f->top;
  if (w > h)
    {
      f->left += (w - h) / 2;
      f->right = f->left + h;
    }
}

void
cp_plot_roc_to_pixel (const CpPlotRoc *roc, int width, int height, double fpr, double tpr, double *x,
                      double *y)
{
  cairo_surface_t *scratch = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 1, 1);
  cairo_t *cr = cairo_create (scratch);
  PlotFrame f;

  roc_frame (&f, cr, width, height, roc);
  *x = plot_x (&f, fpr);
  *y = plot_y (&f, tpr);
  cairo_destroy (cr);
  cairo_surface_destroy (scratch);
}

void
cp_plot_roc_draw (cairo_t *cr, int width, int height, const CpPlotRoc *roc)
{
  PlotFrame f;
  char legend[64];
  size_t valid = 0;
  double *px = NULL, *py = NULL;

  roc_frame (&f, cr, width, height, roc);
  plot_axes (&f, _("False positive rate"), _("True positive rate"), TRUE);

  cairo_save (cr);
  /* Clip a line width outside the frame: a perfect curve runs along the
   * left and top edges and must show in full. */
  {
    double m = 2.0 * f.unit;
    cairo_rectangle (cr, f.left - m, f.top - m, f.right - f.left + 2 * m, f.bottom - f.top + 2 * m);
    cairo_clip (cr);
  }
  /* Chance line. */
  {
    double dash[2] = { 5.0 * f.unit, 4.0 * f.unit };
    cairo_set_dash (cr, dash, 2, 0);
    cairo_set_line_width (cr, 1.2 * f.unit);
    plot_set_color (cr, &plot_color_muted, 0.8);
    cairo_move_to (cr, plot_x (&f, 0), plot_y (&f, 0));
    cairo_line_to (cr, plot_x (&f, 1), plot_y (&f, 1));
    cairo_stroke (cr);
    cairo_set_dash (cr, NULL, 0, 0);
  }

  if (roc != NULL && roc->fpr != NULL && roc->tpr != NULL)
    {
      px = g_new (double, roc->count + 1);
      py = g_new (double, roc->count + 1);
      for (size_t i = 0; i < roc->count; i++)
        if (isfinite (roc->fpr[i]) && isfinite (roc->tpr[i]))
          {
            px[valid] = plot_x (&f, CLAMP (roc->fpr[i], 0.0, 1.0));
            py[valid] = plot_y (&f, CLAMP (roc->tpr[i], 0.0, 1.0));
            valid++;
          }
    }
  if (valid >= 1)
    {
      /* Shade the area under the curve (inside the frame), then the
       * curve itself. */
      cairo_save (cr);
      cairo_rectangle (cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
      cairo_clip (cr);
      cairo_move_to (cr, px[0], plot_y (&f, 0));
      for (size_t i = 0; i < valid; i++)
        cairo_line_to (cr, px[i], py[i]);
      cairo_line_to (cr, px[valid - 1], plot_y (&f, 0));
      cairo_close_path (cr);
      plot_set_color (cr, &plot_color_good, 0.12);
      cairo_fill (cr);
      cairo_restore (cr);

      cairo_move_to (cr, px[0], py[0]);
      for (size_t i = 1; i < valid; i++)
        cairo_line_to (cr, px[i], py[i]);
      cairo_set_line_width (cr, 2.4 * f.unit);
      cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
      plot_set_color (cr, &plot_color_good, 1.0);
      if (valid == 1)
        {
          cairo_new_path (cr);
          plot_marker (cr, 0, px[0], py[0], 3 * f.unit, &plot_color_good, 1.0);
        }
      else
        cairo_stroke (cr);
    }
  cairo_restore (cr);

  if (valid == 0)
    plot_note (&f, _("No ROC curve: both good and defective images are needed"));

  {
    PlotLegendEntry entries[2];
    int n = 0;

    if (valid > 0)
      {
        if (isfinite (roc->auroc))
          snprintf (legend, sizeof legend, "AUROC %.4f", roc->auroc);
        else
          snprintf (legend, sizeof legend, "ROC");
        entries[n++] = (PlotLegendEntry) { legend, &plot_color_good, PLOT_SWATCH_LINE, 0 };
      }
    entries[n++] = (PlotLegendEntry) { /* Translators: ROC legend, the diagonal of a random classifier. */ _("Chance"), &plot_color_muted, PLOT_SWATCH_DASHED, 0 };
    /* Place the legend by points along the curve's segments, not only its
     * corners: a perfect curve has three points but covers two edges. */
    {
      GArray *sx = g_array_new (FALSE, FALSE, sizeof (double));
      GArray *sy = g_array_new (FALSE, FALSE, sizeof (double));
      for (size_t i = 0; i + 1 < valid; i++)
        {
          double len = hypot (px[i + 1] - px[i], py[i + 1] - py[i]);
          int steps = (int) MIN (ceil (len / 4.0), 1000.0);
          for (int k = 0; k <= steps; k++)
            {
              double t = steps > 0 ? (double) k / steps : 0.0;
              double vx = px[i] + t * (px[i + 1] - px[i]), vy = py[i] + t * (py[i + 1] - py[i]);
              g_array_append_val (sx, vx);
              g_array_append_val (sy, vy);
            }
        }
      plot_legend_auto (&f, entries, n, (double *) sx->data, (double *) sy->data, sx->len);
      g_array_free (sx, TRUE);
      g_array_free (sy, TRUE);
    }
  }
  g_free (px);
  g_free (py);
}
