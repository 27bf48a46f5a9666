/* cpu-conv.c: convolution as im2col / col2im over column tiles + sgemm.
 *
 * The output pixels of the whole batch form n * h_out * w_out columns.  They
 * are processed a tile at a time: the tile's patches are unfolded into a
 * (K = c_in*kh*kw, T) matrix that stays small (CP_CPU_CONV_TILE_FLOATS), and
 * one sgemm per tile does the arithmetic.  A large image is cut into several
 * tiles; small images (the deep layers, 8x8 or 16x16) are grouped several to
 * a tile so that the GEMM still has a useful width.  The workspace therefore
 * depends on the layer shape only, never on the batch.
 *
 * The unfolding loops run under OpenMP; sgemm (OpenBLAS, with its own
 * threads) is always called from outside a parallel region so the two
 * thread pools never run at the same time.
 */
#include "cpu-private.h"

#include <cblas.h>
#include <string.h>

/* Floats of unfolded patches per tile: 2M floats = 8 MiB, about what the
 * last-level cache of a small CPU holds, wide enough for efficient GEMMs at
 * every ResNet-18 shape. */
#define CP_CPU_CONV_TILE_FLOATS ((size_t) 2 * 1024 * 1024)

/* The tiling of one layer. */
typedef struct
{
  size_t k;          /* rows of the unfolded matrix: c_in * kh * kw */
  size_t hw;         /* output pixels per image */
  size_t hw_in;      /* input pixels per image */
  int    grouped;    /* 1: a tile holds `group` whole images */
  int    group;      /* images per tile when grouped */
  size_t tile;       /* columns per tile (the largest tile) */
  size_t tiles_per_image; /* when not grouped */
  int    pointwise;  /* 1x1, stride 1, no padding: x is its own im2col */
} CpConvPlan;

CpStatus
cp_cpu_conv_desc_check (const CpConvDesc *d)
{
  if (d == NULL || d->n <= 0 || d->c_in <= 0 || d->h_in <= 0 || d->w_in <= 0 || d->c_out <= 0
      || d->kh <= 0 || d->kw <= 0 || d->stride <= 0 || d->pad < 0)
    return CP_ERR_INVALID;
  if (d->h_in + 2 * d->pad < d->kh || d->w_in + 2 * d->pad < d->kw)
    return CP_ERR_INVALID;
  if (d->h_out != (d->h_in + 2 * d->pad - d->kh) / d->stride + 1
      || d->w_out != (d->w_in + 2 * d->pad - d->kw) / d->stride + 1)
    return CP_ERR_INVALID;
  return CP_OK;
}

static void
conv_plan (const CpConvDesc *d, CpConvPlan *p)
{
  size_t target;

  p->k = (size_t) d->c_in * d->kh * d->kw;
  p->hw = (size_t) d->h_out * d->w_out;
  p->hw_in = (size_t) d->h_in * d->w_in;
  p->pointwise = d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;

  target = CP_CPU_CONV_TILE_FLOATS / p->k;
  /* Even for huge K keep enough columns for the GEMM to be worth it. */
  if (target < 128)
    target = 128;
  if (p->hw >= target)
    {
      p->grouped = 0;
      p->group = 1;
      p->tiles_per_image = (p->hw + target - 1) / target;
      /* Equal tiles, rounded up to a multiple of 16 columns for alignment. */
      p->tile = (p->hw + p->tiles_per_image - 1) / p->tiles_per_image;
      p->tile = (p->tile + 15) / 16 * 16;
      if (p->tile > p->hw)
        p->tile = p->hw;
      p->tiles_per_image = (p->hw + p->tile - 1) / p->tile;
    }
  else
    {
      p->grouped = 1;
      p->group = (int) (target / p->hw);
      if (p->group > d->n)
        p->group = d->n;
      p->tiles_per_image = 1;
      p->tile = (size_t) p->group * p->hw;
    }
}

/* Unfolds the patches of output pixels [p0, p1) of image @img into columns
 * [col_off, col_off + p1 - p0) of @col (leading dimension @ldcol).  Rows are
 * independent, so they are shared among the threads. */
