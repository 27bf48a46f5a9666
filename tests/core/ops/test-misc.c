/* test-misc.c: the CPU backend's ops whose semantics matter beyond their
 * derivatives: memory ops, batch-norm training vs inference and its running
 * statistics, max-pool padding and ties, softmax cross-entropy on extreme
 * logits, SGD against PyTorch's algorithm, GEMM in all transpose
 * combinations, and row L2 normalisation.
 */
#include "harness.h"
#include "core/rng.h"
#include "core/backend.h"

static CpBackend *be;
static CpRng rng;

static float *
random_floats (size_t count, double low, double high)
{
  float *p = malloc ((count ? count : 1) * sizeof (float));

  for (size_t i = 0; i < count; i++)
    p[i] = (float) cp_rng_uniform_range (&rng, low, high);
  return p;
}

static void
test_memory_ops (void)
{
  CpError error;
  float host[100], back[100];
  float *a, *b;

  for (int i = 0; i < 100; i++)
    host[i] = (float) i - 50.0f;
  a = be->alloc (be, sizeof host, &error);
  b = be->alloc (be, sizeof host, &error);
  CHECK (a != NULL && b != NULL);
  CHECK (((uintptr_t) a) % 64 == 0);
  CHECK (be->upload (be, a, host, sizeof host, &error) == CP_OK);
  CHECK (be->copy (be, b, a, sizeof host, &error) == CP_OK);
  CHECK (be->synchronize (be, &error) == CP_OK);
  CHECK (be->download (be, back, b, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, host, sizeof host) == 0);
  CHECK (be->zero (be, b, 40 * sizeof (float), &error) == CP_OK);
  CHECK (be->download (be, back, b, sizeof host, &error) == CP_OK);
  for (int i = 0; i < 100; i++)
    CHECK (back[i] == (i < 40 ? 0.0f : host[i]));
  be->free (be, a);
  be->free (be, b);

  /* A zero-byte allocation is a valid pointer that free accepts. */
  a = be->alloc (be, 0, &error);
  CHECK (a != NULL);
  be->free (be, a);
  be->free (be, NULL);

  /* An impossible allocation fails with a message, it does not abort. */
  cp_error_clear (&error);
  a = be->alloc (be, SIZE_MAX - 8, &error);
  CHECK (a == NULL);
  CHECK (error.code == CP_ERR_NOMEM && error.message[0] != '\0');
}

/* One training step: batch statistics, biased variance for normalising,
 * unbiased for the running variance, momentum 0.1. */
