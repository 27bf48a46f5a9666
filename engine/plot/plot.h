/* plot.h: the evaluation plots (ROC, score histogram, t-SNE, loss curve).
 *
 * Every plot draws into any cairo_t covering width x height device units
 * (a PNG surface, a GTK drawing area, a PDF page): the application and the
 * command line show the very same drawing.  Text goes through pango-cairo.
 * The structs only point at the caller's arrays; nothing is copied or
 * freed.  Empty or degenerate input (no points, one class, equal scores,
 * NaN) draws the axes and a short note instead of failing.
 */
#pragma once

#include <cairo.h>
#include <glib.h>
#include <stddef.h>

G_BEGIN_DECLS

/* ---- text size ---- */

/* The smallest text a plot draws (its tick labels), in device units
 * (pixels on screen): it grows and shrinks with the plot, but never under
 * CP_PLOT_MIN_TEXT_PX however small the plot, so that a small window
 * still shows legible plots (issue 19). */
#define CP_PLOT_MIN_TEXT_PX 10.0
double cp_plot_min_text_px (int width, int height);

/* ---- ROC curve ---- */

typedef struct
{
  const double *fpr;      /* count points, from (0, 0) to (1, 1) */
  const double *tpr;
  size_t        count;
  double        auroc;    /* shown in the legend; NaN hides it */
  const char   *title;    /* e.g. the category; may be NULL */
} CpPlotRoc;

void cp_plot_roc_draw (cairo_t *cr, int width, int height, const CpPlotRoc *roc);
/* Where the point (@fpr, @tpr) lands in a drawing of @width x @height. */
void cp_plot_roc_to_pixel (const CpPlotRoc *roc, int width, int height, double fpr, double tpr,
                           double *x, double *y);

/* ---- score histogram ---- */

typedef struct
{
  const double *good_scores;      /* test/good images */
  size_t        n_good;
  const double *defect_scores;    /* all other test images */
  size_t        n_defect;
  double        threshold;        /* NaN: no threshold line */
  int           bins;             /* 0: chosen from the counts */
  const char   *title;
  /* Names of the two groups and of what is counted, for other uses than
   * test images (a shift's passed and failed parts); NULL: "Good",
   * "Defective", "Images". */
  const char   *good_name;
  const char   *defect_name;
  const char   *count_name;
} CpPlotHistogram;

void cp_plot_histogram_draw (cairo_t *cr, int width, int height, const CpPlotHistogram *hist);

/* ---- t-SNE scatter ---- */

typedef enum
{
  CP_PLOT_POINT_TRAIN_GOOD,
  CP_PLOT_POINT_TEST_GOOD,
  CP_PLOT_POINT_TEST_DEFECT,
  CP_PLOT_POINT_CUTPASTE,
  CP_PLOT_POINT_SCAR,
} CpPlotPointKind;

typedef struct
{
  const float           *xy;           /* count x 2 */
  size_t                 count;
  const CpPlotPointKind *kinds;        /* count */
  /* For CP_PLOT_POINT_TEST_DEFECT points: index into defect_names, one
   * colour per defect type.  NULL: one colour for all defects. */
  const int             *defect_type;
  const char *const     *defect_names;
  int                    n_defect_names;
  const char            *title;
} CpPlotTsne;

void cp_plot_tsne_draw (cairo_t *cr, int width, int height, const CpPlotTsne *tsne);

/* Index of the point drawn nearest to pixel (@x, @y) in a plot of @width x
 * @height, or -1 when none lies within @max_distance pixels. */
int  cp_plot_tsne_hit  (const CpPlotTsne *tsne, int width, int height, double x, double y,
                        double max_distance);
/* Where point @index is drawn; FALSE when it is not drawn (NaN, bad kind,
 * out of range). */
gboolean cp_plot_tsne_to_pixel (const CpPlotTsne *tsne, int width, int height, size_t index,
                                double *x, double *y);

/* ---- training loss ---- */

typedef struct
{
  const double *steps;     /* count; NULL: 1, 2, 3, ... */
  const double *loss;      /* count */
  const double *lr;        /* count, or NULL: the learning rate, right axis */
  size_t        count;
  gboolean      log_y;     /* logarithmic loss axis */
  const char   *title;
} CpPlotLoss;

void cp_plot_loss_draw (cairo_t *cr, int width, int height, const CpPlotLoss *loss);

/* ---- yield over time (the line) ---- */

typedef struct
{
  const gint64 *start_us;    /* count buckets: start, microseconds since 1970 (UTC) */
  const gint64 *total;       /* parts in each bucket */
  const gint64 *passed;      /* of them passed (final verdict) */
  size_t        count;
  gint64        width_us;    /* bucket width */
  const char   *title;       /* NULL: "Yield over time" */
} CpPlotYield;

/* Bars of each bucket's yield (%) (orange below the overall yield), the
 * parts per bucket above them, and the overall yield as a dashed line;
 * times in the local time zone. */
void cp_plot_yield_draw (cairo_t *cr, int width, int height, const CpPlotYield *yield);

/* ---- scores over time (the line's drift chart) ---- */

typedef struct
{
  const gint64   *time_us;          /* count parts */
  const double   *score;
  const gboolean *failed;           /* verdict at scoring time */
  size_t          count;
  double          threshold;        /* NaN: none */
  double          reference_median; /* of the reference good scores; NaN: none */
  double          reference_upper;  /* their 90th percentile; NaN: none */
  const char     *title;            /* NULL: "Scores over time" */
} CpPlotScores;

/* One dot per part (passed blue, failed red) against time, the threshold,
 * and the reference's median and 90th percentile: recent passed parts
 * drifting above the reference band is what the drift warning reports. */
void cp_plot_scores_draw (cairo_t *cr, int width, int height, const CpPlotScores *scores);

/* ---- PNG files ---- */

typedef void (*CpPlotPainter) (cairo_t *cr, int width, int height, gconstpointer data);

/* Renders @paint into a @width x @height ARGB image and writes it to @path
 * atomically (temporary file in the same folder, fsync, rename). */
gboolean cp_plot_write_png (const char *path, int width, int height, CpPlotPainter paint,
                            gconstpointer data, GError **error);

gboolean cp_plot_roc_write_png       (const char *path, int width, int height, const CpPlotRoc *roc,
                                      GError **error);
gboolean cp_plot_histogram_write_png (const char *path, int width, int height,
                                      const CpPlotHistogram *hist, GError **error);
gboolean cp_plot_tsne_write_png      (const char *path, int width, int height, const CpPlotTsne *tsne,
                                      GError **error);
gboolean cp_plot_loss_write_png      (const char *path, int width, int height, const CpPlotLoss *loss,
                                      GError **error);

G_END_DECLS
