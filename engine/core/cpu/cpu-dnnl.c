/* cpu-dnnl.c: the CPU backend's convolutions through oneDNN, when the
 * build found it (CP_CPU_HAVE_DNNL).
 *
 * Why: im2col + OpenBLAS sgemm leaves most of the cores' speed unused on
 * ResNet-18 (ONNX Runtime ran our exported model 1.5 to 2.4 times faster,
 * PyTorch trained it faster).  oneDNN's JIT kernels work on blocked
 * layouts (16 channels innermost for AVX-512, 8 for AVX2, chosen at run
 * time for the CPU at hand) with the bias, the residual and the ReLU
 * applied while the output is in registers, and no unfolded copy of the
 * input.  The im2col path (cpu-conv.c, cpu-conv-fused.c) stays as the
 * fallback, and the direct loops (cpu-conv-reference.c) remain what both
 * are tested against.
 *
 * Our tensors stay NCHW between ops, so each call reorders its input into
 * the layout the primitive chose and the output back (what PyTorch does
 * with NCHW tensors too); the reorders are memory-bound and cost a few
 * percent of the arithmetic.  Weights are reordered on every call, except
 * the folded inference weights of a network, which the network pins
 * (cp_cpu_dnnl_pin): their reordered copy is kept until the pinned memory
 * is written (upload, copy, zero) or freed, so a batch-1 prediction does
 * not repack 11 M weights per image.
 *
 * Primitives are kept in a small cache keyed by the layer's shape, so a
 * training step or a forward pass only creates them on its first call.
 * oneDNN's own threads (OpenMP in Debian's build) do the work; the
 * backend's thread count is passed on before each call.
 *
 * The library is opened with dlopen when the first CPU backend is made,
 * not linked: a binary built with oneDNN's headers still runs (on the
 * im2col path) where the library is missing, and OpenMP's wait policy can
 * be set before libgomp reads it.  That matters: by default libgomp's idle
 * threads spin after every parallel region, and on a machine shared with
 * other work (or next to OpenBLAS's spinning threads) a spinning thread
 * holds the core the other one needs; measured at batch 1, S = 256, on the
 * loaded 2-core machine: 105 ms median per image spinning, 29 ms passive.
 * So unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set, it is set passive.
 */
#include "cpu-private.h"

#ifdef CP_CPU_HAVE_DNNL

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#define DNNL_API_FUNCTIONS(X) \
  X (dnnl_convolution_backward_data_desc_init) \
  X (dnnl_convolution_backward_weights_desc_init) \
  X (dnnl_convolution_forward_desc_init) \
  X (dnnl_engine_create) \
  X (dnnl_engine_destroy) \
  X (dnnl_memory_create) \
  X (dnnl_memory_desc_equal) \
  X (dnnl_memory_desc_get_size) \
  X (dnnl_memory_desc_init_by_strides) \
  X (dnnl_memory_desc_init_by_tag) \
  X (dnnl_memory_destroy) \
  X (dnnl_pooling_forward_desc_init) \
  X (dnnl_post_ops_append_eltwise) \
  X (dnnl_post_ops_append_sum) \
  X (dnnl_post_ops_create) \
  X (dnnl_post_ops_destroy) \
  X (dnnl_primitive_attr_create) \
  X (dnnl_primitive_attr_destroy) \
  X (dnnl_primitive_attr_set_post_ops) \
  X (dnnl_primitive_attr_set_scratchpad_mode) \
  X (dnnl_primitive_create) \
  X (dnnl_primitive_desc_create) \
  X (dnnl_primitive_desc_destroy) \
  X (dnnl_primitive_desc_query_md) \
  X (dnnl_primitive_destroy) \
  X (dnnl_primitive_execute) \
  X (dnnl_reorder_primitive_desc_create) \
  X (dnnl_stream_create) \
  X (dnnl_stream_destroy) \
  X (dnnl_stream_wait)

/* The library's entry points, resolved once by dnnl_open. */
static struct
{
#define X(f) __typeof__ (f) *f;
  DNNL_API_FUNCTIONS (X)
#undef X
  void (*omp_set_num_threads) (int);
} api;

static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static int api_ok;

