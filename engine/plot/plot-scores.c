/* plot-scores.c: the scores of a line's parts against time, with the
 * threshold and the reference good scores' band (the drift chart). */
#include "config.h"

#include "plot.h"
#include "plot-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>

static void
hline (PlotFrame *f, double v, const PlotColor *color, double width, const double *dash, int n_dash)
{
  double y = round (plot_y (f, v)) + 0.5;

  cairo_set_dash (f->cr, dash, n_dash, 0);
  cairo_set_line_width (f->cr, width * f->unit);
  plot_set_color (f->cr, color, 0.9);
  cairo_move_to (f->cr, f->left, y);
  cairo_line_to (f->cr, f->right, y);
  cairo_stroke (f->cr);
  cairo_set_dash (f->cr, NULL, 0, 0);
}

void
cp_plot_scores_draw (cairo_t *cr, int width, int height, const CpPlotScores *scores)
{
  PlotFrame f;
  double lo = INFINITY, hi = -INFINITY, tmin = INFINITY, tmax = -INFINITY, r;
  double dash_long[2];
  size_t n = 0, n_failed = 0;
  char thr_label[64], pass_label[64], fail_label[64];

  plot_frame_begin (&f, cr, width, height,
                    scores != NULL && scores->title != NULL ? scores->title : _("Scores over time"), FALSE, 0);
  f.xtime = TRUE;
  for (size_t i = 0; scores != NULL && i < scores->count; i++)
    if (isfinite (scores->score[i]))
      {
        lo = MIN (lo, scores->score[i]);
        hi = MAX (hi, scores->score[i]);
        tmin = MIN (tmin, scores->time_us[i] / 1e6);
        tmax = MAX (tmax, scores->time_us[i] / 1e6);
        n++;
        n_failed += scores->failed != NULL && scores->failed[i];
      }
  if (n == 0)
    {
      gint64 now = g_get_real_time () / G_USEC_PER_SEC;
      f.xmin = now - 3600;
      f.xmax = now;
      f.ymin = 0;
      f.ymax = 1;
      plot_axes (&f, _("Time"), _("Anomaly score"), TRUE);
      plot_note (&f, _("No parts"));
      return;
    }
  if (isfinite (scores->threshold))
    {
      lo = MIN (lo, scores->threshold);
      hi = MAX (hi, scores->threshold);
    }
  if (isfinite (scores->reference_median))
    lo = MIN (lo, scores->reference_median);
  if (isfinite (scores->reference_upper))
    hi = MAX (hi, scores->reference_upper);
  f.ymin = MAX (0, lo - 0.05 * (hi - lo));
  f.ymax = hi + 0.12 * (hi - lo);
  plot_nice_range (&f.ymin, &f.ymax, 5);
  /* A little room on either side of the first and last part. */
  r = MAX (tmax - tmin, 60);
  f.xmin = tmin - 0.03 * r;
  f.xmax = tmin + 1.03 * r;
  plot_axes (&f, _("Time"), _("Anomaly score"), TRUE);

  dash_long[0] = 6.0 * f.unit;
  dash_long[1] = 4.0 * f.unit;
  cairo_save (cr);
  cairo_rectangle (cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
  cairo_clip (cr);
  if (isfinite (scores->reference_median) && isfinite (scores->reference_upper))
    {
      /* The band where half of the reference's upper half lies. */
      double y0 = plot_y (&f, scores->reference_median), y1 = plot_y (&f, scores->reference_upper);
      cairo_rectangle (cr, f.left, y1, f.right - f.left, y0 - y1);
      plot_set_color (cr, &plot_color_cutpaste, 0.12);
      cairo_fill (cr);
    }
  if (isfinite (scores->reference_median))
    hline (&f, scores->reference_median, &plot_color_cutpaste, 1.5, NULL, 0);
  if (isfinite (scores->reference_upper))
    hline (&f, scores->reference_upper, &plot_color_cutpaste, 1.5, dash_long, 2);
  if (isfinite (scores->threshold))
    hline (&f, scores->threshold, &plot_color_text, 2.0, dash_long, 2);
  for (size_t i = 0; i < scores->count; i++)
    {
      gboolean failed = scores->failed != NULL && scores->failed[i];
      double radius = (n > 2000 ? 1.6 : n > 300 ? 2.2 : 3.0) * f.unit;

      if (!isfinite (scores->score[i]))
        continue;
      plot_marker (cr, failed ? 1 : 0, plot_x (&f, scores->time_us[i] / 1e6), plot_y (&f, scores->score[i]),
                   radius, failed ? &plot_color_defect : &plot_color_good, 0.85);
    }
  cairo_restore (cr);

  {
    PlotLegendEntry entries[5];
    int k = 0;
    double *px = g_new (double, n + 1), *py = g_new (double, n + 1);
    size_t np = 0;

    /* Translators: legend of the scores chart; %zu is a number of parts. */
    snprintf (pass_label, sizeof pass_label, _("Passed (%zu)"), n - n_failed);
    /* Translators: legend of the scores chart; %zu is a number of parts. */
    snprintf (fail_label, sizeof fail_label, _("Failed (%zu)"), n_failed);
    entries[k++] = (PlotLegendEntry) { pass_label, &plot_color_good, PLOT_SWATCH_MARKER, 0 };
    entries[k++] = (PlotLegendEntry) { fail_label, &plot_color_defect, PLOT_SWATCH_MARKER, 1 };
    if (isfinite (scores->threshold))
      {
        snprintf (thr_label, sizeof thr_label, _("threshold %.4g"), scores->threshold);
        entries[k++] = (PlotLegendEntry) { thr_label, &plot_color_text, PLOT_SWATCH_DASHED, 0 };
      }
    if (isfinite (scores->reference_median))
      entries[k++] = (PlotLegendEntry) { _("reference median"), &plot_color_cutpaste, PLOT_SWATCH_LINE, 0 };
    if (isfinite (scores->reference_upper))
      entries[k++] = (PlotLegendEntry) { _("reference 90th percentile"), &plot_color_cutpaste, PLOT_SWATCH_DASHED, 0 };
    for (size_t i = 0; i < scores->count; i++)
      if (isfinite (scores->score[i]))
        {
          px[np] = plot_x (&f, scores->time_us[i] / 1e6);
          py[np] = plot_y (&f, scores->score[i]);
          np++;
        }
    plot_legend_auto (&f, entries, k, px, py, np);
    g_free (px);
    g_free (py);
  }
}
