/* eval-plots.c: ROC, score histogram and t-SNE plots of an evaluation. */
#include "eval-plots.h"

#include <math.h>
#include <string.h>

#include "core/augment/cutpaste.h"
#include "core/density/tsne.h"
#include "core/nn/network.h"
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
  CpPlotRoc roc = { fpr, tpr, n, r->auroc, r->category };

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
  CpPlotHistogram hist = { good, 0, defect, 0, r->threshold, 0, r->category };

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

/* t-SNE of test, train and augmented embeddings together, as the paper's
 * figure 3: one map, so distances between the groups mean something. */
static gboolean
save_tsne (const CpEvalResult *r, const char *dir, GError **error)
{
  g_autofree char *name = g_strdup_printf ("%s-tsne.png", r->category);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int n_test = (int) r->images->len;
  int n = n_test + r->n_train + r->n_aug;
  g_autofree float *x = NULL, *xy = NULL;
  g_autofree CpPlotPointKind *kinds = NULL;
  g_autofree int *defect_type = NULL;
  g_autoptr (GPtrArray) defect_names = g_ptr_array_new ();
  CpPlotTsne tsne = { 0 };
  CpError err = { 0 };
  CpRng rng;

  if (n < 2)
    return TRUE;
  x = g_new (float, (gsize) n * CP_EMBEDDING_DIM);
  xy = g_new (float, (gsize) n * 2);
  kinds = g_new (CpPlotPointKind, n);
  defect_type = g_new0 (int, n);
  memcpy (x, r->test_embeddings, (gsize) n_test * CP_EMBEDDING_DIM * sizeof (float));
  if (r->n_train)
    memcpy (x + (gsize) n_test * CP_EMBEDDING_DIM, r->train_embeddings,
            (gsize) r->n_train * CP_EMBEDDING_DIM * sizeof (float));
  if (r->n_aug)
    memcpy (x + (gsize) (n_test + r->n_train) * CP_EMBEDDING_DIM, r->aug_embeddings,
            (gsize) r->n_aug * CP_EMBEDDING_DIM * sizeof (float));
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
    kinds[n_test + r->n_train + i] = r->aug_labels[i] == CP_AUGMENT_KIND_SCAR ? CP_PLOT_POINT_SCAR : CP_PLOT_POINT_CUTPASTE;

  cp_rng_seed (&rng, 0);
  if (cp_tsne (x, n, CP_EMBEDDING_DIM, NULL, &rng, xy, NULL, &err) != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED, "t-SNE: %s", err.message);
      return FALSE;
    }
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
