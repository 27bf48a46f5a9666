/* cuda-backend.c: the CUDA backend object, device discovery, memory ops and
 * error reporting.
 *
 * Parameters, gradients and activations live in device memory; only the
 * batch goes up (upload) and the loss and results come down (download and
 * softmax_cross_entropy).  All work runs on one non-blocking stream owned
 * by the backend.
 */
#include "cuda-private.h"
#include "cuda/cuda-config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------- */

static double
mib (size_t bytes)
{
  return (double) bytes / (1024.0 * 1024.0);
}

CpStatus
cp_cuda_error_from_runtime (CpBackend *be, CpError *error, cudaError_t err, size_t needed_bytes,
                            const char *what)
{
  /* Reading the error also clears it when it is not sticky, so the next
   * launch check does not report it a second time. */
  (void) cudaGetLastError ();
  if (err == cudaErrorMemoryAllocation)
    {
      size_t free_bytes = 0, total_bytes = 0;
      const char *name = be != NULL ? cp_cuda_ctx (be)->device_name : "the GPU";

      if (cudaMemGetInfo (&free_bytes, &total_bytes) != cudaSuccess)
        {
          (void) cudaGetLastError ();
          return cp_error_set (error, CP_ERR_NOMEM,
                               "out of GPU memory (needed %.1f MiB for %s on %s)",
                               mib (needed_bytes), what, name);
        }
      return cp_error_set (error, CP_ERR_NOMEM,
                           "out of GPU memory (needed %.1f MiB for %s; %.1f MiB free of %.1f MiB "
                           "on %s)",
                           mib (needed_bytes), what, mib (free_bytes), mib (total_bytes), name);
    }
  return cp_error_set (error, CP_ERR_DEVICE, "%s failed: %s (%s)", what, cudaGetErrorString (err),
                       cudaGetErrorName (err));
}

static CpStatus
record (CpBackend *be, CpStatus code, const char *message)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);

  snprintf (ctx->last_error, sizeof ctx->last_error, "%s", message);
  fprintf (stderr, "cuda backend: %s\n", message);
  return code;
}

CpStatus
cp_cuda_fail_runtime (CpBackend *be, const char *what, cudaError_t err)
{
  CpError error;

  cp_cuda_error_from_runtime (be, &error, err, 0, what);
  return record (be, error.code, error.message);
}

CpStatus
cp_cuda_fail_cudnn (CpBackend *be, const char *what, cudnnStatus_t status)
{
  char message[CP_ERROR_MESSAGE_SIZE];
  CpStatus code = status == CUDNN_STATUS_ALLOC_FAILED ? CP_ERR_NOMEM : CP_ERR_DEVICE;

  snprintf (message, sizeof message, "%s failed: cuDNN %s", what, cudnnGetErrorString (status));
  return record (be, code, message);
}

CpStatus
cp_cuda_fail_cublas (CpBackend *be, const char *what, cublasStatus_t status)
{
  char message[CP_ERROR_MESSAGE_SIZE];
  CpStatus code = status == CUBLAS_STATUS_ALLOC_FAILED ? CP_ERR_NOMEM : CP_ERR_DEVICE;

  const CpCublasApi *blas = cp_cuda_ctx (be)->blas;

  snprintf (message, sizeof message, "%s failed: cuBLAS %s (%s)", what,
            blas->get_status_name (status), blas->get_status_string (status));
  return record (be, code, message);
}

/* ---- device discovery --------------------------------------------------- */

static int
driver_library_loads (char *why, size_t why_size)
{
  void *handle = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

  if (handle == NULL)
    {
      const char *reason = dlerror ();
      snprintf (why, why_size, "%s", reason != NULL ? reason : "not found");
      return 0;
    }
  dlclose (handle);
  return 1;
}

