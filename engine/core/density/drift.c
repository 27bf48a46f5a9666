/* drift.c: the Mann-Whitney drift test of drift.h. */
#include "drift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "threshold.h"

void
cp_drift_options_init (CpDriftOptions *options)
{
  options->window = CP_DRIFT_DEFAULT_WINDOW;
  options->min_recent = CP_DRIFT_DEFAULT_MIN_RECENT;
  options->alpha = CP_DRIFT_DEFAULT_ALPHA;
  options->alpha_clear = CP_DRIFT_DEFAULT_ALPHA_CLEAR;
}

const char *
cp_drift_state_to_string (CpDriftState state)
{
  switch (state)
    {
    case CP_DRIFT_STEADY: return "steady";
    case CP_DRIFT_HIGHER: return "higher";
    case CP_DRIFT_LOWER: return "lower";
    case CP_DRIFT_UNKNOWN:
    default: return "unknown";
    }
}

typedef struct
{
  double value;
  int    recent;   /* 1: from the recent sample */
} Ranked;

static int
compare_ranked (const void *a, const void *b)
{
  double x = ((const Ranked *) a)->value, y = ((const Ranked *) b)->value;

  return (x > y) - (x < y);
}

/* Sum of the mid-ranks of the recent scores, and sum (t^3 - t) over the
 * groups of t tied values, for the variance's tie correction. */
static void
rank_sums (Ranked *all, int n, double *rank_sum_recent, double *tie_term)
{
  qsort (all, n, sizeof *all, compare_ranked);
  *rank_sum_recent = 0;
  *tie_term = 0;
  for (int i = 0; i < n;)
    {
      int j = i;
      double mid;

      while (j < n && all[j].value == all[i].value)
        j++;
      /* Ranks i+1 .. j share their mean. */
      mid = 0.5 * ((i + 1) + j);
      for (int k = i; k < j; k++)
        if (all[k].recent)
          *rank_sum_recent += mid;
      *tie_term += pow (j - i, 3) - (j - i);
      i = j;
    }
}

CpStatus
cp_drift_test (const double *reference, int n_reference, const double *recent, int n_recent,
               double threshold, CpDriftState previous, const CpDriftOptions *options,
               CpDriftResult *result, CpError *error)
{
  CpDriftOptions opts;
  double *ref = NULL, *rec = NULL;
  Ranked *all = NULL;
  int nr = 0, nc = 0, start, above = 0;
  CpStatus status = CP_OK;

  if (result == NULL || (n_reference > 0 && reference == NULL) || (n_recent > 0 && recent == NULL)
      || n_reference < 0 || n_recent < 0)
    return cp_error_set (error, CP_ERR_INVALID, "drift: scores and a result are required");
  memset (result, 0, sizeof *result);
  result->state = CP_DRIFT_UNKNOWN;
  result->recent_median = result->reference_median = NAN;
  result->recent_upper = result->reference_upper = NAN;
  result->above_reference_upper = result->z = result->p_value = NAN;
  if (options != NULL)
    opts = *options;
  else
    cp_drift_options_init (&opts);
  if (opts.window < 2 || opts.min_recent < 2 || opts.min_recent > opts.window)
    return cp_error_set (error, CP_ERR_INVALID, "drift: window %d and minimum %d must be >= 2, the "
                         "minimum at most the window", opts.window, opts.min_recent);
  if (!(opts.alpha > 0 && opts.alpha < 1 && opts.alpha_clear >= opts.alpha && opts.alpha_clear < 1))
    return cp_error_set (error, CP_ERR_INVALID, "drift: need 0 < alpha (%g) <= alpha_clear (%g) < 1",
                         opts.alpha, opts.alpha_clear);
  for (int i = 0; i < n_reference; i++)
    if (!isfinite (reference[i]))
      return cp_error_set (error, CP_ERR_NUMERIC, "drift: reference score %d is not finite", i);
  for (int i = 0; i < n_recent; i++)
    if (!isfinite (recent[i]))
      return cp_error_set (error, CP_ERR_NUMERIC, "drift: recent score %d is not finite", i);

  ref = malloc (sizeof (double) * (n_reference > 0 ? n_reference : 1));
  rec = malloc (sizeof (double) * (opts.window));
  if (ref == NULL || rec == NULL)
    {
      status = cp_error_set (error, CP_ERR_NOMEM, "drift: out of memory for %d scores", n_reference);
      goto out;
    }
  for (int i = 0; i < n_reference; i++)
    if (isnan (threshold) || reference[i] <= threshold)
      ref[nr++] = reference[i];
  /* The newest passed scores, up to the window, oldest first. */
  start = n_recent;
  while (start > 0 && nc < opts.window)
    {
      start--;
      if (isnan (threshold) || recent[start] <= threshold)
        nc++;
    }
  for (int i = start, k = 0; i < n_recent && k < nc; i++)
    if (isnan (threshold) || recent[i] <= threshold)
      rec[k++] = recent[i];

  result->n_recent = nc;
  result->n_reference = nr;
  result->recent_median = cp_quantile_linear (rec, nc, 0.5);
  result->recent_upper = cp_quantile_linear (rec, nc, 0.9);
  result->reference_median = cp_quantile_linear (ref, nr, 0.5);
  result->reference_upper = cp_quantile_linear (ref, nr, 0.9);
  if (nc > 0 && nr > 0)
    {
      for (int i = 0; i < nc; i++)
        above += rec[i] > result->reference_upper;
      result->above_reference_upper = (double) above / nc;
    }
  if (nc < opts.min_recent || nr < CP_DRIFT_MIN_REFERENCE)
    goto out;

  all = malloc (sizeof (Ranked) * (size_t) (nr + nc));
  if (all == NULL)
    {
      status = cp_error_set (error, CP_ERR_NOMEM, "drift: out of memory for %d scores", nr + nc);
      goto out;
    }
  for (int i = 0; i < nc; i++)
    all[i] = (Ranked) { rec[i], 1 };
  for (int i = 0; i < nr; i++)
    all[nc + i] = (Ranked) { ref[i], 0 };
  {
    double n1 = nc, n2 = nr, n = n1 + n2, rank_sum, ties, u, mean, var, diff;

    rank_sums (all, nc + nr, &rank_sum, &ties);
    u = rank_sum - n1 * (n1 + 1) / 2;
    mean = n1 * n2 / 2;
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)));
    diff = u - mean;
    if (var <= 0)
      {
        /* Every score equal: nothing to tell them apart. */
        result->z = 0;
        result->p_value = 1;
      }
    else
      {
        /* Continuity correction: half a unit of U towards the mean. */
        double corrected = fabs (diff) > 0.5 ? fabs (diff) - 0.5 : 0;

        result->z = copysign (corrected / sqrt (var), diff);
        result->p_value = erfc (fabs (result->z) / sqrt (2.0));
      }
  }
  {
    int drifting = previous == CP_DRIFT_HIGHER || previous == CP_DRIFT_LOWER;
    double limit = drifting ? opts.alpha_clear : opts.alpha;

    if (result->p_value < limit)
      result->state = result->z > 0 ? CP_DRIFT_HIGHER : CP_DRIFT_LOWER;
    else
      result->state = CP_DRIFT_STEADY;
  }

out:
  free (ref);
  free (rec);
  free (all);
  return status;
}
