/* cp-plots.c: the data behind each plot view, drawn by engine/plot. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "core/augment/cutpaste.h"
#include "cp-plots.h"

/* ---- loss ------------------------------------------------------------------ */

typedef struct
{
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
  LossData *d = g_new0 (LossData, 1);

  d->losses = losses;
  d->total_steps = total_steps;
  cp_plot_view_set_funcs (view, draw_loss, NULL, d, g_free);
}

/* ---- ROC ------------------------------------------------------------------- */

typedef struct
{
  double *fpr;
  double *tpr;
  size_t  count;
  double  auroc;
  char   *title;
} RocData;

static void
roc_data_free (gpointer data)
{
  RocData *d = data;

  g_free (d->fpr);
  g_free (d->tpr);
  g_free (d->title);
  g_free (d);
}

static void
draw_roc (cairo_t *cr, int width, int height, gpointer data)
{
  RocData *d = data;
  CpPlotRoc plot = { d->fpr, d->tpr, d->count, d->auroc, d->title };

  cp_plot_roc_draw (cr, width, height, &plot);
}

void
cp_plots_set_roc (CpPlotView         *view,
                  const CpEvalResult *eval)
{
  RocData *d = g_new0 (RocData, 1);
  guint n = eval->roc != NULL ? eval->roc->len : 0;

  d->fpr = g_new (double, MAX (n, 1));
  d->tpr = g_new (double, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      d->fpr[i] = g_array_index (eval->roc, CpRocPoint, i).fpr;
      d->tpr[i] = g_array_index (eval->roc, CpRocPoint, i).tpr;
    }
  d->count = n;
  d->auroc = eval->auroc;
  d->title = g_strdup (eval->category);
  cp_plot_view_set_funcs (view, draw_roc, NULL, d, roc_data_free);
}

/* ---- histogram ----------------------------------------------------------- */

typedef struct
{
  GArray *good;     /* double */
  GArray *defect;   /* double */
  double  threshold;
  char   *title;
} HistData;

static void
hist_data_free (gpointer data)
{
  HistData *d = data;

  g_array_unref (d->good);
  g_array_unref (d->defect);
  g_free (d->title);
  g_free (d);
}

static void
draw_hist (cairo_t *cr, int width, int height, gpointer data)
{
  HistData *d = data;
  CpPlotHistogram plot = { 0 };

  plot.good_scores = (const double *) d->good->data;
  plot.n_good = d->good->len;
  plot.defect_scores = (const double *) d->defect->data;
  plot.n_defect = d->defect->len;
  plot.threshold = d->threshold;
  plot.title = d->title;
  cp_plot_histogram_draw (cr, width, height, &plot);
}

void
cp_plots_set_histogram (CpPlotView         *view,
                        const CpEvalResult *eval,
                        double              threshold)
{
  HistData *d = g_new0 (HistData, 1);

  d->good = g_array_new (FALSE, FALSE, sizeof (double));
  d->defect = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < eval->images->len; i++)
    {
      const CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);

      if (isnan (img->score))
        continue;
      g_array_append_val (img->label == 0 ? d->good : d->defect, img->score);
    }
  d->threshold = threshold;
  d->title = g_strdup (eval->category);
  cp_plot_view_set_funcs (view, draw_hist, NULL, d, hist_data_free);
}

/* ---- t-SNE ------------------------------------------------------------------- */

typedef struct
{
  float           *xy;
  CpPlotPointKind *kinds;
  int             *defect_type;
  GPtrArray       *defect_names;   /* char * */
  GPtrArray       *labels;         /* char *: tooltip of each point */
  int             *test_index;     /* eval->images index or -1 */
  int              count;
  char            *title;
} TsneData;

static void
tsne_data_free (gpointer data)
{
  TsneData *d = data;

  g_free (d->xy);
  g_free (d->kinds);
  g_free (d->defect_type);
  g_ptr_array_unref (d->defect_names);
  g_ptr_array_unref (d->labels);
  g_free (d->test_index);
  g_free (d->title);
  g_free (d);
}

static void
tsne_plot (TsneData *d, CpPlotTsne *plot)
{
  plot->xy = d->xy;
  plot->count = d->count;
  plot->kinds = d->kinds;
  plot->defect_type = d->defect_type;
  plot->defect_names = (const char *const *) d->defect_names->pdata;
  plot->n_defect_names = d->defect_names->len;
  plot->title = d->title;
}

static void
draw_tsne (cairo_t *cr, int width, int height, gpointer data)
{
  CpPlotTsne plot = { 0 };

  tsne_plot (data, &plot);
  cp_plot_tsne_draw (cr, width, height, &plot);
}

