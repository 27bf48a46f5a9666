/* plot-common.c: frame, axes, ticks, text and legends for every plot. */
#include "plot-private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HEX(v) { ((v) >> 16 & 0xff) / 255.0, ((v) >> 8 & 0xff) / 255.0, ((v) & 0xff) / 255.0 }

const PlotColor plot_color_background = HEX (0xffffff);
const PlotColor plot_color_text = HEX (0x241f31);
const PlotColor plot_color_muted = HEX (0x77767b);
const PlotColor plot_color_grid = HEX (0xe6e5e8);
const PlotColor plot_color_good = HEX (0x1c71d8);
const PlotColor plot_color_defect = HEX (0xe01b24);
const PlotColor plot_color_train = HEX (0x9a9996);
const PlotColor plot_color_cutpaste = HEX (0x26a269);
const PlotColor plot_color_scar = HEX (0x9141ac);
const PlotColor plot_color_accent = HEX (0xe66100);

static const PlotColor defect_palette[] = {
  HEX (0xe01b24), HEX (0xff7800), HEX (0xc061cb), HEX (0x865e3c), HEX (0xe5a50a),
  HEX (0xa51d2d), HEX (0x613583), HEX (0xf66151), HEX (0x63452c), HEX (0xc64600),
};

const PlotColor *
plot_defect_color (int index)
{
  int n = (int) G_N_ELEMENTS (defect_palette);

  return &defect_palette[((index % n) + n) % n];
}

void
plot_set_color (cairo_t *cr, const PlotColor *c, double alpha)
{
  cairo_set_source_rgba (cr, c->r, c->g, c->b, alpha);
}

/* Base font: 12 px at 640 x 480, growing and shrinking with the smaller
 * side, within limits that keep labels legible in a small widget. */
#define BASE_FONT_PX    12.0
#define TICK_LABEL_SIZE 0.9   /* the tick labels' size: the smallest common text */

static double
frame_unit (int width, int height)
{
  return CLAMP (MIN (width / 640.0, height / 480.0), 0.7, 2.5);
}

static double
frame_text_unit (int width, int height)
{
  return MAX (frame_unit (width, height), CP_PLOT_MIN_TEXT_PX / (BASE_FONT_PX * TICK_LABEL_SIZE));
}

double
cp_plot_min_text_px (int width, int height)
{
  return MAX (BASE_FONT_PX * frame_text_unit (width, height) * TICK_LABEL_SIZE, CP_PLOT_MIN_TEXT_PX);
}

static double
base_font_px (const PlotFrame *f)
{
  return BASE_FONT_PX * f->text_unit;
}

