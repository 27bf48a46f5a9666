/* cuda-pool.cu: the max-pool and average-pool kernels.
 *
 * Host side: cuda-pool.c; shared helpers: cuda-kernel-util.cuh.
 */
#include "cuda-kernel-util.cuh"

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
