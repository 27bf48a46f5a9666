/* test-threshold.c: the cross-validated pass/fail threshold on synthetic
 * Gaussian embeddings, where the true false-reject rate can be measured on
 * fresh samples. */
#include <math.h>
#include <stdlib.h>

#include "../../harness.h"
#include "core/density/gde.h"
#include "core/density/threshold.h"
#include "core/rng.h"

/* Good "embeddings": a fixed direction plus correlated Gaussian noise, like
 * pooled features (positive mean, a few strong directions). */
static void
draw_good (CpRng *rng, float *x, int n, int p, const double *mix)
{
  for (int i = 0; i < n; i++)
    {
      double z[64];
      for (int k = 0; k < p; k++)
        z[k] = cp_rng_normal (rng);
      for (int j = 0; j < p; j++)
        {
          double v = 1.0 + 0.05 * j;
          for (int k = 0; k < p; k++)
            v += 0.08 * mix[j * p + k] * z[k];
          x[(size_t) i * p + j] = (float) v;
        }
    }
}

static void
test_quantile (void)
{
  double v[5] = { 4, 1, 3, 2, 10 };

  /* numpy.quantile([1, 2, 3, 4, 10], q), method "linear". */
  CHECK_CLOSE (cp_quantile_linear (v, 5, 0.5), 3.0, 1e-15, 0);
  CHECK_CLOSE (cp_quantile_linear (v, 5, 0.99), 9.76, 1e-12, 0);
  CHECK_CLOSE (cp_quantile_linear (v, 5, 0.1), 1.4, 1e-12, 0);
  CHECK_CLOSE (cp_quantile_linear (v, 5, 0.0), 1.0, 0, 0);
  CHECK_CLOSE (cp_quantile_linear (v, 5, 1.0), 10.0, 0, 0);
  CHECK_CLOSE (cp_quantile_linear (v, 1, 0.3), 4.0, 0, 0);
  CHECK (isnan (cp_quantile_linear (v, 0, 0.5)));
  /* Input untouched. */
  CHECK (v[0] == 4 && v[4] == 10);
}

static void
test_false_reject_rate (void)
{
  enum { P = 32, N = 300, FRESH = 20000 };
  CpRng rng;
  double mix[P * P];
  float *train = malloc (sizeof (float) * N * P), *fresh = malloc (sizeof (float) * FRESH * P);
  double *scores = malloc (sizeof (double) * FRESH), in_sample_q;
  CpThresholdOptions opts;
  CpThresholdResult res, again;
  CpError err = { 0 };
  CpGde *gde;
  int rejected = 0;

  cp_rng_seed (&rng, 42);
  for (int i = 0; i < P * P; i++)
    mix[i] = cp_rng_normal (&rng);
  draw_good (&rng, train, N, P, mix);
  draw_good (&rng, fresh, FRESH, P, mix);

  cp_threshold_options_init (&opts);
  opts.target_false_reject_rate = 0.05;
  CHECK_MSG (cp_threshold_fit (train, N, P, &opts, &res, &err) == CP_OK, "%s", err.message);
  CHECK (res.folds == 5 && res.n == N);
  /* 15 of 300 held-out scores lie above the 95% point (linear
   * interpolation puts it between the 285th and 286th). */
  CHECK_CLOSE (res.estimated_false_reject_rate, 0.05, 1e-12, 0);

  /* The caller's refit on everything, then the true rate on new images. */
  gde = cp_gde_fit (train, N, P, &err);
  CHECK (gde != NULL);
  if (gde == NULL)
    return;
  CHECK (cp_gde_score (gde, fresh, FRESH, scores, &err) == CP_OK);
  for (int i = 0; i < FRESH; i++)
    rejected += scores[i] > res.threshold;
  printf ("# threshold %.4f: estimated FRR %.4f, fresh-sample FRR %.4f (target 0.05)\n",
          res.threshold, res.estimated_false_reject_rate, (double) rejected / FRESH);
  /* The quantile of 300 scores has a standard error of about 0.013 in
   * rate; the rate must be near the target, not near 0 or 0.2. */
  CHECK ((double) rejected / FRESH > 0.02 && (double) rejected / FRESH < 0.09);

  /* In-sample scores are biased low: their quantile undercuts the
   * cross-validated threshold and would reject far more good images. */
  CHECK (cp_gde_score (gde, train, N, scores, &err) == CP_OK);
  in_sample_q = cp_quantile_linear (scores, N, 0.95);
  printf ("# in-sample 95%% quantile %.4f < threshold %.4f\n", in_sample_q, res.threshold);
  CHECK (in_sample_q < res.threshold);
  {
    int fresh_rejected_in_sample = 0;
    CHECK (cp_gde_score (gde, fresh, FRESH, scores, &err) == CP_OK);
    for (int i = 0; i < FRESH; i++)
      fresh_rejected_in_sample += scores[i] > in_sample_q;
    printf ("# fresh-sample FRR at the in-sample quantile: %.4f\n", (double) fresh_rejected_in_sample / FRESH);
    CHECK (fresh_rejected_in_sample > rejected);
  }

  /* Deterministic. */
  CHECK (cp_threshold_fit (train, N, P, &opts, &again, &err) == CP_OK);
  CHECK (again.threshold == res.threshold);
  for (int i = 0; i < N; i++)
    CHECK (again.held_out_scores[i] == res.held_out_scores[i]);
  cp_threshold_result_clear (&again);
  cp_threshold_result_clear (&res);
  cp_gde_free (gde);
  free (train);
  free (fresh);
  free (scores);
}