CpCudaAvailability
cp_cuda_probe (int device, CpError *error)
{
  int count = 0;
  cudaError_t err = cudaGetDeviceCount (&count);
  char why[512] = "";

  if (err != cudaSuccess)
    {
      (void) cudaGetLastError ();
      /* Without libcuda the runtime can only say "insufficient driver";
       * name the real problem. */
      if (!driver_library_loads (why, sizeof why))
        {
          cp_error_set (error, CP_ERR_DEVICE,
                        "no NVIDIA driver: libcuda.so.1 cannot be loaded (%s)", why);
          return CP_CUDA_NO_DRIVER;
        }
      switch (err)
        {
        case cudaErrorInsufficientDriver:
          {
            int driver = 0, runtime = 0;

            cudaDriverGetVersion (&driver);
            cudaRuntimeGetVersion (&runtime);
            (void) cudaGetLastError ();
            cp_error_set (error, CP_ERR_DEVICE,
                          "no usable NVIDIA driver: the installed driver supports CUDA %d.%d, "
                          "this build needs CUDA %d.%d",
                          driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
            return CP_CUDA_NO_DRIVER;
          }
        case cudaErrorSystemDriverMismatch:
          cp_error_set (error, CP_ERR_DEVICE,
                        "no usable NVIDIA driver: the kernel module and libcuda.so.1 are "
                        "different versions (%s)", cudaGetErrorString (err));
          return CP_CUDA_NO_DRIVER;
        case cudaErrorNoDevice:
          cp_error_set (error, CP_ERR_DEVICE,
                        "no CUDA device: the NVIDIA driver is installed but reports no GPU");
          return CP_CUDA_NO_DEVICE;
        case cudaErrorDevicesUnavailable:
          cp_error_set (error, CP_ERR_DEVICE,
                        "no CUDA device available: every GPU is busy or in exclusive-process "
                        "mode");
          return CP_CUDA_NO_DEVICE;
        default:
          /* A user-space driver without the kernel module (a container
           * started without GPUs) fails here with various codes. */
          if (access ("/dev/nvidiactl", F_OK) != 0 && access ("/dev/dxg", F_OK) != 0)
            {
              cp_error_set (error, CP_ERR_DEVICE,
                            "no NVIDIA driver: the kernel driver is not loaded (/dev/nvidiactl "
                            "is missing; CUDA says: %s)", cudaGetErrorString (err));
              return CP_CUDA_NO_DRIVER;
            }
          cp_error_set (error, CP_ERR_DEVICE, "CUDA initialisation failed: %s (%s)",
                        cudaGetErrorString (err), cudaGetErrorName (err));
          return CP_CUDA_BROKEN;
        }
    }
  if (count <= 0)
    {
      cp_error_set (error, CP_ERR_DEVICE, "no CUDA device: the NVIDIA driver reports no GPU");
      return CP_CUDA_NO_DEVICE;
    }
  if (device < 0 || device >= count)
    {
      cp_error_set (error, CP_ERR_INVALID, "CUDA device %d does not exist (%d device%s found)",
                    device, count, count == 1 ? "" : "s");
      return CP_CUDA_BROKEN;
    }
  cp_error_clear (error);
  return CP_CUDA_AVAILABLE;
}

/* ---- memory ------------------------------------------------------------- */

void *
cp_cuda_device_alloc (CpBackend *be, size_t bytes, CpError *error)
{
  void *ptr = NULL;
  cudaError_t err;

  /* A zero-byte request still gets a real pointer (as on the CPU), and
   * absurd sizes must not wrap when rounded. */
  if (bytes > SIZE_MAX / 2)
    {
      cp_error_set (error, CP_ERR_NOMEM, "out of GPU memory (needed %.1f MiB on %s)", mib (bytes),
                    cp_cuda_ctx (be)->device_name);
      return NULL;
    }
  err = cudaMalloc (&ptr, bytes > 0 ? bytes : 256);
  if (err != cudaSuccess)
    {
      cp_cuda_error_from_runtime (be, error, err, bytes, "a device buffer");
      return NULL;
    }
  return ptr;
}

static void *
cp_cuda_alloc (CpBackend *be, size_t bytes, CpError *error)
{
  return cp_cuda_device_alloc (be, bytes, error);
}

static void
cp_cuda_free (CpBackend *be, void *ptr)
{
  cudaError_t err;

  if (ptr == NULL)
    return;
  /* cudaFree waits for queued work, so nothing still running can touch
   * the buffer after this. */
  err = cudaFree (ptr);
  if (err != cudaSuccess)
    cp_cuda_fail_runtime (be, "cudaFree", err);
}

static void *
grow (CpBackend *be, void **buffer, size_t *size, size_t bytes, const char *what, CpError *error)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  void *fresh;
  cudaError_t err;

  if (bytes <= *size && *buffer != NULL)
    return *buffer;
  /* Round up so that a slowly rising need does not reallocate each time
   * (absurd sizes are left to fail in the allocation). */
  if (bytes <= SIZE_MAX / 2)
    bytes = (bytes + (1u << 20) - 1) & ~(size_t) ((1u << 20) - 1);
  err = cudaStreamSynchronize (ctx->stream);
  if (err != cudaSuccess)
    {
      cp_cuda_error_from_runtime (be, error, err, 0, "waiting for the GPU");
      return NULL;
    }
  fresh = cp_cuda_device_alloc (be, bytes, error);
  if (fresh == NULL)
    {
      cp_error_prefix (error, "%s", what);
      return NULL;
    }
  if (*buffer != NULL)
    cudaFree (*buffer);
  *buffer = fresh;
  *size = bytes;
  return fresh;
}

