/* cpu-conv.c: convolution as im2col / col2im over column tiles + sgemm.
 *
 * The output pixels of the whole batch form n * h_out * w_out columns.
 * They are processed a tile at a time: the tile's patches are unfolded into
 * a (K = c_in*kh*kw, T) matrix of about cp_cpu_conv_tile_floats floats (at
 * least 256 columns), and one sgemm per tile does the arithmetic.  A large
 * image is cut into several tiles; small images (the deep layers, 8x8 or
 * 16x16) are grouped several to a tile so that the GEMM still has a useful
 * width.  The workspace therefore depends on the layer shape and the
 * thread count only, never on the batch.
 *
 * The threads of the backend's pool (cpu-threads.c) each take whole tiles
 * from a shared counter: unfold into a private workspace, then a
 * single-threaded sgemm (OpenBLAS's own threads are switched off for the
 * call, so the two pools never compete for the cores).  The 1x1 stride-1
 * case skips the unfolding: x is already its own column matrix.
 */
#include "cpu-private.h"

#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

/* Floats of unfolded patches per tile and thread (the bench sweeps it):
 * 512K floats = 2 MiB, which stays in a share of the last-level cache
 * while keeping every ResNet-18 GEMM wide enough to run at full speed. */
static size_t cp_cpu_conv_tile_floats = (size_t) 512 * 1024;

void
cp_cpu_conv_set_tile_floats (size_t floats)
{
  cp_cpu_conv_tile_floats = floats > 4096 ? floats : 4096;
}

size_t
cp_cpu_conv_tile_floats_get (void)
{
  return cp_cpu_conv_tile_floats;
}

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
conv_plan (const CpConvDesc *d, CpConvPlan *p, int n_threads)
{
  size_t target;

  p->k = (size_t) d->c_in * d->kh * d->kw;
  p->hw = (size_t) d->h_out * d->w_out;
  p->hw_in = (size_t) d->h_in * d->w_in;
  p->pointwise = d->kh == 1 && d->kw == 1 && d->stride == 1 && d->pad == 0;

  target = cp_cpu_conv_tile_floats / p->k;
  /* Even for huge K keep enough columns: sgemm packs the whole weight
   * matrix (c_out, K) on every call, a memory-bound copy that costs about
   * 1/(2T) of the arithmetic per FLOP; at T = 256 that is a few percent. */
  if (target < 256)
    target = 256;
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
      /* At least two tiles per thread, so that the threads stay busy. */
      if (p->group > d->n / (2 * n_threads))
        p->group = d->n / (2 * n_threads);
      if (p->group < 1)
        p->group = 1;
      p->tiles_per_image = 1;
      p->tile = (size_t) p->group * p->hw;
    }
}

/* The output columns [*ow_lo, *ow_hi) whose input column
 * iw = ow * stride + @shift is inside the image (an empty range when
 * none is). */