static void
im2col_range (const CpConvDesc *d, const float *img, size_t p0, size_t p1, float *col,
              size_t ldcol, size_t col_off)
{
  const int kk = d->kh * d->kw;
  const int rows = d->c_in * kk;

#pragma omp parallel for schedule(static) if (rows * (p1 - p0) >= 16384)
  for (int r = 0; r < rows; r++)
    {
      int ci = r / kk;
      int ki = (r % kk) / d->kw;
      int kj = r % d->kw;
      const float *plane = img + (size_t) ci * d->h_in * d->w_in;
      float *out = col + (size_t) r * ldcol + col_off;
      /* Output columns whose input column iw = ow*s - pad + kj is inside
       * the image: [ow_lo, ow_hi). */
      int ow_lo = d->pad - kj > 0 ? (d->pad - kj + d->stride - 1) / d->stride : 0;
      int ow_hi = d->w_in - 1 + d->pad - kj >= 0
                  ? (d->w_in - 1 + d->pad - kj) / d->stride + 1 : 0;
      size_t p = p0;

      if (ow_hi > d->w_out)
        ow_hi = d->w_out;
      if (ow_lo > ow_hi)
        ow_lo = ow_hi;

      while (p < p1)
        {
          int oh = (int) (p / d->w_out);
          int ow_a = (int) (p % d->w_out);
          int ow_b = (size_t) (d->w_out - ow_a) < p1 - p ? d->w_out : ow_a + (int) (p1 - p);
          int ih = oh * d->stride - d->pad + ki;
          float *o = out + (p - p0);   /* o[ow - ow_a] is this row's column */

          if (ih < 0 || ih >= d->h_in)
            {
              memset (o, 0, (size_t) (ow_b - ow_a) * sizeof (float));
            }
          else
            {
              /* Input column of output column ow: ow*s + shift, >= 0 for
               * ow >= lo. */
              const float *src = plane + (size_t) ih * d->w_in;
              const int shift = kj - d->pad;
              int lo = ow_lo > ow_a ? ow_lo : ow_a;
              int hi = ow_hi < ow_b ? ow_hi : ow_b;

              if (lo > hi)
                lo = hi;
              for (int ow = ow_a; ow < lo; ow++)
                o[ow - ow_a] = 0.0f;
              if (d->stride == 1)
                memcpy (o + (lo - ow_a), src + (lo + shift), (size_t) (hi - lo) * sizeof (float));
              else
                for (int ow = lo; ow < hi; ow++)
                  o[ow - ow_a] = src[ow * d->stride + shift];
              for (int ow = hi > ow_a ? hi : ow_a; ow < ow_b; ow++)
                o[ow - ow_a] = 0.0f;
            }
          p += (size_t) (ow_b - ow_a);
        }
    }
}

/* Adds columns [col_off, col_off + p1 - p0) of @col back into output pixels
 * [p0, p1) of image gradient @img (the transpose of im2col_range).  Threads
 * own whole input channels, so no two write the same element. */
static void
col2im_range (const CpConvDesc *d, const float *col, size_t ldcol, size_t col_off, size_t p0,
              size_t p1, float *img)
{
  const int kk = d->kh * d->kw;

#pragma omp parallel for schedule(static) if ((size_t) d->c_in * kk * (p1 - p0) >= 16384)
  for (int ci = 0; ci < d->c_in; ci++)
    {
      float *plane = img + (size_t) ci * d->h_in * d->w_in;

      for (int ki = 0; ki < d->kh; ki++)
        for (int kj = 0; kj < d->kw; kj++)
          {
            int r = (ci * d->kh + ki) * d->kw + kj;
            const float *in = col + (size_t) r * ldcol + col_off;
            int ow_lo = d->pad - kj > 0 ? (d->pad - kj + d->stride - 1) / d->stride : 0;
            int ow_hi = d->w_in - 1 + d->pad - kj >= 0
                        ? (d->w_in - 1 + d->pad - kj) / d->stride + 1 : 0;
            size_t p = p0;

            if (ow_hi > d->w_out)
              ow_hi = d->w_out;
            if (ow_lo > ow_hi)
              ow_lo = ow_hi;

            while (p < p1)
              {
                int oh = (int) (p / d->w_out);
                int ow_a = (int) (p % d->w_out);
                int ow_b = (size_t) (d->w_out - ow_a) < p1 - p ? d->w_out : ow_a + (int) (p1 - p);
                int ih = oh * d->stride - d->pad + ki;
                const float *c = in + (p - p0);   /* c[ow - ow_a] */

                if (ih >= 0 && ih < d->h_in)
                  {
                    float *dst = plane + (size_t) ih * d->w_in;
                    const int shift = kj - d->pad;
                    int lo = ow_lo > ow_a ? ow_lo : ow_a;
                    int hi = ow_hi < ow_b ? ow_hi : ow_b;

                    if (d->stride == 1)
                      {
                        float *dd = dst + (lo + shift);
                        const float *cc = c + (lo - ow_a);

                        for (int i = 0; i < hi - lo; i++)
                          dd[i] += cc[i];
                      }
                    else
                      for (int ow = lo; ow < hi; ow++)
                        dst[ow * d->stride + shift] += c[ow - ow_a];
                  }
                p += (size_t) (ow_b - ow_a);
              }
          }
    }
}