void *
cp_cuda_workspace (CpBackend *be, size_t bytes, CpError *error)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);

  return grow (be, &ctx->workspace, &ctx->workspace_bytes, bytes, "cuDNN workspace", error);
}

void *
cp_cuda_scratch (CpBackend *be, size_t bytes, CpError *error)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);

  return grow (be, &ctx->scratch, &ctx->scratch_bytes, bytes, "reduction scratch", error);
}

static int
host_pointer_is_pinned (const void *ptr)
{
  struct cudaPointerAttributes attributes;

  if (cudaPointerGetAttributes (&attributes, ptr) != cudaSuccess)
    {
      (void) cudaGetLastError ();
      return 0;
    }
  return attributes.type == cudaMemoryTypeHost;
}

static CpStatus
cp_cuda_upload (CpBackend *be, void *dst, const void *src_host, size_t bytes, CpError *error)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  cudaError_t err;

  if (bytes == 0)
    return CP_OK;
  if (dst == NULL || src_host == NULL)
    return cp_error_set (error, CP_ERR_INVALID,
                         "cuda backend: upload of %zu bytes with a NULL pointer", bytes);
  /* From pageable memory the call returns once the bytes are staged, so
   * the caller may reuse its buffer; from pinned memory the copy is truly
   * asynchronous, so wait to keep the same promise. */
  err = cudaMemcpyAsync (dst, src_host, bytes, cudaMemcpyHostToDevice, ctx->stream);
  if (err == cudaSuccess && host_pointer_is_pinned (src_host))
    err = cudaStreamSynchronize (ctx->stream);
  if (err != cudaSuccess)
    return cp_cuda_error_from_runtime (be, error, err, 0, "cuda backend: upload");
  return CP_OK;
}

static CpStatus
cp_cuda_download (CpBackend *be, void *dst_host, const void *src, size_t bytes, CpError *error)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  cudaError_t err;

  if (bytes == 0)
    return CP_OK;
  if (dst_host == NULL || src == NULL)
    return cp_error_set (error, CP_ERR_INVALID,
                         "cuda backend: download of %zu bytes with a NULL pointer", bytes);
  err = cudaMemcpyAsync (dst_host, src, bytes, cudaMemcpyDeviceToHost, ctx->stream);
  if (err == cudaSuccess)
    err = cudaStreamSynchronize (ctx->stream);
  if (err != cudaSuccess)
    return cp_cuda_error_from_runtime (be, error, err, 0, "cuda backend: download");
  return CP_OK;
}

