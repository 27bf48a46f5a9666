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
  (void) be;
  free (ptr);
}

static CpStatus
cp_cpu_copy (CpBackend *be, void *dst, const void *src, size_t bytes, CpError *error)
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

/* Backend memory is host memory: uploads and downloads are copies. */
#define cp_cpu_upload   cp_cpu_copy
#define cp_cpu_download cp_cpu_copy

static CpStatus
cp_cpu_zero (CpBackend *be, void *dst, size_t bytes, CpError *error)
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
#define CP_CPU_FILL(op) be->op = cp_cpu_##op;
  CP_BACKEND_OPS (CP_CPU_FILL)
  CP_BACKEND_OPTIONAL_OPS (CP_CPU_FILL)
#undef CP_CPU_FILL
  return be;
}