static void
test_batchnorm_running_stats (void)
{
  const int n = 4, c = 3, hw = 6;
  const size_t m = (size_t) n * hw, count = (size_t) n * c * hw;
  float *x = random_floats (count, -2.0, 3.0);
  float gamma[3] = { 1.5f, -0.5f, 2.0f }, beta[3] = { 0.1f, 0.2f, -0.3f };
  float rm[3] = { 0.5f, -1.0f, 0.0f }, rv[3] = { 2.0f, 0.5f, 1.0f };
  float rm0[3], rv0[3], sm[3], si[3];
  float *y = malloc (count * sizeof (float)), *yi = malloc (count * sizeof (float));

  memcpy (rm0, rm, sizeof rm);
  memcpy (rv0, rv, sizeof rv);
  CHECK (be->batchnorm_forward_train (be, n, c, hw, x, gamma, beta, rm, rv, 0.1f, 1e-5f, y, sm,
                                      si) == CP_OK);
  for (int ch = 0; ch < c; ch++)
    {
      double mean = 0.0, var = 0.0;

      for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++)
          mean += x[(b * c + ch) * hw + i];
      mean /= m;
      for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++)
          var += pow (x[(b * c + ch) * hw + i] - mean, 2);
      var /= m;

      CHECK_CLOSE (sm[ch], mean, 1e-6, 1e-6);
      CHECK_CLOSE (si[ch], 1.0 / sqrt (var + 1e-5), 0.0, 1e-6);
      CHECK_CLOSE (rm[ch], 0.9 * rm0[ch] + 0.1 * mean, 1e-6, 1e-6);
      CHECK_CLOSE (rv[ch], 0.9 * rv0[ch] + 0.1 * var * m / (m - 1), 1e-6, 1e-6);
      for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++)
          {
            size_t k = (size_t) (b * c + ch) * hw + i;
            CHECK_CLOSE (y[k], (x[k] - mean) / sqrt (var + 1e-5) * gamma[ch] + beta[ch],
                         1e-5, 1e-5);
          }
    }

  /* Inference uses the running statistics, whatever the batch holds. */
  CHECK (be->batchnorm_forward_infer (be, n, c, hw, x, gamma, beta, rm, rv, 1e-5f, yi) == CP_OK);
  for (size_t k = 0; k < count; k++)
    {
      int ch = (int) (k / hw) % c;
      CHECK_CLOSE (yi[k], (x[k] - rm[ch]) / sqrt (rv[ch] + 1e-5) * gamma[ch] + beta[ch],
                   1e-5, 1e-5);
    }

  /* Running statistics may be NULL: normalisation is unchanged. */
  CHECK (be->batchnorm_forward_train (be, n, c, hw, x, gamma, beta, NULL, NULL, 0.1f, 1e-5f, yi,
                                      sm, si) == CP_OK);
  CHECK (harness_normalised_error (yi, y, count) == 0.0);

  /* One value per channel cannot be normalised in training (PyTorch
   * raises); the op refuses. */
  CHECK (be->batchnorm_forward_train (be, 1, c, 1, x, gamma, beta, rm, rv, 0.1f, 1e-5f, y, sm,
                                      si) == CP_ERR_INVALID);
  free (x);
  free (y);
  free (yi);
}

/* After many identical training batches the running statistics converge to
 * the batch's mean and unbiased variance, so inference reproduces the
 * training output up to the factor sqrt(m/(m-1)) between the two
 * variances: 1 + 1/(2m) = 1 + 2.4e-4 for m = 2048. */
static void
test_batchnorm_train_infer_converge (void)
{
  const int n = 8, c = 4, hw = 256;
  const size_t count = (size_t) n * c * hw;
  float *x = random_floats (count, -1.0, 4.0);
  float *yt = malloc (count * sizeof (float)), *yi = malloc (count * sizeof (float));
  float *xin = malloc (count * sizeof (float));
  float gamma[4] = { 1.0f, 2.0f, 0.5f, 1.0f }, beta[4] = { 0.0f, 1.0f, -1.0f, 0.5f };
  float rm[4] = { 0, 0, 0, 0 }, rv[4] = { 1, 1, 1, 1 }, sm[4], si[4];

  memcpy (xin, x, count * sizeof (float));
  for (int step = 0; step < 200; step++)
    CHECK (be->batchnorm_forward_train (be, n, c, hw, x, gamma, beta, rm, rv, 0.1f, 1e-5f, yt,
                                        sm, si) == CP_OK);
  /* y may alias x in inference too. */
  CHECK (be->batchnorm_forward_infer (be, n, c, hw, xin, gamma, beta, rm, rv, 1e-5f, xin) == CP_OK);
  memcpy (yi, xin, count * sizeof (float));
  {
    double err = harness_normalised_error (yi, yt, count);
    CHECK_MSG (err < 1e-3, "inference vs training after convergence: %.3g", err);
    /* ...but not identical: inference does use the unbiased variance. */
    CHECK_MSG (err > 1e-6, "inference output equals training output exactly (%.3g)", err);
  }
  for (int ch = 0; ch < c; ch++)
    CHECK_CLOSE (rm[ch], sm[ch], 1e-5, 1e-5);

  /* The in-place training forward (y = x) gives the same output. */
  CHECK (be->batchnorm_forward_train (be, n, c, hw, x, gamma, beta, NULL, NULL, 0.1f, 1e-5f, x,
                                      sm, si) == CP_OK);
  CHECK (harness_normalised_error (x, yt, count) < 1e-6);
  free (x);
  free (xin);
  free (yt);
  free (yi);
}

