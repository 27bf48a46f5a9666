/* report-draw.c: the pages of the shift report (report.h): layout of the
 * sections over pages, and drawing with cairo and pango. */
#include "config.h"

#include "report-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <string.h>

#include "data/image.h"
#include "plot/plot.h"

#define MARGIN        40.0
#define CONTENT_W     (CP_REPORT_PAGE_WIDTH - 2 * MARGIN)
#define BOTTOM        (CP_REPORT_PAGE_HEIGHT - 50.0)
#define HEADING_H     26.0
#define ROW_H         13.0
#define CARD_COLUMNS  3
#define CARD_GAP      12.0
#define CARD_IMAGE    150.0
#define CARD_H        (CARD_IMAGE + 50.0)

typedef struct
{
  double r, g, b;
} Rgb;

static const Rgb color_text = { 0x24 / 255.0, 0x1f / 255.0, 0x31 / 255.0 };
static const Rgb color_muted = { 0x77 / 255.0, 0x76 / 255.0, 0x7b / 255.0 };
static const Rgb color_rule = { 0xde / 255.0, 0xdd / 255.0, 0xda / 255.0 };
static const Rgb color_pass = { 0x1c / 255.0, 0x71 / 255.0, 0xd8 / 255.0 };
static const Rgb color_fail = { 0xe0 / 255.0, 0x1b / 255.0, 0x24 / 255.0 };
static const Rgb color_steady = { 0x26 / 255.0, 0xa2 / 255.0, 0x69 / 255.0 };

static void
set_rgb (cairo_t *cr, const Rgb *c)
{
  cairo_set_source_rgb (cr, c->r, c->g, c->b);
}

/* Draws @text at (x, y) in a column @width wide (0: no wrapping; < 0: one
 * line cut with an ellipsis at -width), @size points; returns its height. */
static double
text_at (cairo_t *cr, double x, double y, double width, const char *text, double size, gboolean bold,
         const Rgb *color, PangoAlignment align)
{
  PangoLayout *layout = pango_cairo_create_layout (cr);
  PangoFontDescription *desc = pango_font_description_from_string ("Sans");
  PangoRectangle logical;

  pango_font_description_set_absolute_size (desc, size * PANGO_SCALE);
  if (bold)
    pango_font_description_set_weight (desc, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description (layout, desc);
  pango_font_description_free (desc);
  if (width > 0)
    {
      pango_layout_set_width (layout, (int) (width * PANGO_SCALE));
      pango_layout_set_wrap (layout, PANGO_WRAP_WORD_CHAR);
      pango_layout_set_alignment (layout, align);
    }
  else if (width < 0)
    {
      pango_layout_set_width (layout, (int) (-width * PANGO_SCALE));
      pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_MIDDLE);
      pango_layout_set_alignment (layout, align);
    }
  pango_layout_set_text (layout, text ? text : "", -1);
  pango_layout_get_extents (layout, NULL, &logical);
  cairo_save (cr);
  set_rgb (cr, color);
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, layout);
  cairo_restore (cr);
  g_object_unref (layout);
  return (double) logical.height / PANGO_SCALE;
}

static void
rule (cairo_t *cr, double x0, double x1, double y)
{
  cairo_save (cr);
  set_rgb (cr, &color_rule);
  cairo_set_line_width (cr, 0.7);
  cairo_move_to (cr, x0, y);
  cairo_line_to (cr, x1, y);
  cairo_stroke (cr);
  cairo_restore (cr);
}

static char *
local_time (gint64 time_us, const char *format)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local (time_us / G_USEC_PER_SEC);

  return dt ? g_date_time_format (dt, format) : g_strdup ("?");
}

static char *
short_hash (const char *hash)
{
  return g_strndup (hash ? hash : "", 12);
}

static const char *
verdict_text (CpVerdict v)
{
  return v == CP_VERDICT_PASS ? _("pass") : v == CP_VERDICT_FAIL ? _("fail") : "";
}

/* ---- layout ---------------------------------------------------------------------------- */

