/* cpu-conv-fused.c: the inference convolution of the network's fast path:
 * weights with a batch norm folded in (layout (c_out, kh, kw, c_in)), the
 * folded bias, an optional residual and ReLU applied in the output pass,
 * and no arithmetic on taps that only ever see zero padding.
 *
 * Why skip taps: a 32 x 32 patch leaves ResNet-18's deep layers with 4x4,
 * 2x2 and 1x1 maps, where most 3x3 taps fall in the padding (at 1x1 only
 * the centre one is inside; at 2x2, 16 of 36).  Along each axis the
 * outputs fall into spans that read the same range of taps: near the
 * border fewer, inside all of them.  A class is one span of rows times one
 * span of columns; its output pixels all read the same rectangle of taps,
 * so the class is one GEMM whose K holds only those taps:
 *   out (c_out, pixels) = W[:, taps, :] (c_out, taps * c_in) x col (taps * c_in, pixels)
 * With the (c_out, kh, kw, c_in) layout the taps of one kernel row are
 * contiguous in W, so the class needs no copy of the weights: one GEMM
 * when its column span reads every kw tap, else one per kernel row
 * accumulated.  Skipping a tap drops only products with zero, so the
 * result is the full convolution's up to the order of the sums.
 *
 * Axes longer than cp_cpu_conv_fused_split_max (2) are one span with
 * every tap and zeros unfolded for the padding, as in cpu-conv.c.
 * Measured on the patch shapes (batch 256, one thread): splitting 2x2 and
 * 1x1 maps pays (256 -> 256 at 2x2: 27 -> 20 ms), splitting 4x4 and 8x8
 * does not (128 -> 128 at 4x4: 31 -> 63 ms): their nine classes of one to
 * a few pixels make many small GEMMs and per-pixel unfolding, which cost
 * more than the 17-31% of products with zero they save.
 *
 * Work is cut into tasks of about cp_cpu_conv_tile_floats unfolded floats
 * (several images of a small class to one task, several tasks per image
 * of a large one), which the backend's threads take from a shared counter,
 * each unfolding into its own workspace and calling a single-threaded
 * sgemm.  The output pass adds the bias and the residual and applies the
 * ReLU while the GEMM's result is still in cache.
 *
 * A 1x1 input (ResNet-18's last stage on a 32 x 32 patch) needs no
 * unfolding at all: x (n, c_in) is already the matrix, and the one valid
 * tap's weights are a (c_out, c_in) block of W, so y (n, c_out) = x W^T.
 */
#include "cpu-private.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Axes of at most this many outputs are split by valid taps. */
static int cp_cpu_conv_fused_split_max = 2;

void
cp_cpu_conv_fused_set_split_max (int outputs)
{
  cp_cpu_conv_fused_split_max = outputs;
}

/* Outputs [first, first + count) along one axis read taps [lo, hi). */
typedef struct
{
  int first, count, lo, hi;
} Span;

#define MAX_SPANS 16

typedef struct
{
  int r0, nr, c0, nc;     /* output rows and columns */
  int klo, khi, jlo, jhi; /* kernel rows and columns read */
} FusedClass;

typedef struct
{
  int cls;
  int b, g_count;         /* images */
  int row0, rows;         /* rows of the class */
} FusedTask;

typedef struct
{
  const CpConvDesc *d;
  const float      *x, *w, *bias, *residual;
  float            *y;
  int               relu;
  FusedClass        classes[MAX_SPANS * MAX_SPANS];
  int               n_classes;
  FusedTask        *tasks;
  size_t            n_tasks;
  int               rowwise;      /* 1x1 input: y (n, c_out) = x (n, c_in) W_tap^T */
  float            *work;
  size_t            per_thread;
  atomic_size_t     next;
} FusedJob;

/* Spans of one axis; 1 span with every tap when not split, 0 when there
 * would be more than @max. */
