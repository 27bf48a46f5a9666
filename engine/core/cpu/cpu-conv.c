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
 * The unfolding loops run on the backend's thread pool (cpu-threads.c);
 * sgemm (OpenBLAS, with its own threads) is called between them, never from
 * a worker, so the two pools never compete for the cores.
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

/* Unfolds row @r = (ci, ki, kj) of the patches of output pixels [p0, p1)
 * of image @img into out[0, p1 - p0). */
static void
im2col_row (const CpConvDesc *d, const float *img, int r, size_t p0, size_t p1, float *out)
{
  const int kk = d->kh * d->kw;
  const int ci = r / kk, ki = (r % kk) / d->kw, kj = r % d->kw;
  const float *plane = img + (size_t) ci * d->h_in * d->w_in;
  const int shift = kj - d->pad;
  /* Output columns whose input column iw = ow*s + shift is inside the
   * image: [ow_lo, ow_hi). */
  int ow_lo = shift < 0 ? (-shift + d->stride - 1) / d->stride : 0;
  int ow_hi = d->w_in - 1 - shift >= 0 ? (d->w_in - 1 - shift) / d->stride + 1 : 0;
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
      float *o = out + (p - p0);   /* o[ow - ow_a] is output column ow */

      if (ih < 0 || ih >= d->h_in)
        {
          memset (o, 0, (size_t) (ow_b - ow_a) * sizeof (float));
        }
      else
        {
          const float *src = plane + (size_t) ih * d->w_in;
          int lo = ow_lo > ow_a ? ow_lo : ow_a;
          int hi = ow_hi < ow_b ? ow_hi : ow_b;

          if (lo > hi)
            lo = hi;
          for (int ow = ow_a; ow < lo; ow++)
            o[ow - ow_a] = 0.0f;
          if (d->stride == 1)
            memcpy (o + (lo - ow_a), src + (lo + shift), (size_t) (hi - lo) * sizeof (float));
          else if (d->stride == 2)
            {
              /* The stride-2 layers of ResNet: a fixed stride lets the
               * compiler unroll the gather. */
              const float *s2 = src + shift;
              float *o2 = o - ow_a;

              for (int ow = lo; ow < hi; ow++)
                o2[ow] = s2[2 * ow];
            }
          else
            for (int ow = lo; ow < hi; ow++)
              o[ow - ow_a] = src[ow * d->stride + shift];
          for (int ow = hi > ow_a ? hi : ow_a; ow < ow_b; ow++)
            o[ow - ow_a] = 0.0f;
        }
      p += (size_t) (ow_b - ow_a);
    }
}

/* Adds the rows of input channel @ci of an unfolded matrix (columns
 * in[0, p1 - p0), leading dimension @ldcol) back into output pixels
 * [p0, p1) of image gradient @img: the transpose of im2col_row. */
