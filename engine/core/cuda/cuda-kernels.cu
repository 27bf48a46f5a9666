/* cuda-kernels.cu: the CUDA backend's own kernels and their launchers.
 *
 * Everything here is memory-bound, so the kernels aim at coalesced 16-byte
 * accesses (float4 when every pointer involved is 16-byte aligned, which
 * cudaMalloc and the network's 256-byte arena carving give) and grid-stride
 * loops.  Reductions run in double and in a fixed order (per-thread partial
 * sums, then a tree within the block, then a sequential sum across blocks)
 * so that results match the CPU reference closely and do not vary from run
 * to run.  Kept C-like on purpose: no templates beyond what CUDA needs.
 */
#include "cuda-kernels.h"

#include <cuda_runtime.h>
#include <math.h>

#define CP_THREADS 256

/* Grid-stride loops cover whatever the grid does not: the cap only bounds
 * the launch size, never the work. */
static unsigned int
grid_for (size_t units)
{
  size_t blocks = (units + CP_THREADS - 1) / CP_THREADS;

  if (blocks < 1)
    blocks = 1;
  if (blocks > 1048576)
    blocks = 1048576;
  return (unsigned int) blocks;
}

static int
aligned16 (const void *p)
{
  return ((uintptr_t) p & 15u) == 0;
}