static PangoLayout *
make_layout (PlotFrame *f, const char *text, double size, gboolean bold)
{
  PangoLayout *layout = pango_cairo_create_layout (f->cr);
  PangoFontDescription *desc = pango_font_description_from_string ("Sans");

  pango_font_description_set_absolute_size (desc, MAX (base_font_px (f) * size, CP_PLOT_MIN_TEXT_PX) * PANGO_SCALE);
  if (bold)
    pango_font_description_set_weight (desc, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description (layout, desc);
  pango_layout_set_text (layout, text, -1);
  pango_font_description_free (desc);
  return layout;
}

void
plot_text_size (PlotFrame *f, const char *text, double size, gboolean bold, double *w, double *h)
{
  PangoLayout *layout = make_layout (f, text, size, bold);
  PangoRectangle logical;

  pango_layout_get_extents (layout, NULL, &logical);
  if (w != NULL)
    *w = (double) logical.width / PANGO_SCALE;
  if (h != NULL)
    *h = (double) logical.height / PANGO_SCALE;
  g_object_unref (layout);
}

void
plot_text (PlotFrame *f, double x, double y, const char *text, PlotAlign ha, PlotAlign va,
           double size, gboolean bold, const PlotColor *color, double angle)
{
  PangoLayout *layout = make_layout (f, text, size, bold);
  PangoRectangle logical;
  double w, h, dx, dy;

  pango_layout_get_extents (layout, NULL, &logical);
  w = (double) logical.width / PANGO_SCALE;
  h = (double) logical.height / PANGO_SCALE;
  dx = ha == PLOT_ALIGN_START ? 0 : ha == PLOT_ALIGN_CENTER ? -w / 2 : -w;
  dy = va == PLOT_ALIGN_START ? 0 : va == PLOT_ALIGN_CENTER ? -h / 2 : -h;
  cairo_save (f->cr);
  cairo_translate (f->cr, x, y);
  cairo_rotate (f->cr, angle);
  cairo_move_to (f->cr, dx, dy);
  plot_set_color (f->cr, color, 1.0);
  pango_cairo_show_layout (f->cr, layout);
  cairo_restore (f->cr);
  g_object_unref (layout);
}

void
plot_frame_begin (PlotFrame *f, cairo_t *cr, int width, int height, const char *title,
                  gboolean right_axis, double legend_column)
{
  double tick_w, line_h;

  memset (f, 0, sizeof *f);
  f->cr = cr;
  f->width = width;
  f->height = height;
  f->unit = frame_unit (width, height);
  f->text_unit = frame_text_unit (width, height);
  f->xmin = f->ymin = 0;
  f->xmax = f->ymax = 1;

  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, width, height);
  plot_set_color (cr, &plot_color_background, 1.0);
  cairo_fill (cr);
  cairo_restore (cr);

  plot_text_size (f, "0.000", 1.0, FALSE, &tick_w, &line_h);
  f->top = 0.6 * line_h;
  if (title != NULL && title[0] != '\0')
    {
      double th;
      plot_text_size (f, title, 1.25, TRUE, NULL, &th);
      plot_text (f, width / 2.0, 0.5 * line_h, title, PLOT_ALIGN_CENTER, PLOT_ALIGN_START, 1.25, TRUE,
                 &plot_color_text, 0);
      f->top = 0.5 * line_h + th + 0.6 * line_h;
    }
  /* Left: axis title (rotated) + tick labels + tick marks. */
  f->left = 0.5 * line_h + line_h + 0.5 * line_h + tick_w + 0.6 * line_h;
  f->bottom = height - (0.4 * line_h + line_h + 0.4 * line_h + line_h + 0.6 * line_h);
  f->right = width - (right_axis ? f->left : 1.2 * line_h) - legend_column;
  /* Tiny surfaces: keep a plot area at least one pixel wide and tall. */
  if (f->right < f->left + 1)
    f->right = f->left + 1;
  if (f->bottom < f->top + 1)
    f->bottom = f->top + 1;
}

static double
axis_value (double v, gboolean log)
{
  return log ? log10 (v) : v;
}

double
plot_x (const PlotFrame *f, double v)
{
  double lo = axis_value (f->xmin, f->xlog), hi = axis_value (f->xmax, f->xlog);

  return f->left + (axis_value (v, f->xlog) - lo) / (hi - lo) * (f->right - f->left);
}

double
plot_y (const PlotFrame *f, double v)
{
  double lo = axis_value (f->ymin, f->ylog), hi = axis_value (f->ymax, f->ylog);

  return f->bottom - (axis_value (v, f->ylog) - lo) / (hi - lo) * (f->bottom - f->top);
}

static double
nice_step (double range, int target)
{
  double raw = range / MAX (target, 1), mag = pow (10.0, floor (log10 (raw))), r = raw / mag;

  if (r <= 1.0)
    return mag;
  if (r <= 2.0)
    return 2.0 * mag;
  if (r <= 2.5)
    return 2.5 * mag;
  if (r <= 5.0)
    return 5.0 * mag;
  return 10.0 * mag;
}

int
plot_nice_ticks (double lo, double hi, int target, double *ticks, double *step_out)
{
  double step, first;
  int n = 0;

  if (!(hi > lo) || !isfinite (lo) || !isfinite (hi))
    {
      ticks[0] = lo;
      if (step_out != NULL)
        *step_out = 1.0;
      return 1;
    }
  step = nice_step (hi - lo, target);
  first = ceil (lo / step - 1e-9) * step;
  for (double v = first; v <= hi + step * 1e-9 && n < 32; v = first + n * step)
    ticks[n++] = fabs (v) < step * 1e-9 ? 0.0 : v;
  if (step_out != NULL)
    *step_out = step;
  return n;
}