static void
col2im_channel (const CpConvDesc *d, const float *col, size_t ldcol, int ci, size_t p0,
                size_t p1, float *img)
{
  float *plane = img + (size_t) ci * d->h_in * d->w_in;

  for (int ki = 0; ki < d->kh; ki++)
    for (int kj = 0; kj < d->kw; kj++)
      {
        const int r = (ci * d->kh + ki) * d->kw + kj;
        const float *in = col + (size_t) r * ldcol;
        const int shift = kj - d->pad;
        int ow_lo = shift < 0 ? (-shift + d->stride - 1) / d->stride : 0;
        int ow_hi = d->w_in - 1 - shift >= 0 ? (d->w_in - 1 - shift) / d->stride + 1 : 0;
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

/* One tile's worth of unfolding or folding: output pixels [p0, p1) of
 * each of the @g_count images starting at @images, against a (K, width)
 * matrix whose columns hold image g at [g * (p1 - p0), (g + 1) * (p1 - p0)). */
typedef struct
{
  const CpConvDesc *d;
  const float      *x;       /* unfold: first image */
  float            *dx;      /* fold: first image gradient */
  float            *col;
  size_t            width;
  size_t            p0, p1;
  int               g_count;
} TileJob;

/* Rows are independent: threads share them. */
static void
unfold_rows (void *arg, size_t begin, size_t end)
{
  const TileJob *j = arg;
  const size_t image = (size_t) j->d->c_in * j->d->h_in * j->d->w_in;

  for (size_t r = begin; r < end; r++)
    for (int g = 0; g < j->g_count; g++)
      im2col_row (j->d, j->x + g * image, (int) r, j->p0, j->p1,
                  j->col + r * j->width + (size_t) g * (j->p1 - j->p0));
}

/* Threads own whole input channels, so no two add into the same pixel. */
static void
fold_channels (void *arg, size_t begin, size_t end)
{
  const TileJob *j = arg;
  const size_t image = (size_t) j->d->c_in * j->d->h_in * j->d->w_in;

  for (size_t ci = begin; ci < end; ci++)
    for (int g = 0; g < j->g_count; g++)
      col2im_channel (j->d, j->col + (size_t) g * (j->p1 - j->p0), j->width, (int) ci, j->p0,
                      j->p1, j->dx + g * image);
}

/* The images, pixel range and width of tile @t. */
static void
tile_bounds (const CpConvDesc *d, const CpConvPlan *p, size_t t, TileJob *j)
{
  j->d = d;
  if (p->grouped)
    {
      int b0 = (int) t * p->group;

      j->g_count = d->n - b0 < p->group ? d->n - b0 : p->group;
      j->p0 = 0;
      j->p1 = p->hw;
      j->x = NULL;
      j->dx = NULL;
      j->width = (size_t) j->g_count * p->hw;
    }
  else
    {
      j->g_count = 1;
      j->p0 = (t % p->tiles_per_image) * p->tile;
      j->p1 = j->p0 + p->tile < p->hw ? j->p0 + p->tile : p->hw;
      j->width = j->p1 - j->p0;
    }
}

static size_t
tile_first_image (const CpConvPlan *p, size_t t)
{
  return p->grouped ? t * (size_t) p->group : t / p->tiles_per_image;
}

/* Unfolds tile @t of @x into @col. */
static void
unfold_tile (CpBackend *be, const CpConvDesc *d, const CpConvPlan *p, const float *x, size_t t,
             float *col, TileJob *j)
{
  tile_bounds (d, p, t, j);
  j->x = x + tile_first_image (p, t) * d->c_in * p->hw_in;
  j->col = col;
  cp_cpu_parallel_for (be, p->k, p->k * j->width >= 16384, unfold_rows, j);
}

/* Adds the unfolded gradient @col of tile @t into @dx. */
static void
fold_tile (CpBackend *be, const CpConvDesc *d, const CpConvPlan *p, float *col, size_t t,
           float *dx)
{
  TileJob j;

  tile_bounds (d, p, t, &j);
  j.dx = dx + tile_first_image (p, t) * d->c_in * p->hw_in;
  j.col = col;
  cp_cpu_parallel_for (be, (size_t) d->c_in, p->k * j.width >= 16384, fold_channels, &j);
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
typedef struct
{
  int     g_count;
  size_t  hw;
  size_t  c;
  float  *images;
  float  *matrix;
  int     to_images;
} RegroupJob;

static void
regroup_channels (void *arg, size_t begin, size_t end)
{
  const RegroupJob *j = arg;

  for (size_t ch = begin; ch < end; ch++)
    for (int g = 0; g < j->g_count; g++)
      {
        float *img = j->images + ((size_t) g * j->c + ch) * j->hw;
        float *mat = j->matrix + ch * j->g_count * j->hw + (size_t) g * j->hw;

        if (j->to_images)
          memcpy (img, mat, j->hw * sizeof (float));
        else
          memcpy (mat, img, j->hw * sizeof (float));
      }
}

static void
regroup (CpBackend *be, int g_count, int c, size_t hw, float *images, float *matrix,
         int to_images)
{
  RegroupJob j = { g_count, hw, (size_t) c, images, matrix, to_images };

  cp_cpu_parallel_for (be, (size_t) c, (size_t) g_count * c * hw >= 65536, regroup_channels, &j);
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
      size_t b = tile_first_image (&p, t);
      TileJob j;

      if (p.grouped)
        {
          unfold_tile (be, d, &p, x, t, col, &j);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) j.width,
                       (int) p.k, 1.0f, w, (int) p.k, col, (int) j.width, 0.0f, tmp,
                       (int) j.width);
          regroup (be, j.g_count, d->c_out, p.hw, y + b * d->c_out * p.hw, tmp, 1);
        }
      else
        {
          const float *src;
          size_t ld;

          if (p.pointwise)
            {
              tile_bounds (d, &p, t, &j);
              src = x + b * d->c_in * p.hw_in + j.p0;
              ld = p.hw;
            }
          else
            {
              unfold_tile (be, d, &p, x, t, col, &j);
              src = col;
              ld = j.width;
            }
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) j.width,
                       (int) p.k, 1.0f, w, (int) p.k, src, (int) ld, 0.0f,
                       y + b * d->c_out * p.hw + j.p0, (int) p.hw);
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
      size_t b = tile_first_image (&p, t);
      TileJob j;

      tile_bounds (d, &p, t, &j);
      if (p.grouped)
        {
          regroup (be, j.g_count, d->c_out, p.hw, (float *) (dy + b * d->c_out * p.hw), tmp, 0);
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p.k, (int) j.width,
                       d->c_out, 1.0f, w, (int) p.k, tmp, (int) j.width, 0.0f, col,
                       (int) j.width);
          if (p.pointwise)
            regroup (be, j.g_count, d->c_in, p.hw, dx + b * d->c_in * p.hw_in, col, 1);
          else
            fold_tile (be, d, &p, col, t, dx);
        }
      else
        {
          const float *dyb = dy + b * d->c_out * p.hw + j.p0;

          if (p.pointwise)
            cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p.k, (int) j.width,
                         d->c_out, 1.0f, w, (int) p.k, dyb, (int) p.hw, 0.0f,
                         dx + b * d->c_in * p.hw_in + j.p0, (int) p.hw_in);
          else
            {
              cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p.k, (int) j.width,
                           d->c_out, 1.0f, w, (int) p.k, dyb, (int) p.hw, 0.0f, col,
                           (int) j.width);
              fold_tile (be, d, &p, col, t, dx);
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
      size_t b = tile_first_image (&p, t);
      TileJob j;

      if (p.grouped)
        {
          unfold_tile (be, d, &p, x, t, col, &j);
          regroup (be, j.g_count, d->c_out, p.hw, (float *) (dy + b * d->c_out * p.hw), tmp, 0);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, d->c_out, (int) p.k,
                       (int) j.width, 1.0f, tmp, (int) j.width, col, (int) j.width, beta, dw,
                       (int) p.k);
        }
      else
        {
          const float *src;
          size_t ld;

          if (p.pointwise)
            {
              tile_bounds (d, &p, t, &j);
              src = x + b * d->c_in * p.hw_in + j.p0;
              ld = p.hw;
            }
          else
            {
              unfold_tile (be, d, &p, x, t, col, &j);
              src = col;
              ld = j.width;
            }
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, d->c_out, (int) p.k,
                       (int) j.width, 1.0f, dy + b * d->c_out * p.hw + j.p0, (int) p.hw, src,
                       (int) ld, beta, dw, (int) p.k);
        }
    }
  return CP_OK;
}
