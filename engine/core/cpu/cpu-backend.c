/* cpu-backend.c: the CPU backend object, its memory ops and workspace.
 *
 * Backend memory is ordinary host memory, so upload, download and copy are
 * memcpy and synchronize has nothing to wait for.
 */
#include "cpu-private.h"

#include <stdlib.h>
#include <string.h>

static void *
cpu_alloc (CpBackend *be, size_t bytes, CpError *error)
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
cpu_free (CpBackend *be, void *ptr)
{
  (void) be;
  free (ptr);
}

static CpStatus
cpu_copy (CpBackend *be, void *dst, const void *src, size_t bytes, CpError *error)
{
  (void) be;
  if (bytes == 0)
    return CP_OK;
  if (dst == NULL || src == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cpu backend: copy of %zu bytes with a NULL pointer",
                         bytes);
  memmove (dst, src, bytes);
  return CP_OK;
}

static CpStatus
cpu_zero (CpBackend *be, void *dst, size_t bytes, CpError *error)
{
  (void) be;
  if (bytes == 0)
    return CP_OK;
  if (dst == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cpu backend: zero of %zu bytes at NULL", bytes);
  memset (dst, 0, bytes);
  return CP_OK;
}

static CpStatus
cpu_synchronize (CpBackend *be, CpError *error)
{
  (void) be;
  (void) error;
  return CP_OK;
}

static void
cpu_destroy (CpBackend *be)
{
  CpCpuContext *ctx = be->ctx;

  if (ctx != NULL)
    {
      cp_cpu_pool_free (ctx->pool);
      free (ctx->workspace);
    }
  free (ctx);
  free (be);
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

  be->name = "cpu";
  be->ctx = ctx;
  be->destroy = cpu_destroy;
  be->alloc = cpu_alloc;
  be->free = cpu_free;
  be->upload = cpu_copy;
  be->download = cpu_copy;
  be->copy = cpu_copy;
  be->zero = cpu_zero;
  be->synchronize = cpu_synchronize;
  be->conv2d_forward = cp_cpu_conv2d_forward;
  be->conv2d_backward_data = cp_cpu_conv2d_backward_data;
  be->conv2d_backward_filter = cp_cpu_conv2d_backward_filter;
  be->batchnorm_forward_train = cp_cpu_batchnorm_forward_train;
  be->batchnorm_forward_infer = cp_cpu_batchnorm_forward_infer;
  be->batchnorm_backward = cp_cpu_batchnorm_backward;
  be->relu_forward = cp_cpu_relu_forward;
  be->relu_backward = cp_cpu_relu_backward;
  be->maxpool_forward = cp_cpu_maxpool_forward;
  be->maxpool_backward = cp_cpu_maxpool_backward;
  be->avgpool_forward = cp_cpu_avgpool_forward;
  be->avgpool_backward = cp_cpu_avgpool_backward;
  be->linear_forward = cp_cpu_linear_forward;
  be->linear_backward = cp_cpu_linear_backward;
  be->add = cp_cpu_add;
  be->softmax_cross_entropy = cp_cpu_softmax_cross_entropy;
  be->sgd_update = cp_cpu_sgd_update;
  be->gemm = cp_cpu_gemm;
  be->l2_normalize_rows = cp_cpu_l2_normalize_rows;
  be->conv2d_bias_act_forward = cp_cpu_conv2d_bias_act_forward;
  return be;
}