void
plot_nice_range (double *lo, double *hi, int target)
{
  double step;

  if (!isfinite (*lo) || !isfinite (*hi))
    {
      *lo = 0;
      *hi = 1;
      return;
    }
  if (!(*hi > *lo))
    {
      /* One value: a window around it that still shows ticks. */
      double pad = *lo != 0.0 ? fabs (*lo) * 0.1 : 1.0;
      *lo -= pad;
      *hi += pad;
    }
  step = nice_step (*hi - *lo, target);
  *lo = floor (*lo / step + 1e-9) * step;
  *hi = ceil (*hi / step - 1e-9) * step;
}

void
plot_format_tick (double v, double step, char *buf, size_t size)
{
  int decimals = 0;

  if (fabs (v) >= 1e6 || (fabs (v) > 0 && fabs (v) < 1e-4))
    {
      snprintf (buf, size, "%.2g", v);
      return;
    }
  /* Enough decimals that consecutive ticks differ (2.5 x 10^k needs one
   * more than its exponent). */
  while (decimals < 8 && fabs (step * pow (10.0, decimals) - round (step * pow (10.0, decimals))) > 1e-6)
    decimals++;
  snprintf (buf, size, "%.*f", decimals, v);
}

static int
log_ticks (double lo, double hi, double *ticks)
{
  int d0 = (int) floor (log10 (lo) + 1e-9), d1 = (int) ceil (log10 (hi) - 1e-9), n = 0;
  static const double sub[] = { 1, 2, 5 };
  int decades_inside = 0;
  gboolean fine;

  /* 1-2-5 subdivisions unless at least three powers of ten are visible. */
  for (int d = d0; d <= d1; d++)
    if (pow (10.0, d) >= lo * (1 - 1e-9) && pow (10.0, d) <= hi * (1 + 1e-9))
      decades_inside++;
  fine = decades_inside < 3;

  for (int d = d0; d <= d1 && n < 30; d++)
    for (int k = 0; k < (fine ? 3 : 1); k++)
      {
        double v = sub[k] * pow (10.0, d);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9))
          ticks[n++] = v;
      }
  return n;
}

int
plot_time_ticks (double lo, double hi, int target, double *ticks, double *step_out)
{
  static const double steps[] = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                                  21600, 43200, 86400, 172800, 604800 };
  double step = steps[G_N_ELEMENTS (steps) - 1], offset = 0, first;
  int n = 0;

  if (!(hi > lo) || !isfinite (lo) || !isfinite (hi))
    {
      ticks[0] = lo;
      if (step_out != NULL)
        *step_out = 60;
      return 1;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (steps); i++)
    if ((hi - lo) / steps[i] <= MAX (target, 1))
      {
        step = steps[i];
        break;
      }
  /* Round to the local clock (an hour step starts on the hour here, not
   * in UTC). */
  {
    g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local ((gint64) lo);
    if (dt != NULL)
      offset = g_date_time_get_utc_offset (dt) / (double) G_TIME_SPAN_SECOND;
  }
  first = ceil ((lo + offset) / step - 1e-9) * step - offset;
  for (double v = first; v <= hi + 1e-9 && n < 32; v = first + n * step)
    ticks[n++] = v;
  if (step_out != NULL)
    *step_out = step;
  return n;
}

void
plot_format_time (double t, double step, double span, char *buf, size_t size)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local ((gint64) floor (t));
  g_autofree char *text = NULL;

  if (dt == NULL)
    {
      snprintf (buf, size, "?");
      return;
    }
  if (step >= 86400)
    text = g_date_time_format (dt, "%Y-%m-%d");
  else if (span > 86400)
    text = g_date_time_format (dt, "%m-%d %H:%M");
  else if (step < 60)
    text = g_date_time_format (dt, "%H:%M:%S");
  else
    text = g_date_time_format (dt, "%H:%M");
  g_strlcpy (buf, text, size);
}