static void
dnnl_open (void)
{
  void *lib, *gomp;

  if (getenv ("OMP_WAIT_POLICY") == NULL && getenv ("GOMP_SPINCOUNT") == NULL)
    setenv ("OMP_WAIT_POLICY", "passive", 0);
  lib = dlopen ("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    lib = dlopen ("libdnnl.so", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    return;
  /* Loaded with oneDNN, as its dependency. */
  gomp = dlopen ("libgomp.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  api_ok = 1;
#define X(f) \
  if ((api.f = (__typeof__ (f) *) dlsym (lib, #f)) == NULL) \
    api_ok = 0;
  DNNL_API_FUNCTIONS (X)
#undef X
  /* Without libgomp (a oneDNN built on another runtime) it picks its own
   * thread count. */
  if (gomp != NULL)
    api.omp_set_num_threads = (void (*) (int)) dlsym (gomp, "omp_set_num_threads");
}


#define CACHE_SIZE  96
#define PACKED_MAX  64
#define PINNED_MAX  16

typedef enum
{
  KIND_FUSED = 0,     /* inference: bias, optional residual (sum) and ReLU */
  KIND_FUSED_NHWC,    /* the same with (n, h, w, c) activations */
  KIND_FORWARD,       /* training forward, no bias */
  KIND_BACKWARD_DATA,
  KIND_BACKWARD_FILTER,
  KIND_MAXPOOL_NHWC,  /* inference pools: CpConvDesc with c_in = c_out */
  KIND_AVGPOOL_NHWC,
} Kind;

/* Buffers every call may need, grown to the largest size asked for. */
enum
{
  BUF_SRC = 0,   /* src (or diff_dst for backward data) in the primitive's layout */
  BUF_DST,       /* dst / diff_src / ... in the primitive's layout */
  BUF_WEI,       /* weights in the primitive's layout when not kept */
  BUF_AUX,       /* diff_dst of backward filter */
  BUF_SCRATCH,   /* the primitive's scratchpad */
  BUF_COUNT
};

typedef struct
{
  Kind                  kind;
  CpConvDesc            d;
  int                   residual, relu, x_nchw;
  size_t                w_ld;   /* fused 1x1 on one pixel: weight row stride, else 0 */
  dnnl_primitive_t      prim;
  /* Layouts: ours (u_*) and the primitive's (p_*).  For backward data
   * "in" is diff_dst and "out" diff_src; for backward filter "in" is src,
   * "aux" diff_dst and "wei" diff_weights. */
  dnnl_memory_desc_t    u_in, p_in, u_wei, p_wei, u_out, p_out, u_aux, p_aux, bias, scratch;
  dnnl_primitive_t      r_in, r_wei, r_out, r_res, r_aux;  /* NULL: same layout */
  unsigned long         used;
} Entry;

typedef struct
{
  const float       *w;
  dnnl_memory_desc_t md;
  void              *data;
  size_t             bytes;
} Packed;

struct CpDnnl
{
  dnnl_engine_t  engine;
  dnnl_stream_t  stream;
  int            threads;
  Entry          cache[CACHE_SIZE];
  int            n_cache;
  unsigned long  clock;
  Packed         packed[PACKED_MAX];
  int            n_packed;
  struct { const char *lo, *hi; } pinned[PINNED_MAX];
  int            n_pinned;
  void          *buf[BUF_COUNT];
  size_t         buf_bytes[BUF_COUNT];
};

/* CP_CPU_DNNL=0 keeps the im2col path (tests cover both). */
static int
disabled_by_env (void)
{
  const char *v = getenv ("CP_CPU_DNNL");

  return v != NULL && strcmp (v, "0") == 0;
}

CpDnnl *
cp_cpu_dnnl_new (int threads)
{
  CpDnnl *dn;

  if (disabled_by_env ())
    return NULL;
  pthread_once (&api_once, dnnl_open);
  if (!api_ok)
    return NULL;
  dn = calloc (1, sizeof *dn);
  if (dn == NULL)
    return NULL;
  if (api.dnnl_engine_create (&dn->engine, dnnl_cpu, 0) != dnnl_success)
    {
      free (dn);
      return NULL;
    }
  if (api.dnnl_stream_create (&dn->stream, dn->engine, dnnl_stream_default_flags) != dnnl_success)
    {
      api.dnnl_engine_destroy (dn->engine);
      free (dn);
      return NULL;
    }
  dn->threads = threads > 0 ? threads : 1;
  return dn;
}

static void
entry_clear (Entry *e)
{
  dnnl_primitive_t *prims[] = { &e->prim, &e->r_in, &e->r_wei, &e->r_out, &e->r_res, &e->r_aux };

  for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
    if (*prims[i] != NULL)
      {
        api.dnnl_primitive_destroy (*prims[i]);
        *prims[i] = NULL;
      }
}

void
cp_cpu_dnnl_free (CpDnnl *dn)
{
  if (dn == NULL)
    return;
  for (int i = 0; i < dn->n_cache; i++)
    entry_clear (&dn->cache[i]);
  for (int i = 0; i < dn->n_packed; i++)
    free (dn->packed[i].data);
  for (int i = 0; i < BUF_COUNT; i++)
    free (dn->buf[i]);
  api.dnnl_stream_destroy (dn->stream);
  api.dnnl_engine_destroy (dn->engine);
  free (dn);
}

void
cp_cpu_dnnl_pin (CpDnnl *dn, const void *ptr, size_t bytes)
{
  if (dn == NULL || ptr == NULL || dn->n_pinned == PINNED_MAX)
    return;
  for (int i = 0; i < dn->n_pinned; i++)
    if (dn->pinned[i].lo == (const char *) ptr)
      {
        dn->pinned[i].hi = (const char *) ptr + bytes;
        return;
      }
  dn->pinned[dn->n_pinned].lo = ptr;
  dn->pinned[dn->n_pinned].hi = (const char *) ptr + bytes;
  dn->n_pinned++;
}

void
cp_cpu_dnnl_written (CpDnnl *dn, const void *ptr, size_t bytes, int freed)
{
  const char *lo = ptr, *hi = (const char *) ptr + bytes;

  if (dn == NULL || ptr == NULL)
    return;
  if (freed)
    {
      /* Only pinned memory has packed copies: forget them and the pin. */
      int found = -1;

      for (int i = 0; i < dn->n_pinned; i++)
        if (dn->pinned[i].lo == lo)
          found = i;
      if (found < 0)
        return;
      hi = dn->pinned[found].hi;
      dn->pinned[found] = dn->pinned[--dn->n_pinned];
    }
  for (int i = 0; i < dn->n_packed;)
    {
      const char *w = (const char *) dn->packed[i].w;

      if (w >= lo && w < hi)
        {
          free (dn->packed[i].data);
          dn->packed[i] = dn->packed[--dn->n_packed];
        }
      else
        i++;
    }
}

static int
is_pinned (const CpDnnl *dn, const float *w)
{
  for (int i = 0; i < dn->n_pinned; i++)
    if ((const char *) w >= dn->pinned[i].lo && (const char *) w < dn->pinned[i].hi)
      return 1;
  return 0;
}

static void *
buffer (CpDnnl *dn, int which, size_t bytes)
{
  void *grown;

  if (bytes <= dn->buf_bytes[which] && dn->buf[which] != NULL)
    return dn->buf[which];
  grown = aligned_alloc (CP_CPU_ALIGNMENT, (bytes + CP_CPU_ALIGNMENT - 1) / CP_CPU_ALIGNMENT
                                               * CP_CPU_ALIGNMENT + CP_CPU_ALIGNMENT);
  if (grown == NULL)
    return NULL;
  free (dn->buf[which]);
  dn->buf[which] = grown;
  dn->buf_bytes[which] = bytes;
  return grown;
}

static int
md_tag (dnnl_memory_desc_t *md, dnnl_dim_t a, dnnl_dim_t b, dnnl_dim_t c, dnnl_dim_t e,
        dnnl_format_tag_t tag)
{
  dnnl_dims_t dims = { a, b, c, e };

  return api.dnnl_memory_desc_init_by_tag (md, 4, dims, dnnl_f32, tag) == dnnl_success;
}

/* A reorder from @from to @to, or NULL (and *ok kept) when they are the
 * same layout. */
static dnnl_primitive_t
make_reorder (CpDnnl *dn, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, int *ok)
{
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t prim = NULL;

  if (api.dnnl_memory_desc_equal (from, to))
    return NULL;
  if (api.dnnl_reorder_primitive_desc_create (&pd, from, dn->engine, to, dn->engine, NULL)
        != dnnl_success
      || api.dnnl_primitive_create (&prim, pd) != dnnl_success)
    {
      *ok = 0;
      prim = NULL;
    }
  if (pd != NULL)
    api.dnnl_primitive_desc_destroy (pd);
  return prim;
}

static int
same_key (const Entry *e, Kind kind, const CpConvDesc *d, int residual, int relu, int x_nchw,
          size_t w_ld)
{
  return e->prim != NULL && e->kind == kind && e->residual == residual && e->relu == relu
         && e->x_nchw == x_nchw && e->w_ld == w_ld && memcmp (&e->d, d, sizeof *d) == 0;
}

/* A cleared cache entry to fill: a free one, else the least recently
 * used. */
static Entry *
cache_slot (CpDnnl *dn)
{
  Entry *e;

  if (dn->n_cache < CACHE_SIZE)
    e = &dn->cache[dn->n_cache++];
  else
    {
      e = &dn->cache[0];
      for (int i = 1; i < CACHE_SIZE; i++)
        if (dn->cache[i].used < e->used)
          e = &dn->cache[i];
      entry_clear (e);
    }
  memset (e, 0, sizeof *e);
  return e;
}

/* The primitive and reorders of one layer shape, from the cache or made
 * now; NULL when oneDNN cannot make them. */
static Entry *
lookup (CpDnnl *dn, Kind kind, const CpConvDesc *d, int residual, int relu, int x_nchw,
        size_t w_ld)
{
  const int fused = kind == KIND_FUSED || kind == KIND_FUSED_NHWC;
  /* Channels last: the primitive works on our layout itself (oneDNN's
   * brgemm kernels take it directly), only the images are reordered. */
  const dnnl_format_tag_t act = kind == KIND_FUSED_NHWC ? dnnl_nhwc : dnnl_format_tag_any;
  const dnnl_format_tag_t user = kind == KIND_FUSED_NHWC ? dnnl_nhwc : dnnl_nchw;
  dnnl_memory_desc_t a_src, a_wei, a_dst, bias_md, u_src, u_wei, u_dst;
  dnnl_convolution_desc_t cd;
  dnnl_primitive_desc_t pd = NULL, hint = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_dims_t strides = { d->stride, d->stride };
  dnnl_dims_t pad_l = { d->pad, d->pad }, pad_r;
  Entry *e = NULL;
  int ok = 1;

  for (int i = 0; i < dn->n_cache; i++)
    if (same_key (&dn->cache[i], kind, d, residual, relu, x_nchw, w_ld))
      {
        dn->cache[i].used = ++dn->clock;
        return &dn->cache[i];
      }

  /* Right padding so that the output size comes out as ours (stride 2
   * with an odd remainder leaves input columns unread). */
  pad_r[0] = (d->h_out - 1) * d->stride + d->kh - d->h_in - d->pad;
  pad_r[1] = (d->w_out - 1) * d->stride + d->kw - d->w_in - d->pad;

  if (!md_tag (&a_src, d->n, d->c_in, d->h_in, d->w_in, act)
      || !md_tag (&a_wei, d->c_out, d->c_in, d->kh, d->kw, dnnl_format_tag_any)
      || !md_tag (&a_dst, d->n, d->c_out, d->h_out, d->w_out, act)
      || !md_tag (&u_src, d->n, d->c_in, d->h_in, d->w_in, x_nchw ? dnnl_nchw : user)
      || !md_tag (&u_wei, d->c_out, d->c_in, d->kh, d->kw, fused ? dnnl_ohwi : dnnl_oihw)
      || !md_tag (&u_dst, d->n, d->c_out, d->h_out, d->w_out, user))
    return NULL;
  if (w_ld != 0)
    {
      /* The centre tap of (c_out, kh, kw, c_in) weights: rows w_ld apart. */
      dnnl_dims_t dims = { d->c_out, d->c_in, 1, 1 };
      dnnl_dims_t strides = { (dnnl_dim_t) w_ld, 1, 1, 1 };

      if (api.dnnl_memory_desc_init_by_strides (&u_wei, 4, dims, dnnl_f32, strides)
          != dnnl_success)
        return NULL;
    }
  {
    dnnl_dims_t bd = { d->c_out };

    if (api.dnnl_memory_desc_init_by_tag (&bias_md, 1, bd, dnnl_f32, dnnl_a) != dnnl_success)
      return NULL;
  }

  if (api.dnnl_primitive_attr_create (&attr) != dnnl_success)
    return NULL;
  api.dnnl_primitive_attr_set_scratchpad_mode (attr, dnnl_scratchpad_mode_user);
  if (fused && (residual || relu))
    {
      if (api.dnnl_post_ops_create (&po) != dnnl_success)
        ok = 0;
      if (ok && residual)
        ok = api.dnnl_post_ops_append_sum (po, 1.0f) == dnnl_success;
      if (ok && relu)
        ok = api.dnnl_post_ops_append_eltwise (po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f)
             == dnnl_success;
      if (ok)
        ok = api.dnnl_primitive_attr_set_post_ops (attr, po) == dnnl_success;
    }

  if (ok && !fused)
    {
      /* Backward primitives want the forward one as a hint, and training
       * uses one primitive layout for all three. */
      ok = api.dnnl_convolution_forward_desc_init (&cd, dnnl_forward_training,
                                               dnnl_convolution_direct, &a_src, &a_wei, NULL,
                                               &a_dst, strides, pad_l, pad_r) == dnnl_success
           && api.dnnl_primitive_desc_create (&hint, &cd, kind == KIND_FORWARD ? attr : NULL,
                                          dn->engine, NULL) == dnnl_success;
    }
  if (ok)
    {
      switch (kind)
        {
        case KIND_FUSED:
        case KIND_FUSED_NHWC:
          ok = api.dnnl_convolution_forward_desc_init (&cd, dnnl_forward_inference,
                                                   dnnl_convolution_direct, &a_src, &a_wei,
                                                   &bias_md, &a_dst, strides, pad_l, pad_r)
               == dnnl_success;
          break;
        case KIND_FORWARD:
          break;
        case KIND_MAXPOOL_NHWC:
        case KIND_AVGPOOL_NHWC:
          ok = 0;   /* lookup_pool */
          break;
        case KIND_BACKWARD_DATA:
          ok = api.dnnl_convolution_backward_data_desc_init (&cd, dnnl_convolution_direct, &a_src,
                                                         &a_wei, &a_dst, strides, pad_l, pad_r)
               == dnnl_success;
          break;
        case KIND_BACKWARD_FILTER:
          ok = api.dnnl_convolution_backward_weights_desc_init (&cd, dnnl_convolution_direct,
                                                            &a_src, &a_wei, NULL, &a_dst,
                                                            strides, pad_l, pad_r)
               == dnnl_success;
          break;
        }
    }
  if (ok && kind != KIND_FORWARD)
    ok = api.dnnl_primitive_desc_create (&pd, &cd, attr, dn->engine, hint) == dnnl_success;
  else if (ok)
    {
      pd = hint;
      hint = NULL;
    }

  if (ok)
    {
      e = cache_slot (dn);
      e->kind = kind;
      e->d = *d;
      e->residual = residual;
      e->relu = relu;
      e->x_nchw = x_nchw;
      e->w_ld = w_ld;
      e->bias = bias_md;
      e->scratch = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_scratchpad_md, 0);
      switch (kind)
        {
        case KIND_FUSED:
        case KIND_FUSED_NHWC:
        case KIND_FORWARD:
          e->u_in = u_src;
          e->p_in = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_src_md, 0);
          e->u_wei = u_wei;
          e->p_wei = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
          e->u_out = u_dst;
          e->p_out = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_dst_md, 0);
          break;
        case KIND_BACKWARD_DATA:
          e->u_in = u_dst;
          e->p_in = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_diff_dst_md, 0);
          e->u_wei = u_wei;
          e->p_wei = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_weights_md, 0);
          e->u_out = u_src;
          e->p_out = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_diff_src_md, 0);
          break;
        case KIND_BACKWARD_FILTER:
          e->u_in = u_src;
          e->p_in = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_src_md, 0);
          e->u_aux = u_dst;
          e->p_aux = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_diff_dst_md, 0);
          e->u_wei = u_wei;
          e->p_wei = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_diff_weights_md, 0);
          break;
        case KIND_MAXPOOL_NHWC:
        case KIND_AVGPOOL_NHWC:
          break;
        }
      ok = api.dnnl_primitive_create (&e->prim, pd) == dnnl_success;
      if (ok)
        {
          e->r_in = make_reorder (dn, &e->u_in, &e->p_in, &ok);
          if (kind == KIND_BACKWARD_FILTER)
            {
              e->r_aux = make_reorder (dn, &e->u_aux, &e->p_aux, &ok);
              e->r_wei = make_reorder (dn, &e->p_wei, &e->u_wei, &ok);
            }
          else
            {
              e->r_wei = make_reorder (dn, &e->u_wei, &e->p_wei, &ok);
              e->r_out = make_reorder (dn, &e->p_out, &e->u_out, &ok);
            }
          if (fused && residual)
            e->r_res = make_reorder (dn, &e->u_out, &e->p_out, &ok);
        }
      if (!ok)
        {
          entry_clear (e);
          e = NULL;
        }
      else
        e->used = ++dn->clock;
    }

  if (pd != NULL)
    api.dnnl_primitive_desc_destroy (pd);
  if (hint != NULL)
    api.dnnl_primitive_desc_destroy (hint);
  if (po != NULL)
    api.dnnl_post_ops_destroy (po);
  api.dnnl_primitive_attr_destroy (attr);
  return e;
}

