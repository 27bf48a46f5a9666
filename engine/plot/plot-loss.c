/* plot-loss.c: training loss against the step, with the learning rate on a
 * second axis. */
#include "config.h"

#include "plot.h"
#include "plot-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdio.h>

static double
step_at (const CpPlotLoss *l, size_t i)
{
  return l->steps != NULL ? l->steps[i] : (double) (i + 1);
}

static gboolean
loss_ok (const CpPlotLoss *l, size_t i)
{
  return isfinite (l->loss[i]) && isfinite (step_at (l, i)) && (!l->log_y || l->loss[i] > 0);
}

/* A polyline through the valid points; gaps (NaN, or <= 0 on a log axis)
 * break the line instead of pulling it to zero. */
static void
trace (PlotFrame *f, const CpPlotLoss *l, const double *y, gboolean (*ok) (const CpPlotLoss *, size_t))
{
  gboolean pen_down = FALSE;

  for (size_t i = 0; i < l->count; i++)
    {
      double px, py;
      if (!ok (l, i) || !isfinite (y[i]) || (f->ylog && y[i] <= 0))
        {
          pen_down = FALSE;
          continue;
        }
      px = plot_x (f, step_at (l, i));
      py = plot_y (f, y[i]);
      if (pen_down)
        cairo_line_to (f->cr, px, py);
      else
        cairo_move_to (f->cr, px, py);
      pen_down = TRUE;
    }
}

static gboolean
lr_ok (const CpPlotLoss *l, size_t i)
{
  return isfinite (l->lr[i]) && isfinite (step_at (l, i));
}

void
cp_plot_loss_draw (cairo_t *cr, int width, int height, const CpPlotLoss *l)
{
  PlotFrame f;
  double smin = INFINITY, smax = -INFINITY, lmin = INFINITY, lmax = -INFINITY, lrmax = 0;
  size_t valid = 0;
  gboolean have_lr = FALSE, smooth = FALSE;
  double *smoothed = NULL;
  char title[256];

  if (l != NULL && l->title != NULL && l->title[0] != '\0')
    snprintf (title, sizeof title, _("Training loss \342\200\224 %s"), l->title);
  else
    g_strlcpy (title, _("Training loss"), sizeof title);

  if (l != NULL && l->loss != NULL)
    for (size_t i = 0; i < l->count; i++)
      {
        if (loss_ok (l, i))
          {
            smin = MIN (smin, step_at (l, i));
            smax = MAX (smax, step_at (l, i));
            lmin = MIN (lmin, l->loss[i]);
            lmax = MAX (lmax, l->loss[i]);
            valid++;
          }
        if (l->lr != NULL && lr_ok (l, i))
          {
            have_lr = TRUE;
            lrmax = MAX (lrmax, l->lr[i]);
          }
      }

  plot_frame_begin (&f, cr, width, height, title, have_lr, 0);
  f.ylog = l != NULL && l->log_y;
  if (valid == 0)
    {
      f.ylog = FALSE;
      f.xmin = 0;
      f.xmax = 1;
      f.ymin = 0;
      f.ymax = 1;
      plot_axes (&f, C_("plot axis", "Step"), _("Loss"), TRUE);
      plot_note (&f, _("No training steps yet"));
      return;
    }

  f.xmin = MIN (smin, 0);
  f.xmax = smax;
  plot_nice_range (&f.xmin, &f.xmax, 6);
  if (f.ylog)
    {
      /* Pad a little in log space; an almost flat loss still gets a span. */
      double a = log10 (lmin), b = log10 (lmax), pad = MAX ((b - a) * 0.05, 0.05);
      f.ymin = pow (10.0, a - pad);
      f.ymax = pow (10.0, b + pad);
    }
  else
    {
      f.ymin = lmin >= 0 ? 0 : lmin;
      f.ymax = lmax;
      plot_nice_range (&f.ymin, &f.ymax, 5);
    }
  plot_axes (&f, C_("plot axis", "Step"), f.ylog ? _("Loss (log scale)") : _("Loss"), TRUE);
  if (have_lr)
    {
      double lo = 0, hi = lrmax > 0 ? lrmax : 1;
      plot_nice_range (&lo, &hi, 5);
      plot_right_axis (&f, lo, hi, _("Learning rate"), &plot_color_accent);
      lrmax = hi;
    }

  /* Per-step losses are noisy: draw them faintly with an exponential
   * moving average (span ~ 1/50 of the run) on top. */
  smooth = valid > 50;
  if (smooth)
    {
      double alpha = 2.0 / (valid / 50.0 + 1.0), ema = NAN;
      smoothed = g_new (double, l->count);
      for (size_t i = 0; i < l->count; i++)
        {
          if (loss_ok (l, i))
            ema = isnan (ema) ? l->loss[i] : ema + alpha * (l->loss[i] - ema);
          smoothed[i] = loss_ok (l, i) ? ema : NAN;
        }
    }

  cairo_save (cr);
  cairo_rectangle (cr, f.left, f.top, f.right - f.left, f.bottom - f.top);
  cairo_clip (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  if (have_lr)
    {
      PlotFrame lr_frame = f;
      double dash[2] = { 6.0 * f.unit, 4.0 * f.unit };

      lr_frame.ylog = FALSE;
      lr_frame.ymin = 0;
      lr_frame.ymax = lrmax;
      trace (&lr_frame, l, l->lr, lr_ok);
      cairo_set_dash (cr, dash, 2, 0);
      cairo_set_line_width (cr, 1.8 * f.unit);
      plot_set_color (cr, &plot_color_accent, 0.9);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);
    }
  trace (&f, l, l->loss, loss_ok);
  cairo_set_line_width (cr, (smooth ? 1.0 : 2.0) * f.unit);
  plot_set_color (cr, &plot_color_good, smooth ? 0.3 : 1.0);
  cairo_stroke (cr);
  if (valid == 1)
    plot_marker (cr, 0, plot_x (&f, smin), plot_y (&f, lmin), 3 * f.unit, &plot_color_good, 1.0);
  if (smooth)
    {
      trace (&f, l, smoothed, loss_ok);
      cairo_set_line_width (cr, 2.2 * f.unit);
      plot_set_color (cr, &plot_color_good, 1.0);
      cairo_stroke (cr);
    }
  cairo_restore (cr);

  {
    PlotLegendEntry entries[3];
    int n = 0;
    size_t count = 0;
    double *px = g_new (double, 2 * l->count + 1), *py = g_new (double, 2 * l->count + 1);

    entries[n++] = (PlotLegendEntry) { smooth ? _("Loss (moving average)") : _("Loss"), &plot_color_good,
                                       PLOT_SWATCH_LINE, 0 };
    if (have_lr)
      entries[n++] = (PlotLegendEntry) { _("Learning rate"), &plot_color_accent, PLOT_SWATCH_DASHED, 0 };
    for (size_t i = 0; i < l->count; i++)
      {
        if (loss_ok (l, i))
          {
            px[count] = plot_x (&f, step_at (l, i));
            py[count++] = plot_y (&f, l->loss[i]);
          }
        if (have_lr && lr_ok (l, i))
          {
            px[count] = plot_x (&f, step_at (l, i));
            py[count++] = f.bottom - l->lr[i] / lrmax * (f.bottom - f.top);
          }
      }
    plot_legend_auto (&f, entries, n, px, py, count);
    g_free (px);
    g_free (py);
  }
  g_free (smoothed);
}