/* Defaults at the real shape: 60 good images, 512 dims (n < p). */
static void
test_defaults_wide (void)
{
  enum { P = 512, N = 60 };
  float *x = malloc (sizeof (float) * N * P);
  CpRng rng;
  CpThresholdResult res;
  CpError err = { 0 };
  int above = 0;

  cp_rng_seed (&rng, 7);
  for (int i = 0; i < N * P; i++)
    x[i] = (float) fabs (1.0 + 0.3 * cp_rng_normal (&rng));
  CHECK_MSG (cp_threshold_fit (x, N, P, NULL, &res, &err) == CP_OK, "%s", err.message);
  CHECK (res.folds == 5);
  CHECK (res.target_false_reject_rate == 0.01);
  for (int i = 0; i < N; i++)
    {
      CHECK (isfinite (res.held_out_scores[i]) && res.held_out_scores[i] > 0);
      above += res.held_out_scores[i] > res.threshold;
    }
  /* The 99% point of 60 scores lies between the two largest. */
  CHECK (above == 1);
  CHECK_CLOSE (res.estimated_false_reject_rate, 1.0 / 60, 1e-12, 0);
  cp_threshold_result_clear (&res);
  free (x);
}

static void
test_small_and_errors (void)
{
  float x[4 * 3] = { 1, 2, 3, 2, 2, 3, 1, 3, 3, 1, 2, 4 };
  CpThresholdOptions opts = { .folds = 5, .target_false_reject_rate = 0.1 };
  CpThresholdResult res;
  CpError err = { 0 };

  /* Fewer images than folds: leave-one-out. */
  CHECK_MSG (cp_threshold_fit (x, 4, 3, &opts, &res, &err) == CP_OK, "%s", err.message);
  CHECK (res.folds == 4);
  cp_threshold_result_clear (&res);
  CHECK (cp_threshold_fit (x, 2, 3, &opts, &res, &err) == CP_ERR_INVALID);
  opts.folds = 1;
  CHECK (cp_threshold_fit (x, 4, 3, &opts, &res, &err) == CP_ERR_INVALID);
  opts.folds = 2;
  opts.target_false_reject_rate = 1.0;
  CHECK (cp_threshold_fit (x, 4, 3, &opts, &res, &err) == CP_ERR_INVALID);
  opts.target_false_reject_rate = 0.1;
  x[5] = NAN;
  CHECK (cp_threshold_fit (x, 4, 3, &opts, &res, &err) == CP_ERR_NUMERIC);
  CHECK (strstr (err.message, "fold") != NULL);
}

int
main (void)
{
  RUN_TEST (test_quantile);
  RUN_TEST (test_false_reject_rate);
  RUN_TEST (test_defaults_wide);
  RUN_TEST (test_small_and_errors);
  return harness_exit ();
}