static int
make_spans (int in, int out, int k, int stride, int pad, int split, Span *spans, int max)
{
  int n = 0;

  if (!split)
    {
      spans[0] = (Span) { 0, out, 0, k };
      return 1;
    }
  for (int o = 0; o < out; o++)
    {
      int base = o * stride - pad;
      int lo = base < 0 ? -base : 0;
      int hi = in - base;

      if (lo > k)
        lo = k;
      if (hi > k)
        hi = k;
      if (hi < lo)
        hi = lo;
      if (n > 0 && spans[n - 1].lo == lo && spans[n - 1].hi == hi)
        spans[n - 1].count++;
      else
        {
          if (n == max)
            return 0;
          spans[n++] = (Span) { o, 1, lo, hi };
        }
    }
  return n;
}

static size_t
class_k (const CpConvDesc *d, const FusedClass *c)
{
  return (size_t) (c->khi - c->klo) * (c->jhi - c->jlo) * d->c_in;
}

static size_t
round_up16 (size_t v)
{
  return (v + 15) / 16 * 16;
}

/* gather_phases applies: stride 2, even sizes halved, whole images. */
static int
phases_apply (const CpConvDesc *d, const FusedClass *c, int r0, int rows)
{
  return d->stride == 2 && d->h_in % 2 == 0 && d->w_in % 2 == 0 && d->h_out * 2 == d->h_in
         && d->w_out * 2 == d->w_in && c->nc == d->w_out && r0 == 0 && rows == d->h_out;
}

/* Classes, tasks and workspace of one call.  Returns 0 when out of
 * memory. */
static int
fused_plan (FusedJob *j, int n_threads)
{
  const CpConvDesc *d = j->d;
  Span sh[MAX_SPANS], sw[MAX_SPANS];
  int nh, nw;
  size_t count = 0, per_thread = 0, cap;

  nh = make_spans (d->h_in, d->h_out, d->kh, d->stride, d->pad,
                   d->h_out <= cp_cpu_conv_fused_split_max, sh, MAX_SPANS);
  nw = make_spans (d->w_in, d->w_out, d->kw, d->stride, d->pad,
                   d->w_out <= cp_cpu_conv_fused_split_max, sw, MAX_SPANS);
  if (nh == 0)
    nh = make_spans (d->h_in, d->h_out, d->kh, d->stride, d->pad, 0, sh, MAX_SPANS);
  if (nw == 0)
    nw = make_spans (d->w_in, d->w_out, d->kw, d->stride, d->pad, 0, sw, MAX_SPANS);

  j->rowwise = d->h_in == 1 && d->w_in == 1 && d->h_out == 1 && d->w_out == 1
               && d->pad < d->kh && d->pad < d->kw;
  /* Images per task for small classes: enough tasks over all classes to
   * keep every thread busy (two each, as in cpu-conv.c), but no fewer
   * images than that asks for: the classes of a split map are tasks too,
   * and wider GEMMs run faster. */
  cap = (size_t) d->n * ((size_t) nh * nw) / (2 * (size_t) n_threads);
  if (j->rowwise || cap > (size_t) d->n)
    cap = j->rowwise ? (size_t) d->n / (2 * (size_t) n_threads) : (size_t) d->n;
  if (cap < 1)
    cap = 1;

  if (j->rowwise)
    {
      size_t groups = ((size_t) d->n + cap - 1) / cap;
      size_t g = ((size_t) d->n + groups - 1) / groups;

      j->n_classes = 0;
      j->tasks = malloc (groups * sizeof *j->tasks);
      if (j->tasks == NULL)
        return 0;
      for (size_t t = 0; t < groups; t++)
        {
          int b = (int) (t * g);
          int gc = d->n - b < (int) g ? d->n - b : (int) g;

          j->tasks[count++] = (FusedTask) { 0, b, gc, 0, 1 };
        }
      j->n_tasks = count;
      j->per_thread = 16;
      return 1;
    }

  j->n_classes = 0;
  for (int a = 0; a < nh; a++)
    for (int b = 0; b < nw; b++)
      j->classes[j->n_classes++] = (FusedClass) { sh[a].first, sh[a].count, sw[b].first,
                                                  sw[b].count, sh[a].lo, sh[a].hi, sw[b].lo,
                                                  sw[b].hi };

  /* Two passes: count the tasks, then fill them in. */
  for (int pass = 0; pass < 2; pass++)
    {
      count = 0;
      for (int ci = 0; ci < j->n_classes; ci++)
        {
          const FusedClass *c = &j->classes[ci];
          size_t k = class_k (d, c), pix = (size_t) c->nr * c->nc;
          size_t target = cp_cpu_conv_tile_floats_get () / (k > 0 ? k : 1);
          size_t g = 1, rows = (size_t) c->nr, chunks = 1, groups, width;

          if (target < 256)
            target = 256;
          if (pix >= target)
            {
              /* Whole rows per task, equal chunks. */
              rows = target / (size_t) c->nc;
              if (rows < 1)
                rows = 1;
              chunks = ((size_t) c->nr + rows - 1) / rows;
              rows = ((size_t) c->nr + chunks - 1) / chunks;
              chunks = ((size_t) c->nr + rows - 1) / rows;
            }
          else
            {
              g = target / pix;
              if (g > cap)
                g = cap;
              if (g < 1)
                g = 1;
            }
          groups = ((size_t) d->n + g - 1) / g;
          g = ((size_t) d->n + groups - 1) / groups;
          width = g * rows * (size_t) c->nc;
          if (pass == 0)
            {
              size_t need = round_up16 (k * width) + round_up16 ((size_t) d->c_out * width);

              if (phases_apply (d, c, c->r0, (int) rows) && chunks == 1)
                need += g * (size_t) d->c_in * d->h_in * d->w_in;
              if (need > per_thread)
                per_thread = need;
              count += groups * chunks;
              continue;
            }
          for (size_t gi = 0; gi < groups; gi++)
            for (size_t ch = 0; ch < chunks; ch++)
              {
                int b = (int) (gi * g);
                int gc = d->n - b < (int) g ? d->n - b : (int) g;
                int r = (int) (ch * rows);
                int nr = c->nr - r < (int) rows ? c->nr - r : (int) rows;

                j->tasks[count++] = (FusedTask) { ci, b, gc, r, nr };
              }
        }
      if (pass == 0)
        {
          j->tasks = malloc ((count > 0 ? count : 1) * sizeof *j->tasks);
          if (j->tasks == NULL)
            return 0;
        }
    }
  j->n_tasks = count;
  j->per_thread = round_up16 (per_thread);
  return 1;
}