void
plot_axes (PlotFrame *f, const char *xlabel, const char *ylabel, gboolean ticks)
{
  cairo_t *cr = f->cr;
  double xt[32], yt[32], xstep = 1, ystep = 1, line_h, label_w = 0;
  int nx = 0, ny = 0;
  char buf[64];

  plot_text_size (f, "0", 1.0, FALSE, NULL, &line_h);
  if (ticks)
    {
      /* Tick spacing follows the size of their labels. */
      int target_x = MAX (2, (int) ((f->right - f->left) / (90.0 * f->text_unit)));
      int target_y = MAX (2, (int) ((f->bottom - f->top) / (55.0 * f->text_unit)));
      if (f->xtime)
        nx = plot_time_ticks (f->xmin, f->xmax, MAX (2, target_x * 3 / 4), xt, &xstep);
      else
        nx = f->xlog ? log_ticks (f->xmin, f->xmax, xt) : plot_nice_ticks (f->xmin, f->xmax, target_x, xt, &xstep);
      ny = f->ylog ? log_ticks (f->ymin, f->ymax, yt) : plot_nice_ticks (f->ymin, f->ymax, target_y, yt, &ystep);
    }

  cairo_save (cr);
  cairo_set_line_width (cr, 1.0);
  plot_set_color (cr, &plot_color_grid, 1.0);
  for (int i = 0; i < nx; i++)
    {
      double x = round (plot_x (f, xt[i])) + 0.5;
      cairo_move_to (cr, x, f->top);
      cairo_line_to (cr, x, f->bottom);
    }
  for (int i = 0; i < ny; i++)
    {
      double y = round (plot_y (f, yt[i])) + 0.5;
      cairo_move_to (cr, f->left, y);
      cairo_line_to (cr, f->right, y);
    }
  cairo_stroke (cr);

  plot_set_color (cr, &plot_color_muted, 1.0);
  cairo_rectangle (cr, round (f->left) + 0.5, round (f->top) + 0.5, round (f->right - f->left),
                   round (f->bottom - f->top));
  cairo_stroke (cr);

  for (int i = 0; i < nx; i++)
    {
      double x = round (plot_x (f, xt[i])) + 0.5;
      cairo_move_to (cr, x, f->bottom);
      cairo_line_to (cr, x, f->bottom + 0.4 * line_h);
      cairo_stroke (cr);
      if (f->xtime)
        plot_format_time (xt[i], xstep, f->xmax - f->xmin, buf, sizeof buf);
      else if (f->xlog)
        snprintf (buf, sizeof buf, "%g", xt[i]);
      else
        plot_format_tick (xt[i], xstep, buf, sizeof buf);
      plot_text (f, x, f->bottom + 0.5 * line_h, buf, PLOT_ALIGN_CENTER, PLOT_ALIGN_START, 0.9, FALSE,
                 &plot_color_text, 0);
    }
  for (int i = 0; i < ny; i++)
    {
      double y = round (plot_y (f, yt[i])) + 0.5;
      cairo_move_to (cr, f->left - 0.4 * line_h, y);
      cairo_line_to (cr, f->left, y);
      cairo_stroke (cr);
      if (f->ylog)
        snprintf (buf, sizeof buf, "%g", yt[i]);
      else
        plot_format_tick (yt[i], ystep, buf, sizeof buf);
      plot_text (f, f->left - 0.5 * line_h, y, buf, PLOT_ALIGN_END, PLOT_ALIGN_CENTER, 0.9, FALSE,
                 &plot_color_text, 0);
      {
        double tw;
        plot_text_size (f, buf, 0.9, FALSE, &tw, NULL);
        label_w = MAX (label_w, tw);
      }
    }
  cairo_restore (cr);

  if (xlabel != NULL)
    plot_text (f, (f->left + f->right) / 2, f->height - 0.4 * line_h, xlabel, PLOT_ALIGN_CENTER,
               PLOT_ALIGN_END, 1.0, FALSE, &plot_color_text, 0);
  /* The y title follows the plot area (which a square plot may have moved
   * right), just outside the tick labels. */
  if (ylabel != NULL)
    plot_text (f, MAX (0.4 * line_h, f->left - 0.5 * line_h - label_w - 0.5 * line_h - line_h),
               (f->top + f->bottom) / 2, ylabel, PLOT_ALIGN_CENTER, PLOT_ALIGN_START, 1.0, FALSE,
               &plot_color_text, -G_PI / 2);
}

