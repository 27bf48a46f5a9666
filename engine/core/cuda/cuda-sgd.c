/* cuda-sgd.c: the SGD update.
 *
 * Each op checks its arguments exactly as the CPU reference (cpu-sgd.c) does, so
 * both backends accept and refuse the same calls, then launches the
 * kernels of cuda-sgd.cu on the backend's stream.
 */
#include "cuda-private.h"

CpStatus
cp_cuda_sgd_update (CpBackend *be, size_t count, float *param, const float *grad,
                    float *momentum_buf, float lr, float momentum, float weight_decay)
{
  if (count == 0)
    return CP_OK;
  if (param == NULL || grad == NULL || momentum_buf == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "sgd_update",
                   cp_cuda_launch_sgd (cp_cuda_stream (be), count, param, grad, momentum_buf, lr,
                                       momentum, weight_decay));
}