static int
section_rows (const CpReport *report, ReportSection section)
{
  switch (section)
    {
    case REPORT_SECTION_WORST:
      return (int) report->worst->len;
    case REPORT_SECTION_OVERRIDES:
      return (int) report->overrides->len;
    case REPORT_SECTION_REFITS:
      return (int) report->refits->len;
    case REPORT_SECTION_MODELS:
    default:
      return (int) report->models->len;
    }
}

void
cp_report_layout (CpReport *report)
{
  static const ReportSection sections[] = { REPORT_SECTION_WORST, REPORT_SECTION_OVERRIDES,
                                            REPORT_SECTION_REFITS, REPORT_SECTION_MODELS };
  int page = 1;
  double y = MARGIN;

  if (report->pieces)
    g_array_set_size (report->pieces, 0);
  else
    report->pieces = g_array_new (FALSE, TRUE, sizeof (ReportPiece));
  for (gsize s = 0; s < G_N_ELEMENTS (sections); s++)
    {
      ReportSection section = sections[s];
      int rows = section_rows (report, section), first = 0;
      gboolean heading = TRUE;

      if (section == REPORT_SECTION_WORST)
        {
          /* The cards stay together. */
          int card_rows = MAX (1, (rows + CARD_COLUMNS - 1) / CARD_COLUMNS);
          double h = HEADING_H + card_rows * (CARD_H + CARD_GAP);
          ReportPiece piece = {
            .page = page, .section = section, .count = rows, .y = y, .heading = TRUE,
          };

          if (y + h > BOTTOM && y > MARGIN)
            {
              page++;
              y = MARGIN;
              piece.page = page;
              piece.y = y;
            }
          g_array_append_val (report->pieces, piece);
          y += h + 10;
          continue;
        }
      do
        {
          double head = (heading ? HEADING_H : 0) + ROW_H + 4;
          int fit;
          ReportPiece piece;

          if (y + head + ROW_H > BOTTOM)
            {
              page++;
              y = MARGIN;
            }
          fit = (int) floor ((BOTTOM - y - head) / ROW_H);
          fit = MAX (1, MIN (fit, rows - first));
          piece = (ReportPiece) { page, section, first, rows == 0 ? 0 : fit, y, heading };
          g_array_append_val (report->pieces, piece);
          y += head + MAX (fit, 1) * ROW_H + 14;
          first += fit;
          heading = FALSE;
        }
      while (first < rows);
    }
  report->n_pages = page + 1;
}

/* ---- page 1 ---------------------------------------------------------------------------- */

static void
card (cairo_t *cr, double x, double y, double w, const char *label, const char *value, const char *note,
      const Rgb *value_color)
{
  cairo_save (cr);
  set_rgb (cr, &color_rule);
  cairo_set_line_width (cr, 0.8);
  cairo_rectangle (cr, x + 0.5, y + 0.5, w - 1, 58);
  cairo_stroke (cr);
  cairo_restore (cr);
  text_at (cr, x + 8, y + 6, w - 16, label, 8, FALSE, &color_muted, PANGO_ALIGN_LEFT);
  text_at (cr, x + 8, y + 19, w - 16, value, 17, TRUE, value_color, PANGO_ALIGN_LEFT);
  if (note)
    text_at (cr, x + 8, y + 42, -(w - 16), note, 6.5, FALSE, &color_muted, PANGO_ALIGN_LEFT);
}

