/* cuda-batchnorm.c: the batch-norm ops.
 *
 * Each op checks its arguments exactly as the CPU reference (cpu-batchnorm.c) does, so
 * both backends accept and refuse the same calls, then launches the
 * kernels of cuda-batchnorm.cu on the backend's stream.
 */
#include "cuda-private.h"

#include <stdio.h>

static void *
bn_scratch (CpBackend *be, int n, int c, int hw, CpStatus *status)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  CpError error;
  void *scratch = cp_cuda_scratch (be, cp_cuda_bn_scratch_bytes (n, c, hw, ctx->sm_count),
                                   &error);

  if (scratch == NULL)
    {
      snprintf (ctx->last_error, sizeof ctx->last_error, "batch norm: %.1000s", error.message);
      *status = error.code;
    }
  return scratch;
}

CpStatus
cp_cuda_batchnorm_forward_train (CpBackend *be, int n, int c, int hw, const float *x,
                                 const float *gamma, const float *beta,
                                 float *running_mean, float *running_var,
                                 float momentum, float eps,
                                 float *y, float *save_mean, float *save_invstd)
{
  CpStatus status = CP_OK;
  void *scratch;

  if (!cp_op_batchnorm_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL
      || y == NULL || save_mean == NULL || save_invstd == NULL)
    return CP_ERR_INVALID;
  /* One value per channel has no unbiased variance (PyTorch refuses it). */
  if ((size_t) n * hw < 2)
    return CP_ERR_INVALID;
  if ((scratch = bn_scratch (be, n, c, hw, &status)) == NULL)
    return status;
  return cp_cuda_launched (be, "batchnorm_forward_train",
                   cp_cuda_launch_bn_forward_train (cp_cuda_stream (be), cp_cuda_ctx (be)->sm_count,
                                                    n, c, hw, x, gamma, beta, running_mean,
                                                    running_var, momentum, eps, y, save_mean,
                                                    save_invstd, scratch));
}

CpStatus
cp_cuda_batchnorm_forward_infer (CpBackend *be, int n, int c, int hw, const float *x,
                                 const float *gamma, const float *beta,
                                 const float *running_mean, const float *running_var,
                                 float eps, float *y)
{
  CpStatus status = CP_OK;
  void *scratch;

  if (!cp_op_batchnorm_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL
      || y == NULL || running_mean == NULL || running_var == NULL)
    return CP_ERR_INVALID;
  if ((scratch = bn_scratch (be, n, c, hw, &status)) == NULL)
    return status;
  return cp_cuda_launched (be, "batchnorm_forward_infer",
                   cp_cuda_launch_bn_forward_infer (cp_cuda_stream (be), n, c, hw, x, gamma, beta,
                                                    running_mean, running_var, eps, y, scratch));
}

CpStatus
cp_cuda_batchnorm_backward (CpBackend *be, int n, int c, int hw, const float *x,
                            const float *dy, const float *gamma,
                            const float *save_mean, const float *save_invstd,
                            float *dx, float *dgamma, float *dbeta)
{
  CpStatus status = CP_OK;
  void *scratch;

  if (!cp_op_batchnorm_args_ok (n, c, hw) || x == NULL || dy == NULL || gamma == NULL
      || save_mean == NULL || save_invstd == NULL || dx == NULL)
    return CP_ERR_INVALID;
  if ((scratch = bn_scratch (be, n, c, hw, &status)) == NULL)
    return status;
  return cp_cuda_launched (be, "batchnorm_backward",
                   cp_cuda_launch_bn_backward (cp_cuda_stream (be), cp_cuda_ctx (be)->sm_count, n, c,
                                               hw, x, dy, gamma, save_mean, save_invstd, dx,
                                               dgamma, dbeta, scratch));
}
