/* upsample.c: from a grid of patch scores to a pixel map (SPEC 7). */
#include "localize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int
cp_localize_grid_side (int size, int patch, int stride)
{
  if (patch < 1 || stride < 1 || size < patch)
    return 0;
  return (size - patch) / stride + 1;
}

void
cp_localize_gaussian_kernel (int k, double sigma, float *kernel)
{
  double c = (k - 1) / 2.0, sum = 0;
  double *tmp = malloc ((size_t) k * sizeof *tmp);

  /* Separable: the 2-D kernel is the outer product of the 1-D one, so
   * normalising the 1-D profile normalises the square. */
  for (int i = 0; i < k; i++)
    {
      tmp[i] = exp (-(i - c) * (i - c) / (2 * sigma * sigma));
      sum += tmp[i];
    }
  for (int y = 0; y < k; y++)
    for (int x = 0; x < k; x++)
      kernel[y * k + x] = (float) (tmp[y] / sum * tmp[x] / sum);
  free (tmp);
}

CpStatus
cp_localize_upsample (const float *scores, int gh, int gw, int stride, const float *kernel, int k,
                      int normalize, float *map, CpError *error)
{
  int mh, mw;
  double *acc, *mass = NULL;

  if (gh < 1 || gw < 1 || stride < 1 || k < 1)
    return cp_error_set (error, CP_ERR_INVALID,
                         "upsample: bad grid %d x %d, stride %d or kernel %d", gh, gw, stride, k);
  mh = (gh - 1) * stride + k;
  mw = (gw - 1) * stride + k;
  /* Sums in double: up to (k / stride)^2 terms per pixel. */
  acc = calloc ((size_t) mh * mw, sizeof *acc);
  if (normalize)
    mass = calloc ((size_t) mh * mw, sizeof *mass);
  if (acc == NULL || (normalize && mass == NULL))
    {
      free (acc);
      free (mass);
      return cp_error_set (error, CP_ERR_NOMEM, "upsample: no memory for a %d x %d map", mw, mh);
    }
  for (int i = 0; i < gh; i++)
    for (int j = 0; j < gw; j++)
      {
        double s = scores[(size_t) i * gw + j];
        for (int ky = 0; ky < k; ky++)
          {
            double *row = acc + (size_t) (i * stride + ky) * mw + (size_t) j * stride;
            const float *krow = kernel + (size_t) ky * k;
            for (int kx = 0; kx < k; kx++)
              row[kx] += s * krow[kx];
            if (normalize)
              {
                double *mrow = mass + (size_t) (i * stride + ky) * mw + (size_t) j * stride;
                for (int kx = 0; kx < k; kx++)
                  mrow[kx] += krow[kx];
              }
          }
      }
  if (normalize == CP_UPSAMPLE_INTERIOR_GAIN)

    {
      /* One constant: the largest mass, reached inside the image. */
      double most = 0;
      for (size_t p = 0; p < (size_t) mh * mw; p++)
        most = mass[p] > most ? mass[p] : most;
      for (size_t p = 0; p < (size_t) mh * mw; p++)
        map[p] = (float) (acc[p] / most);
    }
  else
    for (size_t p = 0; p < (size_t) mh * mw; p++)
      {
        double v = acc[p];
        if (normalize == CP_UPSAMPLE_AVERAGE)
          v = mass[p] > 0 ? v / mass[p] : 0;
        map[p] = (float) v;
      }
  free (acc);
  free (mass);
  return CP_OK;
}

void
cp_localize_resize_bilinear (const float *src, int src_w, int src_h, float *dst, int dst_w,
                             int dst_h)
{
  int *x0 = malloc ((size_t) dst_w * sizeof *x0), *x1 = malloc ((size_t) dst_w * sizeof *x1);
  float *fx = malloc ((size_t) dst_w * sizeof *fx);

  if (src_w == dst_w && src_h == dst_h)
    {
      memcpy (dst, src, (size_t) src_w * src_h * sizeof *dst);
      free (x0);
      free (x1);
      free (fx);
      return;
    }
  for (int x = 0; x < dst_w; x++)
    {
      double sx = (x + 0.5) * src_w / dst_w - 0.5;
      if (sx < 0)
        sx = 0;
      x0[x] = (int) sx;
      if (x0[x] > src_w - 1)
        x0[x] = src_w - 1;
      x1[x] = x0[x] + 1 < src_w ? x0[x] + 1 : src_w - 1;
      fx[x] = (float) (sx - x0[x]);
      if (fx[x] > 1)
        fx[x] = 1;
    }
  for (int y = 0; y < dst_h; y++)
    {
      double sy = (y + 0.5) * src_h / dst_h - 0.5;
      int y0, y1;
      float fy;

      if (sy < 0)
        sy = 0;
      y0 = (int) sy;
      if (y0 > src_h - 1)
        y0 = src_h - 1;
      y1 = y0 + 1 < src_h ? y0 + 1 : src_h - 1;
      fy = (float) (sy - y0);
      if (fy > 1)
        fy = 1;
      for (int x = 0; x < dst_w; x++)
        {
          const float *r0 = src + (size_t) y0 * src_w, *r1 = src + (size_t) y1 * src_w;
          float top = r0[x0[x]] + (r0[x1[x]] - r0[x0[x]]) * fx[x];
          float bottom = r1[x0[x]] + (r1[x1[x]] - r1[x0[x]]) * fx[x];
          dst[(size_t) y * dst_w + x] = top + (bottom - top) * fy;
        }
    }
  free (x0);
  free (x1);
  free (fx);
}