static void
draw_plot_box (cairo_t *cr, double x, double y, double w, double h, int kind, const CpReport *report)
{
  cairo_save (cr);
  cairo_translate (cr, x, y);
  cairo_rectangle (cr, 0, 0, w, h);
  cairo_clip (cr);
  if (kind == 0)
    {
      GArray *passed = g_array_new (FALSE, FALSE, sizeof (double));
      GArray *failed = g_array_new (FALSE, FALSE, sizeof (double));
      CpPlotHistogram hist = { 0 };

      for (guint i = 0; i < report->parts->len; i++)
        {
          const CpPart *p = report->parts->pdata[i];
          g_array_append_val (p->verdict == CP_VERDICT_FAIL ? failed : passed, p->score);
        }
      hist.good_scores = (const double *) passed->data;
      hist.n_good = passed->len;
      hist.defect_scores = (const double *) failed->data;
      hist.n_defect = failed->len;
      hist.threshold = report->threshold;
      hist.title = report->category;
      hist.good_name = _("Passed");
      hist.defect_name = _("Failed");
      hist.count_name = _("Parts");
      cp_plot_histogram_draw (cr, (int) w, (int) h, &hist);
      g_array_unref (passed);
      g_array_unref (failed);
    }
  else if (kind == 1)
    {
      guint n = report->buckets->len;
      g_autofree gint64 *start = g_new (gint64, MAX (n, 1));
      g_autofree gint64 *total = g_new (gint64, MAX (n, 1));
      g_autofree gint64 *passed = g_new (gint64, MAX (n, 1));
      CpPlotYield yield = {
        .start_us = start, .total = total, .passed = passed, .count = n,
        .width_us = report->bucket_us,
      };

      for (guint i = 0; i < n; i++)
        {
          const CpYieldBucket *b = &g_array_index (report->buckets, CpYieldBucket, i);
          start[i] = b->start_us;
          total[i] = b->total;
          passed[i] = b->final_passed;
        }
      cp_plot_yield_draw (cr, (int) w, (int) h, &yield);
    }
  else
    {
      guint n = report->parts->len;
      g_autofree gint64 *time = g_new (gint64, MAX (n, 1));
      g_autofree double *score = g_new (double, MAX (n, 1));
      g_autofree gboolean *failed = g_new (gboolean, MAX (n, 1));
      CpPlotScores scores = {
        .time_us = time, .score = score, .failed = failed, .count = n,
        .threshold = report->threshold, .reference_median = NAN, .reference_upper = NAN,
      };

      for (guint i = 0; i < n; i++)
        {
          const CpPart *p = report->parts->pdata[i];
          time[i] = p->time_us;
          score[i] = p->score;
          failed[i] = p->verdict == CP_VERDICT_FAIL;
        }
      if (report->drift_checked)
        {
          scores.reference_median = report->drift.reference_median;
          scores.reference_upper = report->drift.reference_upper;
        }
      cp_plot_scores_draw (cr, (int) w, (int) h, &scores);
    }
  cairo_restore (cr);
}

