/* parity-linear.c: the linear layer and GEMM (cpu-linear.c and its twins)
 * on backend B against the CPU reference.  Matrix products in FP32 on
 * every backend (no TF32): 1e-5.
 */
#include "parity.h"

typedef struct
{
  float *y, *dx, *dw, *db;
} LinearResult;

static void
linear_run (CpBackend *be, int n, int in, int out, int with_bias, int with_dx, const float *x_host,
            const float *w_host, const float *b_host, const float *dy_host, LinearResult *r)
{
  float *x = put (be, x_host, (size_t) n * in * 4), *w = put (be, w_host, (size_t) out * in * 4);
  float *b = put (be, b_host, out * 4), *dy = put (be, dy_host, (size_t) n * out * 4);
  float *y = put (be, NULL, (size_t) n * out * 4), *dx = put (be, NULL, (size_t) n * in * 4);
  float *dw = put (be, NULL, (size_t) out * in * 4), *db = put (be, NULL, out * 4);

  CHECK (be->linear_forward (be, n, in, out, x, w, with_bias ? b : NULL, y) == CP_OK);
  CHECK (be->linear_backward (be, n, in, out, x, w, dy, with_dx ? dx : NULL, dw,
                              with_bias ? db : NULL) == CP_OK);
  r->y = take (be, y, (size_t) n * out * 4);
  r->dx = take (be, dx, (size_t) n * in * 4);
  r->dw = take (be, dw, (size_t) out * in * 4);
  r->db = take (be, db, out * 4);
  drop (be, x);
  drop (be, w);
  drop (be, b);
  drop (be, dy);
}

static void
linear_case (int n, int in, int out, int with_bias, int with_dx)
{
  float *x = host_normal ((size_t) n * in, 1.0), *w = host_normal ((size_t) out * in, 0.05);
  float *bias = host_normal (out, 0.1), *dy = host_normal ((size_t) n * out, 1.0);
  LinearResult a, b;
  char what[128];

  linear_run (be_a, n, in, out, with_bias, with_dx, x, w, bias, dy, &a);
  linear_run (be_b, n, in, out, with_bias, with_dx, x, w, bias, dy, &b);
  snprintf (what, sizeof what, "linear %d x %d -> %d forward", n, in, out);
  expect_close (what, b.y, a.y, (size_t) n * out, 1e-5);
  if (with_dx)
    {
      snprintf (what, sizeof what, "linear %d x %d -> %d dx", n, in, out);
      expect_close (what, b.dx, a.dx, (size_t) n * in, 1e-5);
    }
  snprintf (what, sizeof what, "linear %d x %d -> %d dw", n, in, out);
  expect_close (what, b.dw, a.dw, (size_t) out * in, 1e-5);
  if (with_bias)
    {
      snprintf (what, sizeof what, "linear %d x %d -> %d db", n, in, out);
      expect_close (what, b.db, a.db, out, 1e-5);
    }
  free (a.y); free (a.dx); free (a.dw); free (a.db);
  free (b.y); free (b.dx); free (b.dw); free (b.db);
  free (x); free (w); free (bias); free (dy);
}

static void
test_linear (void)
{
  linear_case (96, 512, 512, 1, 1);
  linear_case (96, 512, 128, 1, 1);
  linear_case (96, 128, 3, 1, 1);
  linear_case (5, 7, 3, 0, 0);
}

/* C after the product, padding included: it must be left alone. */
static float *
gemm_run (CpBackend *be, int ta, int tb, int m, int n, int k, float alpha, const float *a_host,
          size_t na, int lda, const float *b_host, size_t nb, int ldb, float beta,
          const float *c_host, size_t nc, int ldc)
{
  float *a = put (be, a_host, na * 4), *b = put (be, b_host, nb * 4), *c = put (be, c_host, nc * 4);

  CHECK (be->gemm (be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == CP_OK);
  drop (be, a);
  drop (be, b);
  return take (be, c, nc * 4);
}

static void
gemm_case (int ta, int tb, int m, int n, int k, int pad, float alpha, float beta)
{
  const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const size_t na = (size_t) (ta ? k : m) * lda, nb = (size_t) (tb ? n : k) * ldb;
  const size_t nc = (size_t) m * ldc;
  float *a = host_normal (na, 1.0), *b = host_normal (nb, 1.0), *c = host_normal (nc, 1.0);
  float *ca, *cb;
  char what[128];

  ca = gemm_run (be_a, ta, tb, m, n, k, alpha, a, na, lda, b, nb, ldb, beta, c, nc, ldc);
  cb = gemm_run (be_b, ta, tb, m, n, k, alpha, a, na, lda, b, nb, ldb, beta, c, nc, ldc);
  snprintf (what, sizeof what, "gemm %c%c m %d n %d k %d ld +%d alpha %g beta %g",
            ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, pad, alpha, beta);
  expect_close (what, cb, ca, nc, 1e-5);
  free (ca); free (cb);
  free (a); free (b); free (c);
}

static void
test_gemm (void)
{
  for (int ta = 0; ta <= 1; ta++)
    for (int tb = 0; tb <= 1; tb++)
      {
        gemm_case (ta, tb, 37, 29, 41, 0, 1.0f, 0.0f);
        gemm_case (ta, tb, 37, 29, 41, 3, 0.7f, 0.3f);
      }
  gemm_case (0, 1, 512, 512, 96, 0, 1.0f, 0.0f);
  gemm_case (0, 0, 5, 6, 0, 1, 1.0f, 2.0f);     /* empty product: C = beta C */
}

/* beta = 0 must not read C (NaN in C stays out of the result), and leading
 * dimensions too small are refused: on each backend alone, since the
 * answer does not depend on the reference. */
static void
test_gemm_edges (void)
{
  CpBackend *backends[2] = { be_a, be_b };

  for (int i = 0; i < 2; i++)
    {
      CpBackend *be = backends[i];
      float c[6] = { NAN, NAN, NAN, NAN, NAN, NAN }, *back;
      float *dc = put (be, c, sizeof c);

      CHECK (be->gemm (be, 0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.0f, dc, 3) == CP_OK);
      CHECK (be->gemm (be, 0, 0, 2, 3, 4, 1.0f, dc, 3, dc, 3, 0.0f, dc, 2) == CP_ERR_INVALID);
      back = take (be, dc, sizeof c);
      for (int j = 0; j < 6; j++)
        CHECK_MSG (back[j] == 0.0f, "%s: C[%d] = %g", be->name, j, back[j]);
      free (back);
    }
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_linear);
  RUN_TEST (test_gemm);
  RUN_TEST (test_gemm_edges);
  parity_close ();
  return harness_exit ();
}
