/* plot-histogram.c: score histograms of good and defective test images
 * with the pass/fail threshold. */
#include "config.h"

#include "plot.h"
#include "plot-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>

static void
count_bins (const double *v, size_t n, double lo, double width, int bins, double *counts)
{
  for (int b = 0; b < bins; b++)
    counts[b] = 0;
  for (size_t i = 0; i < n; i++)
    {
      int b;
      if (!isfinite (v[i]))
        continue;
      b = (int) floor ((v[i] - lo) / width);
      counts[CLAMP (b, 0, bins - 1)] += 1;
    }
}

static void
draw_bars (PlotFrame *f, const double *counts, int bins, double lo, double width, const PlotColor *c)
{
  cairo_t *cr = f->cr;

  for (int b = 0; b < bins; b++)
    {
      double x0, x1, y0, y1;
      if (counts[b] <= 0)
        continue;
      x0 = plot_x (f, lo + b * width);
      x1 = plot_x (f, lo + (b + 1) * width);
      y0 = plot_y (f, 0);
      y1 = plot_y (f, counts[b]);
      cairo_rectangle (cr, x0 + 0.5, y1, MAX (x1 - x0 - 1.0, 1.0), y0 - y1);
    }
  plot_set_color (cr, c, 0.5);
  cairo_fill_preserve (cr);
  cairo_set_line_width (cr, 1.0);
  plot_set_color (cr, c, 0.9);
  cairo_stroke (cr);
}