static void
draw_first_page (CpReport *report, cairo_t *cr)
{
  const CpPartCounts *c = &report->counts;
  g_autofree char *title = NULL, *period = NULL, *from = NULL, *to = NULL, *generated = NULL, *zone = NULL;
  g_autofree char *v_parts = NULL, *v_pass = NULL, *v_fail = NULL, *v_yield = NULL, *v_over = NULL;
  g_autofree char *n_pass = NULL, *n_fail = NULL, *threshold = NULL;
  double y = MARGIN, w = (CONTENT_W - 4 * 8) / 5;
  const Rgb *drift_color;

  title = g_strdup_printf ("%s \342\200\224 %s", report->title,
                           report->category ? report->category : _("all categories"));
  y += text_at (cr, MARGIN, y, CONTENT_W, title, 18, TRUE, &color_text, PANGO_ALIGN_LEFT) + 4;
  from = report->from_us != G_MININT64 ? local_time (report->from_us, "%Y-%m-%d %H:%M")
       : c->total > 0 ? local_time (c->first_us, "%Y-%m-%d %H:%M") : g_strdup ("\342\200\224");
  to = report->to_us != G_MAXINT64 ? local_time (report->to_us, "%Y-%m-%d %H:%M")
     : c->total > 0 ? local_time (c->last_us, "%Y-%m-%d %H:%M") : g_strdup ("\342\200\224");
  zone = local_time (report->generated_us, "UTC%:z");
  generated = local_time (report->generated_us, "%Y-%m-%d %H:%M");
  /* Translators: the period of the report: from, to, the time zone. */
  period = g_strdup_printf (_("Period: %s to %s (local time, %s)"), from, to, zone);
  y += text_at (cr, MARGIN, y, CONTENT_W, period, 9, FALSE, &color_text, PANGO_ALIGN_LEFT) + 1;
  {
    g_autofree char *line = g_strdup_printf (_("Database: %s \302\267 generated %s"), report->db_path, generated);
    y += text_at (cr, MARGIN, y, -CONTENT_W, line, 7.5, FALSE, &color_muted, PANGO_ALIGN_LEFT) + 10;
  }

  v_parts = g_strdup_printf ("%" G_GINT64_FORMAT, c->total);
  v_pass = g_strdup_printf ("%" G_GINT64_FORMAT, c->final_passed);
  v_fail = g_strdup_printf ("%" G_GINT64_FORMAT, c->final_failed);
  v_yield = c->total > 0 ? g_strdup_printf ("%.1f %%", 100.0 * c->yield) : g_strdup ("\342\200\224");
  v_over = g_strdup_printf ("%" G_GINT64_FORMAT, c->overridden);
  {
    g_autofree char *passed = g_strdup_printf ("%" G_GINT64_FORMAT, c->passed);
    g_autofree char *failed = g_strdup_printf ("%" G_GINT64_FORMAT, c->failed);

    /* Translators: under the passed / failed counts: %s parts had that verdict when they were scored. */
    n_pass = g_strdup_printf (_("%s at scoring"), passed);
    n_fail = g_strdup_printf (_("%s at scoring"), failed);
  }
  card (cr, MARGIN, y, w, _("Parts"), v_parts, NULL, &color_text);
  card (cr, MARGIN + (w + 8), y, w, _("Passed"), v_pass, n_pass, &color_pass);
  card (cr, MARGIN + 2 * (w + 8), y, w, _("Failed"), v_fail, n_fail, &color_fail);
  card (cr, MARGIN + 3 * (w + 8), y, w, _("Yield"), v_yield, _("overrides included"), &color_text);
  card (cr, MARGIN + 4 * (w + 8), y, w, _("Overrides"), v_over, _("by operators"), &color_text);
  y += 58 + 10;

  drift_color = !report->drift_checked || report->drift.state == CP_DRIFT_UNKNOWN ? &color_muted
              : report->drift.state == CP_DRIFT_STEADY ? &color_steady : &color_fail;
  {
    double h = 0;

    cairo_save (cr);
    h = text_at (cr, MARGIN + 12, y + 6, CONTENT_W - 20, report->drift_text, 8.5,
                 report->drift_checked && (report->drift.state == CP_DRIFT_HIGHER
                                           || report->drift.state == CP_DRIFT_LOWER),
                 &color_text, PANGO_ALIGN_LEFT);
    set_rgb (cr, drift_color);
    cairo_rectangle (cr, MARGIN, y, 4, h + 12);
    cairo_fill (cr);
    cairo_restore (cr);
    y += h + 12 + 6;
  }
  if (isfinite (report->threshold))
    {
      if (report->thresholds_differ)
        threshold = g_strdup_printf (_("The threshold changed during the period (a refit or a new model); the "
                                       "charts show the last one, %.4g."), report->threshold);
      else
        threshold = g_strdup_printf (_("Threshold %.4g; models used: %u (listed at the end)."), report->threshold,
                                     report->models->len);
      y += text_at (cr, MARGIN, y, CONTENT_W, threshold, 7.5, FALSE, &color_muted, PANGO_ALIGN_LEFT) + 6;
    }

  {
    double left = BOTTOM - y - 2 * 8, h = left / 3;

    draw_plot_box (cr, MARGIN, y, CONTENT_W, h, 0, report);
    y += h + 8;
    draw_plot_box (cr, MARGIN, y, CONTENT_W, h, 1, report);
    y += h + 8;
    draw_plot_box (cr, MARGIN, y, CONTENT_W, h, 2, report);
  }
}

/* ---- later pages ------------------------------------------------------------------------- */

