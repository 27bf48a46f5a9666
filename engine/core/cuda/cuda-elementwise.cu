/* cuda-elementwise.cu: kernels of the elementwise ops (ReLU, add, L2
 * row normalisation) and the fill used by the backend's own checks.
 *
 * Host side: cuda-elementwise.c; shared helpers: cuda-kernel-util.cuh.
 */
#include "cuda-kernel-util.cuh"

/* ---- fill --------------------------------------------------------------- */

__global__ static void
fill_kernel (float *y, size_t count, float value)
{
  for (size_t i = global_thread (); i < count; i += grid_stride ())
    y[i] = value;
}

extern "C" cudaError_t
cp_cuda_launch_fill (cudaStream_t stream, float *y, size_t count, float value)
{
  if (count == 0)
    return cudaSuccess;
  fill_kernel<<<grid_for (count), CP_THREADS, 0, stream>>> (y, count, value);
  return cudaGetLastError ();
}

/* ---- ReLU, add ----------------------------------------------------------
 * Each element is read and written by the same thread, which is what makes
 * the aliasing that backend.h allows safe (so no __restrict__ here). */

__device__ static inline float
relu1 (float x)
{
  /* NaN > 0 is false: a NaN input gives 0, as on the CPU. */
  return x > 0.0f ? x : 0.0f;
}

__global__ static void
relu_forward_kernel (size_t count, const float *x, float *y, int vec)
{
  size_t i = global_thread ();

  if (vec)
    {
      const size_t n4 = count / 4;
      const float4 *x4 = (const float4 *) x;
      float4 *y4 = (float4 *) y;

      for (size_t k = i; k < n4; k += grid_stride ())
        {
          float4 v = x4[k];
          v.x = relu1 (v.x);
          v.y = relu1 (v.y);
          v.z = relu1 (v.z);
          v.w = relu1 (v.w);
          y4[k] = v;
        }
      i += n4 * 4;
    }
  for (; i < count; i += grid_stride ())
    y[i] = relu1 (x[i]);
}

extern "C" cudaError_t
cp_cuda_launch_relu_forward (cudaStream_t stream, size_t count, const float *x, float *y)
{
  int vec = aligned16 (x) && aligned16 (y);

  relu_forward_kernel<<<grid_for (vec ? count / 4 + 1 : count), CP_THREADS, 0, stream>>> (
      count, x, y, vec);
  return cudaGetLastError ();
}

__device__ static inline float
relu_grad1 (float y, float dy)
{
  return y > 0.0f ? dy : 0.0f;
}

__global__ static void
relu_backward_kernel (size_t count, const float *y, const float *dy, float *dx, int vec)
{
  size_t i = global_thread ();

  if (vec)
    {
      const size_t n4 = count / 4;
      const float4 *y4 = (const float4 *) y, *g4 = (const float4 *) dy;
      float4 *d4 = (float4 *) dx;

      for (size_t k = i; k < n4; k += grid_stride ())
        {
          float4 a = y4[k], g = g4[k];
          g.x = relu_grad1 (a.x, g.x);
          g.y = relu_grad1 (a.y, g.y);
          g.z = relu_grad1 (a.z, g.z);
          g.w = relu_grad1 (a.w, g.w);
          d4[k] = g;
        }
      i += n4 * 4;
    }
  for (; i < count; i += grid_stride ())
    dx[i] = relu_grad1 (y[i], dy[i]);
}

extern "C" cudaError_t
cp_cuda_launch_relu_backward (cudaStream_t stream, size_t count, const float *y, const float *dy,
                              float *dx)
{
  int vec = aligned16 (y) && aligned16 (dy) && aligned16 (dx);

  relu_backward_kernel<<<grid_for (vec ? count / 4 + 1 : count), CP_THREADS, 0, stream>>> (
      count, y, dy, dx, vec);
  return cudaGetLastError ();
}

__global__ static void
add_kernel (size_t count, const float *a, const float *b, float *y, int vec)
{
  size_t i = global_thread ();

  if (vec)
    {
      const size_t n4 = count / 4;
      const float4 *a4 = (const float4 *) a, *b4 = (const float4 *) b;
      float4 *y4 = (float4 *) y;

      for (size_t k = i; k < n4; k += grid_stride ())
        {
          float4 u = a4[k], v = b4[k];
          u.x += v.x;
          u.y += v.y;
          u.z += v.z;
          u.w += v.w;
          y4[k] = u;
        }
      i += n4 * 4;
    }
  for (; i < count; i += grid_stride ())
    y[i] = a[i] + b[i];
}

extern "C" cudaError_t
cp_cuda_launch_add (cudaStream_t stream, size_t count, const float *a, const float *b, float *y)
{
  int vec = aligned16 (a) && aligned16 (b) && aligned16 (y);

  add_kernel<<<grid_for (vec ? count / 4 + 1 : count), CP_THREADS, 0, stream>>> (count, a, b, y,
                                                                                  vec);
  return cudaGetLastError ();
}

/* ---- L2 row normalisation ---------------------------------------------- */

/* One block per row.  Every read of the row happens before the barriers
 * in the reduction and every write after them, so y may alias x. */
__global__ static void
l2_normalize_kernel (int dim, const float *x, float *y)
{
  __shared__ float inv_shared;
  const float *xr = x + (size_t) blockIdx.x * dim;
  float *yr = y + (size_t) blockIdx.x * dim;
  double sq = 0.0, unused = 0.0;

  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    sq += (double) xr[j] * (double) xr[j];
  block_reduce2 (&sq, &unused);
  if (threadIdx.x == 0)
    /* A zero row has no direction: it stays zero rather than NaN. */
    inv_shared = sq > 0.0 ? (float) (1.0 / sqrt (sq)) : 0.0f;
  __syncthreads ();
  {
    const float inv = inv_shared;

    for (int j = threadIdx.x; j < dim; j += blockDim.x)
      yr[j] = xr[j] * inv;
  }
}

extern "C" cudaError_t
cp_cuda_launch_l2_normalize_rows (cudaStream_t stream, int n, int dim, const float *x, float *y)
{
  l2_normalize_kernel<<<(unsigned int) n, CP_THREADS, 0, stream>>> (dim, x, y);
  return cudaGetLastError ();
}
