/* cuda-sgd.cu: the SGD update kernel.
 *
 * Host side: cuda-sgd.c; shared helpers: cuda-kernel-util.cuh.
 */
#include "cuda-kernel-util.cuh"

/* torch.optim.SGD, dampening 0, no Nesterov. */
__device__ static inline void
sgd1 (float *p, float g, float *v, float lr, float momentum, float weight_decay)
{
  const float grad = g + weight_decay * *p;
  const float buf = momentum * *v + grad;

  *v = buf;
  *p -= lr * buf;
}

__global__ static void
sgd_kernel (size_t count, float *param, const float *grad, float *buf, float lr, float momentum,
            float weight_decay, int vec)
{
  size_t i = global_thread ();

  if (vec)
    {
      const size_t n4 = count / 4;
      float4 *p4 = (float4 *) param, *b4 = (float4 *) buf;
      const float4 *g4 = (const float4 *) grad;

      for (size_t k = i; k < n4; k += grid_stride ())
        {
          float4 p = p4[k], v = b4[k], g = g4[k];

          sgd1 (&p.x, g.x, &v.x, lr, momentum, weight_decay);
          sgd1 (&p.y, g.y, &v.y, lr, momentum, weight_decay);
          sgd1 (&p.z, g.z, &v.z, lr, momentum, weight_decay);
          sgd1 (&p.w, g.w, &v.w, lr, momentum, weight_decay);
          p4[k] = p;
          b4[k] = v;
        }
      i += n4 * 4;
    }
  for (; i < count; i += grid_stride ())
    sgd1 (&param[i], grad[i], &buf[i], lr, momentum, weight_decay);
}

extern "C" cudaError_t
cp_cuda_launch_sgd (cudaStream_t stream, size_t count, float *param, const float *grad,
                    float *momentum_buf, float lr, float momentum, float weight_decay)
{
  int vec = aligned16 (param) && aligned16 (grad) && aligned16 (momentum_buf);

  sgd_kernel<<<grid_for (vec ? count / 4 + 1 : count), CP_THREADS, 0, stream>>> (
      count, param, grad, momentum_buf, lr, momentum, weight_decay, vec);
  return cudaGetLastError ();
}
