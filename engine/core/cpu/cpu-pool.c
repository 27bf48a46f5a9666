/* cpu-pool.c: max pooling with a square kernel and global average pooling.
 *
 * Every (image, channel) plane is independent, so planes are shared among
 * the threads.
 */
#include "cpu-private.h"

#include <math.h>
#include <string.h>

static int
maxpool_out (int size, int kernel, int stride, int pad)
{
  return (size + 2 * pad - kernel) / stride + 1;
}

static int
maxpool_args_ok (int n, int c, int h, int w, int kernel, int stride, int pad)
{
  /* As PyTorch: padding at most half the kernel, so no window lies
   * entirely in the padding and every output has a real maximum. */
  return n > 0 && c > 0 && h > 0 && w > 0 && kernel > 0 && stride > 0 && pad >= 0
         && 2 * pad <= kernel && h + 2 * pad >= kernel && w + 2 * pad >= kernel;
}

CpStatus
cp_cpu_maxpool_forward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                        int pad, const float *x, float *y, int32_t *indices)
{
  int ho, wo;

  (void) be;
  if (!maxpool_args_ok (n, c, h, w, kernel, stride, pad) || x == NULL || y == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  ho = maxpool_out (h, kernel, stride, pad);
  wo = maxpool_out (w, kernel, stride, pad);

#pragma omp parallel for schedule(static) if ((size_t) n * c * h * w >= CP_CPU_PARALLEL_MIN)
  for (int plane = 0; plane < n * c; plane++)
    {
      const float *xs = x + (size_t) plane * h * w;
      float *ys = y + (size_t) plane * ho * wo;
      int32_t *is = indices + (size_t) plane * ho * wo;

      for (int oh = 0; oh < ho; oh++)
        {
          int h0 = oh * stride - pad;
          int h1 = h0 + kernel < h ? h0 + kernel : h;

          if (h0 < 0)
            h0 = 0;
          for (int ow = 0; ow < wo; ow++)
            {
              int w0 = ow * stride - pad;
              int w1 = w0 + kernel < w ? w0 + kernel : w;
              float best = -INFINITY;
              int32_t best_i = -1;

              if (w0 < 0)
                w0 = 0;
              /* Row-major scan with a strict '>' keeps the first maximum;
               * a NaN wins (as in PyTorch) so that it propagates. */
              for (int ih = h0; ih < h1; ih++)
                for (int iw = w0; iw < w1; iw++)
                  {
                    float v = xs[ih * w + iw];

                    if (best_i < 0 || v > best || (isnan (v) && !isnan (best)))
                      {
                        best = v;
                        best_i = ih * w + iw;
                      }
                  }
              ys[oh * wo + ow] = best;
              is[oh * wo + ow] = best_i;
            }
        }
    }
  return CP_OK;
}

CpStatus
cp_cpu_maxpool_backward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                         int pad, const float *dy, const int32_t *indices, float *dx)
{
  int ho, wo;

  (void) be;
  if (!maxpool_args_ok (n, c, h, w, kernel, stride, pad) || dy == NULL || dx == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  ho = maxpool_out (h, kernel, stride, pad);
  wo = maxpool_out (w, kernel, stride, pad);

#pragma omp parallel for schedule(static) if ((size_t) n * c * h * w >= CP_CPU_PARALLEL_MIN)
  for (int plane = 0; plane < n * c; plane++)
    {
      float *dxs = dx + (size_t) plane * h * w;
      const float *dys = dy + (size_t) plane * ho * wo;
      const int32_t *is = indices + (size_t) plane * ho * wo;

      memset (dxs, 0, (size_t) h * w * sizeof (float));
      /* Overlapping windows (kernel > stride) may pick the same input, so
       * the gradients add up. */
      for (int o = 0; o < ho * wo; o++)
        {
          int32_t i = is[o];

          if (i >= 0 && i < h * w)
            dxs[i] += dys[o];
        }
    }
  return CP_OK;
}

CpStatus
cp_cpu_avgpool_forward (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  (void) be;
  if (n <= 0 || c <= 0 || hw <= 0 || x == NULL || y == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for schedule(static) if ((size_t) n * c * hw >= CP_CPU_PARALLEL_MIN)
  for (int plane = 0; plane < n * c; plane++)
    {
      const float *xs = x + (size_t) plane * hw;
      double sum = 0.0;

      for (int i = 0; i < hw; i++)
        sum += xs[i];
      y[plane] = (float) (sum / hw);
    }
  return CP_OK;
}

CpStatus
cp_cpu_avgpool_backward (CpBackend *be, int n, int c, int hw, const float *dy, float *dx)
{
  const float inv = 1.0f / (float) hw;

  (void) be;
  if (n <= 0 || c <= 0 || hw <= 0 || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for schedule(static) if ((size_t) n * c * hw >= CP_CPU_PARALLEL_MIN)
  for (int plane = 0; plane < n * c; plane++)
    {
      float g = dy[plane] * inv;
      float *dxs = dx + (size_t) plane * hw;

      for (int i = 0; i < hw; i++)
        dxs[i] = g;
    }
  return CP_OK;
}