/* A pooling primitive on (n, h, w, c) tensors, from the cache or made now. */
static Entry *
lookup_pool (CpDnnl *dn, Kind kind, const CpConvDesc *d)
{
  dnnl_memory_desc_t src, dst;
  dnnl_pooling_desc_t pdesc;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_dims_t strides = { d->stride, d->stride }, kernel = { d->kh, d->kw };
  dnnl_dims_t pad_l = { d->pad, d->pad }, pad_r;
  Entry *e = NULL;

  for (int i = 0; i < dn->n_cache; i++)
    if (same_key (&dn->cache[i], kind, d, 0, 0, 0, 0))
      {
        dn->cache[i].used = ++dn->clock;
        return &dn->cache[i];
      }
  pad_r[0] = (d->h_out - 1) * d->stride + d->kh - d->h_in - d->pad;
  pad_r[1] = (d->w_out - 1) * d->stride + d->kw - d->w_in - d->pad;
  if (!md_tag (&src, d->n, d->c_in, d->h_in, d->w_in, dnnl_nhwc)
      || !md_tag (&dst, d->n, d->c_out, d->h_out, d->w_out, dnnl_nhwc)
      || api.dnnl_pooling_forward_desc_init (&pdesc, dnnl_forward_inference,
                                         kind == KIND_MAXPOOL_NHWC ? dnnl_pooling_max
                                                                   : dnnl_pooling_avg_exclude_padding,
                                         &src, &dst, strides, kernel, pad_l, pad_r)
           != dnnl_success
      || api.dnnl_primitive_attr_create (&attr) != dnnl_success)
    return NULL;
  api.dnnl_primitive_attr_set_scratchpad_mode (attr, dnnl_scratchpad_mode_user);
  if (api.dnnl_primitive_desc_create (&pd, &pdesc, attr, dn->engine, NULL) == dnnl_success)
    {
      e = cache_slot (dn);
      e->kind = kind;
      e->d = *d;
      e->u_in = e->p_in = src;
      e->u_out = e->p_out = dst;
      e->scratch = *api.dnnl_primitive_desc_query_md (pd, dnnl_query_scratchpad_md, 0);
      if (api.dnnl_primitive_create (&e->prim, pd) != dnnl_success)
        {
          e->prim = NULL;
          e = NULL;
        }
      else
        e->used = ++dn->clock;
      api.dnnl_primitive_desc_destroy (pd);
    }
  api.dnnl_primitive_attr_destroy (attr);
  return e;
}