void
cp_plot_histogram_draw (cairo_t *cr, int width, int height, const CpPlotHistogram *hist)
{
  PlotFrame f;
  double lo = INFINITY, hi = -INFINITY, bin_w, max_count = 0;
  double *good_counts, *defect_counts;
  size_t finite_good = 0, finite_defect = 0;
  int bins;
  char title[256], good_label[64], defect_label[64], thr_label[64];
  gboolean have_thr;

  if (hist != NULL && hist->title != NULL && hist->title[0] != '\0')
    snprintf (title, sizeof title, _("Anomaly scores \342\200\224 %s"), hist->title);
  else
    g_strlcpy (title, _("Anomaly scores"), sizeof title);
  plot_frame_begin (&f, cr, width, height, title, FALSE, 0);

  if (hist != NULL)
    {
      for (size_t i = 0; hist->good_scores != NULL && i < hist->n_good; i++)
        if (isfinite (hist->good_scores[i]))
          {
            lo = MIN (lo, hist->good_scores[i]);
            hi = MAX (hi, hist->good_scores[i]);
            finite_good++;
          }
      for (size_t i = 0; hist->defect_scores != NULL && i < hist->n_defect; i++)
        if (isfinite (hist->defect_scores[i]))
          {
            lo = MIN (lo, hist->defect_scores[i]);
            hi = MAX (hi, hist->defect_scores[i]);
            finite_defect++;
          }
    }
  have_thr = hist != NULL && isfinite (hist->threshold);
  if (finite_good + finite_defect == 0)
    {
      f.xmin = have_thr ? hist->threshold : 0;
      f.xmax = f.xmin;
      plot_nice_range (&f.xmin, &f.xmax, 5);
      f.ymin = 0;
      f.ymax = 1;
      plot_axes (&f, _("Anomaly score"), hist != NULL && hist->count_name ? hist->count_name : _("Images"), TRUE);
      plot_note (&f, _("No scores to show"));
      return;
    }

  /* Bins: about sqrt(n), at least 10 and at most 50, over the data range
   * (the threshold widens the axis, not the bins). */
  bins = hist->bins > 0 ? hist->bins
                        : CLAMP ((int) ceil (2.0 * sqrt ((double) (finite_good + finite_defect))), 10, 50);
  if (!(hi > lo))
    {
      /* Every score equal: one bar centred on the value. */
      double pad = lo != 0.0 ? fabs (lo) * 0.02 : 0.1;
      lo -= pad;
      hi += pad;
      bins = 1;
    }
  bin_w = (hi - lo) / bins;
  good_counts = g_new (double, bins);
  defect_counts = g_new (double, bins);
  count_bins (hist->good_scores, hist->good_scores ? hist->n_good : 0, lo, bin_w, bins, good_counts);
  count_bins (hist->defect_scores, hist->defect_scores ? hist->n_defect : 0, lo, bin_w, bins, defect_counts);
  for (int b = 0; b < bins; b++)
    max_count = MAX (max_count, MAX (good_counts[b], defect_counts[b]));

  f.xmin = lo - bin_w * 0.5;
  f.xmax = hi + bin_w * 0.5;
  if (have_thr)
    {
      f.xmin = MIN (f.xmin, hist->threshold - bin_w);
      f.xmax = MAX (f.xmax, hist->threshold + bin_w);
    }
  plot_nice_range (&f.xmin, &f.xmax, 6);
  f.ymin = 0;
  /* Headroom above the tallest bar for the threshold label. */
  f.ymax = MAX (1.0, max_count * 1.18);
  {
    double t[32], step;
    int n = plot_nice_ticks (0, f.ymax, 5, t, &step);
    if (step < 1.0)
      step = 1.0;
    f.ymax = MAX (t[n - 1], ceil (f.ymax / step) * step);
  }
  plot_axes (&f, _("Anomaly score (Mahalanobis distance)"), hist->count_name ? hist->count_name : _("Images"),
             TRUE);

  cairo_save (cr);
  cairo_rectangle (cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
  cairo_clip (cr);
  draw_bars (&f, good_counts, bins, lo, bin_w, &plot_color_good);
  draw_bars (&f, defect_counts, bins, lo, bin_w, &plot_color_defect);
  if (have_thr)
    {
      double x = round (plot_x (&f, hist->threshold)) + 0.5;
      double dash[2] = { 6.0 * f.unit, 4.0 * f.unit };

      cairo_set_dash (cr, dash, 2, 0);
      cairo_set_line_width (cr, 2.0 * f.unit);
      plot_set_color (cr, &plot_color_text, 0.9);
      cairo_move_to (cr, x, f.top);
      cairo_line_to (cr, x, f.bottom);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);
    }
  cairo_restore (cr);

  if (have_thr)
    {
      double x = plot_x (&f, hist->threshold), tw;
      gboolean left_side;

      snprintf (thr_label, sizeof thr_label, _("threshold %.4g"), hist->threshold);
      plot_text_size (&f, thr_label, 0.9, TRUE, &tw, NULL);
      /* Label beside the line, on whichever side has room. */
      left_side = x + 6 * f.unit + tw > f.right;
      plot_text (&f, left_side ? x - 5 * f.unit : x + 5 * f.unit, f.top + 4 * f.unit, thr_label,
                 left_side ? PLOT_ALIGN_END : PLOT_ALIGN_START, PLOT_ALIGN_START, 0.9, TRUE,
                 &plot_color_text, 0);
    }


  {
    PlotLegendEntry entries[3];
    int n = 0;
    double *px = g_new (double, 9 * bins + 64), *py = g_new (double, 9 * bins + 64);
    size_t np = 0;

    if (hist->good_name)
      /* Translators: histogram legend: a group's name and how many it holds. */
      snprintf (good_label, sizeof good_label, _("%s (%zu)"), hist->good_name, finite_good);
    else if (finite_good > 0)
      /* Translators: histogram legend; %zu is the number of good images. */
      snprintf (good_label, sizeof good_label, _("Good (%zu)"), finite_good);
    else
      g_strlcpy (good_label, _("No good images"), sizeof good_label);
    /* Translators: histogram legend; %zu is the number of defective images. */
    snprintf (defect_label, sizeof defect_label, _("Defective (%zu)"), finite_defect);
    entries[n++] = (PlotLegendEntry) { good_label, &plot_color_good, PLOT_SWATCH_BOX, 0 };
    if (hist->defect_name)
      snprintf (defect_label, sizeof defect_label, _("%s (%zu)"), hist->defect_name, finite_defect);
    else if (finite_defect == 0)
      g_strlcpy (defect_label, _("No defective images"), sizeof defect_label);
    entries[n++] = (PlotLegendEntry) { defect_label, &plot_color_defect, PLOT_SWATCH_BOX, 0 };
    /* Bars as sample points for the legend placement: nine points down
     * each column, so a tall bar behind the legend counts. */
    for (int b = 0; b < bins; b++)
      {
        double c = MAX (good_counts[b], defect_counts[b]);
        if (c <= 0)
          continue;
        for (int k = 0; k <= 8; k++)
          {
            px[np] = plot_x (&f, lo + (b + 0.5) * bin_w);
            py[np] = plot_y (&f, c * k / 8.0);
            np++;
          }
      }
    /* The threshold line and its label must stay visible too. */
    if (have_thr)
      {
        double x = plot_x (&f, hist->threshold), tw, th;
        gboolean left_side;

        plot_text_size (&f, thr_label, 0.9, TRUE, &tw, &th);
        left_side = x + 6 * f.unit + tw > f.right;
        for (int k = 0; k <= 40; k++)
          {
            px[np] = x;
            py[np++] = f.top + (f.bottom - f.top) * k / 40.0;
          }
        for (int k = 0; k <= 10; k++)
          {
            px[np] = left_side ? x - tw * k / 10.0 : x + tw * k / 10.0;
            py[np++] = f.top + 4 * f.unit + th / 2;
          }
      }
    plot_legend_auto (&f, entries, n, px, py, np);
    g_free (px);
    g_free (py);
  }
  g_free (good_counts);
  g_free (defect_counts);
}
