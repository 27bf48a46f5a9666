/* cuda-backend.h: what the CUDA backend offers beyond struct CpBackend.
 *
 * Only present in builds with CUDA (CP_HAVE_CUDA); the backend itself is
 * created with cp_backend_cuda_new () from backend.h.  Tests and benchmarks
 * use these to tell "this machine has no GPU" (skip) from "the GPU code is
 * broken" (fail), and to compare convolutions with and without TF32.
 */
#pragma once

#include "core/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_CUDA_AVAILABLE,     /* the device exists and the runtime talks to it */
  CP_CUDA_NO_DRIVER,     /* no (usable) NVIDIA driver on this machine */
  CP_CUDA_NO_DEVICE,     /* a driver but no CUDA device, or none free */
  CP_CUDA_BROKEN,        /* anything else: the message says what */
} CpCudaAvailability;

/* Asks the CUDA runtime whether @device can be used, without creating a
 * backend.  Fills @error (may be NULL) with a message naming the problem
 * ("no NVIDIA driver ...", "no CUDA device ...") unless CP_CUDA_AVAILABLE. */
CpCudaAvailability cp_cuda_probe              (int device, CpError *error);

/* TF32 tensor cores in convolutions (cuDNN), on by default as in PyTorch
 * (torch.backends.cudnn.allow_tf32).  Matrix products (cuBLAS: linear
 * layers, gemm) never use TF32, also as PyTorch's default.  Turning it off
 * makes convolutions full FP32, for tests that want tight tolerances. */
void               cp_cuda_backend_set_tf32   (CpBackend *be, int allow);
int                cp_cuda_backend_get_tf32   (CpBackend *be);

/* One line naming the device and libraries, e.g. "NVIDIA H100 80GB HBM3
 * (sm_90, 132 SMs, 79.1 GiB), CUDA runtime 13.0, driver 13.0, cuDNN 91900,
 * cuBLAS 130100". */
const char        *cp_cuda_backend_describe   (CpBackend *be);

/* The message of the last failed op (ops return only a status), or "". */
const char        *cp_cuda_backend_last_error (CpBackend *be);

/* Bytes of the cached convolution workspace and number of cached
 * convolution plans (shape + algorithms), for benchmarks and tests. */
size_t             cp_cuda_backend_workspace_bytes (CpBackend *be);
int                cp_cuda_backend_conv_plans      (CpBackend *be);

#ifdef __cplusplus
}
#endif
