/* refit.c: the density and threshold refit of refit.h. */
#include "refit.h"

#include <math.h>
#include <string.h>

#include "core/density/gde.h"
#include "core/density/threshold.h"
#include "pipeline-private.h"

void
cp_refit_result_init (CpRefitResult *result)
{
  memset (result, 0, sizeof *result);
  result->skipped = g_ptr_array_new_with_free_func (g_free);
  result->threshold_before = NAN;
  result->threshold_after = NAN;
  result->false_reject_rate = NAN;
  result->estimated_false_reject_rate = NAN;
}

void
cp_refit_result_clear (CpRefitResult *result)
{
  g_clear_pointer (&result->skipped, g_ptr_array_unref);
  g_clear_pointer (&result->held_out_scores, g_free);
}

/* Which of the rows read are the images training held out of the network
 * ("held_out_images", one name per line): calibrating on them again keeps
 * the threshold free of the network's memory of its training images.
 * NULL (k-fold) when the model names none, or too few of them (or of the
 * others) are among the good images now. */
static gboolean *
held_out_rows (CpModel *model, const char *const *paths, const int *index, int n_read)
{
  const char *names = cp_model_get_metadata (model, "held_out_images");
  g_auto (GStrv) list = NULL;
  g_autofree gboolean *flags = NULL;
  int held = 0;

  if (names == NULL || names[0] == '\0')
    return NULL;
  list = g_strsplit (names, "\n", -1);
  flags = g_new0 (gboolean, n_read);
  for (int k = 0; k < n_read; k++)
    {
      g_autofree char *base = g_path_get_basename (paths[index[k]]);

      flags[k] = g_strv_contains ((const char *const *) list, base);
      held += flags[k];
    }
  if (held < 2 || n_read - held < 2)
    return NULL;
  return g_steal_pointer (&flags);
}

gboolean
cp_model_refit (CpModel *model, const char *const *good_paths, int n, double false_reject_rate,
                const volatile int *cancel, CpRefitResult *result, GError **error)
{
  g_autofree float *embeddings = NULL, *features = NULL;
  g_autofree int *index = g_new (int, MAX (n, 1));
  g_autofree gboolean *held_out = NULL;
  gint64 start = g_get_monotonic_time ();
  CpDensityFit fit = { 0 };
  int n_read = 0, above = 0;

  if (isnan (false_reject_rate))
    {
      false_reject_rate = cp_model_get_false_reject_rate (model);
      if (isnan (false_reject_rate))
        false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
    }
  if (!(false_reject_rate >= 0 && false_reject_rate < 1))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                   "false-reject rate must be in [0, 1) (got %g)", false_reject_rate);
      return FALSE;
    }
  result->threshold_before = cp_model_get_threshold (model);
  result->source_before = cp_model_get_threshold_source (model);
  result->false_reject_rate = false_reject_rate;

  if (!cp_model_good_parts (model, good_paths, n, cancel, &embeddings, &features, index, &n_read,
                            result->skipped, error))
    return FALSE;
  if (n_read < 3)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "%d readable good images of %d; at least 3 are needed to fit the Gaussian and "
                   "choose a threshold", n_read, n);
      return FALSE;
    }
  if (cp_pipeline_cancelled (cancel))
    {
      g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED, "cancelled");
      return FALSE;
    }

  /* As training does after its last step (train.c, density-fit.h). */
  held_out = held_out_rows (model, good_paths, index, n_read);
  if (!cp_model_refit_densities (model, embeddings, features, n_read, held_out, false_reject_rate,
                                 &fit, error))
    return FALSE;
  for (int k = 0; k < fit.n_calibration; k++)
    above += fit.calibration_scores[k] > fit.threshold;
  result->n_good = n_read;
  result->threshold_after = fit.threshold;
  result->estimated_false_reject_rate = fit.n_calibration > 0 ? (double) above / fit.n_calibration : NAN;
  g_free (result->held_out_scores);
  result->held_out_scores = g_memdup2 (fit.calibration_scores, sizeof (double) * fit.n_calibration);
  result->n_held_out = fit.n_calibration;
  result->seconds = (g_get_monotonic_time () - start) / 1e6;
  cp_density_fit_clear (&fit);
  return TRUE;
}

gboolean
cp_model_cross_validated_scores (CpModel *model, const char *const *good_paths, int n,
                                 const volatile int *cancel, double **scores, int *n_scores,
                                 GError **error)
{
  g_autofree float *embeddings = NULL;
  g_autofree int *index = g_new (int, MAX (n, 1));
  CpDensityFit fit = { 0 };
  CpDensityFitInput in = { 0 };
  int n_read = 0;

  /* The global part's k-fold scores, read as a refit reads the images,
   * for a model that stored no calibration scores (those written before
   * the quick profile held images out): the region vectors a local
   * part would add are not needed, so they are not computed. */
  if (!cp_model_good_parts (model, good_paths, n, cancel, &embeddings, NULL, index, &n_read,
                            NULL, error))
    return FALSE;
  if (n_read < 3)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "%d readable good images of %d; at least 3 are needed", n_read, n);
      return FALSE;
    }
  in.embeddings = embeddings;
  in.n = n_read;
  in.folds = CP_THRESHOLD_DEFAULT_FOLDS;
  in.false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
  if (!cp_density_fit (&in, &fit, error))
    return FALSE;
  *scores = g_steal_pointer (&fit.calibration_scores);
  *n_scores = fit.n_calibration;
  cp_density_fit_clear (&fit);
  return TRUE;
}