/* Unfolds the class's taps for output rows [r0, r0 + rows) x its columns
 * of images [b, b + g_count) into col (K, width): row ((ki - klo) * nkj +
 * (kj - jlo)) * c_in + ci, column (g * rows + pr) * nc + pc.  Positions
 * outside the input (only when the class was not split) are zero. */
static void
gather (const CpConvDesc *d, const float *x, const FusedClass *c, int b, int g_count, int r0,
        int rows, float *col, size_t width)
{
  const size_t hw_in = (size_t) d->h_in * d->w_in, image = (size_t) d->c_in * hw_in;
  const int nc = c->nc, s = d->stride;
  const size_t npix = (size_t) rows * nc;
  const float *xb = x + (size_t) b * image;
  float *o = col;

  for (int ki = c->klo; ki < c->khi; ki++)
    for (int kj = c->jlo; kj < c->jhi; kj++)
      {
        /* Input column of class column pc: iw0 + pc * s, inside the
         * image for pc in [pc_lo, pc_hi). */
        const int iw0 = c->c0 * s - d->pad + kj;
        int pc_lo = iw0 < 0 ? (-iw0 + s - 1) / s : 0;
        int pc_hi = d->w_in - iw0 > 0 ? (d->w_in - iw0 + s - 1) / s : 0;

        if (pc_hi > nc)
          pc_hi = nc;
        if (pc_lo > pc_hi)
          pc_lo = pc_hi;

        if (npix == 1)
          {
            /* One output pixel: each row gathers one value per image. */
            const int ih = r0 * s - d->pad + ki;
            const int inside = pc_lo < pc_hi && ih >= 0 && ih < d->h_in;
            const size_t off = inside ? (size_t) ih * d->w_in + iw0 : 0;

            for (int ci = 0; ci < d->c_in; ci++, o += width)
              {
                const float *src = xb + (size_t) ci * hw_in + off;

                if (!inside)
                  memset (o, 0, (size_t) g_count * sizeof (float));
                else
                  for (int g = 0; g < g_count; g++)
                    o[g] = src[(size_t) g * image];
              }
            continue;
          }

        for (int ci = 0; ci < d->c_in; ci++, o += width)
          for (int g = 0; g < g_count; g++)
            {
              const float *plane = xb + (size_t) g * image + (size_t) ci * hw_in;

              for (int pr = 0; pr < rows; pr++)
                {
                  const int ih = (r0 + pr) * s - d->pad + ki;
                  float *dst = o + (size_t) g * npix + (size_t) pr * nc;

                  if (ih < 0 || ih >= d->h_in)
                    {
                      memset (dst, 0, (size_t) nc * sizeof (float));
                      continue;
                    }
                  {
                    const float *src = plane + (size_t) ih * d->w_in;

                    for (int pc = 0; pc < pc_lo; pc++)
                      dst[pc] = 0.0f;
                    if (s == 1)
                      memcpy (dst + pc_lo, src + (iw0 + pc_lo),
                              (size_t) (pc_hi - pc_lo) * sizeof (float));
                    else if (s == 2)
                      for (int pc = pc_lo; pc < pc_hi; pc++)
                        dst[pc] = src[iw0 + 2 * pc];
                    else
                      for (int pc = pc_lo; pc < pc_hi; pc++)
                        dst[pc] = src[iw0 + pc * s];
                    for (int pc = pc_hi; pc < nc; pc++)
                      dst[pc] = 0.0f;
                  }
                }
            }
      }
}

