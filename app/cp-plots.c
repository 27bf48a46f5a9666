/* cp-plots.c: the data behind each plot view, drawn by engine/plot. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "core/augment/cutpaste.h"
#include "cp-plots.h"

/* ---- the data behind a plot ------------------------------------------------ */

/* What a view draws from: the engine's description of the plot, whose
 * arrays point into blocks the data owns.  Every XData below starts with
 * a PlotData, takes its blocks with plot_data_take () and goes with
 * plot_data_free (). */
typedef struct
{
  GPtrArray *blocks;   /* Owned */
} PlotData;

typedef struct
{
  gpointer       block;
  GDestroyNotify free_func;
} Owned;

static void
owned_free (gpointer data)
{
  Owned *owned = data;

  owned->free_func (owned->block);
  g_free (owned);
}

/* A zeroed XData of @size bytes (its first member a PlotData). */
static gpointer
plot_data_new (gsize size)
{
  PlotData *d = g_malloc0 (size);

  d->blocks = g_ptr_array_new_with_free_func (owned_free);
  return d;
}

/* @block, freed with @free_func when the data goes; returns @block. */
static gpointer
plot_data_take (gpointer       data,
                gpointer       block,
                GDestroyNotify free_func)
{
  PlotData *d = data;
  Owned *owned = g_new (Owned, 1);

  owned->block = block;
  owned->free_func = free_func;
  g_ptr_array_add (d->blocks, owned);
  return block;
}

/* @n elements of @size bytes, at least one (a plot of nothing still has
 * its arrays), owned by the data. */
static gpointer
plot_data_alloc (gpointer data,
                 gsize    n,
                 gsize    size)
{
  return plot_data_take (data, g_malloc_n (MAX (n, 1), size), g_free);
}

static void
plot_data_free (gpointer data)
{
  PlotData *d = data;

  g_ptr_array_unref (d->blocks);
  g_free (d);
}

/* ---- loss ------------------------------------------------------------------ */

typedef struct
{
  PlotData   base;
  GArray    *losses;        /* borrowed */
  const int *total_steps;   /* borrowed */
} LossData;

static void
draw_loss (cairo_t *cr, int width, int height, gpointer data)
{
  LossData *d = data;
  guint n = d->losses->len;
  g_autofree double *loss = g_new (double, MAX (n, 1));
  CpPlotLoss plot = { 0 };

  for (guint i = 0; i < n; i++)
    loss[i] = g_array_index (d->losses, float, i);
  plot.loss = loss;
  plot.count = n;
  plot.title = NULL;   /* engine/plot names the plot itself */
  cp_plot_loss_draw (cr, width, height, &plot);
}

void
cp_plots_set_loss (CpPlotView *view,
                   GArray     *losses,
                   const int  *total_steps)
{
  LossData *d = plot_data_new (sizeof (LossData));

  d->losses = losses;
  d->total_steps = total_steps;
  cp_plot_view_set_funcs (view, draw_loss, NULL, d, plot_data_free);
}

/* ---- ROC ------------------------------------------------------------------- */

typedef struct
{
  PlotData  base;
  CpPlotRoc plot;
} RocData;

static void
draw_roc (cairo_t *cr, int width, int height, gpointer data)
{
  RocData *d = data;

  cp_plot_roc_draw (cr, width, height, &d->plot);
}

void
cp_plots_set_roc (CpPlotView         *view,
                  const CpEvalResult *eval)
{
  RocData *d = plot_data_new (sizeof (RocData));
  guint n = eval->roc != NULL ? eval->roc->len : 0;
  double *fpr = plot_data_alloc (d, n, sizeof (double));
  double *tpr = plot_data_alloc (d, n, sizeof (double));

  for (guint i = 0; i < n; i++)
    {
      fpr[i] = g_array_index (eval->roc, CpRocPoint, i).fpr;
      tpr[i] = g_array_index (eval->roc, CpRocPoint, i).tpr;
    }
  d->plot.fpr = fpr;
  d->plot.tpr = tpr;
  d->plot.count = n;
  d->plot.auroc = eval->auroc;
  d->plot.title = plot_data_take (d, g_strdup (eval->category), g_free);
  cp_plot_view_set_funcs (view, draw_roc, NULL, d, plot_data_free);
}