static void
inside_columns (const CpConvDesc *d, int shift, int *ow_lo, int *ow_hi)
{
  int lo = shift < 0 ? (-shift + d->stride - 1) / d->stride : 0;
  int hi = d->w_in - 1 - shift >= 0 ? (d->w_in - 1 - shift) / d->stride + 1 : 0;

  if (hi > d->w_out)
    hi = d->w_out;
  if (lo > hi)
    lo = hi;
  *ow_lo = lo;
  *ow_hi = hi;
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
  int ow_lo, ow_hi;
  size_t p = p0;

  inside_columns (d, shift, &ow_lo, &ow_hi);
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
        int ow_lo, ow_hi;
        size_t p = p0;

        inside_columns (d, shift, &ow_lo, &ow_hi);
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

/* Unfolds output pixels [p0, p1) of @g_count consecutive images (from
 * @x) into @col (K, width): image g at columns [g * (p1 - p0), ...). */
static void
unfold (const CpConvDesc *d, const float *x, int g_count, size_t p0, size_t p1, float *col,
        size_t width)
{
  const size_t k = (size_t) d->c_in * d->kh * d->kw;
  const size_t image = (size_t) d->c_in * d->h_in * d->w_in;

  for (size_t r = 0; r < k; r++)
    for (int g = 0; g < g_count; g++)
      im2col_row (d, x + g * image, (int) r, p0, p1, col + r * width + (size_t) g * (p1 - p0));
}

/* Adds @col (K, width), laid out as unfold() writes it, into the gradient
 * @dx of @g_count consecutive images. */
static void
fold (const CpConvDesc *d, const float *col, size_t width, int g_count, size_t p0, size_t p1,
      float *dx)
{
  const size_t image = (size_t) d->c_in * d->h_in * d->w_in;

  for (int ci = 0; ci < d->c_in; ci++)
    for (int g = 0; g < g_count; g++)
      col2im_channel (d, col + (size_t) g * (p1 - p0), width, ci, p0, p1, dx + g * image);
}

/* Copies the (c, hw) planes of @g_count consecutive images into one
 * (c, g_count*hw) matrix, or back when @to_images. */
static void
regroup (int g_count, int c, size_t hw, float *images, float *matrix, int to_images)
{
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

/* One convolution call, shared by the threads.  Each thread takes tasks
 * (tiles, or whole images for backward data) from an atomic counter and
 * works in its own slice of the workspace: unfold, then a single-threaded
 * sgemm.  No thread ever waits for another inside a call, which matters on
 * a loaded machine where a barrier per tile costs a time slice. */
typedef struct ConvJob ConvJob;
typedef void (*ConvTaskFn) (ConvJob *j, size_t task, float *ws, int thread);

struct ConvJob
{
  const CpConvDesc *d;
  CpConvPlan        p;
  const float      *x, *w, *dy;
  float            *y, *dx, *dw;
  float            *work;
  size_t            per_thread;           /* floats of workspace per thread */
  ConvTaskFn        task;
  size_t            count;                /* tasks */
  atomic_size_t     next;
  int               touched[CP_CPU_MAX_THREADS];  /* backward filter */
  int               n_threads;
  int               static_split;         /* fixed task ranges per slot */
};

static void
conv_worker (void *arg, size_t begin, size_t end)
{
  ConvJob *j = arg;

  for (size_t t = begin; t < end; t++)
    {
      if (j->static_split)
        {
          /* Each workspace slot sums a fixed, ordered range of tiles, so
           * the weight gradient is bit-identical from run to run (SPEC:
           * a seed reproduces a CPU run exactly); dynamic scheduling
           * would add the partial sums in an order that varies. */
          size_t lo = t * j->count / (size_t) j->n_threads;
          size_t hi = (t + 1) * j->count / (size_t) j->n_threads;

          for (size_t task = lo; task < hi; task++)
            j->task (j, task, j->work + t * j->per_thread, (int) t);
          continue;
        }
      for (;;)
        {
          size_t task = atomic_fetch_add (&j->next, 1);

          if (task >= j->count)
            break;
          j->task (j, task, j->work + t * j->per_thread, (int) t);
        }
    }
}

/* The images, pixel range and width of tile @t. */
static void
tile_bounds (const CpConvPlan *p, int n, size_t t, size_t *b, int *g_count, size_t *p0,
             size_t *p1)
{
  if (p->grouped)
    {
      *b = t * (size_t) p->group;
      *g_count = n - (int) *b < p->group ? n - (int) *b : p->group;
      *p0 = 0;
      *p1 = p->hw;
    }
  else
    {
      *b = t / p->tiles_per_image;
      *g_count = 1;
      *p0 = (t % p->tiles_per_image) * p->tile;
      *p1 = *p0 + p->tile < p->hw ? *p0 + p->tile : p->hw;
    }
}

static size_t
tile_count (const CpConvDesc *d, const CpConvPlan *p)
{
  if (p->grouped)
    return ((size_t) d->n + p->group - 1) / p->group;
  return (size_t) d->n * p->tiles_per_image;
}

static void
forward_task (ConvJob *j, size_t t, float *ws, int thread)
{
  const CpConvDesc *d = j->d;
  const CpConvPlan *p = &j->p;
  float *col = ws, *tmp = ws + p->k * p->tile;
  size_t b, p0, p1, width;
  int g_count;

  (void) thread;
  tile_bounds (p, d->n, t, &b, &g_count, &p0, &p1);
  width = (size_t) g_count * (p1 - p0);
  if (p->grouped)
    {
      unfold (d, j->x + b * d->c_in * p->hw_in, g_count, p0, p1, col, width);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) width, (int) p->k,
                   1.0f, j->w, (int) p->k, col, (int) width, 0.0f, tmp, (int) width);
      regroup (g_count, d->c_out, p->hw, j->y + b * d->c_out * p->hw, tmp, 1);
    }
  else
    {
      const float *src = col;
      size_t ld = width;

      if (p->pointwise)
        {
          src = j->x + b * d->c_in * p->hw_in + p0;
          ld = p->hw;
        }
      else
        unfold (d, j->x + b * d->c_in * p->hw_in, 1, p0, p1, col, width);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) width, (int) p->k,
                   1.0f, j->w, (int) p->k, src, (int) ld, 0.0f, j->y + b * d->c_out * p->hw + p0,
                   (int) p->hw);
    }
}

