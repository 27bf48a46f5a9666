/* test-gde.c: the Gaussian density estimator against scikit-learn's
 * LedoitWolf on fixtures written by make-fixtures.py. */
#include <math.h>
#include <stdlib.h>

#include "../../harness.h"
#include "core/density/gde.h"
#include "fixture.h"

/* Largest |a - b| over the largest |b|: the matrix-level error measure. */
static double
max_rel (const double *a, const double *b, size_t count, size_t stride_a)
{
  double num = 0.0, den = 0.0;

  for (size_t i = 0; i < count; i++)
    {
      double d = fabs (a[i * stride_a] - b[i]);
      if (d > num)
        num = d;
      if (fabs (b[i]) > den)
        den = fabs (b[i]);
    }
  return den > 0.0 ? num / den : num;
}

static void
check_case (const char *file)
{
  Fixture fx;
  const FixtureArray *xa, *ta, *rows;
  CpError err = { 0 };
  CpGde *gde, *loaded;
  int n, p, nt, nrows;
  double *scores, *scores_loaded;
  const double *cov, *prec;

  if (!fixture_load (&fx, file))
    {
      CHECK_MSG (0, "fixture %s unreadable", file);
      return;
    }
  xa = fixture_get (&fx, "x", 1);
  ta = fixture_get (&fx, "test", 1);
  n = (int) xa->shape[0];
  p = (int) xa->shape[1];
  nt = (int) ta->shape[0];

  gde = cp_gde_fit (xa->data, n, p, &err);
  CHECK_MSG (gde != NULL, "%s: %s", file, err.message);
  if (gde == NULL)
    {
      fixture_free (&fx);
      return;
    }
  cov = cp_gde_covariance (gde);
  prec = cp_gde_precision (gde);

  /* Shrinkage and mean are plain sums: agree to rounding. */
  CHECK_CLOSE (cp_gde_shrinkage (gde), FIXTURE_F64 (&fx, "shrinkage")[0], 1e-12, 1e-10);
  CHECK_MSG (max_rel (cp_gde_mean (gde), FIXTURE_F64 (&fx, "mean"), p, 1) < 1e-12,
             "%s: mean differs", file);
  CHECK (cp_gde_rank (gde) == p);

  /* Covariance: a sum of products, 1e-12 relative. */
  rows = fixture_get (&fx, "cov_rows", 0);
  nrows = (int) rows->shape[0];
  printf ("# %s: n %d, p %d, shrinkage %.6f (sklearn %.6f)\n", file, n, p, cp_gde_shrinkage (gde),
          FIXTURE_F64 (&fx, "shrinkage")[0]);
  {
    double e = max_rel (cov, rows->data, (size_t) nrows * p, 1);
    printf ("# %s: covariance error %.2g\n", file, e);
    CHECK_MSG (e < 1e-12, "%s: covariance rows differ by %.3g", file, e);
    e = max_rel (cov, FIXTURE_F64 (&fx, "cov_diag"), p, (size_t) p + 1);
    CHECK_MSG (e < 1e-12, "%s: covariance diagonal differs by %.3g", file, e);
  }
  /* Precision: LAPACK dsyevd here, dsyevr in scipy; the error grows with
   * the condition number of the shrunk covariance, so 1e-9 relative. */
  rows = fixture_get (&fx, "prec_rows", 0);
  {
    double e = max_rel (prec, rows->data, (size_t) nrows * p, 1);
    printf ("# %s: precision error %.2g\n", file, e);
    CHECK_MSG (e < 1e-9, "%s: precision rows differ by %.3g", file, e);
    e = max_rel (prec, FIXTURE_F64 (&fx, "prec_diag"), p, (size_t) p + 1);
    CHECK_MSG (e < 1e-9, "%s: precision diagonal differs by %.3g", file, e);
  }

  /* Scores of held-out rows (raw: the estimator normalises them). */
  scores = malloc (sizeof (double) * nt);
  scores_loaded = malloc (sizeof (double) * nt);
  CHECK (cp_gde_score (gde, ta->data, nt, scores, &err) == CP_OK);
  {
    const double *ref = FIXTURE_F64 (&fx, "scores");
    double worst = 0.0;
    for (int i = 0; i < nt; i++)
      {
        CHECK_CLOSE (scores[i], ref[i], 0.0, 1e-9);
        worst = fmax (worst, fabs (scores[i] - ref[i]) / ref[i]);
      }
    printf ("# %s: largest relative score error %.2g\n", file, worst);
  }

  /* The float32 model-file copy scores within float rounding. */
  loaded = cp_gde_new_from_f32 (cp_gde_mean_f32 (gde), cp_gde_precision_f32 (gde), p, &err);
  CHECK_MSG (loaded != NULL, "%s", err.message);
  if (loaded != NULL)
    {
      CHECK (cp_gde_score (loaded, ta->data, nt, scores_loaded, &err) == CP_OK);
      double worst = 0.0;
      for (int i = 0; i < nt; i++)
        {
          CHECK_CLOSE (scores_loaded[i], scores[i], 0.0, 1e-3);
          worst = fmax (worst, fabs (scores_loaded[i] - scores[i]) / scores[i]);
        }
      printf ("# %s: float32 model copy, largest relative score change %.2g\n", file, worst);
      CHECK (cp_gde_covariance (loaded) == NULL);
      CHECK (cp_gde_rank (loaded) == -1);
      cp_gde_free (loaded);
    }
  free (scores);
  free (scores_loaded);
  cp_gde_free (gde);
  fixture_free (&fx);
}