__device__ static inline size_t
global_thread (void)
{
  return (size_t) blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ static inline size_t
grid_stride (void)
{
  return (size_t) gridDim.x * blockDim.x;
}

/* Quotient of an element index by a small divisor.  64-bit division is
 * emulated in software on the GPU (about a hundred instructions); every
 * realistic tensor has fewer than 2^32 elements, where the hardware's
 * 32-bit path applies. */
__device__ static inline size_t
div_index (size_t a, unsigned int b)
{
  return a <= 0xffffffffu ? (size_t) ((unsigned int) a / b) : a / b;
}

/* Sums @a and @b over the block; the totals are valid in thread 0.  Needs
 * blockDim.x to be a multiple of 32 (every launch here uses CP_THREADS). */
__device__ static void
block_reduce2 (double *a, double *b)
{
  __shared__ double sa[32], sb[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  double x = *a, y = *b;

  for (int off = 16; off > 0; off >>= 1)
    {
      x += __shfl_down_sync (0xffffffffu, x, off);
      y += __shfl_down_sync (0xffffffffu, y, off);
    }
  if (lane == 0)
    {
      sa[warp] = x;
      sb[warp] = y;
    }
  __syncthreads ();
  if (warp == 0)
    {
      x = lane < warps ? sa[lane] : 0.0;
      y = lane < warps ? sb[lane] : 0.0;
      for (int off = 16; off > 0; off >>= 1)
        {
          x += __shfl_down_sync (0xffffffffu, x, off);
          y += __shfl_down_sync (0xffffffffu, y, off);
        }
    }
  *a = x;
  *b = y;
}

/* ---- fill, scale -------------------------------------------------------- */

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

/* ---- batch norm ----------------------------------------------------------
 * A channel's m = n * hw values lie in n planes of hw contiguous floats.
 * Stage 1 splits each channel into `splits` slices (grid (c, splits)) and
 * writes two double partial sums per slice; stage 2 (one thread per
 * channel) adds the slices in order and derives per-channel coefficients;
 * stage 3 applies them elementwise.  Statistics use one pass of sums of
 * (x - K) and (x - K)^2 in double, K being the channel's first value, which
 * is as accurate as the CPU's two passes at the cost of one read. */

static int
bn_splits (int n, int c, int hw, int sm_count)
{
  const size_t m = (size_t) n * hw;
  size_t target = (size_t) (sm_count > 0 ? sm_count : 16) * 8;
  size_t splits = (target + c - 1) / c;
  size_t by_size = (m + 4095) / 4096;   /* at least ~16 values per thread */

  if (splits > by_size)
    splits = by_size;
  if (splits > 1024)
    splits = 1024;
  if (splits < 1)
    splits = 1;
  return (int) splits;
}

extern "C" size_t
cp_cuda_bn_scratch_bytes (int n, int c, int hw, int sm_count)
{
  size_t partial = (size_t) 2 * c * bn_splits (n, c, hw, sm_count) * sizeof (double);

  return partial + (size_t) 3 * c * sizeof (float) + 16;
}

/* @center: NULL for statistics (shift by the first value of the channel),
 * else the saved mean for the backward sums, where @dy is also given:
 * sums of dy and dy * (x - mean). */
__global__ static void
bn_partial_kernel (const float *x, const float *dy, const float *center, int c, int hw, int vec,
                   long long units, long long per_split, int splits, double *partial)
{
  const int ch = blockIdx.x, s = blockIdx.y;
  const long long j0 = (long long) s * per_split;
  const long long j1 = j0 + per_split < units ? j0 + per_split : units;
  const double k = center != NULL ? (double) center[ch] : (double) x[(size_t) ch * hw];
  double a1 = 0.0, a2 = 0.0;

  if (vec)
    {
      const long long hw4 = hw / 4;
      const float4 *x4 = (const float4 *) x, *g4 = (const float4 *) dy;

      /* One division per thread, then the (plane, offset) pair steps by
       * blockDim.x values at a time. */
      const long long step_b = blockDim.x / hw4, step_i = blockDim.x % hw4;
      long long j = j0 + threadIdx.x, b = j / hw4, i = j - b * hw4;

      for (; j < j1; j += blockDim.x)
        {
          size_t off = ((size_t) b * c + ch) * (size_t) hw4 + (size_t) i;
          float4 v = x4[off];
          double d0 = (double) v.x - k, d1 = (double) v.y - k;
          double d2 = (double) v.z - k, d3 = (double) v.w - k;

          if (dy != NULL)
            {
              float4 g = g4[off];
              a1 += ((double) g.x + (double) g.y) + ((double) g.z + (double) g.w);
              a2 += ((double) g.x * d0 + (double) g.y * d1) + ((double) g.z * d2 + (double) g.w * d3);
            }
          else
            {
              a1 += (d0 + d1) + (d2 + d3);
              a2 += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            }
          b += step_b;
          i += step_i;
          if (i >= hw4)
            {
              i -= hw4;
              b++;
            }
        }
    }
  else
    {
      const long long step_b = blockDim.x / hw, step_i = blockDim.x % hw;
      long long j = j0 + threadIdx.x, b = j / hw, i = j - b * hw;

      for (; j < j1; j += blockDim.x)
        {
          size_t off = ((size_t) b * c + ch) * (size_t) hw + (size_t) i;
          double d = (double) x[off] - k;

          if (dy != NULL)
            {
              double g = dy[off];
              a1 += g;
              a2 += g * d;
            }
          else
            {
              a1 += d;
              a2 += d * d;
            }
          b += step_b;
          i += step_i;
          if (i >= hw)
            {
              i -= hw;
              b++;
            }
        }
    }
  block_reduce2 (&a1, &a2);
  if (threadIdx.x == 0)
    {
      partial[((size_t) ch * splits + s) * 2] = a1;
      partial[((size_t) ch * splits + s) * 2 + 1] = a2;
    }
}

/* coef: scale (c), shift (c) for the apply kernel. */
__global__ static void
bn_finalize_train_kernel (const double *partial, int splits, int c, int hw, double m,
                          const float *x, const float *gamma, const float *beta,
                          float *running_mean, float *running_var, float momentum, float eps,
                          float *save_mean, float *save_invstd, float *coef)
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  double s1 = 0.0, s2 = 0.0, dm, var;
  float fmean, invstd, scale;

  if (ch >= c)
    return;
  for (int s = 0; s < splits; s++)
    {
      s1 += partial[((size_t) ch * splits + s) * 2];
      s2 += partial[((size_t) ch * splits + s) * 2 + 1];
    }
  dm = s1 / m;
  var = s2 / m - dm * dm;
  if (var < 0.0)
    var = 0.0;
  fmean = (float) ((double) x[(size_t) ch * hw] + dm);
  invstd = (float) (1.0 / sqrt (var + (double) eps));
  save_mean[ch] = fmean;
  save_invstd[ch] = invstd;
  /* Running statistics in float, as the CPU does; the variance that goes
   * into them is the unbiased one (PyTorch). */
  if (running_mean != NULL)
    running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * fmean;
  if (running_var != NULL)
    running_var[ch] = (1.0f - momentum) * running_var[ch]
                      + momentum * (float) (var * m / (m - 1.0));
  scale = gamma[ch] * invstd;
  coef[ch] = scale;
  coef[c + ch] = beta[ch] - fmean * scale;
}

__global__ static void
bn_prepare_infer_kernel (int c, const float *gamma, const float *beta, const float *running_mean,
                         const float *running_var, float eps, float *coef)
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  float invstd, scale;

  if (ch >= c)
    return;
  invstd = (float) (1.0 / sqrt ((double) running_var[ch] + (double) eps));
  scale = gamma[ch] * invstd;
  coef[ch] = scale;
  coef[c + ch] = beta[ch] - running_mean[ch] * scale;
}