/* Task @i: tile i when grouped, else image i with all its tiles (tiles of
 * one image overlap in dx through the kernel's halo, so one thread must
 * own the whole image). */
static void
backward_data_task (ConvJob *j, size_t i, float *ws, int thread)
{
  const CpConvDesc *d = j->d;
  const CpConvPlan *p = &j->p;
  float *col = ws, *tmp = ws + p->k * p->tile;
  size_t b, p0, p1, width;
  int g_count;

  (void) thread;
  if (p->grouped)
    {
      float *dxb;

      tile_bounds (p, d->n, i, &b, &g_count, &p0, &p1);
      width = (size_t) g_count * p->hw;
      dxb = j->dx + b * d->c_in * p->hw_in;
      regroup (g_count, d->c_out, p->hw, (float *) (j->dy + b * d->c_out * p->hw), tmp, 0);
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p->k, (int) width, d->c_out,
                   1.0f, j->w, (int) p->k, tmp, (int) width, 0.0f, col, (int) width);
      if (p->pointwise)
        regroup (g_count, d->c_in, p->hw, dxb, col, 1);
      else
        {
          /* fold adds; pixels no window touches (stride > kernel) stay 0. */
          memset (dxb, 0, (size_t) g_count * d->c_in * p->hw_in * sizeof (float));
          fold (d, col, width, g_count, 0, p->hw, dxb);
        }
      return;
    }

  b = i;
  if (!p->pointwise)
    memset (j->dx + b * d->c_in * p->hw_in, 0, (size_t) d->c_in * p->hw_in * sizeof (float));
  for (size_t t = b * p->tiles_per_image; t < (b + 1) * p->tiles_per_image; t++)
    {
      const float *dyb;

      tile_bounds (p, d->n, t, &b, &g_count, &p0, &p1);
      width = p1 - p0;
      dyb = j->dy + b * d->c_out * p->hw + p0;
      if (p->pointwise)
        cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p->k, (int) width, d->c_out,
                     1.0f, j->w, (int) p->k, dyb, (int) p->hw, 0.0f,
                     j->dx + b * d->c_in * p->hw_in + p0, (int) p->hw_in);
      else
        {
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) p->k, (int) width,
                       d->c_out, 1.0f, j->w, (int) p->k, dyb, (int) p->hw, 0.0f, col,
                       (int) width);
          fold (d, col, width, 1, p0, p1, j->dx + b * d->c_in * p->hw_in);
        }
    }
}

/* Thread 0 accumulates straight into dw, the others into a private copy
 * that is added in at the end. */
static void
backward_filter_task (ConvJob *j, size_t t, float *ws, int thread)
{
  const CpConvDesc *d = j->d;
  const CpConvPlan *p = &j->p;
  float *col = ws, *tmp = ws + p->k * p->tile;
  float *dst = thread == 0 ? j->dw : tmp + (size_t) d->c_out * p->tile;
  float beta = j->touched[thread] ? 1.0f : 0.0f;
  const float *src = col, *dyb = tmp;
  size_t b, p0, p1, width, ld, ld_dy;
  int g_count;

  tile_bounds (p, d->n, t, &b, &g_count, &p0, &p1);
  width = (size_t) g_count * (p1 - p0);
  ld = width;
  ld_dy = width;
  if (p->grouped)
    {
      unfold (d, j->x + b * d->c_in * p->hw_in, g_count, p0, p1, col, width);
      regroup (g_count, d->c_out, p->hw, (float *) (j->dy + b * d->c_out * p->hw), tmp, 0);
    }
  else
    {
      if (p->pointwise)
        {
          src = j->x + b * d->c_in * p->hw_in + p0;
          ld = p->hw;
        }
      else
        unfold (d, j->x + b * d->c_in * p->hw_in, 1, p0, p1, col, width);
      dyb = j->dy + b * d->c_out * p->hw + p0;
      ld_dy = p->hw;
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, d->c_out, (int) p->k, (int) width, 1.0f,
               dyb, (int) ld_dy, src, (int) ld, beta, dst, (int) p->k);
  j->touched[thread] = 1;
}

/* dw = (thread 0's sum, if any) + the other threads' private sums. */
static void
reduce_filter (void *arg, size_t begin, size_t end)
{
  ConvJob *j = arg;
  const size_t offset = j->p.k * j->p.tile + (size_t) j->d->c_out * j->p.tile;

  if (!j->touched[0])
    memset (j->dw + begin, 0, (end - begin) * sizeof (float));
  for (int t = 1; t < j->n_threads; t++)
    if (j->touched[t])
      {
        const float *part = j->work + (size_t) t * j->per_thread + offset;

        for (size_t i = begin; i < end; i++)
          j->dw[i] += part[i];
      }
}