static void
test_small (void)
{
  check_case ("gde-small.bin");
}

static void
test_wide (void)
{
  /* n = 60 < p = 512: the empirical covariance is singular, the shrunk one
   * is not. */
  check_case ("gde-wide.bin");
}

static void
test_tiny (void)
{
  check_case ("gde-tiny.bin");
}

/* Scaling a row does not change its score (rows are L2-normalised), and
 * the blocked dgemm score equals the quadratic form written out. */
static void
test_invariances (void)
{
  enum { N = 30, P = 12 };
  float x[N * P], row[2 * P];
  double s[2];
  CpError err = { 0 };
  CpGde *gde;
  uint64_t state = 12345;

  for (int i = 0; i < N * P; i++)
    {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      x[i] = (float) ((state >> 33) % 1000) / 1000.0f + (i % P) * 0.1f;
    }
  gde = cp_gde_fit (x, N, P, &err);
  CHECK_MSG (gde != NULL, "%s", err.message);
  if (gde == NULL)
    return;
  for (int j = 0; j < P; j++)
    {
      row[j] = x[3 * P + j];
      row[P + j] = 7.5f * x[3 * P + j];
    }
  CHECK (cp_gde_score (gde, row, 2, s, &err) == CP_OK);
  CHECK_CLOSE (s[0], s[1], 1e-9, 1e-6);
  {
    double d[P], norm = 0.0, q = 0.0;
    const double *mu = cp_gde_mean (gde), *prec = cp_gde_precision (gde);

    for (int j = 0; j < P; j++)
      norm += (double) row[j] * row[j];
    for (int j = 0; j < P; j++)
      d[j] = row[j] / sqrt (norm) - mu[j];
    for (int i = 0; i < P; i++)
      for (int j = 0; j < P; j++)
        q += d[i] * prec[i * P + j] * d[j];
    CHECK_CLOSE (s[0], sqrt (q), 0.0, 1e-10);
  }
  cp_gde_free (gde);
}

static void
test_errors (void)
{
  float x[4 * 3] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1 };
  double s[4];
  CpError err = { 0 };
  CpGde *gde;

  CHECK (cp_gde_fit (x, 1, 3, &err) == NULL && err.code == CP_ERR_INVALID);
  x[4] = NAN;
  CHECK (cp_gde_fit (x, 4, 3, &err) == NULL && err.code == CP_ERR_NUMERIC);
  CHECK (strstr (err.message, "embedding 1") != NULL);
  x[4] = 5;
  gde = cp_gde_fit (x, 4, 3, &err);
  CHECK (gde != NULL);
  if (gde != NULL)
    {
      x[7] = INFINITY;
      CHECK (cp_gde_score (gde, x, 4, s, &err) == CP_ERR_NUMERIC);
      CHECK (strstr (err.message, "embedding 2") != NULL);
      cp_gde_free (gde);
    }
  /* All rows identical: zero covariance, pseudo-inverse of rank 0, every
   * score 0 (scikit-learn gives the same). */
  for (int i = 0; i < 4; i++)
    {
      x[3 * i] = 1;
      x[3 * i + 1] = 2;
      x[3 * i + 2] = 2;
    }
  gde = cp_gde_fit (x, 4, 3, &err);
  CHECK (gde != NULL);
  if (gde != NULL)
    {
      CHECK (cp_gde_rank (gde) == 0);
      CHECK (cp_gde_score (gde, x, 4, s, &err) == CP_OK);
      CHECK (s[0] == 0.0 && s[3] == 0.0);
      cp_gde_free (gde);
    }
}

/* Patch grids score millions of rows: check blocking over a count that is
 * not a multiple of the block against one-row calls. */
static void
test_blocks (void)
{
  enum { N = 50, P = 20, M = 777 };
  float *x = malloc (sizeof (float) * N * P), *t = malloc (sizeof (float) * M * P);
  double *all = malloc (sizeof (double) * M), one;
  CpError err = { 0 };
  CpGde *gde;
  uint64_t state = 99;

  for (int i = 0; i < N * P; i++)
    {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      x[i] = (float) ((state >> 33) % 10000) / 10000.0f;
    }
  for (int i = 0; i < M * P; i++)
    {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      t[i] = (float) ((state >> 33) % 10000) / 5000.0f;
    }
  gde = cp_gde_fit (x, N, P, &err);
  CHECK (gde != NULL);
  if (gde != NULL)
    {
      CHECK (cp_gde_score (gde, t, M, all, &err) == CP_OK);
      for (int i = 0; i < M; i += 37)
        {
          CHECK (cp_gde_score (gde, t + (size_t) i * P, 1, &one, &err) == CP_OK);
          CHECK_CLOSE (all[i], one, 0.0, 1e-12);
        }
      cp_gde_free (gde);
    }
  free (x);
  free (t);
  free (all);
}

int
main (void)
{
  RUN_TEST (test_small);
  RUN_TEST (test_wide);
  RUN_TEST (test_tiny);
  RUN_TEST (test_invariances);
  RUN_TEST (test_errors);
  RUN_TEST (test_blocks);
  return harness_exit ();
}