/* y = x * scale[ch] + shift[ch]; y may alias x. */
__global__ static void
bn_apply_kernel (const float *x, float *y, const float *coef, int c, int hw, size_t count, int vec)
{
  if (vec)
    {
      const size_t hw4 = (size_t) hw / 4, n4 = count / 4;
      const float4 *x4 = (const float4 *) x;
      float4 *y4 = (float4 *) y;

      for (size_t k = global_thread (); k < n4; k += grid_stride ())
        {
          const int ch = (int) (div_index (k, (unsigned int) hw4) % (size_t) c);
          const float scale = coef[ch], shift = coef[c + ch];
          float4 v = x4[k];

          v.x = v.x * scale + shift;
          v.y = v.y * scale + shift;
          v.z = v.z * scale + shift;
          v.w = v.w * scale + shift;
          y4[k] = v;
        }
      return;
    }
  for (size_t i = global_thread (); i < count; i += grid_stride ())
    {
      const int ch = (int) (div_index (i, (unsigned int) hw) % (size_t) c);

      y[i] = x[i] * coef[ch] + coef[c + ch];
    }
}

/* coef: gamma*invstd (c), mean of dy (c), sum(dy*(x-mean))*invstd^2/m (c). */
__global__ static void
bn_finalize_backward_kernel (const double *partial, int splits, int c, double m,
                             const float *gamma, const float *save_invstd, float *dgamma,
                             float *dbeta, float *coef)
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  double sum_dy = 0.0, sum_dy_xc = 0.0;
  float invstd;

  if (ch >= c)
    return;
  for (int s = 0; s < splits; s++)
    {
      sum_dy += partial[((size_t) ch * splits + s) * 2];
      sum_dy_xc += partial[((size_t) ch * splits + s) * 2 + 1];
    }
  invstd = save_invstd[ch];
  if (dbeta != NULL)
    dbeta[ch] = (float) sum_dy;
  if (dgamma != NULL)
    dgamma[ch] = (float) (sum_dy_xc * invstd);
  coef[ch] = gamma[ch] * invstd;
  coef[c + ch] = (float) (sum_dy / m);
  coef[2 * c + ch] = (float) (sum_dy_xc * (double) invstd * (double) invstd / m);
}

/* dx = scale * (dy - k_mean - (x - mean) * k_xhat); dx may alias dy. */
__global__ static void
bn_dx_kernel (const float *x, const float *dy, float *dx, const float *mean, const float *coef,
              int c, int hw, size_t count, int vec)
{
  if (vec)
    {
      const size_t hw4 = (size_t) hw / 4, n4 = count / 4;
      const float4 *x4 = (const float4 *) x, *g4 = (const float4 *) dy;
      float4 *d4 = (float4 *) dx;

      for (size_t k = global_thread (); k < n4; k += grid_stride ())
        {
          const int ch = (int) (div_index (k, (unsigned int) hw4) % (size_t) c);
          const float scale = coef[ch], km = coef[c + ch], kx = coef[2 * c + ch], mu = mean[ch];
          float4 v = x4[k], g = g4[k];

          g.x = scale * (g.x - km - (v.x - mu) * kx);
          g.y = scale * (g.y - km - (v.y - mu) * kx);
          g.z = scale * (g.z - km - (v.z - mu) * kx);
          g.w = scale * (g.w - km - (v.w - mu) * kx);
          d4[k] = g;
        }
      return;
    }
  for (size_t i = global_thread (); i < count; i += grid_stride ())
    {
      const int ch = (int) (div_index (i, (unsigned int) hw) % (size_t) c);

      dx[i] = coef[ch] * (dy[i] - coef[c + ch] - (x[i] - mean[ch]) * coef[2 * c + ch]);
    }
}