static cairo_surface_t *
surface_from_image (const CpImage *image)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, image->width, image->height);
  unsigned char *data = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);

  cairo_surface_flush (s);
  for (int yy = 0; yy < image->height; yy++)
    {
      guint32 *row = (guint32 *) (data + (gsize) yy * stride);
      const uint8_t *src = image->pixels + (gsize) yy * image->stride;

      for (int xx = 0; xx < image->width; xx++)
        row[xx] = 0xff000000u | (guint32) src[3 * xx] << 16 | (guint32) src[3 * xx + 1] << 8 | src[3 * xx + 2];
    }
  cairo_surface_mark_dirty (s);
  return s;
}

/* The heatmap overlay when there is one, else the part's image; small
 * enough for the page.  NULL when neither can be read. */
static cairo_surface_t *
part_picture (const CpPart *part, gboolean *is_heatmap)
{
  const char *paths[2] = { part->heatmap_path, part->final_path ? part->final_path : part->file_path };

  for (int k = 0; k < 2; k++)
    {
      g_autoptr (CpImage) image = NULL;

      if (paths[k] == NULL || !cp_image_load (paths[k], &image, NULL))
        continue;
      if (MAX (image->width, image->height) > 320)
        {
          double s = 320.0 / MAX (image->width, image->height);
          g_autoptr (CpImage) small = cp_image_resize_bicubic (image, MAX (1, (int) (image->width * s)),
                                                               MAX (1, (int) (image->height * s)));
          g_clear_pointer (&image, cp_image_free);
          image = g_steal_pointer (&small);
        }
      *is_heatmap = k == 0;
      return surface_from_image (image);
    }
  return NULL;
}

static double
heading (cairo_t *cr, double y, const char *text, gboolean continued)
{
  g_autofree char *line = continued ? g_strdup_printf (_("%s (continued)"), text) : g_strdup (text);

  text_at (cr, MARGIN, y + 4, CONTENT_W, line, 12, TRUE, &color_text, PANGO_ALIGN_LEFT);
  return HEADING_H;
}

static void
draw_worst (CpReport *report, cairo_t *cr, const ReportPiece *piece)
{
  double y = piece->y + heading (cr, piece->y, _("Worst parts"), FALSE);
  double w = (CONTENT_W - (CARD_COLUMNS - 1) * CARD_GAP) / CARD_COLUMNS;

  if (report->worst->len == 0)
    {
      text_at (cr, MARGIN, y, CONTENT_W, _("No parts in this period."), 9, FALSE, &color_muted, PANGO_ALIGN_LEFT);
      return;
    }
  for (guint i = 0; i < report->worst->len; i++)
    {
      const CpPart *p = report->worst->pdata[i];
      double x = MARGIN + (i % CARD_COLUMNS) * (w + CARD_GAP);
      double top = y + (i / CARD_COLUMNS) * (CARD_H + CARD_GAP);
      gboolean is_heatmap = FALSE;
      cairo_surface_t *picture = part_picture (p, &is_heatmap);
      g_autofree char *name = g_path_get_basename (p->file_path);
      g_autofree char *when = local_time (p->time_us, "%H:%M:%S");
      g_autofree char *line1 = NULL, *line2 = NULL;

      cairo_save (cr);
      cairo_rectangle (cr, x, top, w, CARD_IMAGE);
      cairo_set_source_rgb (cr, 0.93, 0.93, 0.93);
      cairo_fill (cr);
      if (picture)
        {
          int pw = cairo_image_surface_get_width (picture), ph = cairo_image_surface_get_height (picture);
          double s = MIN (w / pw, CARD_IMAGE / ph);

          cairo_rectangle (cr, x, top, w, CARD_IMAGE);
          cairo_clip (cr);
          cairo_translate (cr, x + (w - pw * s) / 2, top + (CARD_IMAGE - ph * s) / 2);
          cairo_scale (cr, s, s);
          cairo_set_source_surface (cr, picture, 0, 0);
          cairo_paint (cr);
          cairo_surface_destroy (picture);
        }
      cairo_restore (cr);
      if (!picture)
        text_at (cr, x, top + CARD_IMAGE / 2 - 6, w, _("image not found"), 8, FALSE, &color_muted,
                 PANGO_ALIGN_CENTER);
      else if (!is_heatmap)
        text_at (cr, x + 3, top + CARD_IMAGE - 12, w - 6, _("no heatmap"), 6.5, FALSE, &color_muted,
                 PANGO_ALIGN_RIGHT);

      text_at (cr, x, top + CARD_IMAGE + 3, -w, name, 8, TRUE, &color_text, PANGO_ALIGN_LEFT);
      /* Translators: under a part's picture: score, threshold and the time it was scored. */
      line1 = g_strdup_printf (_("score %.4g (threshold %.4g) at %s"), p->score, p->threshold, when);
      text_at (cr, x, top + CARD_IMAGE + 14, -w, line1, 7, FALSE, &color_text, PANGO_ALIGN_LEFT);
      if (p->override_verdict != CP_VERDICT_NONE)
        /* Translators: a verdict and the override: "fail, set to pass by NAME". */
        line2 = g_strdup_printf (_("%s, set to %s by %s"), verdict_text (p->verdict),
                                 verdict_text (p->override_verdict), p->override_by ? p->override_by : "?");
      else
        line2 = g_strdup (verdict_text (p->verdict));
      text_at (cr, x, top + CARD_IMAGE + 25, -w, line2, 7.5, TRUE,
               cp_part_final_verdict (p) == CP_VERDICT_FAIL ? &color_fail : &color_pass, PANGO_ALIGN_LEFT);
      if (!isnan (p->heatmap_max))
        {
          g_autofree char *line3 = g_strdup_printf (_("heatmap maximum %.4g"), p->heatmap_max);
          text_at (cr, x, top + CARD_IMAGE + 36, -w, line3, 6.5, FALSE, &color_muted, PANGO_ALIGN_LEFT);
        }
    }
}