static CpStatus
cp_cuda_copy (CpBackend *be, void *dst, const void *src, size_t bytes, CpError *error)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  const char *d = dst, *s = src;
  cudaError_t err;

  if (bytes == 0 || dst == src)
    return CP_OK;
  if (dst == NULL || src == NULL)
    return cp_error_set (error, CP_ERR_INVALID,
                         "cuda backend: copy of %zu bytes with a NULL pointer", bytes);
  if (d < s + bytes && s < d + bytes)
    {
      /* cudaMemcpy does not promise memmove semantics: go through the
       * scratch buffer when the ranges overlap. */
      void *tmp = cp_cuda_scratch (be, bytes, error);

      if (tmp == NULL)
        return error != NULL ? error->code : CP_ERR_NOMEM;
      err = cudaMemcpyAsync (tmp, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream);
      if (err == cudaSuccess)
        err = cudaMemcpyAsync (dst, tmp, bytes, cudaMemcpyDeviceToDevice, ctx->stream);
    }
  else
    err = cudaMemcpyAsync (dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream);
  if (err != cudaSuccess)
    return cp_cuda_error_from_runtime (be, error, err, 0, "cuda backend: copy");
  return CP_OK;
}

static CpStatus
cp_cuda_zero (CpBackend *be, void *dst, size_t bytes, CpError *error)
{
  cudaError_t err;

  if (bytes == 0)
    return CP_OK;
  if (dst == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cuda backend: zero of %zu bytes at NULL", bytes);
  err = cudaMemsetAsync (dst, 0, bytes, cp_cuda_ctx (be)->stream);
  if (err != cudaSuccess)
    return cp_cuda_error_from_runtime (be, error, err, 0, "cuda backend: zero");
  return CP_OK;
}

static CpStatus
cp_cuda_synchronize (CpBackend *be, CpError *error)
{
  cudaError_t err = cudaStreamSynchronize (cp_cuda_ctx (be)->stream);

  if (err != cudaSuccess)
    {
      CpStatus code = cp_cuda_error_from_runtime (be, error, err, 0,
                                                  "cuda backend: GPU work queued earlier");
      if (error != NULL)
        record (be, code, error->message);
      return code;
    }
  return CP_OK;
}

/* ---- lifetime ----------------------------------------------------------- */

static void
cp_cuda_destroy (CpBackend *be)
{
  CpCudaContext *ctx = be->ctx;

  if (ctx != NULL)
    {
      if (ctx->stream != NULL)
        cudaStreamSynchronize (ctx->stream);
      cp_cuda_conv_plans_free (be);
      if (ctx->cudnn != NULL)
        cudnnDestroy (ctx->cudnn);
      if (ctx->cublas != NULL)
        ctx->blas->destroy (ctx->cublas);
      if (ctx->workspace != NULL)
        cudaFree (ctx->workspace);
      if (ctx->scratch != NULL)
        cudaFree (ctx->scratch);
      if (ctx->scalars_dev != NULL)
        cudaFree (ctx->scalars_dev);
      if (ctx->scalars_host != NULL)
        cudaFreeHost (ctx->scalars_host);
      if (ctx->stream != NULL)
        cudaStreamDestroy (ctx->stream);
      (void) cudaGetLastError ();
    }
  free (ctx);
  free (be);
}

/* The optional ops (CP_BACKEND_OPTIONAL_OPS) stay NULL: the backend
 * struct comes from calloc. */
static void
fill_ops (CpBackend *be)
{
  be->name = "cuda";
#define CP_CUDA_FILL(op) be->op = cp_cuda_##op;
  CP_BACKEND_OPS (CP_CUDA_FILL)
#undef CP_CUDA_FILL
}

static void
describe (CpCudaContext *ctx, int major, int minor)
{
  int runtime = 0, driver = 0;
  int cublas_version = 0;

  cudaRuntimeGetVersion (&runtime);
  cudaDriverGetVersion (&driver);
  ctx->blas->get_version (ctx->cublas, &cublas_version);
  snprintf (ctx->description, sizeof ctx->description,
            "%s (sm_%d%d, %d SMs, %.1f GiB), CUDA runtime %d.%d, driver %d.%d, cuDNN %zu, "
            "cuBLAS %d, built for %s",
            ctx->device_name, major, minor, ctx->sm_count,
            (double) ctx->total_memory / (1024.0 * 1024.0 * 1024.0), runtime / 1000,
            runtime % 1000 / 10, driver / 1000, driver % 1000 / 10, cudnnGetVersion (),
            cublas_version, CP_CUDA_ARCHS);
}

CpBackend *
cp_backend_cuda_new (int device, CpError *error)
{
  CpBackend *be;
  CpCudaContext *ctx;
  struct cudaDeviceProp props;
  cudaError_t err;
  cudnnStatus_t dnn;
  cublasStatus_t blas;

  if (cp_cuda_probe (device, error) != CP_CUDA_AVAILABLE)
    return NULL;

  be = calloc (1, sizeof *be);
  ctx = calloc (1, sizeof *ctx);
  if (be == NULL || ctx == NULL)
    {
      free (be);
      free (ctx);
      cp_error_set (error, CP_ERR_NOMEM, "cuda backend: out of host memory");
      return NULL;
    }
  be->ctx = ctx;
  fill_ops (be);
  ctx->device = device;
  ctx->allow_tf32 = 1;
  snprintf (ctx->device_name, sizeof ctx->device_name, "CUDA device %d", device);

  if ((err = cudaSetDevice (device)) != cudaSuccess
      || (err = cudaGetDeviceProperties (&props, device)) != cudaSuccess)
    {
      cp_cuda_error_from_runtime (be, error, err, 0, "opening the CUDA device");
      goto fail;
    }
  snprintf (ctx->device_name, sizeof ctx->device_name, "%s", props.name);
  ctx->sm_count = props.multiProcessorCount;
  ctx->total_memory = props.totalGlobalMem;

  if ((err = cudaStreamCreateWithFlags (&ctx->stream, cudaStreamNonBlocking)) != cudaSuccess)
    {
      cp_cuda_error_from_runtime (be, error, err, 0, "creating a CUDA stream");
      goto fail;
    }

  if ((ctx->blas = cp_cublas_load (error)) == NULL)
    goto fail;
  blas = ctx->blas->create (&ctx->cublas);
  if (blas != CUBLAS_STATUS_SUCCESS)
    {
      ctx->cublas = NULL;
      cp_error_set (error, blas == CUBLAS_STATUS_ALLOC_FAILED ? CP_ERR_NOMEM : CP_ERR_DEVICE,
                    "cuBLAS initialisation failed: %s", ctx->blas->get_status_string (blas));
      goto fail;
    }
  /* FP32 products stay FP32: no TF32 in matrix multiplication, as PyTorch
   * (torch.backends.cuda.matmul.allow_tf32 = False by default). */
  if ((blas = ctx->blas->set_stream (ctx->cublas, ctx->stream)) != CUBLAS_STATUS_SUCCESS
      || (blas = ctx->blas->set_math_mode (ctx->cublas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS)
    {
      cp_error_set (error, CP_ERR_DEVICE, "cuBLAS setup failed: %s",
                    ctx->blas->get_status_string (blas));
      goto fail;
    }

  /* A cuDNN of another major version has another ABI. */
  if (cudnnGetVersion () / 10000 != CUDNN_MAJOR)
    {
      cp_error_set (error, CP_ERR_DEVICE,
                    "cuDNN %zu was found at run time but this build needs cuDNN %d.x",
                    cudnnGetVersion (), CUDNN_MAJOR);
      goto fail;
    }
  dnn = cudnnCreate (&ctx->cudnn);
  if (dnn != CUDNN_STATUS_SUCCESS)
    {
      ctx->cudnn = NULL;
      cp_error_set (error, CP_ERR_DEVICE,
                    "cuDNN initialisation failed: %s (are all libcudnn*.so.%d on the library "
                    "path?)", cudnnGetErrorString (dnn), CUDNN_MAJOR);
      goto fail;
    }
  if ((dnn = cudnnSetStream (ctx->cudnn, ctx->stream)) != CUDNN_STATUS_SUCCESS)
    {
      cp_error_set (error, CP_ERR_DEVICE, "cuDNN setup failed: %s", cudnnGetErrorString (dnn));
      goto fail;
    }

  if ((err = cudaMalloc (&ctx->scalars_dev, 64)) != cudaSuccess)
    {
      ctx->scalars_dev = NULL;
      cp_cuda_error_from_runtime (be, error, err, 64, "the loss buffer");
      goto fail;
    }
  if ((err = cudaMallocHost (&ctx->scalars_host, 64)) != cudaSuccess)
    {
      ctx->scalars_host = NULL;
      cp_cuda_error_from_runtime (be, error, err, 64, "the pinned loss buffer");
      goto fail;
    }

  /* Run one kernel now: a build without code for this GPU, or a device
   * that cannot run kernels, fails here with a clear message rather than
   * in the middle of training. */
  err = cp_cuda_launch_fill (ctx->stream, ctx->scalars_dev, 16, 0.0f);
  if (err == cudaSuccess)
    err = cudaStreamSynchronize (ctx->stream);
  if (err != cudaSuccess)
    {
      if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorUnsupportedPtxVersion)
        cp_error_set (error, CP_ERR_DEVICE,
                      "this build has no GPU code for %s (compute capability %d.%d; built for "
                      "%s): rebuild with -Dgpu_archs=%d%d (%s)",
                      props.name, props.major, props.minor, CP_CUDA_ARCHS, props.major,
                      props.minor, cudaGetErrorString (err));
      else
        cp_cuda_error_from_runtime (be, error, err, 0, "running a first kernel");
      (void) cudaGetLastError ();
      goto fail;
    }

  describe (ctx, props.major, props.minor);
  return be;

fail:
  cp_cuda_destroy (be);
  return NULL;
}

/* ---- extras (cuda-backend.h) -------------------------------------------- */

static int
is_cuda (CpBackend *be)
{
  return be != NULL && be->destroy == cp_cuda_destroy;
}

void
cp_cuda_backend_set_tf32 (CpBackend *be, int allow)
{
  if (is_cuda (be))
    cp_cuda_ctx (be)->allow_tf32 = allow != 0;
}

int
cp_cuda_backend_get_tf32 (CpBackend *be)
{
  return is_cuda (be) ? cp_cuda_ctx (be)->allow_tf32 : 0;
}

const char *
cp_cuda_backend_describe (CpBackend *be)
{
  return is_cuda (be) ? cp_cuda_ctx (be)->description : "";
}

const char *
cp_cuda_backend_last_error (CpBackend *be)
{
  return is_cuda (be) ? cp_cuda_ctx (be)->last_error : "";
}

size_t
cp_cuda_backend_workspace_bytes (CpBackend *be)
{
  return is_cuda (be) ? cp_cuda_ctx (be)->workspace_bytes : 0;
}

int
cp_cuda_backend_conv_plans (CpBackend *be)
{
  int count = 0;

  if (!is_cuda (be))
    return 0;
  for (CpCudaConvPlan *p = cp_cuda_ctx (be)->plans; p != NULL; p = p->next)
    count++;
  return count;
}