static unsigned int
channel_blocks (int c)
{
  return (unsigned int) ((c + CP_THREADS - 1) / CP_THREADS);
}

extern "C" cudaError_t
cp_cuda_launch_bn_forward_train (cudaStream_t stream, int sm_count, int n, int c, int hw,
                                 const float *x, const float *gamma, const float *beta,
                                 float *running_mean, float *running_var, float momentum,
                                 float eps, float *y, float *save_mean, float *save_invstd,
                                 void *scratch)
{
  const int splits = bn_splits (n, c, hw, sm_count);
  const size_t count = (size_t) n * c * hw;
  const int vec = hw % 4 == 0 && aligned16 (x) && aligned16 (y);
  const long long units = (long long) n * (vec ? hw / 4 : hw);
  const long long per_split = (units + splits - 1) / splits;
  double *partial = (double *) scratch;
  float *coef = (float *) (partial + (size_t) 2 * c * splits);
  cudaError_t err;

  bn_partial_kernel<<<dim3 (c, splits), CP_THREADS, 0, stream>>> (x, NULL, NULL, c, hw, vec,
                                                                    units, per_split, splits,
                                                                    partial);
  if ((err = cudaGetLastError ()) != cudaSuccess)
    return err;
  bn_finalize_train_kernel<<<channel_blocks (c), CP_THREADS, 0, stream>>> (
      partial, splits, c, hw, (double) n * hw, x, gamma, beta, running_mean, running_var,
      momentum, eps, save_mean, save_invstd, coef);
  if ((err = cudaGetLastError ()) != cudaSuccess)
    return err;
  bn_apply_kernel<<<grid_for (vec ? count / 4 : count), CP_THREADS, 0, stream>>> (x, y, coef, c,
                                                                                 hw, count, vec);
  return cudaGetLastError ();
}

extern "C" cudaError_t
cp_cuda_launch_bn_forward_infer (cudaStream_t stream, int n, int c, int hw, const float *x,
                                 const float *gamma, const float *beta,
                                 const float *running_mean, const float *running_var, float eps,
                                 float *y, void *scratch)
{
  const size_t count = (size_t) n * c * hw;
  const int vec = hw % 4 == 0 && aligned16 (x) && aligned16 (y);
  float *coef = (float *) scratch;
  cudaError_t err;

  bn_prepare_infer_kernel<<<channel_blocks (c), CP_THREADS, 0, stream>>> (
      c, gamma, beta, running_mean, running_var, eps, coef);
  if ((err = cudaGetLastError ()) != cudaSuccess)
    return err;
  bn_apply_kernel<<<grid_for (vec ? count / 4 : count), CP_THREADS, 0, stream>>> (x, y, coef, c,
                                                                                 hw, count, vec);
  return cudaGetLastError ();
}

extern "C" cudaError_t
cp_cuda_launch_bn_backward (cudaStream_t stream, int sm_count, int n, int c, int hw,
                            const float *x, const float *dy, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dgamma, float *dbeta, void *scratch)
{
  const int splits = bn_splits (n, c, hw, sm_count);
  const size_t count = (size_t) n * c * hw;
  const int vec = hw % 4 == 0 && aligned16 (x) && aligned16 (dy) && aligned16 (dx);
  const long long units = (long long) n * (vec ? hw / 4 : hw);
  const long long per_split = (units + splits - 1) / splits;
  double *partial = (double *) scratch;
  float *coef = (float *) (partial + (size_t) 2 * c * splits);
  cudaError_t err;

  bn_partial_kernel<<<dim3 (c, splits), CP_THREADS, 0, stream>>> (x, dy, save_mean, c, hw, vec,
                                                                    units, per_split, splits,
                                                                    partial);
  if ((err = cudaGetLastError ()) != cudaSuccess)
    return err;
  bn_finalize_backward_kernel<<<channel_blocks (c), CP_THREADS, 0, stream>>> (
      partial, splits, c, (double) n * hw, gamma, save_invstd, dgamma, dbeta, coef);
  if ((err = cudaGetLastError ()) != cudaSuccess)
    return err;
  bn_dx_kernel<<<grid_for (vec ? count / 4 : count), CP_THREADS, 0, stream>>> (
      x, dy, dx, save_mean, coef, c, hw, count, vec);
  return cudaGetLastError ();
}

