/* plot-private.h: frame, axes, text and legend shared by the plots. */
#pragma once

#include <cairo.h>
#include <glib.h>
#include <pango/pangocairo.h>

#include "plot.h"

G_BEGIN_DECLS

typedef struct
{
  double r, g, b;
} PlotColor;

/* One palette for every plot (GNOME HIG colours), so "good" is the same
 * blue and "defect" the same red wherever they appear. */
extern const PlotColor plot_color_background;
extern const PlotColor plot_color_text;
extern const PlotColor plot_color_muted;
extern const PlotColor plot_color_grid;
extern const PlotColor plot_color_good;
extern const PlotColor plot_color_defect;
extern const PlotColor plot_color_train;
extern const PlotColor plot_color_cutpaste;
extern const PlotColor plot_color_scar;
extern const PlotColor plot_color_accent;
/* Colours for several defect types, red first. */
const PlotColor *plot_defect_color (int index);

typedef struct
{
  cairo_t *cr;
  int      width, height;
  double   unit;                 /* 1 at 640 x 480; scales strokes and gaps */
  double   text_unit;            /* scales fonts: unit, but never so small that tick labels
                                  * fall under CP_PLOT_MIN_TEXT_PX */
  double   left, top, right, bottom;   /* plot area in device units */
  double   xmin, xmax, ymin, ymax;
  gboolean xlog, ylog;
  gboolean xtime;                /* x is seconds since 1970: ticks at local clock times */
} PlotFrame;

typedef enum
{
  PLOT_ALIGN_START,
  PLOT_ALIGN_CENTER,
  PLOT_ALIGN_END,
} PlotAlign;

void   plot_set_color   (cairo_t *cr, const PlotColor *c, double alpha);

/* Clears to the background, draws @title and sets a plot area that leaves
 * room for tick labels and axis titles (and @right_axis labels). */
void   plot_frame_begin (PlotFrame *f, cairo_t *cr, int width, int height, const char *title,
                         gboolean right_axis, double legend_column);

double plot_x (const PlotFrame *f, double v);
double plot_y (const PlotFrame *f, double v);

/* Up to about @target "nice" ticks (1, 2, 2.5, 5 x 10^k) covering [lo, hi].
 * Returns the count written to @ticks (at most 32) and the step. */
int    plot_nice_ticks  (double lo, double hi, int target, double *ticks, double *step);
/* Expands [*lo, *hi] outwards to the nearest ticks. */
void   plot_nice_range  (double *lo, double *hi, int target);
void   plot_format_tick (double v, double step, char *buf, size_t size);

/* Up to about @target ticks at round local clock times (1 s .. 1 week
 * apart) covering [lo, hi] seconds since 1970; the step in seconds goes
 * to *@step. */
int    plot_time_ticks  (double lo, double hi, int target, double *ticks, double *step);
/* "14:30", "14:30:15", "01-02 14:30" or "2026-01-02" as the step and the
 * span need; local time. */
void   plot_format_time (double t, double step, double span, char *buf, size_t size);

/* Grid, frame, ticks and axis titles.  @xlabel / @ylabel may be NULL;
 * @ticks FALSE draws the frame only (t-SNE axes have no units). */
void   plot_axes        (PlotFrame *f, const char *xlabel, const char *ylabel, gboolean ticks);
/* A second y axis on the right mapping [lo, hi] (linear). */
void   plot_right_axis  (PlotFrame *f, double lo, double hi, const char *label, const PlotColor *color);

/* Text at (x, y) aligned by @ha / @va, @size in units of the base font,
 * rotated by @angle radians.  Returns the width and height through w, h
 * (may be NULL). */
void   plot_text        (PlotFrame *f, double x, double y, const char *text, PlotAlign ha, PlotAlign va,
                         double size, gboolean bold, const PlotColor *color, double angle);
void   plot_text_size   (PlotFrame *f, const char *text, double size, gboolean bold, double *w, double *h);

/* A note centred in the plot area ("no scores", ...). */
void   plot_note        (PlotFrame *f, const char *text);

typedef enum
{
  PLOT_SWATCH_LINE,
  PLOT_SWATCH_DASHED,
  PLOT_SWATCH_BOX,
  PLOT_SWATCH_MARKER,
} PlotSwatch;

typedef struct
{
  const char      *label;
  const PlotColor *color;
  PlotSwatch       swatch;
  int              marker;       /* for PLOT_SWATCH_MARKER: a plot_marker shape */
} PlotLegendEntry;

/* Legend size for @entries. */
void   plot_legend_size (PlotFrame *f, const PlotLegendEntry *entries, int n, double *w, double *h);
/* Draws a legend with its top-left corner at (x, y). */
void   plot_legend_draw (PlotFrame *f, const PlotLegendEntry *entries, int n, double x, double y);
/* Draws the legend inside the plot area in the corner that covers the
 * fewest of the @count device points (px, py). */
void   plot_legend_auto (PlotFrame *f, const PlotLegendEntry *entries, int n, const double *px,
                         const double *py, size_t count);

/* Marker shapes: 0 circle, 1 square, 2 diamond, 3 triangle, 4 cross,
 * 5 ring (hollow circle). */
void   plot_marker      (cairo_t *cr, int shape, double x, double y, double r, const PlotColor *c,
                         double alpha);

G_END_DECLS