static void
test_maxpool_padding_and_ties (void)
{
  /* 1 x 1 x 4 x 4, all negative: with 3x3/2 pad 1 the padding (-inf) must
   * never win, as a zero padding would. */
  const float x[16] = {
    -5, -3, -3, -9,
    -7, -3, -8, -2,
    -1, -6, -4, -4,
    -6, -1, -4, -4,
  };
  float y[4], dx[16], dy[4] = { 1.0f, 10.0f, 100.0f, 1000.0f };
  int32_t idx[4];

  CHECK (be->maxpool_forward (be, 1, 1, 4, 4, 3, 2, 1, x, y, idx) == CP_OK);
  /* Window (0,0): rows -1..1, cols -1..1 -> {-5,-3,-7,-3}: max -3, first
   * at flat 1 (ties with 5).  Window (0,1): rows -1..1, cols 1..3 ->
   * max -2 at 7.  Window (1,0): rows 1..3, cols -1..1 -> -1 first at 8
   * (ties with 13).  Window (1,1): rows 1..3, cols 1..3 -> -1 at 13. */
  CHECK (y[0] == -3.0f && idx[0] == 1);
  CHECK (y[1] == -2.0f && idx[1] == 7);
  CHECK (y[2] == -1.0f && idx[2] == 8);
  CHECK (y[3] == -1.0f && idx[3] == 13);

  CHECK (be->maxpool_backward (be, 1, 1, 4, 4, 3, 2, 1, dy, idx, dx) == CP_OK);
  for (int i = 0; i < 16; i++)
    {
      float expect = i == 1 ? 1.0f : i == 7 ? 10.0f : i == 8 ? 100.0f : i == 13 ? 1000.0f : 0.0f;
      CHECK (dx[i] == expect);
    }

  /* A constant image: every window ties everywhere, the first element of
   * each window wins, and overlapping windows that pick the same element
   * add their gradients. */
  {
    float c[9], yc[9], dyc[9], dxc[9];
    int32_t ic[9];

    for (int i = 0; i < 9; i++)
      {
        c[i] = 2.0f;
        dyc[i] = 1.0f;
      }
    /* 3x3 stride 1 pad 1 on 3x3: window (oh, ow) starts at row max(oh-1,
     * 0), col max(ow-1, 0). */
    CHECK (be->maxpool_forward (be, 1, 1, 3, 3, 3, 1, 1, c, yc, ic) == CP_OK);
    for (int oh = 0; oh < 3; oh++)
      for (int ow = 0; ow < 3; ow++)
        {
          int r0 = oh > 0 ? oh - 1 : 0, c0 = ow > 0 ? ow - 1 : 0;
          CHECK (yc[oh * 3 + ow] == 2.0f);
          CHECK (ic[oh * 3 + ow] == r0 * 3 + c0);
        }
    CHECK (be->maxpool_backward (be, 1, 1, 3, 3, 3, 1, 1, dyc, ic, dxc) == CP_OK);
    CHECK (dxc[0] == 4.0f && dxc[1] == 2.0f && dxc[3] == 2.0f && dxc[4] == 1.0f);
    CHECK (dxc[2] == 0.0f && dxc[5] == 0.0f && dxc[8] == 0.0f);
  }

  /* A NaN in a window propagates (as in PyTorch), the first one wins. */
  {
    float xn[16];
    float yn[4];
    int32_t in[4];

    memcpy (xn, x, sizeof xn);
    xn[6] = NAN;    /* row 1, col 2: in windows (0,1) and (1,1) only */
    xn[10] = NAN;   /* row 2, col 2: also in (1,1), after 6 */
    CHECK (be->maxpool_forward (be, 1, 1, 4, 4, 3, 2, 1, xn, yn, in) == CP_OK);
    CHECK (yn[0] == -3.0f && in[0] == 1);
    CHECK (isnan (yn[1]) && in[1] == 6);
    CHECK (yn[2] == -1.0f && in[2] == 8);
    CHECK (isnan (yn[3]) && in[3] == 6);
  }

  /* Padding over half the kernel is refused (as PyTorch does). */
  CHECK (be->maxpool_forward (be, 1, 1, 4, 4, 3, 2, 2, x, y, idx) == CP_ERR_INVALID);
}