/* Runs @prim with @n (argument, descriptor, pointer) triples. */
typedef struct
{
  int                       arg;
  const dnnl_memory_desc_t *md;
  const void               *ptr;
} Arg;

static int
run (CpDnnl *dn, dnnl_primitive_t prim, const Arg *args, int n)
{
  dnnl_exec_arg_t ea[8];
  int ok = 1, made = 0;

  for (; made < n; made++)
    {
      ea[made].arg = args[made].arg;
      if (api.dnnl_memory_create (&ea[made].memory, args[made].md, dn->engine,
                              (void *) args[made].ptr) != dnnl_success)
        {
          ok = 0;
          break;
        }
    }
  if (ok)
    ok = api.dnnl_primitive_execute (prim, dn->stream, n, ea) == dnnl_success
         && api.dnnl_stream_wait (dn->stream) == dnnl_success;
  for (int i = 0; i < made; i++)
    api.dnnl_memory_destroy (ea[i].memory);
  return ok;
}

static int
reorder (CpDnnl *dn, dnnl_primitive_t r, const dnnl_memory_desc_t *from, const void *src,
         const dnnl_memory_desc_t *to, void *dst)
{
  Arg args[2] = { { DNNL_ARG_FROM, from, src }, { DNNL_ARG_TO, to, dst } };

  return run (dn, r, args, 2);
}

