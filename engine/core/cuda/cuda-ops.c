/* cuda-ops.c: the backend ops implemented by our own kernels.
 *
 * Each op checks its arguments exactly as the CPU reference does (so both
 * backends accept and refuse the same calls), then launches the kernels of
 * cuda-kernels.cu on the backend's stream.  Nothing here synchronises
 * except the loss, whose value the caller wants on the host.
 */
#include "cuda-private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static CpStatus
launched (CpBackend *be, const char *what, cudaError_t err)
{
  return err == cudaSuccess ? CP_OK : cp_cuda_fail_runtime (be, what, err);
}

static cudaStream_t
stream_of (CpBackend *be)
{
  return cp_cuda_ctx (be)->stream;
}

/* ---- batch norm --------------------------------------------------------- */

static int
bn_args_ok (int n, int c, int hw)
{
  return n > 0 && c > 0 && hw > 0;
}

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

  if (!bn_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL || y == NULL
      || save_mean == NULL || save_invstd == NULL)
    return CP_ERR_INVALID;
  /* One value per channel has no unbiased variance (PyTorch refuses it). */
  if ((size_t) n * hw < 2)
    return CP_ERR_INVALID;
  if ((scratch = bn_scratch (be, n, c, hw, &status)) == NULL)
    return status;
  return launched (be, "batchnorm_forward_train",
                   cp_cuda_launch_bn_forward_train (stream_of (be), cp_cuda_ctx (be)->sm_count,
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

  if (!bn_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL || y == NULL
      || running_mean == NULL || running_var == NULL)
    return CP_ERR_INVALID;
  if ((scratch = bn_scratch (be, n, c, hw, &status)) == NULL)
    return status;
  return launched (be, "batchnorm_forward_infer",
                   cp_cuda_launch_bn_forward_infer (stream_of (be), n, c, hw, x, gamma, beta,
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

  if (!bn_args_ok (n, c, hw) || x == NULL || dy == NULL || gamma == NULL || save_mean == NULL
      || save_invstd == NULL || dx == NULL)
    return CP_ERR_INVALID;
  if ((scratch = bn_scratch (be, n, c, hw, &status)) == NULL)
    return status;
  return launched (be, "batchnorm_backward",
                   cp_cuda_launch_bn_backward (stream_of (be), cp_cuda_ctx (be)->sm_count, n, c,
                                               hw, x, dy, gamma, save_mean, save_invstd, dx,
                                               dgamma, dbeta, scratch));
}

/* ---- elementwise -------------------------------------------------------- */

CpStatus
cp_cuda_relu_forward (CpBackend *be, size_t count, const float *x, float *y)
{
  if (count == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;
  return launched (be, "relu_forward", cp_cuda_launch_relu_forward (stream_of (be), count, x, y));
}

CpStatus
cp_cuda_relu_backward (CpBackend *be, size_t count, const float *y, const float *dy, float *dx)
{
  if (count == 0)
    return CP_OK;
  if (y == NULL || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;
  return launched (be, "relu_backward",
                   cp_cuda_launch_relu_backward (stream_of (be), count, y, dy, dx));
}

CpStatus
cp_cuda_add (CpBackend *be, size_t count, const float *a, const float *b, float *y)
{
  if (count == 0)
    return CP_OK;
  if (a == NULL || b == NULL || y == NULL)
    return CP_ERR_INVALID;
  return launched (be, "add", cp_cuda_launch_add (stream_of (be), count, a, b, y));
}

/* ---- pooling ------------------------------------------------------------ */

static int
maxpool_out (int size, int kernel, int stride, int pad)
{
  return (size + 2 * pad - kernel) / stride + 1;
}

static int
maxpool_args_ok (int n, int c, int h, int w, int kernel, int stride, int pad)
{
  /* As PyTorch (and the CPU): padding at most half the kernel, so that
   * every window holds a real value. */
  return n > 0 && c > 0 && h > 0 && w > 0 && kernel > 0 && stride > 0 && pad >= 0
         && 2 * pad <= kernel && h + 2 * pad >= kernel && w + 2 * pad >= kernel;
}

CpStatus
cp_cuda_maxpool_forward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                         int pad, const float *x, float *y, int32_t *indices)
{
  if (!maxpool_args_ok (n, c, h, w, kernel, stride, pad) || x == NULL || y == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  return launched (be, "maxpool_forward",
                   cp_cuda_launch_maxpool_forward (stream_of (be), n, c, h, w, kernel, stride,
                                                   pad, maxpool_out (h, kernel, stride, pad),
                                                   maxpool_out (w, kernel, stride, pad), x, y,
                                                   indices));
}

CpStatus
cp_cuda_maxpool_backward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                          int pad, const float *dy, const int32_t *indices, float *dx)
{
  if (!maxpool_args_ok (n, c, h, w, kernel, stride, pad) || dy == NULL || dx == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  return launched (be, "maxpool_backward",
                   cp_cuda_launch_maxpool_backward (stream_of (be), n, c, h, w, kernel, stride,
                                                    pad, maxpool_out (h, kernel, stride, pad),
                                                    maxpool_out (w, kernel, stride, pad), dy,
                                                    indices, dx));
}

CpStatus
cp_cuda_avgpool_forward (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  if (n <= 0 || c <= 0 || hw <= 0 || x == NULL || y == NULL)
    return CP_ERR_INVALID;
  return launched (be, "avgpool_forward",
                   cp_cuda_launch_avgpool_forward (stream_of (be), (size_t) n * c, hw, x, y));
}

CpStatus
cp_cuda_avgpool_backward (CpBackend *be, int n, int c, int hw, const float *dy, float *dx)
{
  if (n <= 0 || c <= 0 || hw <= 0 || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;
  return launched (be, "avgpool_backward",
                   cp_cuda_launch_avgpool_backward (stream_of (be), (size_t) n * c, hw, dy, dx));
}

/* ---- loss, optimiser, normalisation ------------------------------------- */

CpStatus
cp_cuda_softmax_cross_entropy (CpBackend *be, int n, int classes, const float *logits,
                               const int32_t *labels, float *loss_host, float *dlogits)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  float *loss_dev = ctx->scalars_dev;
  int32_t *bad_dev = (int32_t *) ((char *) ctx->scalars_dev + 16);
  cudaError_t err;
  int32_t bad;
  float loss;

  if (n <= 0 || classes <= 0 || logits == NULL || labels == NULL || loss_host == NULL)
    return CP_ERR_INVALID;
  err = cp_cuda_launch_softmax_xent (ctx->stream, n, classes, logits, labels, dlogits, loss_dev,
                                     bad_dev);
  /* Loss and label check come down together in one small copy. */
  if (err == cudaSuccess)
    err = cudaMemcpyAsync (ctx->scalars_host, ctx->scalars_dev, 32, cudaMemcpyDeviceToHost,
                           ctx->stream);
  if (err == cudaSuccess)
    err = cudaStreamSynchronize (ctx->stream);
  if (err != cudaSuccess)
    return cp_cuda_fail_runtime (be, "softmax_cross_entropy", err);
  memcpy (&loss, ctx->scalars_host, sizeof loss);
  memcpy (&bad, (char *) ctx->scalars_host + 16, sizeof bad);
  if (bad != 0)
    return CP_ERR_INVALID;
  *loss_host = loss;
  if (!isfinite (loss))
    return CP_ERR_NUMERIC;
  return CP_OK;
}

CpStatus
cp_cuda_sgd_update (CpBackend *be, size_t count, float *param, const float *grad,
                    float *momentum_buf, float lr, float momentum, float weight_decay)
{
  if (count == 0)
    return CP_OK;
  if (param == NULL || grad == NULL || momentum_buf == NULL)
    return CP_ERR_INVALID;
  return launched (be, "sgd_update",
                   cp_cuda_launch_sgd (stream_of (be), count, param, grad, momentum_buf, lr,
                                       momentum, weight_decay));
}

CpStatus
cp_cuda_l2_normalize_rows (CpBackend *be, int n, int dim, const float *x, float *y)
{
  if (n < 0 || dim < 0)
    return CP_ERR_INVALID;
  if (n == 0 || dim == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;
  return launched (be, "l2_normalize_rows",
                   cp_cuda_launch_l2_normalize_rows (stream_of (be), n, dim, x, y));
}