static void
test_softmax_ce_extreme (void)
{
  /* Logits far beyond exp's float range. */
  const float z[8] = { 1000.0f, 0.0f, -1000.0f, 1000.0f, 3e30f, -3e30f, 88.0f, 89.0f };
  int32_t labels[4] = { 0, 0, 1, 1 };
  float loss, dz[8];
  double expect;

  /* Row 0: [1000, 0] label 0: loss ~ exp(-1000) = 0.  Row 1: [-1000,
   * 1000] label 0: loss 2000.  Row 2: [3e30, -3e30] label 1: 6e30.  Row 3:
   * [88, 89] label 1: log(1 + e^-1). */
  CHECK (be->softmax_cross_entropy (be, 4, 2, z, labels, &loss, dz) == CP_OK);
  expect = (0.0 + 2000.0 + 6e30 + log1p (exp (-1.0))) / 4.0;
  CHECK (isfinite (loss));
  CHECK_CLOSE (loss, expect, 0.0, 1e-6);
  for (int i = 0; i < 8; i++)
    CHECK (isfinite (dz[i]));
  CHECK_CLOSE (dz[0], 0.0, 1e-7, 0.0);
  CHECK_CLOSE (dz[1], 0.0, 1e-7, 0.0);
  CHECK_CLOSE (dz[2], -0.25, 1e-7, 0.0);
  CHECK_CLOSE (dz[3], 0.25, 1e-7, 0.0);
  CHECK_CLOSE (dz[4], 0.25, 1e-7, 0.0);
  CHECK_CLOSE (dz[5], -0.25, 1e-7, 0.0);
  CHECK_CLOSE (dz[6], 0.25 / (1.0 + exp (1.0)), 1e-7, 1e-6);
  CHECK_CLOSE (dz[7], 0.25 * (1.0 / (1.0 + exp (-1.0)) - 1.0), 1e-7, 1e-6);

  /* Loss only (dlogits NULL); a label out of range is refused. */
  CHECK (be->softmax_cross_entropy (be, 4, 2, z, labels, &loss, NULL) == CP_OK);
  CHECK_CLOSE (loss, expect, 0.0, 1e-6);
  labels[2] = 2;
  CHECK (be->softmax_cross_entropy (be, 4, 2, z, labels, &loss, dz) == CP_ERR_INVALID);
  labels[2] = -1;
  CHECK (be->softmax_cross_entropy (be, 4, 2, z, labels, &loss, dz) == CP_ERR_INVALID);
}

/* torch.optim.SGD.step with momentum, dampening 0, no Nesterov, written out
 * as PyTorch does it (first step buf = clone(d_p), then buf = m*buf + d_p),
 * in double, for several steps with changing gradients. */
static void
test_sgd_matches_pytorch (void)
{
  const size_t count = 37;
  const float lr = 0.03f, mom = 0.9f, wd = 3e-5f;
  float *param = random_floats (count, -1.0, 1.0), *buf = calloc (count, sizeof (float));
  double *p_ref = malloc (count * sizeof (double)), *b_ref = malloc (count * sizeof (double));

  for (size_t i = 0; i < count; i++)
    p_ref[i] = param[i];
  for (int step = 0; step < 6; step++)
    {
      float *grad = random_floats (count, -2.0, 2.0);

      for (size_t i = 0; i < count; i++)
        {
          double d_p = (double) grad[i] + (double) wd * p_ref[i];

          b_ref[i] = step == 0 ? d_p : (double) mom * b_ref[i] + d_p;
          p_ref[i] -= (double) lr * b_ref[i];
        }
      CHECK (be->sgd_update (be, count, param, grad, buf, lr, mom, wd) == CP_OK);
      free (grad);
    }
  for (size_t i = 0; i < count; i++)
    {
      CHECK_CLOSE (param[i], p_ref[i], 1e-6, 1e-6);
      CHECK_CLOSE (buf[i], b_ref[i], 1e-6, 1e-6);
    }
  free (param);
  free (buf);
  free (p_ref);
  free (b_ref);
}