/* The primitive-layout copy of @ptr (layout @u): @ptr itself when no
 * reorder is needed, else a reorder into buffer @which. */
static const void *
to_primitive (CpDnnl *dn, dnnl_primitive_t r, const dnnl_memory_desc_t *u,
              const dnnl_memory_desc_t *p, const void *ptr, int which)
{
  void *dst;

  if (r == NULL)
    return ptr;
  dst = buffer (dn, which, api.dnnl_memory_desc_get_size (p));
  if (dst == NULL || !reorder (dn, r, u, ptr, p, dst))
    return NULL;
  return dst;
}

/* The folded weights in the primitive's layout: kept between calls when
 * the memory is pinned. */
static const void *
fused_weights (CpDnnl *dn, const Entry *e, const float *w)
{
  Packed *pk;

  if (e->r_wei == NULL)
    return w;
  if (!is_pinned (dn, w))
    return to_primitive (dn, e->r_wei, &e->u_wei, &e->p_wei, w, BUF_WEI);
  for (int i = 0; i < dn->n_packed; i++)
    if (dn->packed[i].w == w && api.dnnl_memory_desc_equal (&dn->packed[i].md, &e->p_wei))
      return dn->packed[i].data;
  if (dn->n_packed == PACKED_MAX)
    {
      /* Full: forget the oldest (another network's, most likely). */
      free (dn->packed[0].data);
      memmove (&dn->packed[0], &dn->packed[1], (PACKED_MAX - 1) * sizeof (Packed));
      dn->n_packed--;
    }
  pk = &dn->packed[dn->n_packed];
  pk->bytes = api.dnnl_memory_desc_get_size (&e->p_wei);
  pk->data = aligned_alloc (CP_CPU_ALIGNMENT,
                            (pk->bytes + CP_CPU_ALIGNMENT - 1) / CP_CPU_ALIGNMENT
                              * CP_CPU_ALIGNMENT);
  if (pk->data == NULL)
    return to_primitive (dn, e->r_wei, &e->u_wei, &e->p_wei, w, BUF_WEI);
  if (!reorder (dn, e->r_wei, &e->u_wei, w, &e->p_wei, pk->data))
    {
      free (pk->data);
      return NULL;
    }
  pk->w = w;
  pk->md = e->p_wei;
  dn->n_packed++;
  return pk->data;
}