void
plot_right_axis (PlotFrame *f, double lo, double hi, const char *label, const PlotColor *color)
{
  cairo_t *cr = f->cr;
  double t[32], step = 1, line_h;
  int target = MAX (2, (int) ((f->bottom - f->top) / (55.0 * f->text_unit)));
  int n = plot_nice_ticks (lo, hi, target, t, &step);
  char buf[64];

  plot_text_size (f, "0", 1.0, FALSE, NULL, &line_h);
  cairo_save (cr);
  cairo_set_line_width (cr, 1.0);
  plot_set_color (cr, color, 1.0);
  for (int i = 0; i < n; i++)
    {
      double y = round (f->bottom - (t[i] - lo) / (hi - lo) * (f->bottom - f->top)) + 0.5;
      cairo_move_to (cr, f->right, y);
      cairo_line_to (cr, f->right + 0.4 * line_h, y);
      cairo_stroke (cr);
      if (step < 1e-3 && t[i] != 0.0)
        snprintf (buf, sizeof buf, "%.3g", t[i]);
      else
        plot_format_tick (t[i], step, buf, sizeof buf);
      plot_text (f, f->right + 0.5 * line_h, y, buf, PLOT_ALIGN_START, PLOT_ALIGN_CENTER, 0.9, FALSE, color, 0);
    }
  cairo_restore (cr);
  if (label != NULL)
    plot_text (f, f->width - 0.4 * line_h, (f->top + f->bottom) / 2, label, PLOT_ALIGN_CENTER,
               PLOT_ALIGN_START, 1.0, FALSE, color, G_PI / 2);
}

void
plot_note (PlotFrame *f, const char *text)
{
  plot_text (f, (f->left + f->right) / 2, (f->top + f->bottom) / 2, text, PLOT_ALIGN_CENTER,
             PLOT_ALIGN_CENTER, 1.1, FALSE, &plot_color_muted, 0);
}

void
plot_marker (cairo_t *cr, int shape, double x, double y, double r, const PlotColor *c, double alpha)
{
  cairo_save (cr);
  cairo_new_path (cr);
  switch (shape)
    {
    case 1:
      cairo_rectangle (cr, x - 0.85 * r, y - 0.85 * r, 1.7 * r, 1.7 * r);
      break;
    case 2:
      cairo_move_to (cr, x, y - 1.2 * r);
      cairo_line_to (cr, x + 1.2 * r, y);
      cairo_line_to (cr, x, y + 1.2 * r);
      cairo_line_to (cr, x - 1.2 * r, y);
      cairo_close_path (cr);
      break;
    case 3:
      cairo_move_to (cr, x, y - 1.2 * r);
      cairo_line_to (cr, x + 1.1 * r, y + 0.8 * r);
      cairo_line_to (cr, x - 1.1 * r, y + 0.8 * r);
      cairo_close_path (cr);
      break;
    case 4:
      cairo_move_to (cr, x - r, y - r);
      cairo_line_to (cr, x + r, y + r);
      cairo_move_to (cr, x + r, y - r);
      cairo_line_to (cr, x - r, y + r);
      cairo_set_line_width (cr, MAX (1.2, 0.45 * r));
      plot_set_color (cr, c, alpha);
      cairo_stroke (cr);
      cairo_restore (cr);
      return;
    case 5:
      cairo_arc (cr, x, y, r * 0.85, 0, 2 * G_PI);
      cairo_set_line_width (cr, MAX (1.0, 0.35 * r));
      plot_set_color (cr, c, alpha);
      cairo_stroke (cr);
      cairo_restore (cr);
      return;
    default:
      cairo_arc (cr, x, y, r, 0, 2 * G_PI);
      break;
    }
  plot_set_color (cr, c, alpha);
  cairo_fill_preserve (cr);
  /* A thin white rim separates overlapping markers. */
  cairo_set_line_width (cr, MAX (0.6, 0.18 * r));
  cairo_set_source_rgba (cr, 1, 1, 1, 0.8 * alpha);
  cairo_stroke (cr);
  cairo_restore (cr);
}

