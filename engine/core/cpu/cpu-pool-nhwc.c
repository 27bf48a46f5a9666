/* cpu-pool-nhwc.c: max pooling and global average pooling of channels-last
 * (n, h, w, c) tensors, for the inference path whose convolutions keep
 * that layout (cpu-dnnl.c).  Inference only: no argmax indices.
 *
 * With channels innermost every window element is a contiguous run of c
 * values, so the inner loops run over channels and vectorise without
 * gathers.  Output rows are shared among the backend's threads.
 */
#include "cpu-private.h"

#include <math.h>
#include <string.h>

typedef struct
{
  int          c, h, w, kernel, stride, pad, ho, wo, hw;
  const float *x;
  float       *y;
} NhwcJob;

/* Output rows [begin, end) of all images: row r is image r / ho, row
 * r % ho. */
static void
maxpool_rows (void *arg, size_t begin, size_t end)
{
  const NhwcJob *j = arg;
  const size_t c = (size_t) j->c;

  for (size_t r = begin; r < end; r++)
    {
      const int b = (int) (r / (size_t) j->ho), oh = (int) (r % (size_t) j->ho);
      const float *xb = j->x + (size_t) b * j->h * j->w * c;
      int h0 = oh * j->stride - j->pad, h1 = h0 + j->kernel;

      if (h0 < 0)
        h0 = 0;
      if (h1 > j->h)
        h1 = j->h;
      for (int ow = 0; ow < j->wo; ow++)
        {
          float *yo = j->y + (r * (size_t) j->wo + (size_t) ow) * c;
          int w0 = ow * j->stride - j->pad, w1 = w0 + j->kernel;

          if (w0 < 0)
            w0 = 0;
          if (w1 > j->w)
            w1 = j->w;
          for (size_t k = 0; k < c; k++)
            yo[k] = -INFINITY;
          for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
              {
                const float *xi = xb + ((size_t) ih * j->w + (size_t) iw) * c;

                /* A NaN wins, as in the NCHW op, so that it propagates. */
                for (size_t k = 0; k < c; k++)
                  yo[k] = xi[k] > yo[k] || xi[k] != xi[k] ? xi[k] : yo[k];
              }
        }
    }
}

CpStatus
cp_cpu_maxpool_forward_nhwc (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                             int pad, const float *x, float *y)
{
  NhwcJob j;

  if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || kernel <= 0 || stride <= 0 || pad < 0
      || 2 * pad > kernel || h + 2 * pad < kernel || w + 2 * pad < kernel || x == NULL
      || y == NULL)
    return CP_ERR_INVALID;
  j = (NhwcJob) { c, h, w, kernel, stride, pad, (h + 2 * pad - kernel) / stride + 1,
                  (w + 2 * pad - kernel) / stride + 1, 0, x, y };
  cp_cpu_parallel_for (be, (size_t) n * j.ho,
                       (size_t) n * j.ho * j.wo * c >= CP_CPU_PARALLEL_MIN, maxpool_rows, &j);
  return CP_OK;
}

/* Images [begin, end): y[b][k] = mean over pixels of x[b][p][k], summed
 * in double as the NCHW op does. */
static void
avgpool_images (void *arg, size_t begin, size_t end)
{
  const NhwcJob *j = arg;
  const size_t c = (size_t) j->c;

  for (size_t b = begin; b < end; b++)
    {
      const float *xb = j->x + b * (size_t) j->hw * c;
      float *yb = j->y + b * c;

      for (size_t k0 = 0; k0 < c; k0 += 64)
        {
          double acc[64];
          size_t kn = c - k0 < 64 ? c - k0 : 64;

          memset (acc, 0, sizeof acc);
          for (int p = 0; p < j->hw; p++)
            {
              const float *xp = xb + (size_t) p * c + k0;

              for (size_t k = 0; k < kn; k++)
                acc[k] += xp[k];
            }
          for (size_t k = 0; k < kn; k++)
            yb[k0 + k] = (float) (acc[k] / j->hw);
        }
    }
}

CpStatus
cp_cpu_avgpool_forward_nhwc (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  NhwcJob j = { 0 };

  if (n <= 0 || c <= 0 || hw <= 0 || x == NULL || y == NULL)
    return CP_ERR_INVALID;
  j.c = c;
  j.hw = hw;
  j.x = x;
  j.y = y;
  cp_cpu_parallel_for (be, (size_t) n, (size_t) n * c * hw >= CP_CPU_PARALLEL_MIN,
                       avgpool_images, &j);
  return CP_OK;
}
