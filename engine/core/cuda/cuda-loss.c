/* cuda-loss.c: softmax cross-entropy.
 *
 * Each op checks its arguments exactly as the CPU reference (cpu-loss.c) does, so
 * both backends accept and refuse the same calls, then launches the
 * kernels of cuda-loss.cu on the backend's stream.  The one op
 * that synchronises: the caller wants the loss on the host.
 */
#include "cuda-private.h"

#include <math.h>
#include <string.h>

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
