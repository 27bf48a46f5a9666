/* test-drift.c: the drift rule of density/drift.h: the rank-sum statistic
 * on small samples worked out by hand, then streams of part scores fed one
 * part at a time as `cutpaste watch` feeds them: an unshifted stream never
 * warns, a shifted one warns soon after the shift, and the warning ends
 * once the parts are back to normal. */
#include <math.h>
#include <stdlib.h>

#include "../../harness.h"
#include "core/density/drift.h"
#include "core/density/threshold.h"
#include "core/rng.h"

static void
test_statistic_by_hand (void)
{
  CpDriftOptions opts;
  CpDriftResult r;
  CpError err = { 0 };
  /* Recent {1..5} against reference {6..10}: U = 0, mean 12.5, variance
   * 25 * 11 / 12, so z = -(12.5 - 0.5) / 4.787 = -2.5067 and the
   * two-sided p = erfc (2.5067 / sqrt 2) = 0.012186 (scipy's asymptotic
   * mannwhitneyu gives the same). */
  double recent[] = { 1, 2, 3, 4, 5 }, reference[] = { 6, 7, 8, 9, 10 };
  /* With ties: recent {1, 2, 2, 3, 7}, reference {2, 3, 3, 4, 5, 6}.
   * Mid-ranks of the recent: 1, 3, 3, 6, 11, sum 24, U = 9; tie groups of
   * 3 and 3 give sum (t^3 - t) = 48; variance 30 / 12 (12 - 48 / 110) =
   * 28.909; z = -(15 - 9 - 0.5) / 5.3767 = -1.02293, p = 0.30634. */
  double recent2[] = { 1, 2, 2, 3, 7 }, reference2[] = { 2, 3, 3, 4, 5, 6 };

  cp_drift_options_init (&opts);
  opts.window = 5;
  opts.min_recent = 5;
  opts.alpha = 0.05;
  opts.alpha_clear = 0.1;
  CHECK (cp_drift_test (reference, 5, recent, 5, NAN, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_OK);
  CHECK_CLOSE (r.z, -2.5067182457620487, 1e-12, 0);
  CHECK_CLOSE (r.p_value, 0.012185780355344818, 1e-12, 0);
  CHECK (r.state == CP_DRIFT_LOWER);
  CHECK (r.n_recent == 5 && r.n_reference == 5);
  CHECK_CLOSE (r.recent_median, 3, 0, 0);
  CHECK_CLOSE (r.reference_median, 8, 0, 0);
  CHECK_CLOSE (r.reference_upper, 9.6, 1e-12, 0);
  CHECK_CLOSE (r.above_reference_upper, 0, 0, 0);
  /* Swapped, the shift is upwards. */
  CHECK (cp_drift_test (recent, 5, reference, 5, NAN, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_OK);
  CHECK_CLOSE (r.z, 2.5067182457620487, 1e-12, 0);
  CHECK (r.state == CP_DRIFT_HIGHER);

  CHECK (cp_drift_test (reference2, 6, recent2, 5, NAN, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_OK);
  CHECK_CLOSE (r.z, -1.0229289554014698, 1e-12, 0);
  CHECK_CLOSE (r.p_value, 0.306341437827711, 1e-12, 0);
  CHECK (r.state == CP_DRIFT_STEADY);

  /* The threshold cuts both samples: recent 7 and reference 6 are above
   * 5.5, leaving {1, 2, 2, 3} (under min_recent 5: no verdict) and
   * {2, 3, 3, 4, 5}. */
  CHECK (cp_drift_test (reference2, 6, recent2, 5, 5.5, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_OK);
  CHECK (r.n_recent == 4 && r.n_reference == 5);
  CHECK (r.state == CP_DRIFT_UNKNOWN && isnan (r.p_value));

  /* All equal: nothing to tell apart. */
  {
    double same[] = { 3, 3, 3, 3, 3 };
    CHECK (cp_drift_test (same, 5, same, 5, NAN, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_OK);
    CHECK (r.state == CP_DRIFT_STEADY && r.p_value == 1);
  }
}

static void
test_bad_input (void)
{
  CpDriftResult r;
  CpError err = { 0 };
  double ok[] = { 1, 2, 3, 4, 5 }, bad[] = { 1, NAN, 3 };
  CpDriftOptions opts;

  CHECK (cp_drift_test (ok, 5, bad, 3, NAN, CP_DRIFT_UNKNOWN, NULL, &r, &err) == CP_ERR_NUMERIC);
  CHECK (strstr (err.message, "recent score 1") != NULL);
  CHECK (cp_drift_test (bad, 3, ok, 5, NAN, CP_DRIFT_UNKNOWN, NULL, &r, &err) == CP_ERR_NUMERIC);
  CHECK (strstr (err.message, "reference score 1") != NULL);
  cp_drift_options_init (&opts);
  opts.window = 1;
  CHECK (cp_drift_test (ok, 5, ok, 5, NAN, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_ERR_INVALID);
  cp_drift_options_init (&opts);
  opts.alpha_clear = opts.alpha / 2;
  CHECK (cp_drift_test (ok, 5, ok, 5, NAN, CP_DRIFT_UNKNOWN, &opts, &r, &err) == CP_ERR_INVALID);
  CHECK (cp_drift_test (ok, 5, ok, 5, NAN, CP_DRIFT_UNKNOWN, NULL, NULL, &err) == CP_ERR_INVALID);
  /* Too few: no verdict, but no error. */
  CHECK (cp_drift_test (ok, 5, ok, 5, NAN, CP_DRIFT_UNKNOWN, NULL, &r, &err) == CP_OK);
  CHECK (r.state == CP_DRIFT_UNKNOWN);
}

/* Good parts' scores look like Mahalanobis distances: a chi-like spread
 * around a centre, here sqrt of a sum of squares plus a floor. */
static double
good_score (CpRng *rng, double shift)
{
  double s = 0;

  for (int k = 0; k < 8; k++)
    {
      double z = cp_rng_normal (rng);
      s += z * z;
    }
  return 10.0 + sqrt (s) + shift;
}

/* Feeds @n parts one by one (the watcher re-tests after every passed
 * part).  Returns the index of the first part after which the state was
 * HIGHER, or -1; *@warnings counts parts at which a warning was on. */
static int
feed (const double *reference, int n_ref, double threshold, double *history, int *n_history,
      CpRng *rng, int n, double shift, CpDriftState *state, int *warnings)
{
  CpError err = { 0 };
  int first = -1;

  for (int i = 0; i < n; i++)
    {
      CpDriftResult r;
      double score = good_score (rng, shift);

      if (score > threshold)
        continue;   /* a failed part: not in the passed window */
      history[(*n_history)++] = score;
      CHECK (cp_drift_test (reference, n_ref, history, *n_history, threshold, *state, NULL, &r, &err)
             == CP_OK);
      *state = r.state;
      if (r.state == CP_DRIFT_HIGHER || r.state == CP_DRIFT_LOWER)
        {
          (*warnings)++;
          if (first < 0 && r.state == CP_DRIFT_HIGHER)
            first = i;
        }
    }
  return first;
}

static void
test_streams (void)
{
  enum { NREF = 60, STREAM = 2000 };
  CpRng rng;
  double reference[NREF], threshold, *history = malloc (sizeof (double) * 4 * STREAM);
  int n_history = 0, warnings = 0, first;
  CpDriftState state = CP_DRIFT_UNKNOWN;

  /* A reference as training keeps it: 60 held-out good scores, and the
   * threshold at their 99th percentile. */
  cp_rng_seed (&rng, 7);
  for (int i = 0; i < NREF; i++)
    reference[i] = good_score (&rng, 0);
  threshold = cp_quantile_linear (reference, NREF, 0.99);

  /* 2000 good parts from the same distribution: never a warning (the
   * rule's false-alarm rate is small enough for a shift's worth of parts;
   * this stream and seed are fixed, so the test is deterministic). */
  first = feed (reference, NREF, threshold, history, &n_history, &rng, STREAM, 0.0, &state, &warnings);
  CHECK_MSG (warnings == 0, "%d warnings on an unshifted stream (first at part %d)", warnings, first);
  CHECK (state == CP_DRIFT_STEADY);

  /* The lighting changes: every score up by 1.2 (about 1.7 standard
   * deviations of the scores; a tenth of the shifted parts now fail and
   * leave the window).  The warning comes within two windows of parts
   * (30 to 80 in simulations with other seeds). */
  warnings = 0;
  first = feed (reference, NREF, threshold, history, &n_history, &rng, 200, 1.2, &state, &warnings);
  CHECK_MSG (first >= 0 && first < 2 * CP_DRIFT_DEFAULT_WINDOW, "shift found after %d parts", first);
  printf ("# shift of 1.2 found after %d parts\n", first);
  CHECK (state == CP_DRIFT_HIGHER);

  /* Back to normal: the warning ends once the window holds normal parts
   * again, and stays off. */
  warnings = 0;
  feed (reference, NREF, threshold, history, &n_history, &rng, 2 * CP_DRIFT_DEFAULT_WINDOW, 0.0,
        &state, &warnings);
  CHECK (state == CP_DRIFT_STEADY);
  CHECK_MSG (warnings < 2 * CP_DRIFT_DEFAULT_WINDOW, "warning on for all %d parts", warnings);
  warnings = 0;
  feed (reference, NREF, threshold, history, &n_history, &rng, 500, 0.0, &state, &warnings);
  CHECK_MSG (warnings == 0, "%d warnings after recovery", warnings);

  /* A drop (a covered lens gives featureless, low scores, say) warns as
   * "lower". */
  warnings = 0;
  feed (reference, NREF, threshold, history, &n_history, &rng, 100, -2.0, &state, &warnings);
  CHECK (state == CP_DRIFT_LOWER);
  free (history);
}

int
main (void)
{
  RUN_TEST (test_statistic_by_hand);
  RUN_TEST (test_bad_input);
  RUN_TEST (test_streams);
  return harness_exit ();
}
