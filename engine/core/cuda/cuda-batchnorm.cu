/* cuda-batchnorm.cu: the batch-norm kernels.
 *
 * Host side: cuda-batchnorm.c; shared helpers: cuda-kernel-util.cuh.
 */
#include "cuda-kernel-util.cuh"

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

/* Moves the (plane @b, offset @i) pair of a value on by (@step_b planes,
 * @step_i values), planes being @plane values long. */
__device__ static void
plane_step (long long *b, long long *i, long long step_b, long long step_i, long long plane)
{
  *b += step_b;
  *i += step_i;
  if (*i >= plane)
    {
      *i -= plane;
      (*b)++;
    }
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
          plane_step (&b, &i, step_b, step_i, hw4);
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
          plane_step (&b, &i, step_b, step_i, hw);
        }
    }
  block_reduce2 (&a1, &a2);
  if (threadIdx.x == 0)
    {
      partial[((size_t) ch * splits + s) * 2] = a1;
      partial[((size_t) ch * splits + s) * 2 + 1] = a2;
    }
}

/* Channel @ch's two sums: its slices' partial sums added in slice order,
 * so that every run gives the same bits. */
__device__ static void
bn_channel_sums (const double *partial, int splits, int ch, double *s1, double *s2)
{
  double a1 = 0.0, a2 = 0.0;

  for (int s = 0; s < splits; s++)
    {
      a1 += partial[((size_t) ch * splits + s) * 2];
      a2 += partial[((size_t) ch * splits + s) * 2 + 1];
    }
  *s1 = a1;
  *s2 = a2;
}

/* coef: scale (c), shift (c) for the apply kernel. */
__global__ static void
bn_finalize_train_kernel (const double *partial, int splits, int c, int hw, double m,
                          const float *x, const float *gamma, const float *beta,
                          float *running_mean, float *running_var, float momentum, float eps,
                          float *save_mean, float *save_invstd, float *coef)
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  double s1, s2, dm, var;
  float fmean, invstd, scale;

  if (ch >= c)
    return;
  bn_channel_sums (partial, splits, ch, &s1, &s2);
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
  double sum_dy, sum_dy_xc;
  float invstd;

  if (ch >= c)
    return;
  bn_channel_sums (partial, splits, ch, &sum_dy, &sum_dy_xc);
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

/* Stage 1 on @scratch: the per-slice partial sums (see bn_partial_kernel)
 * of each channel; *splits and *coef say how many slices there are and
 * where the per-channel coefficients go after them. */
static cudaError_t
bn_launch_partial (cudaStream_t stream, int sm_count, int n, int c, int hw, const float *x,
                   const float *dy, const float *center, int vec, void *scratch, int *splits,
                   float **coef)
{
  const int s = bn_splits (n, c, hw, sm_count);
  const long long units = (long long) n * (vec ? hw / 4 : hw);
  const long long per_split = (units + s - 1) / s;
  double *partial = (double *) scratch;

  *splits = s;
  *coef = (float *) (partial + (size_t) 2 * c * s);
  bn_partial_kernel<<<dim3 (c, s), CP_THREADS, 0, stream>>> (x, dy, center, c, hw, vec, units,
                                                             per_split, s, partial);
  return cudaGetLastError ();
}

extern "C" cudaError_t
cp_cuda_launch_bn_forward_train (cudaStream_t stream, int sm_count, int n, int c, int hw,
                                 const float *x, const float *gamma, const float *beta,
                                 float *running_mean, float *running_var, float momentum,
                                 float eps, float *y, float *save_mean, float *save_invstd,
                                 void *scratch)
{
  const size_t count = (size_t) n * c * hw;
  const int vec = hw % 4 == 0 && aligned16 (x) && aligned16 (y);
  int splits;
  float *coef;
  cudaError_t err;

  if ((err = bn_launch_partial (stream, sm_count, n, c, hw, x, NULL, NULL, vec, scratch, &splits,
                                &coef))
      != cudaSuccess)
    return err;
  bn_finalize_train_kernel<<<channel_blocks (c), CP_THREADS, 0, stream>>> (
      (const double *) scratch, splits, c, hw, (double) n * hw, x, gamma, beta, running_mean,
      running_var, momentum, eps, save_mean, save_invstd, coef);
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
  const size_t count = (size_t) n * c * hw;
  const int vec = hw % 4 == 0 && aligned16 (x) && aligned16 (dy) && aligned16 (dx);
  int splits;
  float *coef;
  cudaError_t err;

  if ((err = bn_launch_partial (stream, sm_count, n, c, hw, x, dy, save_mean, vec, scratch,
                                &splits, &coef))
      != cudaSuccess)
    return err;
  bn_finalize_backward_kernel<<<channel_blocks (c), CP_THREADS, 0, stream>>> (
      (const double *) scratch, splits, c, (double) n * hw, gamma, save_invstd, dgamma, dbeta,
      coef);
  if ((err = cudaGetLastError ()) != cudaSuccess)
    return err;
  bn_dx_kernel<<<grid_for (vec ? count / 4 : count), CP_THREADS, 0, stream>>> (
      x, dy, dx, save_mean, coef, c, hw, count, vec);
  return cudaGetLastError ();
}
