/* cpu-sgd.c: SGD with momentum and weight decay, as torch.optim.SGD does it
 * with dampening 0 and no Nesterov:
 *   g = grad + weight_decay * param;  buf = momentum * buf + g;
 *   param -= lr * buf
 * (PyTorch seeds buf with g on the first step; with buf starting at zero
 * the formula above gives the same value.)
 */
#include "cpu-private.h"

CpStatus
cp_cpu_sgd_update (CpBackend *be, size_t count, float *param, const float *grad,
                   float *momentum_buf, float lr, float momentum, float weight_decay)
{
  (void) be;
  if (count == 0)
    return CP_OK;
  if (param == NULL || grad == NULL || momentum_buf == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for simd schedule(static) if (count >= CP_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < count; i++)
    {
      float g = grad[i] + weight_decay * param[i];
      float v = momentum * momentum_buf[i] + g;

      momentum_buf[i] = v;
      param[i] -= lr * v;
    }
  return CP_OK;
}