static void
set_threads (CpDnnl *dn)
{
  /* Per calling thread in OpenMP: set before every call, as the backend
   * may be used from another thread than the one that made it. */
  if (api.omp_set_num_threads != NULL)
    api.omp_set_num_threads (dn->threads);
}

static CpStatus
conv_fused (CpDnnl *dn, Kind kind, const CpConvDesc *d, const float *x, int x_nchw,
            const float *w, const float *bias, const float *residual, int relu, float *y)
{
  Entry *e;
  const void *src, *wei;
  void *dst, *scratch;
  CpConvDesc one;
  size_t w_ld = 0;

  set_threads (dn);
  if (d->h_in == 1 && d->w_in == 1 && d->h_out == 1 && d->w_out == 1 && d->kh * d->kw > 1
      && d->pad < d->kh && d->pad < d->kw)
    {
      /* One pixel in and out (ResNet-18's last stage on a 32 x 32 patch):
       * only the centre tap sees the input, the others only padding, so
       * the layer is a 1x1 convolution with that tap's weights: 1/9 of
       * the products for a 3 x 3 kernel, the same sums. */
      cp_conv_desc_init (&one, d->n, d->c_in, 1, 1, d->c_out, 1, 1, 1, 0);
      w_ld = (size_t) d->kh * d->kw * d->c_in;
      w += ((size_t) d->pad * d->kw + d->pad) * d->c_in;
      d = &one;
    }
  e = lookup (dn, kind, d, residual != NULL, relu != 0, x_nchw, w_ld);
  if (e == NULL)
    return CP_ERR_UNSUPPORTED;
  src = to_primitive (dn, e->r_in, &e->u_in, &e->p_in, x, BUF_SRC);
  wei = fused_weights (dn, e, w);
  dst = e->r_out == NULL ? (void *) y : buffer (dn, BUF_DST, api.dnnl_memory_desc_get_size (&e->p_out));
  scratch = buffer (dn, BUF_SCRATCH, api.dnnl_memory_desc_get_size (&e->scratch));
  if (src == NULL || wei == NULL || dst == NULL || scratch == NULL)
    return CP_ERR_NOMEM;
  if (residual != NULL)
    {
      /* The sum post-op adds what dst holds. */
      if (e->r_res == NULL)
        memcpy (dst, residual, api.dnnl_memory_desc_get_size (&e->u_out));
      else if (!reorder (dn, e->r_res, &e->u_out, residual, &e->p_out, dst))
        return CP_ERR_UNSUPPORTED;
    }
  {
    Arg args[] = { { DNNL_ARG_SRC, &e->p_in, src },
                   { DNNL_ARG_WEIGHTS, &e->p_wei, wei },
                   { DNNL_ARG_BIAS, &e->bias, bias },
                   { DNNL_ARG_DST, &e->p_out, dst },
                   { DNNL_ARG_SCRATCHPAD, &e->scratch, scratch } };

    if (!run (dn, e->prim, args, 5))
      return CP_ERR_UNSUPPORTED;
  }
  if (e->r_out != NULL && !reorder (dn, e->r_out, &e->p_out, dst, &e->u_out, y))
    return CP_ERR_UNSUPPORTED;
  return CP_OK;
}

