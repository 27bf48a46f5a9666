/* cpu-linear.c: the fully connected layer and the general GEMM, both a thin
 * layer over cblas_sgemm.
 */
#include "cpu-private.h"

#include <cblas.h>

CpStatus
cp_cpu_linear_forward (CpBackend *be, int n, int in, int out, const float *x, const float *w,
                       const float *b, float *y)
{
  (void) be;
  if (n <= 0 || in <= 0 || out <= 0 || x == NULL || w == NULL || y == NULL)
    return CP_ERR_INVALID;

  /* y (n, out) = x (n, in) w^T */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, 0.0f,
               y, out);
  if (b != NULL)
    for (int i = 0; i < n; i++)
      for (int j = 0; j < out; j++)
        y[(size_t) i * out + j] += b[j];
  return CP_OK;
}

CpStatus
cp_cpu_linear_backward (CpBackend *be, int n, int in, int out, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db)
{
  (void) be;
  if (n <= 0 || in <= 0 || out <= 0 || x == NULL || w == NULL || dy == NULL)
    return CP_ERR_INVALID;

  /* dx (n, in) = dy (n, out) w (out, in) */
  if (dx != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                 0.0f, dx, in);
  /* dw (out, in) = dy^T (out, n) x (n, in) */
  if (dw != NULL)
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in,
                 0.0f, dw, in);
  if (db != NULL)
    for (int j = 0; j < out; j++)
      {
        double sum = 0.0;

        for (int i = 0; i < n; i++)
          sum += dy[(size_t) i * out + j];
        db[j] = (float) sum;
      }
  return CP_OK;
}

CpStatus
cp_cpu_gemm (CpBackend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  (void) be;
  if (!cp_op_gemm_args_ok (trans_a, trans_b, m, n, k, lda, ldb, ldc) || c == NULL)
    return CP_ERR_INVALID;
  if (m == 0 || n == 0)
    return CP_OK;
  if (k > 0 && (a == NULL || b == NULL))
    return CP_ERR_INVALID;
  cblas_sgemm (CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
               trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  return CP_OK;
}