void
plot_legend_size (PlotFrame *f, const PlotLegendEntry *entries, int n, double *w, double *h)
{
  double line_h, max_w = 0;

  plot_text_size (f, "0", 0.95, FALSE, NULL, &line_h);
  for (int i = 0; i < n; i++)
    {
      double tw;
      plot_text_size (f, entries[i].label, 0.95, FALSE, &tw, NULL);
      max_w = MAX (max_w, tw);
    }
  *w = 0.6 * line_h + 1.8 * line_h + 0.5 * line_h + max_w + 0.6 * line_h;
  *h = 0.4 * line_h + n * 1.25 * line_h + 0.3 * line_h;
}

void
plot_legend_draw (PlotFrame *f, const PlotLegendEntry *entries, int n, double x, double y)
{
  cairo_t *cr = f->cr;
  double w, h, line_h;

  if (n <= 0)
    return;
  plot_legend_size (f, entries, n, &w, &h);
  plot_text_size (f, "0", 0.95, FALSE, NULL, &line_h);
  cairo_save (cr);
  cairo_rectangle (cr, round (x) + 0.5, round (y) + 0.5, round (w), round (h));
  cairo_set_source_rgba (cr, 1, 1, 1, 0.9);
  cairo_fill_preserve (cr);
  plot_set_color (cr, &plot_color_grid, 1.0);
  cairo_set_line_width (cr, 1.0);
  cairo_stroke (cr);
  for (int i = 0; i < n; i++)
    {
      const PlotLegendEntry *e = &entries[i];
      double cy = y + 0.4 * line_h + (i + 0.5) * 1.25 * line_h;
      double sx = x + 0.6 * line_h, sw = 1.8 * line_h;

      switch (e->swatch)
        {
        case PLOT_SWATCH_LINE:
        case PLOT_SWATCH_DASHED:
          cairo_move_to (cr, sx, cy);
          cairo_line_to (cr, sx + sw, cy);
          cairo_set_line_width (cr, 2.0 * f->unit);
          if (e->swatch == PLOT_SWATCH_DASHED)
            {
              double dash[2] = { 4.0 * f->unit, 3.0 * f->unit };
              cairo_set_dash (cr, dash, 2, 0);
            }
          plot_set_color (cr, e->color, 1.0);
          cairo_stroke (cr);
          cairo_set_dash (cr, NULL, 0, 0);
          break;
        case PLOT_SWATCH_BOX:
          cairo_rectangle (cr, sx + 0.2 * sw, cy - 0.4 * line_h, 0.6 * sw, 0.8 * line_h);
          plot_set_color (cr, e->color, 0.55);
          cairo_fill_preserve (cr);
          plot_set_color (cr, e->color, 1.0);
          cairo_set_line_width (cr, 1.0);
          cairo_stroke (cr);
          break;
        case PLOT_SWATCH_MARKER:
          plot_marker (cr, e->marker, sx + sw / 2, cy, 0.33 * line_h, e->color, 1.0);
          break;
        }
      plot_text (f, sx + sw + 0.5 * line_h, cy, e->label, PLOT_ALIGN_START, PLOT_ALIGN_CENTER, 0.95, FALSE,
                 &plot_color_text, 0);
    }
  cairo_restore (cr);
}

void
plot_legend_auto (PlotFrame *f, const PlotLegendEntry *entries, int n, const double *px, const double *py,
                  size_t count)
{
  double w, h, pad = 8.0 * f->unit, best_x = 0, best_y = 0;
  size_t best = (size_t) -1;

  if (n <= 0)
    return;
  plot_legend_size (f, entries, n, &w, &h);
  /* Top-right first: the conventional place when it is free. */
  for (int corner = 0; corner < 4; corner++)
    {
      double x = (corner == 0 || corner == 3) ? f->right - pad - w : f->left + pad;
      double y = corner < 2 ? f->top + pad : f->bottom - pad - h;
      size_t covered = 0;

      for (size_t i = 0; i < count; i++)
        if (px[i] >= x - 2 * pad && px[i] <= x + w + 2 * pad && py[i] >= y - 2 * pad && py[i] <= y + h + 2 * pad)
          covered++;
      if (covered < best)
        {
          best = covered;
          best_x = x;
          best_y = y;
        }
    }
  plot_legend_draw (f, entries, n, best_x, best_y);
}