CpStatus
cp_cpu_dnnl_conv_fused (CpDnnl *dn, const CpConvDesc *d, const float *x, const float *w,
                        const float *bias, const float *residual, int relu, float *y)
{
  return conv_fused (dn, KIND_FUSED, d, x, 1, w, bias, residual, relu, y);
}

CpStatus
cp_cpu_dnnl_conv_fused_nhwc (CpDnnl *dn, const CpConvDesc *d, const float *x, int x_nchw,
                             const float *w, const float *bias, const float *residual, int relu,
                             float *y)
{
  return conv_fused (dn, KIND_FUSED_NHWC, d, x, x_nchw != 0, w, bias, residual, relu, y);
}

/* Max pool (kernel, stride, pad) or, with kernel 0, the global average
 * pool, of (n, h, w, c) tensors: on oneDNN's threads like the
 * convolutions around them, so that the backend's pool is not woken
 * between two convolutions while oneDNN's threads still spin. */
CpStatus
cp_cpu_dnnl_pool_nhwc (CpDnnl *dn, int n, int c, int h, int w, int kernel, int stride, int pad,
                       const float *x, float *y)
{
  CpConvDesc d;
  Entry *e;
  void *scratch;

  set_threads (dn);
  if (kernel == 0)
    cp_conv_desc_init (&d, n, c, h, w, c, h, w, 1, 0);
  else
    cp_conv_desc_init (&d, n, c, h, w, c, kernel, kernel, stride, pad);
  e = lookup_pool (dn, kernel == 0 ? KIND_AVGPOOL_NHWC : KIND_MAXPOOL_NHWC, &d);
  if (e == NULL)
    return CP_ERR_UNSUPPORTED;
  scratch = buffer (dn, BUF_SCRATCH, api.dnnl_memory_desc_get_size (&e->scratch));
  if (scratch == NULL)
    return CP_ERR_NOMEM;
  {
    Arg args[] = { { DNNL_ARG_SRC, &e->p_in, x },
                   { DNNL_ARG_DST, &e->p_out, y },
                   { DNNL_ARG_SCRATCHPAD, &e->scratch, scratch } };

    if (!run (dn, e->prim, args, 3))
      return CP_ERR_UNSUPPORTED;
  }
  return CP_OK;
}

/* One operand of a training convolution: its oneDNN argument, the reorder
 * between our layout (@u) and the primitive's (@p), NULL when they are
 * the same, and the buffer that holds the primitive-layout copy. */
typedef struct
{
  int                       arg;
  dnnl_primitive_t          r;
  const dnnl_memory_desc_t *u, *p;
  int                       which;
} Operand;

/* Runs the training convolution @kind on inputs @a and @b, writing @out;
 * the three kinds differ only in which operand is which. */