/* Copies @rows output rows (from @r0) of every (channel, image) plane
 * shifted by (dy, dx) into col rows: output pixel (pr, pc) takes plane
 * pixel (r0 + pr + dy, pc + dx), or zero outside the hp x w plane.  The
 * plane width equals the output width, so the valid pixels are one
 * contiguous run of the plane (one memcpy) apart from the wrapped border
 * columns, zeroed after the copy.  Planes of image g, channel ci start at
 * xb + g * image + ci * chan. */
static void
shifted_copy (const float *xb, size_t image, size_t chan, int c_in, int g_count, int hp, int w,
              int r0, int rows, int dy, int dx, float *o, size_t width)
{
  const long npix = (long) rows * w;
  int pr_lo = -(r0 + dy) > 0 ? -(r0 + dy) : 0;
  int pr_hi = hp - (r0 + dy) < rows ? hp - (r0 + dy) : rows;
  const int pc_lo = dx < 0 ? -dx : 0, pc_hi = dx > 0 ? w - dx : w;
  const long off = (long) (r0 + dy) * w + dx;
  long first, last;

  if (pr_hi < pr_lo)
    pr_hi = pr_lo;
  first = (long) pr_lo * w + pc_lo;
  last = pr_hi > pr_lo ? (long) (pr_hi - 1) * w + pc_hi : first;
  if (last < first)
    last = first;

  for (int ci = 0; ci < c_in; ci++, o += width)
    for (int g = 0; g < g_count; g++)
      {
        const float *plane = xb + (size_t) g * image + (size_t) ci * chan;
        float *dst = o + (size_t) g * npix;

        if (first > 0)
          memset (dst, 0, (size_t) first * sizeof (float));
        if (last > first)
          memcpy (dst + first, plane + (off + first), (size_t) (last - first) * sizeof (float));
        if (last < npix)
          memset (dst + last, 0, (size_t) (npix - last) * sizeof (float));
        if (pc_lo > 0 || pc_hi < w)
          for (int pr = pr_lo; pr < pr_hi; pr++)
            {
              float *row = dst + (size_t) pr * w;

              for (int pc = 0; pc < pc_lo; pc++)
                row[pc] = 0.0f;
              for (int pc = pc_hi; pc < w; pc++)
                row[pc] = 0.0f;
            }
      }
}