/* ---- pooling ------------------------------------------------------------ */

__global__ static void
maxpool_forward_kernel (size_t total, int h, int w, int kernel, int stride, int pad, int ho,
                        int wo, const float *x, float *y, int32_t *indices)
{
  for (size_t idx = global_thread (); idx < total; idx += grid_stride ())
    {
      const size_t t = div_index (idx, (unsigned int) wo);
      const int ow = (int) (idx - t * wo);
      const size_t plane = div_index (t, (unsigned int) ho);
      const int oh = (int) (t - plane * ho);
      const float *xs = x + plane * (size_t) h * w;
      int h0 = oh * stride - pad, w0 = ow * stride - pad;
      const int h1 = h0 + kernel < h ? h0 + kernel : h;
      const int w1 = w0 + kernel < w ? w0 + kernel : w;
      float best = -INFINITY;
      int32_t best_i = -1;

      h0 = h0 < 0 ? 0 : h0;
      w0 = w0 < 0 ? 0 : w0;
      /* Row-major scan with a strict '>' keeps the first maximum; a NaN
       * wins so that it propagates (the CPU's rule). */
      for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++)
          {
            const float v = xs[ih * w + iw];

            if (best_i < 0 || v > best || (isnan (v) && !isnan (best)))
              {
                best = v;
                best_i = ih * w + iw;
              }
          }
      y[idx] = best;
      indices[idx] = best_i;
    }
}

extern "C" cudaError_t
cp_cuda_launch_maxpool_forward (cudaStream_t stream, int n, int c, int h, int w, int kernel,
                                int stride, int pad, int h_out, int w_out, const float *x,
                                float *y, int32_t *indices)
{
  const size_t total = (size_t) n * c * h_out * w_out;

  maxpool_forward_kernel<<<grid_for (total), CP_THREADS, 0, stream>>> (
      total, h, w, kernel, stride, pad, h_out, w_out, x, y, indices);
  return cudaGetLastError ();
}

/* Gather instead of the CPU's scatter: each input position sums, in
 * increasing output order, the gradients of the windows that picked it.
 * The additions happen in the CPU's order, so results are identical and
 * need neither atomics nor a zeroing pass. */
__global__ static void
maxpool_backward_kernel (size_t total, int h, int w, int kernel, int stride, int pad, int ho,
                         int wo, const float *dy, const int32_t *indices, float *dx)
{
  for (size_t idx = global_thread (); idx < total; idx += grid_stride ())
    {
      const size_t t = div_index (idx, (unsigned int) w);
      const int iw = (int) (idx - t * w);
      const size_t plane = div_index (t, (unsigned int) h);
      const int ih = (int) (t - plane * h);
      const float *dys = dy + plane * (size_t) ho * wo;
      const int32_t *is = indices + plane * (size_t) ho * wo;
      const int32_t target = ih * w + iw;
      /* Windows containing ih: oh * stride - pad <= ih < oh * stride - pad + kernel. */
      const int th = ih + pad - kernel + 1, tw = iw + pad - kernel + 1;
      const int oh0 = th <= 0 ? 0 : (th + stride - 1) / stride;
      const int ow0 = tw <= 0 ? 0 : (tw + stride - 1) / stride;
      int oh1 = (ih + pad) / stride, ow1 = (iw + pad) / stride;
      float sum = 0.0f;

      oh1 = oh1 < ho - 1 ? oh1 : ho - 1;
      ow1 = ow1 < wo - 1 ? ow1 : wo - 1;
      for (int oh = oh0; oh <= oh1; oh++)
        for (int ow = ow0; ow <= ow1; ow++)
          if (is[oh * wo + ow] == target)
            sum += dys[oh * wo + ow];
      dx[idx] = sum;
    }
}