static int
hit_tsne (double x, double y, int width, int height, gpointer data, char **tooltip)
{
  TsneData *d = data;
  CpPlotTsne plot = { 0 };
  int index;

  tsne_plot (d, &plot);
  index = cp_plot_tsne_hit (&plot, width, height, x, y, 8.0);
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
  TsneData *d = g_new0 (TsneData, 1);
  int n_test = eval->images->len;

  d->count = n;
  d->xy = g_memdup2 (xy, sizeof (float) * 2 * n);
  d->kinds = g_new0 (CpPlotPointKind, n);
  d->defect_type = g_new0 (int, n);
  d->test_index = g_new (int, n);
  d->defect_names = g_ptr_array_new_with_free_func (g_free);
  d->labels = g_ptr_array_new_with_free_func (g_free);
  d->title = g_strdup (eval->category);
  for (int i = 0; i < n; i++)
    {
      d->test_index[i] = -1;
      if (i < n_test)
        {
          const CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);
          g_autofree char *base = g_path_get_basename (img->path);

          d->test_index[i] = i;
          d->kinds[i] = img->label == 0 ? CP_PLOT_POINT_TEST_GOOD : CP_PLOT_POINT_TEST_DEFECT;
          if (img->label != 0)
            d->defect_type[i] = defect_index (d->defect_names, img->defect_type);
          g_ptr_array_add (d->labels, g_strdup_printf (_("%s (%s) · score %.3f"), base,
                                                       img->defect_type, img->score));
        }
      else if (i < n_test + eval->n_train)
        {
          d->kinds[i] = CP_PLOT_POINT_TRAIN_GOOD;
          g_ptr_array_add (d->labels, g_strdup_printf (_("Training image %d"), i - n_test + 1));
        }
      else
        {
          int aug = i - n_test - eval->n_train;
          gboolean scar = eval->aug_labels != NULL && eval->aug_labels[aug] == CP_AUGMENT_KIND_SCAR;

          d->kinds[i] = scar ? CP_PLOT_POINT_SCAR : CP_PLOT_POINT_CUTPASTE;
          g_ptr_array_add (d->labels, g_strdup (scar ? _("Scar sample") : _("CutPaste sample")));
        }
    }
  cp_plot_view_set_funcs (view, draw_tsne, hit_tsne, d, tsne_data_free);
}


/* ---- the line: yield over time ---------------------------------------------- */

typedef struct
{
  gint64 *start_us;
  gint64 *total;
  gint64 *passed;
  size_t  count;
  gint64  width_us;
} YieldData;

static void
yield_data_free (gpointer data)
{
  YieldData *d = data;

  g_free (d->start_us);
  g_free (d->total);
  g_free (d->passed);
  g_free (d);
}

static void
draw_yield (cairo_t *cr, int width, int height, gpointer data)
{
  YieldData *d = data;
  CpPlotYield plot = { 0 };

  plot.start_us = d->start_us;
  plot.total = d->total;
  plot.passed = d->passed;
  plot.count = d->count;
  plot.width_us = d->width_us;
  cp_plot_yield_draw (cr, width, height, &plot);
}

void
cp_plots_set_yield (CpPlotView *view,
                    GArray     *buckets,
                    gint64      width_us)
{
  YieldData *d = g_new0 (YieldData, 1);
  size_t n = buckets != NULL ? buckets->len : 0;

  d->start_us = g_new (gint64, MAX (n, 1));
  d->total = g_new (gint64, MAX (n, 1));
  d->passed = g_new (gint64, MAX (n, 1));
  for (size_t i = 0; i < n; i++)
    {
      const CpYieldBucket *b = &g_array_index (buckets, CpYieldBucket, i);

      d->start_us[i] = b->start_us;
      d->total[i] = b->total;
      d->passed[i] = b->final_passed;
    }
  d->count = n;
  d->width_us = width_us;
  cp_plot_view_set_funcs (view, draw_yield, NULL, d, yield_data_free);
}

/* ---- the line: scores over time (drift) ---------------------------------------- */

typedef struct
{
  gint64   *time_us;
  double   *score;
  gboolean *failed;
  size_t    count;
  double    threshold;
  double    reference_median;
  double    reference_upper;
} ScoresData;

static void
scores_data_free (gpointer data)
{
  ScoresData *d = data;

  g_free (d->time_us);
  g_free (d->score);
  g_free (d->failed);
  g_free (d);
}

static void
draw_scores (cairo_t *cr, int width, int height, gpointer data)
{
  ScoresData *d = data;
  CpPlotScores plot = { 0 };

  plot.time_us = d->time_us;
  plot.score = d->score;
  plot.failed = d->failed;
  plot.count = d->count;
  plot.threshold = d->threshold;
  plot.reference_median = d->reference_median;
  plot.reference_upper = d->reference_upper;
  cp_plot_scores_draw (cr, width, height, &plot);
}

void
cp_plots_set_scores (CpPlotView *view,
                     GPtrArray  *parts,
                     double      threshold,
                     double      reference_median,
                     double      reference_upper)
{
  ScoresData *d = g_new0 (ScoresData, 1);
  size_t n = parts != NULL ? parts->len : 0;

  d->time_us = g_new (gint64, MAX (n, 1));
  d->score = g_new (double, MAX (n, 1));
  d->failed = g_new (gboolean, MAX (n, 1));
  for (size_t i = 0; i < n; i++)
    {
      const CpPart *part = parts->pdata[i];

      d->time_us[i] = part->time_us;
      d->score[i] = part->score;
      d->failed[i] = part->verdict == CP_VERDICT_FAIL;
    }
  d->count = n;
  d->threshold = threshold;
  d->reference_median = reference_median;
  d->reference_upper = reference_upper;
  cp_plot_view_set_funcs (view, draw_scores, NULL, d, scores_data_free);
}