static CpStatus
conv_training (CpDnnl *dn, Kind kind, const CpConvDesc *d, const float *a, const float *b,
               float *out)
{
  Entry *e;
  Operand in_a, in_b, res;
  const void *pa, *pb;
  void *pout, *scratch;

  set_threads (dn);
  e = lookup (dn, kind, d, 0, 0, 1, 0);
  if (e == NULL)
    return CP_ERR_UNSUPPORTED;
  switch (kind)
    {
    case KIND_FORWARD:
      in_a = (Operand) { DNNL_ARG_SRC, e->r_in, &e->u_in, &e->p_in, BUF_SRC };
      in_b = (Operand) { DNNL_ARG_WEIGHTS, e->r_wei, &e->u_wei, &e->p_wei, BUF_WEI };
      res = (Operand) { DNNL_ARG_DST, e->r_out, &e->u_out, &e->p_out, BUF_DST };
      break;
    case KIND_BACKWARD_DATA:
      in_a = (Operand) { DNNL_ARG_DIFF_DST, e->r_in, &e->u_in, &e->p_in, BUF_SRC };
      in_b = (Operand) { DNNL_ARG_WEIGHTS, e->r_wei, &e->u_wei, &e->p_wei, BUF_WEI };
      res = (Operand) { DNNL_ARG_DIFF_SRC, e->r_out, &e->u_out, &e->p_out, BUF_DST };
      break;
    case KIND_BACKWARD_FILTER:
      in_a = (Operand) { DNNL_ARG_SRC, e->r_in, &e->u_in, &e->p_in, BUF_SRC };
      in_b = (Operand) { DNNL_ARG_DIFF_DST, e->r_aux, &e->u_aux, &e->p_aux, BUF_AUX };
      res = (Operand) { DNNL_ARG_DIFF_WEIGHTS, e->r_wei, &e->u_wei, &e->p_wei, BUF_WEI };
      break;
    default:
      return CP_ERR_UNSUPPORTED;
    }
  pa = to_primitive (dn, in_a.r, in_a.u, in_a.p, a, in_a.which);
  pb = to_primitive (dn, in_b.r, in_b.u, in_b.p, b, in_b.which);
  pout = res.r == NULL ? (void *) out
                       : buffer (dn, res.which, api.dnnl_memory_desc_get_size (res.p));
  scratch = buffer (dn, BUF_SCRATCH, api.dnnl_memory_desc_get_size (&e->scratch));
  if (pa == NULL || pb == NULL || pout == NULL || scratch == NULL)
    return CP_ERR_NOMEM;
  {
    Arg args[] = { { in_a.arg, in_a.p, pa },
                   { in_b.arg, in_b.p, pb },
                   { res.arg, res.p, pout },
                   { DNNL_ARG_SCRATCHPAD, &e->scratch, scratch } };

    if (!run (dn, e->prim, args, 4))
      return CP_ERR_UNSUPPORTED;
  }
  if (res.r != NULL && !reorder (dn, res.r, res.p, pout, res.u, out))
    return CP_ERR_UNSUPPORTED;
  return CP_OK;
}

CpStatus
cp_cpu_dnnl_conv_forward (CpDnnl *dn, const CpConvDesc *d, const float *x, const float *w,
                          float *y)
{
  return conv_training (dn, KIND_FORWARD, d, x, w, y);
}

CpStatus
cp_cpu_dnnl_conv_backward_data (CpDnnl *dn, const CpConvDesc *d, const float *dy,
                                const float *w, float *dx)
{
  return conv_training (dn, KIND_BACKWARD_DATA, d, dy, w, dx);
}

CpStatus
cp_cpu_dnnl_conv_backward_filter (CpDnnl *dn, const CpConvDesc *d, const float *x,
                                  const float *dy, float *dw)
{
  return conv_training (dn, KIND_BACKWARD_FILTER, d, x, dy, dw);
}

#endif /* CP_CPU_HAVE_DNNL */

#ifndef CP_CPU_HAVE_DNNL

/* Without oneDNN every convolution takes the im2col path. */
CpDnnl *
cp_cpu_dnnl_new (int threads)
{
  (void) threads;
  return NULL;
}

void
cp_cpu_dnnl_free (CpDnnl *dn)
{
  (void) dn;
}

void
cp_cpu_dnnl_pin (CpDnnl *dn, const void *ptr, size_t bytes)
{
  (void) dn;
  (void) ptr;
  (void) bytes;
}

void
cp_cpu_dnnl_written (CpDnnl *dn, const void *ptr, size_t bytes, int freed)
{
  (void) dn;
  (void) ptr;
  (void) bytes;
  (void) freed;
}

CpStatus
cp_cpu_dnnl_conv_fused (CpDnnl *dn, const CpConvDesc *d, const float *x, const float *w,
                        const float *bias, const float *residual, int relu, float *y)
{
  return CP_ERR_UNSUPPORTED;
}

CpStatus
cp_cpu_dnnl_conv_fused_nhwc (CpDnnl *dn, const CpConvDesc *d, const float *x, int x_nchw,
                             const float *w, const float *bias, const float *residual, int relu,
                             float *y)
{
  return CP_ERR_UNSUPPORTED;
}

CpStatus
cp_cpu_dnnl_conv_forward (CpDnnl *dn, const CpConvDesc *d, const float *x, const float *w,
                          float *y)
{
  return CP_ERR_UNSUPPORTED;
}

CpStatus
cp_cpu_dnnl_conv_backward_data (CpDnnl *dn, const CpConvDesc *d, const float *dy,
                                const float *w, float *dx)
{
  return CP_ERR_UNSUPPORTED;
}

CpStatus
cp_cpu_dnnl_conv_backward_filter (CpDnnl *dn, const CpConvDesc *d, const float *x,
                                  const float *dy, float *dw)
{
  return CP_ERR_UNSUPPORTED;
}

CpStatus
cp_cpu_dnnl_pool_nhwc (CpDnnl *dn, int n, int c, int h, int w, int kernel, int stride, int pad,
                       const float *x, float *y)
{
  return CP_ERR_UNSUPPORTED;
}

#endif /* !CP_CPU_HAVE_DNNL */