/* ---- histogram ----------------------------------------------------------- */

typedef struct
{
  PlotData        base;
  CpPlotHistogram plot;
} HistData;

static void
draw_hist (cairo_t *cr, int width, int height, gpointer data)
{
  HistData *d = data;

  cp_plot_histogram_draw (cr, width, height, &d->plot);
}

void
cp_plots_set_histogram (CpPlotView         *view,
                        const CpEvalResult *eval,
                        double              threshold)
{
  HistData *d = plot_data_new (sizeof (HistData));
  GArray *good = plot_data_take (d, g_array_new (FALSE, FALSE, sizeof (double)),
                                 (GDestroyNotify) g_array_unref);
  GArray *defect = plot_data_take (d, g_array_new (FALSE, FALSE, sizeof (double)),
                                   (GDestroyNotify) g_array_unref);

  for (guint i = 0; i < eval->images->len; i++)
    {
      const CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);

      if (isnan (img->score))
        continue;
      g_array_append_val (img->label == 0 ? good : defect, img->score);
    }
  /* Filled: the arrays move no more. */
  d->plot.good_scores = (const double *) good->data;
  d->plot.n_good = good->len;
  d->plot.defect_scores = (const double *) defect->data;
  d->plot.n_defect = defect->len;
  d->plot.threshold = threshold;
  d->plot.title = plot_data_take (d, g_strdup (eval->category), g_free);
  cp_plot_view_set_funcs (view, draw_hist, NULL, d, plot_data_free);
}

/* ---- t-SNE ------------------------------------------------------------------- */

typedef struct
{
  PlotData    base;
  CpPlotTsne  plot;
  GPtrArray  *labels;   /* char *: tooltip of each point */
} TsneData;

static void
draw_tsne (cairo_t *cr, int width, int height, gpointer data)
{
  TsneData *d = data;

  cp_plot_tsne_draw (cr, width, height, &d->plot);
}

static int
hit_tsne (double x, double y, int width, int height, gpointer data, char **tooltip)
{
  TsneData *d = data;
  int index = cp_plot_tsne_hit (&d->plot, width, height, x, y, 8.0);

  if (index >= 0 && tooltip != NULL)
    *tooltip = g_strdup (g_ptr_array_index (d->labels, index));
  return index;
}

static int
defect_index (GPtrArray  *names,
              const char *name)
{
  for (guint i = 0; i < names->len; i++)
    if (g_strcmp0 (g_ptr_array_index (names, i), name) == 0)
      return i;
  g_ptr_array_add (names, g_strdup (name));
  return names->len - 1;
}

void
cp_plots_set_tsne (CpPlotView         *view,
                   const CpEvalResult *eval,
                   const float        *xy,
                   int                 n)
{
  TsneData *d = plot_data_new (sizeof (TsneData));
  int n_test = eval->images->len;
  CpPlotPointKind *kinds = plot_data_take (d, g_new0 (CpPlotPointKind, n), g_free);
  int *defect_type = plot_data_take (d, g_new0 (int, n), g_free);
  GPtrArray *defect_names = plot_data_take (d, g_ptr_array_new_with_free_func (g_free),
                                            (GDestroyNotify) g_ptr_array_unref);

  d->labels = plot_data_take (d, g_ptr_array_new_with_free_func (g_free),
                              (GDestroyNotify) g_ptr_array_unref);
  for (int i = 0; i < n; i++)
    {
      if (i < n_test)
        {
          const CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);
          g_autofree char *base = g_path_get_basename (img->path);

          kinds[i] = img->label == 0 ? CP_PLOT_POINT_TEST_GOOD : CP_PLOT_POINT_TEST_DEFECT;
          if (img->label != 0)
            defect_type[i] = defect_index (defect_names, img->defect_type);
          g_ptr_array_add (d->labels, g_strdup_printf (_("%s (%s) · score %.3f"), base,
                                                       img->defect_type, img->score));
        }
      else if (i < n_test + eval->n_train)
        {
          kinds[i] = CP_PLOT_POINT_TRAIN_GOOD;
          g_ptr_array_add (d->labels, g_strdup_printf (_("Training image %d"), i - n_test + 1));
        }
      else
        {
          int aug = i - n_test - eval->n_train;
          gboolean scar = eval->aug_labels != NULL && eval->aug_labels[aug] == CP_AUGMENT_KIND_SCAR;

          kinds[i] = scar ? CP_PLOT_POINT_SCAR : CP_PLOT_POINT_CUTPASTE;
          g_ptr_array_add (d->labels, g_strdup (scar ? _("Scar sample") : _("CutPaste sample")));
        }
    }
  d->plot.xy = plot_data_take (d, g_memdup2 (xy, sizeof (float) * 2 * n), g_free);
  d->plot.count = n;
  d->plot.kinds = kinds;
  d->plot.defect_type = defect_type;
  /* Filled: the names move no more. */
  d->plot.defect_names = (const char *const *) defect_names->pdata;
  d->plot.n_defect_names = defect_names->len;
  d->plot.title = plot_data_take (d, g_strdup (eval->category), g_free);
  cp_plot_view_set_funcs (view, draw_tsne, hit_tsne, d, plot_data_free);
}