/* Unfolds tile @t into @col (K, width), returning the width. */
static size_t
unfold_tile (const CpConvDesc *d, const CpConvPlan *p, const float *x, size_t t, float *col)
{
  if (p->grouped)
    {
      int b0 = (int) t * p->group;
      int g_count = d->n - b0 < p->group ? d->n - b0 : p->group;
      size_t width = (size_t) g_count * p->hw;

      for (int g = 0; g < g_count; g++)
        im2col_range (d, x + (size_t) (b0 + g) * d->c_in * p->hw_in, 0, p->hw, col, width,
                      (size_t) g * p->hw);
      return width;
    }
  else
    {
      size_t b = t / p->tiles_per_image;
      size_t p0 = (t % p->tiles_per_image) * p->tile;
      size_t p1 = p0 + p->tile < p->hw ? p0 + p->tile : p->hw;

      im2col_range (d, x + b * d->c_in * p->hw_in, p0, p1, col, p1 - p0, 0);
      return p1 - p0;
    }
}

static size_t
tile_count (const CpConvDesc *d, const CpConvPlan *p)
{
  if (p->grouped)
    return ((size_t) d->n + p->group - 1) / p->group;
  return (size_t) d->n * p->tiles_per_image;
}

/* Copies the (c, hw) planes of @g_count consecutive images into one
 * (c, g_count*hw) matrix, or back when @to_images. */
static void
regroup (int g_count, int c, size_t hw, float *images, float *matrix, int to_images)
{
#pragma omp parallel for schedule(static) if ((size_t) g_count * c * hw >= 65536)
  for (int ch = 0; ch < c; ch++)
    for (int g = 0; g < g_count; g++)
      {
        float *img = images + ((size_t) g * c + ch) * hw;
        float *mat = matrix + (size_t) ch * g_count * hw + (size_t) g * hw;

        if (to_images)
          memcpy (img, mat, hw * sizeof (float));
        else
          memcpy (mat, img, hw * sizeof (float));
      }
}

CpStatus
cp_cpu_conv2d_forward (CpBackend *be, const CpConvDesc *d, const float *x, const float *w,
                       float *y)
{
  CpConvPlan p;
  float *col, *tmp;
  size_t tiles;

  if (cp_cpu_conv_desc_check (d) != CP_OK || x == NULL || w == NULL || y == NULL)
    return CP_ERR_INVALID;
  conv_plan (d, &p);
  col = cp_cpu_workspace (be, p.k * p.tile + (size_t) d->c_out * p.tile);
  if (col == NULL)
    return CP_ERR_NOMEM;
  tmp = col + p.k * p.tile;
  tiles = tile_count (d, &p);

  for (size_t t = 0; t < tiles; t++)
    {
      if (p.grouped)
        {
          size_t width = unfold_tile (d, &p, x, t, col);
          int b0 = (int) t * p.group;

          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) width,
                       (int) p.k, 1.0f, w, (int) p.k, col, (int) width, 0.0f, tmp, (int) width);
          regroup ((int) (width / p.hw), d->c_out, p.hw,
                   y + (size_t) b0 * d->c_out * p.hw, tmp, 1);
        }
      else
        {
          size_t b = t / p.tiles_per_image;
          size_t p0 = (t % p.tiles_per_image) * p.tile;
          size_t p1 = p0 + p.tile < p.hw ? p0 + p.tile : p.hw;
          const float *src;
          size_t ld;

          if (p.pointwise)
            {
              src = x + b * d->c_in * p.hw_in + p0;
              ld = p.hw;
            }
          else
            {
              unfold_tile (d, &p, x, t, col);
              src = col;
              ld = p1 - p0;
            }
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) (p1 - p0),
                       (int) p.k, 1.0f, w, (int) p.k, src, (int) ld, 0.0f,
                       y + b * d->c_out * p.hw + p0, (int) p.hw);
        }
    }
  return CP_OK;
}

