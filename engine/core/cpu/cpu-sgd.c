/* cpu-sgd.c: SGD with momentum and weight decay, as torch.optim.SGD does it
 * with dampening 0 and no Nesterov:
 *   g = grad + weight_decay * param;  buf = momentum * buf + g;
 *   param -= lr * buf
 * (PyTorch seeds buf with g on the first step; with buf starting at zero
 * the formula above gives the same value.)
 */
#include "cpu-private.h"

typedef struct
{
  float       *param, *buf;
  const float *grad;
  float        lr, momentum, weight_decay;
} SgdJob;

static void
sgd_range (void *arg, size_t begin, size_t end)
{
  const SgdJob *j = arg;

  for (size_t i = begin; i < end; i++)
    {
      float g = j->grad[i] + j->weight_decay * j->param[i];
      float v = j->momentum * j->buf[i] + g;

      j->buf[i] = v;
      j->param[i] -= j->lr * v;
    }
}

CpStatus
cp_cpu_sgd_update (CpBackend *be, size_t count, float *param, const float *grad,
                   float *momentum_buf, float lr, float momentum, float weight_decay)
{
  SgdJob j = {
    .param = param, .buf = momentum_buf, .grad = grad,
    .lr = lr, .momentum = momentum, .weight_decay = weight_decay,
  };

  if (count == 0)
    return CP_OK;
  if (param == NULL || grad == NULL || momentum_buf == NULL)
    return CP_ERR_INVALID;
  cp_cpu_parallel_for (be, count, count >= CP_CPU_PARALLEL_MIN, sgd_range, &j);
  return CP_OK;
}