/* OpenBLAS must run single-threaded while our threads each call it; its
 * own setting is restored afterwards for everything else. */
int
cp_cpu_blas_threads_single (void)
{
#ifdef CP_CPU_HAVE_OPENBLAS_THREADS
  int saved = openblas_get_num_threads ();

  if (saved != 1)
    openblas_set_num_threads (1);
  return saved;
#else
  return 1;
#endif
}

void
cp_cpu_blas_threads_restore (int saved)
{
#ifdef CP_CPU_HAVE_OPENBLAS_THREADS
  if (saved != 1)
    openblas_set_num_threads (saved);
#else
  (void) saved;
#endif
}

static CpStatus
conv_run (CpBackend *be, ConvJob *j, ConvTaskFn task, size_t count, int filter)
{
  const CpConvDesc *d = j->d;
  int n_threads = cp_cpu_pool_threads (((CpCpuContext *) be->ctx)->pool);
  int saved;

  conv_plan (d, &j->p, n_threads);
  j->task = task;
  j->count = count == 0 ? tile_count (d, &j->p) : count;
  j->n_threads = n_threads;
  atomic_init (&j->next, 0);
  j->static_split = filter;
  memset (j->touched, 0, sizeof j->touched);
  /* col (K, tile) + tmp (c_out, tile) [+ private dw (c_out, K)], rounded
   * to whole cache lines. */
  j->per_thread = j->p.k * j->p.tile + (size_t) d->c_out * j->p.tile
                  + (filter ? (size_t) d->c_out * j->p.k : 0);
  j->per_thread = (j->per_thread + 15) / 16 * 16;
  j->work = cp_cpu_workspace (be, j->per_thread * (size_t) n_threads);
  if (j->work == NULL)
    return CP_ERR_NOMEM;

  if (n_threads < 2 || j->count < (size_t) n_threads)
    {
      /* One thread, or fewer tasks than threads (one image through the
       * deep layers when predicting): the caller does every task and
       * OpenBLAS may spread each sgemm over its own threads. */
      j->n_threads = 1;
      conv_worker (j, 0, 1);
    }
  else
    {
      saved = cp_cpu_blas_threads_single ();
      cp_cpu_parallel_for (be, (size_t) n_threads, 1, conv_worker, j);
      cp_cpu_blas_threads_restore (saved);
    }
  if (filter)
    {
      size_t nw = (size_t) d->c_out * j->p.k;

      cp_cpu_parallel_for (be, nw, n_threads > 1 && nw >= CP_CPU_PARALLEL_MIN, reduce_filter, j);
    }
  return CP_OK;
}

CpStatus
cp_cpu_conv2d_forward (CpBackend *be, const CpConvDesc *d, const float *x, const float *w,
                       float *y)
{
  ConvJob j = { 0 };

  if (cp_cpu_conv_desc_check (d) != CP_OK || x == NULL || w == NULL || y == NULL)
    return CP_ERR_INVALID;
  j.d = d;
  j.x = x;
  j.w = w;
  j.y = y;
  return conv_run (be, &j, forward_task, 0, 0);
}

CpStatus
cp_cpu_conv2d_backward_data (CpBackend *be, const CpConvDesc *d, const float *dy, const float *w,
                             float *dx)
{
  ConvJob j = { 0 };
  CpConvPlan p;

  if (cp_cpu_conv_desc_check (d) != CP_OK || dy == NULL || w == NULL || dx == NULL)
    return CP_ERR_INVALID;
  j.d = d;
  j.dy = dy;
  j.w = w;
  j.dx = dx;
  /* Tasks: tiles when grouped, else whole images. */
  conv_plan (d, &p, cp_cpu_pool_threads (((CpCpuContext *) be->ctx)->pool));
  return conv_run (be, &j, backward_data_task, p.grouped ? tile_count (d, &p) : (size_t) d->n, 0);
}

CpStatus
cp_cpu_conv2d_backward_filter (CpBackend *be, const CpConvDesc *d, const float *x,
                               const float *dy, float *dw)
{
  ConvJob j = { 0 };

  if (cp_cpu_conv_desc_check (d) != CP_OK || x == NULL || dy == NULL || dw == NULL)
    return CP_ERR_INVALID;
  j.d = d;
  j.x = x;
  j.dy = dy;
  j.dw = dw;
  return conv_run (be, &j, backward_filter_task, 0, 1);
}
