/* cpu-backend.c: the CPU backend object, its memory ops and workspace.
 *
 * Backend memory is ordinary host memory, so upload, download and copy are
 * memcpy and synchronize has nothing to wait for.
 */
#include "cpu-private.h"

#include <stdlib.h>
#include <string.h>

static void *
cp_cpu_alloc (CpBackend *be, size_t bytes, CpError *error)
{
  size_t rounded;
  void *ptr;

  (void) be;
  /* aligned_alloc wants a multiple of the alignment, and a zero-byte
   * request still gets a pointer that free() accepts. */
  if (bytes > SIZE_MAX - CP_CPU_ALIGNMENT)
    {
      cp_error_set (error, CP_ERR_NOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
      return NULL;
    }
  rounded = (bytes + CP_CPU_ALIGNMENT - 1) / CP_CPU_ALIGNMENT * CP_CPU_ALIGNMENT;
  if (rounded == 0)
    rounded = CP_CPU_ALIGNMENT;
  ptr = aligned_alloc (CP_CPU_ALIGNMENT, rounded);
  if (ptr == NULL)
    cp_error_set (error, CP_ERR_NOMEM, "cpu backend: out of memory allocating %zu bytes", bytes);
  return ptr;
}

static void
cp_cpu_free (CpBackend *be, void *ptr)
{
  cp_cpu_dnnl_written (((CpCpuContext *) be->ctx)->dnnl, ptr, 0, 1);
  free (ptr);
}

static CpStatus
cp_cpu_copy (CpBackend *be, void *dst, const void *src, size_t bytes, CpError *error)
{
  cp_cpu_dnnl_written (((CpCpuContext *) be->ctx)->dnnl, dst, bytes, 0);
  if (bytes == 0)
    return CP_OK;
  if (dst == NULL || src == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cpu backend: copy of %zu bytes with a NULL pointer",
                         bytes);
  memmove (dst, src, bytes);
  return CP_OK;
}

/* Backend memory is host memory: uploads and downloads are copies. */
#define cp_cpu_upload   cp_cpu_copy
#define cp_cpu_download cp_cpu_copy

static CpStatus
cp_cpu_zero (CpBackend *be, void *dst, size_t bytes, CpError *error)
{
  cp_cpu_dnnl_written (((CpCpuContext *) be->ctx)->dnnl, dst, bytes, 0);
  if (bytes == 0)
    return CP_OK;
  if (dst == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cpu backend: zero of %zu bytes at NULL", bytes);
  memset (dst, 0, bytes);
  return CP_OK;
}

static CpStatus
cp_cpu_synchronize (CpBackend *be, CpError *error)
{
  (void) be;
  (void) error;
  return CP_OK;
}

static void
cp_cpu_destroy (CpBackend *be)
{
  CpCpuContext *ctx = be->ctx;

  if (ctx != NULL)
    {
      cp_cpu_dnnl_free (ctx->dnnl);
      cp_cpu_pool_free (ctx->pool);
      free (ctx->workspace);
    }
  free (ctx);
  free (be);
}

static void
cp_cpu_pin (CpBackend *be, const void *ptr, size_t bytes)
{
  cp_cpu_dnnl_pin (((CpCpuContext *) be->ctx)->dnnl, ptr, bytes);
}

/* The convolutions: oneDNN's when it takes the shape, else im2col. */
static CpStatus
cpu_conv2d_forward (CpBackend *be, const CpConvDesc *d, const float *x, const float *w, float *y)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  if (dn != NULL && cp_cpu_conv_desc_check (d) == CP_OK && x != NULL && w != NULL && y != NULL
      && cp_cpu_dnnl_conv_forward (dn, d, x, w, y) == CP_OK)
    return CP_OK;
  return cp_cpu_conv2d_forward (be, d, x, w, y);
}

static CpStatus
cpu_conv2d_backward_data (CpBackend *be, const CpConvDesc *d, const float *dy, const float *w,
                          float *dx)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  if (dn != NULL && cp_cpu_conv_desc_check (d) == CP_OK && dy != NULL && w != NULL && dx != NULL
      && cp_cpu_dnnl_conv_backward_data (dn, d, dy, w, dx) == CP_OK)
    return CP_OK;
  return cp_cpu_conv2d_backward_data (be, d, dy, w, dx);
}

static CpStatus
cpu_conv2d_backward_filter (CpBackend *be, const CpConvDesc *d, const float *x, const float *dy,
                            float *dw)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  if (dn != NULL && cp_cpu_conv_desc_check (d) == CP_OK && x != NULL && dy != NULL && dw != NULL
      && cp_cpu_dnnl_conv_backward_filter (dn, d, x, dy, dw) == CP_OK)
    return CP_OK;
  return cp_cpu_conv2d_backward_filter (be, d, x, dy, dw);
}