static void
check_gemm (int ta, int tb, int m, int n, int k, float alpha, float beta)
{
  /* Leading dimensions wider than the rows, to prove they are honoured. */
  int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
  int rows_a = ta ? k : m, rows_b = tb ? n : k;
  float *a = random_floats ((size_t) rows_a * lda, -1, 1);
  float *b = random_floats ((size_t) rows_b * ldb, -1, 1);
  float *c = random_floats ((size_t) m * ldc, -1, 1);
  float *c0 = malloc ((size_t) m * ldc * sizeof (float));

  memcpy (c0, c, (size_t) m * ldc * sizeof (float));
  CHECK (be->gemm (be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == CP_OK);
  for (int i = 0; i < m; i++)
    {
      for (int j = 0; j < n; j++)
        {
          double s = 0.0;

          for (int p = 0; p < k; p++)
            s += (double) (ta ? a[p * lda + i] : a[i * lda + p])
                 * (double) (tb ? b[j * ldb + p] : b[p * ldb + j]);
          CHECK_MSG (fabs (c[i * ldc + j] - (alpha * s + beta * c0[i * ldc + j])) <= 1e-5 * (1 + k),
                     "gemm ta=%d tb=%d (%d,%d) = %g, expected %g", ta, tb, i, j, c[i * ldc + j],
                     alpha * s + beta * c0[i * ldc + j]);
        }
      /* The padding columns of C are untouched. */
      for (int j = n; j < ldc; j++)
        CHECK (c[i * ldc + j] == c0[i * ldc + j]);
    }
  free (a);
  free (b);
  free (c);
  free (c0);
}

static void
test_gemm_transposes (void)
{
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      {
        check_gemm (ta, tb, 7, 5, 9, 1.0f, 0.0f);
        check_gemm (ta, tb, 13, 17, 3, -0.5f, 2.0f);
        check_gemm (ta, tb, 1, 33, 40, 2.0f, 1.0f);
      }
}

static void
test_l2_normalize (void)
{
  float x[12] = { 3, 4, 0, 0,   0, 0, 0, 0,   -1, 1, -1, 1 };
  float y[12];

  CHECK (be->l2_normalize_rows (be, 3, 4, x, y) == CP_OK);
  CHECK_CLOSE (y[0], 0.6, 1e-7, 0.0);
  CHECK_CLOSE (y[1], 0.8, 1e-7, 0.0);
  CHECK (y[2] == 0.0f && y[3] == 0.0f);
  for (int j = 4; j < 8; j++)
    CHECK (y[j] == 0.0f);     /* the zero row stays zero, not NaN */
  for (int j = 8; j < 12; j++)
    CHECK_CLOSE (y[j], x[j] * 0.5, 1e-7, 0.0);

  /* In place. */
  CHECK (be->l2_normalize_rows (be, 3, 4, x, x) == CP_OK);
  CHECK (memcmp (x, y, sizeof y) == 0);
}

static void
test_relu_add_alias (void)
{
  float a[5] = { -1, 0, 2, -3, 4 }, b[5] = { 1, 1, 1, 1, 1 };

  CHECK (be->relu_forward (be, 5, a, a) == CP_OK);
  CHECK (a[0] == 0 && a[1] == 0 && a[2] == 2 && a[3] == 0 && a[4] == 4);
  CHECK (be->add (be, 5, a, b, a) == CP_OK);
  CHECK (a[0] == 1 && a[1] == 1 && a[2] == 3 && a[3] == 1 && a[4] == 5);
}

int
main (void)
{
  CpError error;

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "cp_backend_cpu_new: %s\n", error.message);
      return 1;
    }
  cp_rng_seed (&rng, 42);

  RUN_TEST (test_memory_ops);
  RUN_TEST (test_batchnorm_running_stats);
  RUN_TEST (test_batchnorm_train_infer_converge);
  RUN_TEST (test_maxpool_padding_and_ties);
  RUN_TEST (test_softmax_ce_extreme);
  RUN_TEST (test_sgd_matches_pytorch);
  RUN_TEST (test_gemm_transposes);
  RUN_TEST (test_l2_normalize);
  RUN_TEST (test_relu_add_alias);

  cp_backend_free (be);
  return harness_exit ();
}