CpStatus
cp_cpu_conv2d_backward_data (CpBackend *be, const CpConvDesc *d, const float *dy, const float *w,
                             float *dx)
{
  CpConvPlan p;
  float *col, *tmp;
  size_t tiles;

  if (cp_cpu_conv_desc_check (d) != CP_OK || dy == NULL || w == NULL || dx == NULL)
    return CP_ERR_INVALID;
  conv_plan (d, &p);
  col = cp_cpu_workspace (be, p.k * p.tile + (size_t) d->c_out * p.tile);
  if (col == NULL)
    return CP_ERR_NOMEM;
  tmp = col + p.k * p.tile;
  tiles = tile_count (d, &p);

  /* col2im adds; input pixels no window touches (stride > kernel) must end
   * up zero too. */
  if (!p.pointwise)
    memset (dx, 0, (size_t) d->n * d->c_in * p.hw_in * sizeof (float));

  for (size_t t = 0; t < tiles; t++)
    {
      if (p.grouped)
        {
          int b0 = (int) t * p.group;
          int g_count = d->n - b0 < p.group ? d->n - b0 : p.group;
          size_t width = (size_t) g_count * p.hw;

          regroup (g_count, d->c_out, p.hw, (float *) (dy + (size_t) b0 * d->c_out * p.hw), tmp, 0);
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p.k, (int) width, d->c_out,
                       1.0f, w, (int) p.k, tmp, (int) width, 0.0f, col, (int) width);
          if (p.pointwise)
            regroup (g_count, d->c_in, p.hw, dx + (size_t) b0 * d->c_in * p.hw_in, col, 1);
          else
            for (int g = 0; g < g_count; g++)
              col2im_range (d, col, width, (size_t) g * p.hw, 0, p.hw,
                            dx + (size_t) (b0 + g) * d->c_in * p.hw_in);
        }
      else
        {
          size_t b = t / p.tiles_per_image;
          size_t p0 = (t % p.tiles_per_image) * p.tile;
          size_t p1 = p0 + p.tile < p.hw ? p0 + p.tile : p.hw;
          const float *dyb = dy + b * d->c_out * p.hw + p0;

          if (p.pointwise)
            {
              cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p.k, (int) (p1 - p0),
                           d->c_out, 1.0f, w, (int) p.k, dyb, (int) p.hw, 0.0f,
                           dx + b * d->c_in * p.hw_in + p0, (int) p.hw_in);
            }
          else
            {
              cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p.k, (int) (p1 - p0),
                           d->c_out, 1.0f, w, (int) p.k, dyb, (int) p.hw, 0.0f, col,
                           (int) (p1 - p0));
              col2im_range (d, col, p1 - p0, 0, p0, p1, dx + b * d->c_in * p.hw_in);
            }
        }
    }
  return CP_OK;
}

CpStatus
cp_cpu_conv2d_backward_filter (CpBackend *be, const CpConvDesc *d, const float *x,
                               const float *dy, float *dw)
{
  CpConvPlan p;
  float *col, *tmp;
  size_t tiles;

  if (cp_cpu_conv_desc_check (d) != CP_OK || x == NULL || dy == NULL || dw == NULL)
    return CP_ERR_INVALID;
  conv_plan (d, &p);
  col = cp_cpu_workspace (be, p.k * p.tile + (size_t) d->c_out * p.tile);
  if (col == NULL)
    return CP_ERR_NOMEM;
  tmp = col + p.k * p.tile;
  tiles = tile_count (d, &p);

  for (size_t t = 0; t < tiles; t++)
    {
      /* The first tile overwrites dw, the others accumulate into it. */
      float beta = t == 0 ? 0.0f : 1.0f;

      if (p.grouped)
        {
          int b0 = (int) t * p.group;
          size_t width = unfold_tile (d, &p, x, t, col);

          regroup ((int) (width / p.hw), d->c_out, p.hw,
                   (float *) (dy + (size_t) b0 * d->c_out * p.hw), tmp, 0);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, d->c_out, (int) p.k, (int) width,
                       1.0f, tmp, (int) width, col, (int) width, beta, dw, (int) p.k);
        }
      else
        {
          size_t b = t / p.tiles_per_image;
          size_t p0 = (t % p.tiles_per_image) * p.tile;
          size_t p1 = p0 + p.tile < p.hw ? p0 + p.tile : p.hw;
          const float *src;
          size_t ld;

          if (p.pointwise)
            {
              src = x + b * d->c_in * p.hw_in + p0;
              ld = p.hw;
            }
          else
            {
              unfold_tile (d, &p, x, t, col);
              src = col;
              ld = p1 - p0;
            }
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, d->c_out, (int) p.k,
                       (int) (p1 - p0), 1.0f, dy + b * d->c_out * p.hw + p0, (int) p.hw, src,
                       (int) ld, beta, dw, (int) p.k);
        }
    }
  return CP_OK;
}