/* Stride 1 over whole rows of equal width in and out: each (tap,
 * channel, image) row of col is the input plane shifted by one offset, so
 * it is one memcpy and a few zeros at the borders instead of a copy per
 * pixel row (at 8 x 8 and below, the per-row copies cost about half as
 * much as the GEMM).  Same result as gather(). */
static void
gather_shifted (const CpConvDesc *d, const float *x, const FusedClass *c, int b, int g_count,
                int r0, int rows, float *col, size_t width)
{
  const size_t hw_in = (size_t) d->h_in * d->w_in, image = (size_t) d->c_in * hw_in;
  float *o = col;

  for (int ki = c->klo; ki < c->khi; ki++)
    for (int kj = c->jlo; kj < c->jhi; kj++, o += (size_t) d->c_in * width)
      shifted_copy (x + (size_t) b * image, image, hw_in, d->c_in, g_count, d->h_in, d->w_in, r0,
                    rows, ki - d->pad, kj - d->pad, o, width);
}

/* Stride 2 over whole images of even size, halved: each input plane is
 * split into its four phases (even / odd rows x even / odd columns, each
 * the size of the output), and tap (ki, kj) then reads one phase plane
 * shifted by a whole number of pixels, which shifted_copy does as for
 * stride 1.  The split is one pass over the input; the per-pixel strided
 * gather it replaces cost more than the GEMM on the small maps.  @phases:
 * workspace of g_count * c_in * h_in * w_in floats. */
static void
gather_phases (const CpConvDesc *d, const float *x, const FusedClass *c, int b, int g_count,
               float *phases, float *col, size_t width)
{
  const int hp = d->h_in / 2, wp = d->w_in / 2;
  const size_t hw_in = (size_t) d->h_in * d->w_in, image = (size_t) d->c_in * hw_in;
  const size_t pp = (size_t) hp * wp;
  const float *xb = x + (size_t) b * image;
  float *o = col;

  for (size_t plane = 0; plane < (size_t) g_count * d->c_in; plane++)
    {
      const float *src = xb + plane * hw_in;
      float *dst = phases + plane * hw_in;

      for (int r = 0; r < hp; r++)
        for (int a = 0; a < 2; a++)
          {
            const float *row = src + (size_t) (2 * r + a) * d->w_in;
            float *d0 = dst + (size_t) (2 * a) * pp + (size_t) r * wp, *d1 = d0 + pp;

            for (int q = 0; q < wp; q++)
              {
                d0[q] = row[2 * q];
                d1[q] = row[2 * q + 1];
              }
          }
    }
  for (int ki = c->klo; ki < c->khi; ki++)
    for (int kj = c->jlo; kj < c->jhi; kj++, o += (size_t) d->c_in * width)
      {
        /* Input row 2 oh + ti lies in row phase ti & 1, at phase row
         * oh + (ti - (ti & 1)) / 2; likewise for columns. */
        const int ti = ki - d->pad, tj = kj - d->pad;
        const int a = ti & 1, bb = tj & 1;

        shifted_copy (phases + (size_t) (2 * a + bb) * pp, image, hw_in, d->c_in, g_count, hp, wp,
                      0, hp, (ti - a) / 2, (tj - bb) / 2, o, width);
      }
}

/* dst = act (src + bias (+ res)), count values; dst may be src. */
static inline void
finish (float *dst, const float *src, const float *res, float bias, size_t count, int relu)
{
  if (res != NULL && relu)
    for (size_t i = 0; i < count; i++)
      {
        float v = src[i] + bias + res[i];
        dst[i] = v > 0.0f ? v : 0.0f;
      }
  else if (res != NULL)
    for (size_t i = 0; i < count; i++)
      dst[i] = src[i] + bias + res[i];
  else if (relu)
    for (size_t i = 0; i < count; i++)
      {
        float v = src[i] + bias;
        dst[i] = v > 0.0f ? v : 0.0f;
      }
  else
    for (size_t i = 0; i < count; i++)
      dst[i] = src[i] + bias;
}