typedef struct
{
  const char *title;
  double      width;   /* fraction of CONTENT_W */
} Column;

static double
table_head (cairo_t *cr, double y, const Column *cols, int n)
{
  double x = MARGIN;

  for (int i = 0; i < n; i++)
    {
      text_at (cr, x, y, -(cols[i].width * CONTENT_W - 4), cols[i].title, 7.5, TRUE, &color_muted, PANGO_ALIGN_LEFT);
      x += cols[i].width * CONTENT_W;
    }
  rule (cr, MARGIN, MARGIN + CONTENT_W, y + ROW_H);
  return ROW_H + 4;
}

static void
table_row (cairo_t *cr, double y, const Column *cols, int n, const char *const *cells)
{
  double x = MARGIN;

  for (int i = 0; i < n; i++)
    {
      text_at (cr, x, y, -(cols[i].width * CONTENT_W - 4), cells[i], 7.5, FALSE, &color_text, PANGO_ALIGN_LEFT);
      x += cols[i].width * CONTENT_W;
    }
}

static void
draw_table (CpReport *report, cairo_t *cr, const ReportPiece *piece)
{
  double y = piece->y;
  const char *title;
  Column cols[6];
  int n_cols;

  switch (piece->section)
    {
    case REPORT_SECTION_OVERRIDES:
      title = _("Overrides");
      cols[0] = (Column) { _("Time"), 0.15 };
      cols[1] = (Column) { _("Part"), 0.25 };
      cols[2] = (Column) { _("Score"), 0.09 };
      cols[3] = (Column) { _("Verdict"), 0.14 };
      cols[4] = (Column) { _("Note"), 0.25 };
      cols[5] = (Column) { _("By"), 0.12 };
      n_cols = 6;
      break;
    case REPORT_SECTION_REFITS:
      title = _("Refits (images added to or removed from the good set)");
      cols[0] = (Column) { _("Time"), 0.15 };
      cols[1] = (Column) { _("Change"), 0.10 };
      cols[2] = (Column) { _("Image"), 0.37 };
      cols[3] = (Column) { _("Threshold"), 0.18 };
      cols[4] = (Column) { _("By"), 0.20 };
      n_cols = 5;
      break;
    case REPORT_SECTION_MODELS:
    default:
      title = _("Models used");
      cols[0] = (Column) { _("SHA-256"), 0.16 };
      cols[1] = (Column) { _("File"), 0.44 };
      cols[2] = (Column) { _("Threshold"), 0.12 };
      cols[3] = (Column) { _("Reference"), 0.13 };
      cols[4] = (Column) { _("First used"), 0.15 };
      n_cols = 5;
      break;
    }
  y += heading (cr, y, title, !piece->heading);
  y += table_head (cr, y, cols, n_cols);
  if (piece->count == 0)
    {
      text_at (cr, MARGIN, y, CONTENT_W, _("None in this period."), 7.5, FALSE, &color_muted, PANGO_ALIGN_LEFT);
      return;
    }
  for (int r = piece->first; r < piece->first + piece->count; r++, y += ROW_H)
    {
      g_autofree char *c0 = NULL, *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
      const char *cells[6] = { 0 };

      if (piece->section == REPORT_SECTION_OVERRIDES)
        {
          const CpPart *p = report->overrides->pdata[r];

          c0 = local_time (p->override_time_us, "%m-%d %H:%M");
          c1 = g_path_get_basename (p->file_path);
          c2 = g_strdup_printf ("%.4g", p->score);
          c3 = g_strdup_printf ("%s \342\206\222 %s", verdict_text (p->verdict), verdict_text (p->override_verdict));
          cells[0] = c0;
          cells[1] = c1;
          cells[2] = c2;
          cells[3] = c3;
          cells[4] = p->override_note ? p->override_note : "";
          cells[5] = p->override_by ? p->override_by : "";
        }
      else if (piece->section == REPORT_SECTION_REFITS)
        {
          const CpRefitRecord *f = report->refits->pdata[r];

          c0 = local_time (f->time_us, "%m-%d %H:%M");
          c1 = g_path_get_basename (f->image_path);
          c2 = g_strdup_printf ("%.4g \342\206\222 %.4g", f->threshold_before, f->threshold_after);
          cells[0] = c0;
          cells[1] = f->added ? _("added") : _("removed");
          cells[2] = c1;
          cells[3] = c2;
          cells[4] = f->operator_name ? f->operator_name : "";
        }
      else
        {
          const CpModelRecord *m = report->models->pdata[r];

          c0 = short_hash (m->file_hash);
          c1 = g_strdup_printf ("%.4g", m->threshold);
          c2 = local_time (m->first_used_us, "%m-%d %H:%M");
          cells[0] = c0;
          cells[1] = m->path;
          cells[2] = c1;
          cells[3] = m->n_reference == 0 ? _("none")
                   : g_strcmp0 (m->reference_source, "calibration") == 0 ? _("calibration") : _("cross-validated");
          cells[4] = c2;
        }
      table_row (cr, y, cols, n_cols, cells);
    }
}

void
cp_report_draw_page (CpReport *report, cairo_t *cr, int page)
{
  g_autofree char *footer = NULL;

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, CP_REPORT_PAGE_WIDTH, CP_REPORT_PAGE_HEIGHT);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);
  if (page == 0)
    draw_first_page (report, cr);
  for (guint i = 0; i < report->pieces->len; i++)
    {
      const ReportPiece *piece = &g_array_index (report->pieces, ReportPiece, i);

      if (piece->page != page)
        continue;
      if (piece->section == REPORT_SECTION_WORST)
        draw_worst (report, cr, piece);
      else
        draw_table (report, cr, piece);
    }
  /* Translators: page footer: the report's title, then page N of M. */
  footer = g_strdup_printf (_("%s \302\267 page %d of %d"), report->title, page + 1, report->n_pages);
  rule (cr, MARGIN, MARGIN + CONTENT_W, CP_REPORT_PAGE_HEIGHT - 32);
  text_at (cr, MARGIN, CP_REPORT_PAGE_HEIGHT - 28, CONTENT_W, footer, 7, FALSE, &color_muted, PANGO_ALIGN_RIGHT);
  cairo_restore (cr);
}
