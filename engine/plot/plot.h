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