static void
rowwise_task (FusedJob *j, const FusedTask *t)
{
  const CpConvDesc *d = j->d;
  const size_t kk = (size_t) d->kh * d->kw * d->c_in;
  const float *wt = j->w + ((size_t) d->pad * d->kw + d->pad) * d->c_in;
  float *y = j->y + (size_t) t->b * d->c_out;

  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, t->g_count, d->c_out, d->c_in, 1.0f,
               j->x + (size_t) t->b * d->c_in, d->c_in, wt, (int) kk, 0.0f, y, d->c_out);
  for (int g = 0; g < t->g_count; g++)
    {
      float *row = y + (size_t) g * d->c_out;
      const float *res = j->residual != NULL ? j->residual + (size_t) (t->b + g) * d->c_out : NULL;

      for (int co = 0; co < d->c_out; co++)
        {
          float v = row[co] + j->bias[co] + (res != NULL ? res[co] : 0.0f);
          row[co] = j->relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

static void
fused_task (FusedJob *j, const FusedTask *t, float *ws)
{
  const CpConvDesc *d = j->d;
  const FusedClass *c = &j->classes[t->cls];
  const int nkj = c->jhi - c->jlo;
  const size_t k = class_k (d, c), hw = (size_t) d->h_out * d->w_out;
  const size_t npix = (size_t) t->rows * c->nc, width = (size_t) t->g_count * npix;
  const size_t kk = (size_t) d->kh * d->kw * d->c_in;
  const int r0 = c->r0 + t->row0;
  /* One image and whole output rows: the GEMM writes straight into y. */
  const int direct = t->g_count == 1 && c->nc == d->w_out;
  float *col = ws, *out;
  size_t ldc;

  if (direct)
    {
      out = j->y + (size_t) t->b * d->c_out * hw + (size_t) r0 * d->w_out;
      ldc = hw;
    }
  else
    {
      out = ws + round_up16 (k * width);
      ldc = width;
    }

  if (k == 0)
    for (int co = 0; co < d->c_out; co++)
      memset (out + (size_t) co * ldc, 0, width * sizeof (float));
  else
    {
      if (d->stride == 1 && c->nc == d->w_out && d->w_out == d->w_in)
        gather_shifted (d, j->x, c, t->b, t->g_count, r0, t->rows, col, width);
      else if (phases_apply (d, c, r0, t->rows))
        gather_phases (d, j->x, c, t->b, t->g_count,
                       ws + round_up16 (k * width) + round_up16 ((size_t) d->c_out * width), col,
                       width);
      else
        gather (d, j->x, c, t->b, t->g_count, r0, t->rows, col, width);
      if (nkj == d->kw)
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) width, (int) k,
                     1.0f, j->w + (size_t) c->klo * d->kw * d->c_in, (int) kk, col, (int) width,
                     0.0f, out, (int) ldc);
      else
        for (int ki = c->klo; ki < c->khi; ki++)
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c_out, (int) width,
                       nkj * d->c_in, 1.0f,
                       j->w + ((size_t) ki * d->kw + c->jlo) * d->c_in, (int) kk,
                       col + (size_t) (ki - c->klo) * nkj * d->c_in * width, (int) width,
                       ki == c->klo ? 0.0f : 1.0f, out, (int) ldc);
    }

  /* Output pass: bias, residual, ReLU, and the scatter of the class's
   * pixels back into (n, c_out, h_out, w_out). */
  if (npix == 1)
    {
      /* One pixel per image (the classes of a 2x2 map): a strided store
       * per value, without a loop per (channel, image). */
      const size_t at = (size_t) r0 * d->w_out + c->c0, step = (size_t) d->c_out * hw;

      for (int co = 0; co < d->c_out; co++)
        {
          const size_t first = ((size_t) t->b * d->c_out + co) * hw + at;
          const float *src = out + (size_t) co * ldc;
          const float *res = j->residual != NULL ? j->residual + first : NULL;
          const float bias = j->bias[co];
          float *dst = j->y + first;

          for (int g = 0; g < t->g_count; g++)
            {
              float v = src[g] + bias;

              if (res != NULL)
                v += res[(size_t) g * step];
              dst[(size_t) g * step] = j->relu && !(v > 0.0f) ? 0.0f : v;
            }
        }
      return;
    }
  for (int co = 0; co < d->c_out; co++)
    for (int g = 0; g < t->g_count; g++)
      {
        const size_t plane = ((size_t) (t->b + g) * d->c_out + co) * hw;
        const float *res = j->residual != NULL ? j->residual + plane : NULL;
        const float bias = j->bias[co];

        if (direct)
          {
            size_t at = (size_t) r0 * d->w_out;

            finish (j->y + plane + at, j->y + plane + at, res != NULL ? res + at : NULL, bias,
                    npix, j->relu);
            continue;
          }
        if (c->nc == d->w_out)
          {
            /* Whole rows: the image's pixels are one run. */
            size_t at = (size_t) r0 * d->w_out;

            finish (j->y + plane + at, out + (size_t) co * ldc + (size_t) g * npix,
                    res != NULL ? res + at : NULL, bias, npix, j->relu);
            continue;
          }
        for (int pr = 0; pr < t->rows; pr++)
          {
            size_t at = (size_t) (r0 + pr) * d->w_out + c->c0;

            finish (j->y + plane + at, out + (size_t) co * ldc + (size_t) g * npix
                                         + (size_t) pr * c->nc,
                    res != NULL ? res + at : NULL, bias, (size_t) c->nc, j->relu);
          }
      }
}