extern "C" cudaError_t
cp_cuda_launch_maxpool_backward (cudaStream_t stream, int n, int c, int h, int w, int kernel,
                                 int stride, int pad, int h_out, int w_out, const float *dy,
                                 const int32_t *indices, float *dx)
{
  const size_t total = (size_t) n * c * h * w;

  maxpool_backward_kernel<<<grid_for (total), CP_THREADS, 0, stream>>> (
      total, h, w, kernel, stride, pad, h_out, w_out, dy, indices, dx);
  return cudaGetLastError ();
}

/* One warp per plane. */
__global__ static void
avgpool_forward_kernel (size_t planes, int hw, const float *x, float *y)
{
  const size_t plane = global_thread () / 32;
  const int lane = threadIdx.x & 31;
  double sum = 0.0;

  /* The test is uniform across the warp, so the shuffles below see all
   * 32 lanes. */
  if (plane >= planes)
    return;
  for (int i = lane; i < hw; i += 32)
    sum += x[plane * (size_t) hw + i];
  for (int off = 16; off > 0; off >>= 1)
    sum += __shfl_down_sync (0xffffffffu, sum, off);
  if (lane == 0)
    y[plane] = (float) (sum / hw);
}

extern "C" cudaError_t
cp_cuda_launch_avgpool_forward (cudaStream_t stream, size_t planes, int hw, const float *x,
                                float *y)
{
  avgpool_forward_kernel<<<grid_for (planes * 32), CP_THREADS, 0, stream>>> (planes, hw, x, y);
  return cudaGetLastError ();
}

__global__ static void
avgpool_backward_kernel (size_t total, int hw, const float *dy, float *dx)
{
  const float inv = 1.0f / (float) hw;

  for (size_t i = global_thread (); i < total; i += grid_stride ())
    dx[i] = dy[div_index (i, (unsigned int) hw)] * inv;
}

extern "C" cudaError_t
cp_cuda_launch_avgpool_backward (cudaStream_t stream, size_t planes, int hw, const float *dy,
                                 float *dx)
{
  const size_t total = planes * (size_t) hw;

  avgpool_backward_kernel<<<grid_for (total), CP_THREADS, 0, stream>>> (total, hw, dy, dx);
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

/* ---- loss, optimiser, normalisation ------------------------------------- */

/* One block: batches are small, and a single block makes the mean a fixed
 * reduction tree. */
__global__ static void
softmax_xent_kernel (int n, int classes, const float *logits, const int32_t *labels,
                     float *dlogits, float *loss, int32_t *bad_labels)
{
  double total = 0.0, bad = 0.0;

  for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
      const float *z = logits + (size_t) i * classes;
      const int32_t label = labels[i];
      double zmax, sum = 0.0, lse;

      if (label < 0 || label >= classes)
        {
          bad += 1.0;
          continue;
        }
      zmax = z[0];
      for (int j = 1; j < classes; j++)
        if (z[j] > zmax)
          zmax = z[j];
      for (int j = 0; j < classes; j++)
        sum += exp ((double) z[j] - zmax);
      lse = zmax + log (sum);
      total += lse - (double) z[label];
      if (dlogits != NULL)
        {
          float *g = dlogits + (size_t) i * classes;

          for (int j = 0; j < classes; j++)
            g[j] = (float) ((exp ((double) z[j] - lse) - (j == label ? 1.0 : 0.0)) / n);
        }
    }
  block_reduce2 (&total, &bad);
  if (threadIdx.x == 0)
    {
      loss[0] = (float) (total / n);
      bad_labels[0] = (int32_t) bad;
    }
}

extern "C" cudaError_t
cp_cuda_launch_softmax_xent (cudaStream_t stream, int n, int classes, const float *logits,
                             const int32_t *labels, float *dlogits, float *loss_dev,
                             int32_t *bad_labels_dev)
{
  softmax_xent_kernel<<<1, CP_THREADS, 0, stream>>> (n, classes, logits, labels, dlogits, loss_dev,
                                                     bad_labels_dev);
  return cudaGetLastError ();
}

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