/* ---- the line: yield over time ---------------------------------------------- */

typedef struct
{
  PlotData    base;
  CpPlotYield plot;
} YieldData;

static void
draw_yield (cairo_t *cr, int width, int height, gpointer data)
{
  YieldData *d = data;

  cp_plot_yield_draw (cr, width, height, &d->plot);
}

void
cp_plots_set_yield (CpPlotView *view,
                    GArray     *buckets,
                    gint64      width_us)
{
  YieldData *d = plot_data_new (sizeof (YieldData));
  size_t n = buckets != NULL ? buckets->len : 0;
  gint64 *start_us = plot_data_alloc (d, n, sizeof (gint64));
  gint64 *total = plot_data_alloc (d, n, sizeof (gint64));
  gint64 *passed = plot_data_alloc (d, n, sizeof (gint64));

  for (size_t i = 0; i < n; i++)
    {
      const CpYieldBucket *b = &g_array_index (buckets, CpYieldBucket, i);

      start_us[i] = b->start_us;
      total[i] = b->total;
      passed[i] = b->final_passed;
    }
  d->plot.start_us = start_us;
  d->plot.total = total;
  d->plot.passed = passed;
  d->plot.count = n;
  d->plot.width_us = width_us;
  cp_plot_view_set_funcs (view, draw_yield, NULL, d, plot_data_free);
}

/* ---- the line: scores over time (drift) ---------------------------------------- */

typedef struct
{
  PlotData     base;
  CpPlotScores plot;
} ScoresData;

static void
draw_scores (cairo_t *cr, int width, int height, gpointer data)
{
  ScoresData *d = data;

  cp_plot_scores_draw (cr, width, height, &d->plot);
}

void
cp_plots_set_scores (CpPlotView *view,
                     GPtrArray  *parts,
                     double      threshold,
                     double      reference_median,
                     double      reference_upper)
{
  ScoresData *d = plot_data_new (sizeof (ScoresData));
  size_t n = parts != NULL ? parts->len : 0;
  gint64 *time_us = plot_data_alloc (d, n, sizeof (gint64));
  double *score = plot_data_alloc (d, n, sizeof (double));
  gboolean *failed = plot_data_alloc (d, n, sizeof (gboolean));

  for (size_t i = 0; i < n; i++)
    {
      const CpPart *part = parts->pdata[i];

      time_us[i] = part->time_us;
      score[i] = part->score;
      failed[i] = part->verdict == CP_VERDICT_FAIL;
    }
  d->plot.time_us = time_us;
  d->plot.score = score;
  d->plot.failed = failed;
  d->plot.count = n;
  d->plot.threshold = threshold;
  d->plot.reference_median = reference_median;
  d->plot.reference_upper = reference_upper;
  cp_plot_view_set_funcs (view, draw_scores, NULL, d, plot_data_free);
}