static void
fused_worker (void *arg, size_t begin, size_t end)
{
  FusedJob *j = arg;

  for (size_t slot = begin; slot < end; slot++)
    for (;;)
      {
        size_t t = atomic_fetch_add (&j->next, 1);

        if (t >= j->n_tasks)
          break;
        if (j->rowwise)
          rowwise_task (j, &j->tasks[t]);
        else
          fused_task (j, &j->tasks[t], j->work + slot * j->per_thread);
      }
}

CpStatus
cp_cpu_conv2d_bias_act_forward (CpBackend *be, const CpConvDesc *d, const float *x,
                                const float *w, const float *bias, const float *residual,
                                int relu, float *y)
{
  FusedJob *j;
  int n_threads = cp_cpu_pool_threads (((CpCpuContext *) be->ctx)->pool);
  CpStatus st = CP_OK;

  if (cp_cpu_conv_desc_check (d) != CP_OK || x == NULL || w == NULL || bias == NULL || y == NULL)
    return CP_ERR_INVALID;
  /* The class table is large for the stack of a worker-less caller. */
  j = calloc (1, sizeof *j);
  if (j == NULL)
    return CP_ERR_NOMEM;
  j->d = d;
  j->x = x;
  j->w = w;
  j->bias = bias;
  j->residual = residual;
  j->relu = relu != 0;
  j->y = y;
  if (!fused_plan (j, n_threads))
    {
      free (j);
      return CP_ERR_NOMEM;
    }
  j->work = cp_cpu_workspace (be, j->per_thread * (size_t) n_threads);
  if (j->work == NULL)
    st = CP_ERR_NOMEM;
  else
    {
      atomic_init (&j->next, 0);
      if (n_threads < 2 || j->n_tasks < (size_t) n_threads)
        fused_worker (j, 0, 1);
      else
        {
          int saved = cp_cpu_blas_threads_single ();

          cp_cpu_parallel_for (be, (size_t) n_threads, 1, fused_worker, j);
          cp_cpu_blas_threads_restore (saved);
        }
    }
  free (j->tasks);
  free (j);
  return st;
}
