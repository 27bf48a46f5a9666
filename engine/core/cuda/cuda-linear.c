/* cuda-linear.c: linear layers and the general GEMM through cuBLAS (the
 * CPU reference: cpu-linear.c; the bias kernels: cuda-linear.cu).
 *
 * cuBLAS is column-major and the backend is row-major.  A row-major
 * matrix is the column-major view of its transpose, so the row-major
 * C (m, n) = op(A) op(B) is computed as the column-major
 * C^T (n, m) = op(B)^T op(A)^T: the same call with the operands, their
 * transposition flags and m, n swapped, and the leading dimensions
 * unchanged.  The handle's math mode is CUBLAS_DEFAULT_MATH, which keeps
 * FP32 products in FP32 (no TF32), as PyTorch does by default.
 */
#include "cuda-private.h"

static CpStatus
row_major_sgemm (CpBackend *be, const char *what, int trans_a, int trans_b, int m, int n, int k,
                 float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  cublasStatus_t st;

  st = ctx->blas->sgemm (ctx->cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                         trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, a, lda, &beta,
                         c, ldc);
  return st == CUBLAS_STATUS_SUCCESS ? CP_OK : cp_cuda_fail_cublas (be, what, st);
}

CpStatus
cp_cuda_linear_forward (CpBackend *be, int n, int in, int out, const float *x, const float *w,
                        const float *b, float *y)
{
  CpStatus st;

  if (n <= 0 || in <= 0 || out <= 0 || x == NULL || w == NULL || y == NULL)
    return CP_ERR_INVALID;
  /* y (n, out) = x (n, in) w^T, then + b per row (the CPU's order). */
  st = row_major_sgemm (be, "linear_forward", 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
  if (st != CP_OK || b == NULL)
    return st;
  return cp_cuda_launched (be, "linear_forward (bias)",
                   cp_cuda_launch_bias_add (cp_cuda_ctx (be)->stream, n, out, b, y));
}

CpStatus
cp_cuda_linear_backward (CpBackend *be, int n, int in, int out, const float *x, const float *w,
                         const float *dy, float *dx, float *dw, float *db)
{
  CpStatus st;

  if (n <= 0 || in <= 0 || out <= 0 || x == NULL || w == NULL || dy == NULL)
    return CP_ERR_INVALID;
  /* dx (n, in) = dy (n, out) w (out, in) */
  if (dx != NULL
      && (st = row_major_sgemm (be, "linear_backward (input)", 0, 0, n, in, out, 1.0f, dy, out, w,
                                in, 0.0f, dx, in)) != CP_OK)
    return st;
  /* dw (out, in) = dy^T (out, n) x (n, in) */
  if (dw != NULL
      && (st = row_major_sgemm (be, "linear_backward (weight)", 1, 0, out, in, n, 1.0f, dy, out, x,
                                in, 0.0f, dw, in)) != CP_OK)
    return st;
  if (db != NULL)
    return cp_cuda_launched (be, "linear_backward (bias)",
                     cp_cuda_launch_column_sums (cp_cuda_ctx (be)->stream, n, out, dy, db));
  return CP_OK;
}

CpStatus
cp_cuda_gemm (CpBackend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  if (!cp_op_gemm_args_ok (trans_a, trans_b, m, n, k, lda, ldb, ldc) || c == NULL)
    return CP_ERR_INVALID;
  if (m == 0 || n == 0)
    return CP_OK;
  if (k == 0)
    /* An empty product: C = beta C, with BLAS's rule that beta = 0 does
     * not read C. */
    return cp_cuda_launched (be, "gemm (k = 0)",
                     cp_cuda_launch_scale_matrix (cp_cuda_ctx (be)->stream, c, m, n, ldc, beta));
  if (a == NULL || b == NULL)
    return CP_ERR_INVALID;
  return row_major_sgemm (be, "gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                          ldc);
}
