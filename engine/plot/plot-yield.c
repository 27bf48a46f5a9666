/* plot-yield.c: the yield of a line over time, bucket by bucket. */
#include "config.h"

#include "plot.h"
#include "plot-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>

void
cp_plot_yield_draw (cairo_t *cr, int width, int height, const CpPlotYield *yield)
{
  PlotFrame f;
  gint64 total = 0, passed = 0;
  double overall;
  char label[64];

  plot_frame_begin (&f, cr, width, height,
                    yield != NULL && yield->title != NULL ? yield->title : _("Yield over time"), FALSE, 0);
  f.xtime = TRUE;
  f.ymin = 0;
  f.ymax = 110;   /* room above 100 % for the part counts */
  if (yield == NULL || yield->count == 0 || yield->width_us <= 0)
    {
      gint64 now = g_get_real_time () / G_USEC_PER_SEC;
      f.xmin = now - 3600;
      f.xmax = now;
      plot_axes (&f, _("Time"), _("Yield (%)"), TRUE);
      plot_note (&f, _("No parts"));
      return;
    }
  f.xmin = yield->start_us[0] / 1e6;
  f.xmax = (yield->start_us[yield->count - 1] + yield->width_us) / 1e6;
  plot_axes (&f, _("Time"), _("Yield (%)"), TRUE);

  for (size_t i = 0; i < yield->count; i++)
    {
      total += yield->total[i];
      passed += yield->passed[i];
    }
  overall = total > 0 ? 100.0 * passed / total : NAN;
  cairo_save (cr);
  cairo_rectangle (cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
  cairo_clip (cr);
  for (size_t i = 0; i < yield->count; i++)
    {
      double x0, x1, y0, y1, pct;

      if (yield->total[i] <= 0)
        continue;
      pct = 100.0 * yield->passed[i] / yield->total[i];
      x0 = plot_x (&f, yield->start_us[i] / 1e6);
      x1 = plot_x (&f, (yield->start_us[i] + yield->width_us) / 1e6);
      y0 = plot_y (&f, 0);
      y1 = plot_y (&f, pct);
      cairo_rectangle (cr, x0 + 1, y1, MAX (x1 - x0 - 2, 1), y0 - y1);
      /* Buckets below the overall yield stand out. */
      plot_set_color (cr, pct >= overall - 1e-9 ? &plot_color_good : &plot_color_accent, 0.55);
      cairo_fill (cr);
      /* The parts behind each bar, where there is room for the number. */
      snprintf (label, sizeof label, "%" G_GINT64_FORMAT, yield->total[i]);
      {
        double tw;
        plot_text_size (&f, label, 0.75, FALSE, &tw, NULL);
        if (tw < x1 - x0)
          plot_text (&f, (x0 + x1) / 2, y1 - 2 * f.unit, label, PLOT_ALIGN_CENTER, PLOT_ALIGN_END, 0.75, FALSE,
                     &plot_color_muted, 0);
      }
    }
  if (isfinite (overall))
    {
      double y = round (plot_y (&f, overall)) + 0.5, dash[2] = { 6.0 * f.unit, 4.0 * f.unit };

      cairo_set_dash (cr, dash, 2, 0);
      cairo_set_line_width (cr, 1.5 * f.unit);
      plot_set_color (cr, &plot_color_text, 0.8);
      cairo_move_to (cr, f.left, y);
      cairo_line_to (cr, f.right, y);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);
    }
  cairo_restore (cr);
  if (isfinite (overall))
    {
      /* Translators: the overall yield of the shown time, in percent. */
      snprintf (label, sizeof label, _("overall %.1f %%"), overall);
      plot_text (&f, f.left + 5 * f.unit, plot_y (&f, overall) + 3 * f.unit, label, PLOT_ALIGN_START,
                 PLOT_ALIGN_START, 0.85, TRUE, &plot_color_text, 0);
    }
}
