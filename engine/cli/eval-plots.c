/* eval-plots.c: ROC, score histogram and t-SNE plots of an evaluation. */
#include "eval-plots.h"

#include <math.h>
#include <string.h>

#include "core/augment/cutpaste.h"
#include "plot/plot.h"

#define PLOT_WIDTH  800
#define PLOT_HEIGHT 600

static gboolean
save_roc (const CpEvalResult *r, const char *dir, GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s-roc.png", r->category);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  guint n = r->roc->len;
  g_autofree double *fpr = g_new (double, MAX (n, 1));
  g_autofree double *tpr = g_new (double, MAX (n, 1));
  CpPlotRoc roc = { .fpr = fpr, .tpr = tpr, .count = n, .auroc = r->auroc, .title = r->category };

  for (guint i = 0; i < n; i++)
    {
      fpr[i] = g_array_index (r->roc, CpRocPoint, i).fpr;
      tpr[i] = g_array_index (r->roc, CpRocPoint, i).tpr;
    }
  return cp_plot_roc_write_png (path, PLOT_WIDTH, PLOT_HEIGHT, &roc, error);
}

static gboolean
save_histogram (const CpEvalResult *r, const char *dir, GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s-hist.png", r->category);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  guint n = r->images->len;
  g_autofree double *good = g_new (double, MAX (n, 1));
  g_autofree double *defect = g_new (double, MAX (n, 1));
  CpPlotHistogram hist = {
    .good_scores = good, .defect_scores = defect, .threshold = r->threshold, .title = r->category,
  };

  for (guint i = 0; i < n; i++)
    {
      const CpEvalImage *im = &g_array_index (r->images, CpEvalImage, i);
      if (im->label)
        defect[hist.n_defect++] = im->score;
      else
        good[hist.n_good++] = im->score;
    }
  return cp_plot_histogram_write_png (path, PLOT_WIDTH, PLOT_HEIGHT, &hist, error);
}

/* The map of cp_eval_tsne (), the one the application shows. */
static gboolean
save_tsne (const CpEvalResult *r, const char *dir, GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s-tsne.png", r->category);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int n_test = (int) r->images->len;
  int n = 0;
  g_autofree float *xy = NULL;
  g_autofree CpPlotPointKind *kinds = NULL;
  g_autofree int *defect_type = NULL;
  g_autoptr (GPtrArray) defect_names = g_ptr_array_new ();
  CpPlotTsne tsne = { 0 };

  if (!cp_eval_tsne (r, NULL, &xy, &n, error))
    return FALSE;
  if (xy == NULL)
    return TRUE;
  kinds = g_new (CpPlotPointKind, n);
  defect_type = g_new0 (int, n);
  for (int i = 0; i < n_test; i++)
    {
      const CpEvalImage *im = &g_array_index (r->images, CpEvalImage, i);
      guint k;

      kinds[i] = im->label ? CP_PLOT_POINT_TEST_DEFECT : CP_PLOT_POINT_TEST_GOOD;
      if (!im->label)
        continue;
      for (k = 0; k < defect_names->len; k++)
        if (strcmp (defect_names->pdata[k], im->defect_type) == 0)
          break;
      if (k == defect_names->len)
        g_ptr_array_add (defect_names, im->defect_type);
      defect_type[i] = (int) k;
    }
  for (int i = 0; i < r->n_train; i++)
    kinds[n_test + i] = CP_PLOT_POINT_TRAIN_GOOD;
  for (int i = 0; i < r->n_aug; i++)
    kinds[n_test + r->n_train + i] = r->aug_labels[i] == CP_AUGMENT_KIND_SCAR ? CP_PLOT_POINT_SCAR
                                                                              : CP_PLOT_POINT_CUTPASTE;
  tsne.xy = xy;
  tsne.count = n;
  tsne.kinds = kinds;
  tsne.defect_type = defect_type;
  tsne.defect_names = (const char *const *) defect_names->pdata;
  tsne.n_defect_names = (int) defect_names->len;
  tsne.title = r->category;
  return cp_plot_tsne_write_png (path, PLOT_WIDTH, PLOT_HEIGHT, &tsne, error);
}

gboolean
cp_eval_save_plots (const CpEvalResult *result, const char *dir, GError **error)
{
  return save_roc (result, dir, error)
         && save_histogram (result, dir, error)
         && save_tsne (result, dir, error);
}