static CpStatus
cpu_conv2d_bias_act_forward (CpBackend *be, const CpConvDesc *d, const float *x, const float *w,
                             const float *bias, const float *residual, int relu, float *y)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  if (dn != NULL && cp_cpu_conv_desc_check (d) == CP_OK && x != NULL && w != NULL
      && bias != NULL && y != NULL
      && cp_cpu_dnnl_conv_fused (dn, d, x, w, bias, residual, relu, y) == CP_OK)
    return CP_OK;
  return cp_cpu_conv2d_bias_act_forward (be, d, x, w, bias, residual, relu, y);
}

static CpStatus
cpu_conv2d_bias_act_forward_nhwc (CpBackend *be, const CpConvDesc *d, const float *x,
                                  int x_nchw, const float *w, const float *bias,
                                  const float *residual, int relu, float *y)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  if (dn == NULL)
    return CP_ERR_UNSUPPORTED;
  if (cp_cpu_conv_desc_check (d) != CP_OK || x == NULL || w == NULL || bias == NULL || y == NULL)
    return CP_ERR_INVALID;
  return cp_cpu_dnnl_conv_fused_nhwc (dn, d, x, x_nchw, w, bias, residual, relu, y);
}

static CpStatus
cpu_maxpool_forward_nhwc (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                          int pad, const float *x, float *y)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  if (dn != NULL && kernel > 0 && 2 * pad <= kernel && x != NULL && y != NULL
      && cp_cpu_dnnl_pool_nhwc (dn, n, c, h, w, kernel, stride, pad, x, y) == CP_OK)
    return CP_OK;
  return cp_cpu_maxpool_forward_nhwc (be, n, c, h, w, kernel, stride, pad, x, y);
}

static CpStatus
cpu_avgpool_forward_nhwc (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  CpDnnl *dn = ((CpCpuContext *) be->ctx)->dnnl;

  /* oneDNN's pool wants a 2-D map: a row of hw pixels is the same mean. */
  if (dn != NULL && n > 0 && c > 0 && hw > 0 && x != NULL && y != NULL
      && cp_cpu_dnnl_pool_nhwc (dn, n, c, 1, hw, 0, 1, 0, x, y) == CP_OK)
    return CP_OK;
  return cp_cpu_avgpool_forward_nhwc (be, n, c, hw, x, y);
}

float *
cp_cpu_workspace (CpBackend *be, size_t floats)
{
  CpCpuContext *ctx = be->ctx;
  float *grown;

  if (floats <= ctx->workspace_floats)
    return ctx->workspace;
  /* Grow once to the largest size asked for: the convolution tiling bounds
   * it, so it settles after the first training step. */
  grown = aligned_alloc (CP_CPU_ALIGNMENT,
                         (floats * sizeof (float) + CP_CPU_ALIGNMENT - 1)
                         / CP_CPU_ALIGNMENT * CP_CPU_ALIGNMENT);
  if (grown == NULL)
    return NULL;
  free (ctx->workspace);
  ctx->workspace = grown;
  ctx->workspace_floats = floats;
  return grown;
}

CpBackend *
cp_backend_cpu_new (CpError *error)
{
  CpBackend *be = calloc (1, sizeof *be);
  CpCpuContext *ctx = calloc (1, sizeof *ctx);

  if (be == NULL || ctx == NULL)
    {
      free (be);
      free (ctx);
      cp_error_set (error, CP_ERR_NOMEM, "cpu backend: out of memory");
      return NULL;
    }

  /* Without worker threads the backend still works, on one core. */
  ctx->pool = cp_cpu_pool_new ();
#ifdef CP_CPU_HAVE_DNNL
  ctx->dnnl = cp_cpu_dnnl_new (cp_cpu_pool_threads (ctx->pool));
#endif

  be->name = "cpu";
  be->ctx = ctx;
#define CP_CPU_FILL(op) be->op = cp_cpu_##op;
  CP_BACKEND_OPS (CP_CPU_FILL)
  CP_CPU_FILL (conv2d_bias_act_forward)
  CP_CPU_FILL (pin)
#undef CP_CPU_FILL
  /* The convolutions go to oneDNN when it is there and takes the shape
   * (cp_cpu_conv2d_* above are the im2col paths they fall back to). */
  be->conv2d_forward = cpu_conv2d_forward;
  be->conv2d_backward_data = cpu_conv2d_backward_data;
  be->conv2d_backward_filter = cpu_conv2d_backward_filter;
  be->conv2d_bias_act_forward = cpu_conv2d_bias_act_forward;
  /* Channels last only pays with convolutions that work in it. */
  if (ctx->dnnl != NULL)
    {
      be->conv2d_bias_act_forward_nhwc = cpu_conv2d_bias_act_forward_nhwc;
      be->maxpool_forward_nhwc = cpu_maxpool_forward_nhwc;
      be->avgpool_forward_nhwc = cpu_avgpool_forward_nhwc;
    }
  return be;
}
