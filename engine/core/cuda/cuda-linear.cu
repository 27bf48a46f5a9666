/* cuda-linear.cu: kernels around the cuBLAS products: the bias of a
 * linear layer, its gradient, and the GEMM with an empty product.
 *
 * Host side: cuda-linear.c; shared helpers: cuda-kernel-util.cuh.
 */
#include "cuda-kernel-util.cuh"

__global__ static void
scale_matrix_kernel (float *c, int m, int n, int ldc, float beta)
{
  const size_t total = (size_t) m * n;

  for (size_t i = global_thread (); i < total; i += grid_stride ())
    {
      const size_t row = div_index (i, (unsigned int) n);
      float *p = c + row * (size_t) ldc + (i - row * n);

      *p = beta == 0.0f ? 0.0f : *p * beta;
    }
}

extern "C" cudaError_t
cp_cuda_launch_scale_matrix (cudaStream_t stream, float *c, int m, int n, int ldc, float beta)
{
  if (m <= 0 || n <= 0)
    return cudaSuccess;
  scale_matrix_kernel<<<grid_for ((size_t) m * n), CP_THREADS, 0, stream>>> (c, m, n, ldc, beta);
  return cudaGetLastError ();
}

/* ---- linear-layer helpers ----------------------------------------------- */

__global__ static void
bias_add_kernel (size_t total, int out, const float *b, float *y)
{
  for (size_t i = global_thread (); i < total; i += grid_stride ())
    y[i] += b[i - div_index (i, (unsigned int) out) * out];
}

extern "C" cudaError_t
cp_cuda_launch_bias_add (cudaStream_t stream, int n, int out, const float *b, float *y)
{
  const size_t total = (size_t) n * out;

  bias_add_kernel<<<grid_for (total), CP_THREADS, 0, stream>>> (total, out, b, y);
  return cudaGetLastError ();
}

/* One thread per column, rows in order: the batch is small (a few hundred
 * rows at most) and the order matches the CPU's. */
__global__ static void
column_sums_kernel (int n, int out, const float *dy, float *db)
{
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  double sum = 0.0;

  if (j >= out)
    return;
  for (int i = 0; i < n; i++)
    sum += dy[(size_t) i * out + j];
  db[j] = (float) sum;
}

extern "C" cudaError_t
cp_cuda_launch_column_sums (cudaStream_t stream, int n, int out, const float *dy, float *db)
{
  column_sums_kernel<<<channel_blocks (out), CP_THREADS, 0, stream>>> (n, out, dy, db);
  return cudaGetLastError ();
}
