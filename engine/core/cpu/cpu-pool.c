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
          float *yr = ys + (size_t) oh * wo;
          int32_t *ir = is + (size_t) oh * wo;

          if (h0 < 0)
            h0 = 0;
          /* Start from each window's first real element with -inf, so a
           * window of -inf values still names a real element. */
          for (int ow = 0; ow < wo; ow++)
            {
              int w0 = ow * stride - pad;

              yr[ow] = -INFINITY;
              ir[ow] = h0 * w + (w0 > 0 ? w0 : 0);
            }
          /* Visit each window's elements in row-major order, all windows
           * of the row at once: the innermost loop runs over output
           * columns, which are independent, so the compiler turns the
           * selects into vector blends instead of a serial chain of
           * mispredicted branches.  A strict '>' keeps the first maximum;
           * a NaN wins (as in PyTorch) so that it propagates. */
          for (int ih = h0; ih < h1; ih++)
            {
              const float *row = xs + (size_t) ih * w;

              for (int kj = 0; kj < kernel; kj++)
                {
                  const int shift = kj - pad;
                  int lo = shift < 0 ? (-shift + stride - 1) / stride : 0;
                  int hi = w - 1 - shift >= 0 ? (w - 1 - shift) / stride + 1 : 0;

                  if (hi > wo)
                    hi = wo;
                  for (int ow = lo; ow < hi; ow++)
                    {
                      const int iw = ow * stride + shift;
                      const float v = row[iw], cur = yr[ow];
                      const int better = (v > cur) | ((v != v) & (cur == cur));

                      yr[ow] = better ? v : cur;
                      ir[ow] = better ? ih * w + iw : ir[ow];
                    }
                }
            }
        }
    }
}

CpStatus
cp_cpu_maxpool_forward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                        int pad, const float *x, float *y, int32_t *indices)
{
  int ho, wo;

  if (!cp_op_maxpool_args_ok (n, c, h, w, kernel, stride, pad) || x == NULL || y == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  ho = cp_op_maxpool_out (h, kernel, stride, pad);
  wo = cp_op_maxpool_out (w, kernel, stride, pad);

  {
    PoolJob j = {
      .h = h, .w = w, .kernel = kernel, .stride = stride, .pad = pad, .ho = ho, .wo = wo,
      .x = x, .y = y, .indices = indices,
    };

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

  if (!cp_op_maxpool_args_ok (n, c, h, w, kernel, stride, pad) || dy == NULL || dx == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  ho = cp_op_maxpool_out (h, kernel, stride, pad);
  wo = cp_op_maxpool_out (w, kernel, stride, pad);

  {
    PoolJob j = {
      .h = h, .w = w, .kernel = kernel, .stride = stride, .pad = pad, .ho = ho, .wo = wo,
      .dy = dy, .dx = dx, .indices_in = indices,
    };

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
      j->y[plane] = (float) (cp_cpu_sum (j->x + plane * j->hw, (size_t) j->hw) / j->hw);
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
    PoolJob j = { .x = x, .y = y, .hw = hw };

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
    PoolJob j = { .dy = dy, .dx = dx, .hw = hw };

    cp_cpu_parallel_for (be, (size_t) n * c, (size_t) n * c * hw >= CP_CPU_PARALLEL_MIN,
                         avgpool_backward_planes, &j);
  }
  return CP_OK;
}
