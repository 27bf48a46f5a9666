/* threshold.c: cross-validated pass/fail threshold from good images. */
#include "threshold.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gde.h"

void
cp_threshold_options_init (CpThresholdOptions *options)
{
  options->folds = CP_THRESHOLD_DEFAULT_FOLDS;
  options->target_false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
}

void
cp_threshold_result_clear (CpThresholdResult *result)
{
  if (result == NULL)
    return;
  free (result->held_out_scores);
  memset (result, 0, sizeof *result);
}

static int
compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

double
cp_quantile_linear (const double *values, int n, double q)
{
  double *sorted, h, result;
  int lo;

  if (n <= 0 || values == NULL)
    return NAN;
  sorted = malloc (sizeof (double) * n);
  if (sorted == NULL)
    return NAN;
  memcpy (sorted, values, sizeof (double) * n);
  qsort (sorted, n, sizeof (double), compare_double);
  if (q <= 0.0)
    result = sorted[0];
  else if (q >= 1.0)
    result = sorted[n - 1];
  else
    {
      h = (n - 1) * q;
      lo = (int) floor (h);
      if (lo >= n - 1)
        result = sorted[n - 1];
      else
        result = sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }
  free (sorted);
  return result;
}

CpStatus
cp_threshold_fit (const float *x, int n, int dim, const CpThresholdOptions *options,
                  CpThresholdResult *result, CpError *error)
{
  CpThresholdOptions opts;
  float *train = NULL, *held = NULL;
  double *held_scores = NULL, *scores = NULL;
  int folds, exceed = 0;
  CpStatus status = CP_OK;

  if (result != NULL)
    memset (result, 0, sizeof *result);
  if (x == NULL || result == NULL || dim < 1)
    return cp_error_set (error, CP_ERR_INVALID, "threshold: embeddings and a result are required");
  if (n < 3)
    return cp_error_set (error, CP_ERR_INVALID,
                         "threshold: need at least 3 good images to cross-validate (got %d)", n);
  cp_threshold_options_init (&opts);
  if (options != NULL)
    {
      if (options->folds != 0)
        opts.folds = options->folds;
      if (options->target_false_reject_rate >= 0.0)
        opts.target_false_reject_rate = options->target_false_reject_rate;
    }
  if (opts.folds < 2)
    return cp_error_set (error, CP_ERR_INVALID, "threshold: folds must be >= 2 (got %d)", opts.folds);
  if (!(opts.target_false_reject_rate >= 0.0 && opts.target_false_reject_rate < 1.0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "threshold: target false-reject rate must be in [0, 1) (got %g)",
                         opts.target_false_reject_rate);
  folds = opts.folds < n ? opts.folds : n;

  train = malloc (sizeof (float) * (size_t) n * dim);
  held = malloc (sizeof (float) * (size_t) n * dim);
  held_scores = malloc (sizeof (double) * n);
  scores = malloc (sizeof (double) * n);
  if (train == NULL || held == NULL || held_scores == NULL || scores == NULL)
    {
      status = cp_error_set (error, CP_ERR_NOMEM, "threshold: out of memory for %d x %d embeddings", n, dim);
      goto out;
    }

  for (int f = 0; f < folds; f++)
    {
      int ntrain = 0, nheld = 0;
      CpGde *gde;

      for (int i = 0; i < n; i++)
        {
          float *dst = (i % folds == f) ? held + (size_t) nheld++ * dim : train + (size_t) ntrain++ * dim;
          memcpy (dst, x + (size_t) i * dim, sizeof (float) * dim);
        }
      gde = cp_gde_fit (train, ntrain, dim, error);
      if (gde == NULL)
        {
          status = cp_error_prefix (error, "threshold: fold %d of %d", f + 1, folds);
          goto out;
        }
      status = cp_gde_score (gde, held, nheld, scores, error);
      cp_gde_free (gde);
      if (status != CP_OK)
        {
          cp_error_prefix (error, "threshold: fold %d of %d", f + 1, folds);
          goto out;
        }
      /* Back to row order, so callers can match scores to images. */
      for (int i = f, k = 0; i < n; i += folds, k++)
        held_scores[i] = scores[k];
    }

  result->threshold = cp_quantile_linear (held_scores, n, 1.0 - opts.target_false_reject_rate);
  if (isnan (result->threshold))
    {
      status = cp_error_set (error, CP_ERR_NOMEM, "threshold: out of memory sorting %d scores", n);
      goto out;
    }
  for (int i = 0; i < n; i++)
    exceed += held_scores[i] > result->threshold;
  result->target_false_reject_rate = opts.target_false_reject_rate;
  result->estimated_false_reject_rate = (double) exceed / n;
  result->folds = folds;
  result->n = n;
  result->held_out_scores = held_scores;
  held_scores = NULL;

out:
  free (train);
  free (held);
  free (held_scores);
  free (scores);
  return status;
}
