/* cpu-pool.c: max pooling with a square kernel and global average pooling.
 *
 * Every (image, channel) plane is independent, so planes are shared among
 * the backend's threads.
 */
#include "cpu-private.h"

#include <math.h>
#include <string.h>

/* Arguments of one pooling call, shared with the worker threads. */
typedef struct
{
  int            h, w, kernel, stride, pad, ho, wo;
  const float   *x, *dy;
  float         *y, *dx;
  int32_t       *indices;
  const int32_t *indices_in;
  int            hw;
} PoolJob;

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

static void
maxpool_forward_planes (void *arg, size_t begin, size_t end)
{
  const PoolJob *j = arg;
  const int h = j->h, w = j->w, kernel = j->kernel, stride = j->stride, pad = j->pad;
  const int ho = j->ho, wo = j->wo;

  for (size_t plane = begin; plane < end; plane++)
    {
      const float *xs = j->x + (size_t) plane * h * w;
      float *ys = j->y + (size_t) plane * ho * wo;
      int32_t *is = j->indices + (size_t) plane * ho * wo;

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
}

CpStatus
cp_cpu_maxpool_forward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                        int pad, const float *x, float *y, int32_t *indices)
{
  int ho, wo;

  if (!maxpool_args_ok (n, c, h, w, kernel, stride, pad) || x == NULL || y == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  ho = maxpool_out (h, kernel, stride, pad);
  wo = maxpool_out (w, kernel, stride, pad);

  {
    PoolJob j = { h, w, kernel, stride, pad, ho, wo, x, NULL, y, NULL, indices, NULL, 0 };

    cp_cpu_parallel_for (be, (size_t) n * c, (size_t) n * c * h * w >= CP_CPU_PARALLEL_MIN,
                         maxpool_forward_planes, &j);
  }
  return CP_OK;
}

static void
maxpool_backward_planes (void *arg, size_t begin, size_t end)
{
  const PoolJob *j = arg;
  const int h = j->h, w = j->w, ho = j->ho, wo = j->wo;

  for (size_t plane = begin; plane < end; plane++)
    {
      float *dxs = j->dx + (size_t) plane * h * w;
      const float *dys = j->dy + (size_t) plane * ho * wo;
      const int32_t *is = j->indices_in + (size_t) plane * ho * wo;

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
}

CpStatus
cp_cpu_maxpool_backward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                         int pad, const float *dy, const int32_t *indices, float *dx)
{
  int ho, wo;

  if (!maxpool_args_ok (n, c, h, w, kernel, stride, pad) || dy == NULL || dx == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  ho = maxpool_out (h, kernel, stride, pad);
  wo = maxpool_out (w, kernel, stride, pad);

  {
    PoolJob j = { h, w, kernel, stride, pad, ho, wo, NULL, dy, NULL, dx, NULL, indices, 0 };

    cp_cpu_parallel_for (be, (size_t) n * c, (size_t) n * c * h * w >= CP_CPU_PARALLEL_MIN,
                         maxpool_backward_planes, &j);
  }
  return CP_OK;
}

static void
avgpool_forward_planes (void *arg, size_t begin, size_t end)
{
  const PoolJob *j = arg;

  for (size_t plane = begin; plane < end; plane++)
    {
      const float *xs = j->x + plane * j->hw;
      double sum = 0.0;

      for (int i = 0; i < j->hw; i++)
        sum += xs[i];
      j->y[plane] = (float) (sum / j->hw);
    }
}

static void
avgpool_backward_planes (void *arg, size_t begin, size_t end)
{
  const PoolJob *j = arg;
  const float inv = 1.0f / (float) j->hw;

  for (size_t plane = begin; plane < end; plane++)
    {
      float g = j->dy[plane] * inv;
      float *dxs = j->dx + plane * j->hw;

      for (int i = 0; i < j->hw; i++)
        dxs[i] = g;
    }
}

CpStatus
cp_cpu_avgpool_forward (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  if (n <= 0 || c <= 0 || hw <= 0 || x == NULL || y == NULL)
    return CP_ERR_INVALID;

  {
    PoolJob j = { 0, 0, 0, 0, 0, 0, 0, x, NULL, y, NULL, NULL, NULL, hw };

    cp_cpu_parallel_for (be, (size_t) n * c, (size_t) n * c * hw >= CP_CPU_PARALLEL_MIN,
                         avgpool_forward_planes, &j);
  }
  return CP_OK;
}

CpStatus
cp_cpu_avgpool_backward (CpBackend *be, int n, int c, int hw, const float *dy, float *dx)
{

  if (n <= 0 || c <= 0 || hw <= 0 || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;

  {
    PoolJob j = { 0, 0, 0, 0, 0, 0, 0, NULL, dy, NULL, dx, NULL, NULL, hw };

    cp_cpu_parallel_for (be, (size_t) n * c, (size_t) n * c * hw >= CP_CPU_PARALLEL_MIN,
                         avgpool_backward_planes, &j);
  }
  return CP_OK;
}
