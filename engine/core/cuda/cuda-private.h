/* cuda-private.h: internals of the CUDA backend shared by its files.
 *
 * The host side is plain C11 over the C APIs of the CUDA runtime, cuDNN
 * and cuBLAS; the .cu files hold the kernels.  One stream per backend:
 * every op enqueues on it, so ops run in order and a buffer a later op
 * reuses (the workspace, the scratch) is never in use by an earlier one.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>
#include <cublas_v2.h>
#include <cudnn.h>

#include "core/backend.h"
#include "core/op-args.h"
#include "cuda-backend.h"
#include "cuda-cublas.h"
#include "cuda-kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Algorithm candidates kept per convolution direction, fastest first. */
#define CP_CUDA_MAX_ALGOS 12

typedef struct
{
  int             algo;       /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
  cudnnMathType_t math;
  size_t          workspace;  /* bytes */
} CpCudaAlgo;

typedef struct
{
  int        chosen;          /* 0 until algorithms were searched */
  int        count;
  CpCudaAlgo algos[CP_CUDA_MAX_ALGOS];
  int        current;         /* index into algos of the one in use */
} CpCudaAlgoList;

/* Everything cuDNN needs for one convolution shape, built once. */
typedef struct CpCudaConvPlan CpCudaConvPlan;
struct CpCudaConvPlan
{
  CpConvDesc                   desc;
  int                          tf32;
  cudnnTensorDescriptor_t      x, y;
  cudnnFilterDescriptor_t      w;
  cudnnConvolutionDescriptor_t conv;
  CpCudaAlgoList               fwd, bwd_data, bwd_filter;
  CpCudaConvPlan              *next;
};

typedef struct
{
  int              device;
  int              sm_count;
  char             device_name[256];
  char             description[512];
  size_t           total_memory;
  cudaStream_t     stream;
  const CpCublasApi *blas;   /* cuBLAS, opened at run time (cuda-cublas.h) */
  cublasHandle_t   cublas;
  cudnnHandle_t    cudnn;
  int              allow_tf32;

  /* cuDNN workspace: one buffer, grown to the largest need. */
  void            *workspace;
  size_t           workspace_bytes;
  CpCudaConvPlan  *plans;

  /* Small reductions (batch-norm partial sums, coefficients), grown as
   * needed. */
  void            *scratch;
  size_t           scratch_bytes;

  /* The loss and the bad-label count come back through here: device
   * scalars and their pinned host mirror. */
  void            *scalars_dev;
  void            *scalars_host;

  char             last_error[CP_ERROR_MESSAGE_SIZE];
} CpCudaContext;

static inline CpCudaContext *
cp_cuda_ctx (CpBackend *be)
{
  return (CpCudaContext *) be->ctx;
}

/* Records a failure of @what in the context's last_error and prints it on
 * stderr (op signatures carry no CpError, and a device failure should not
 * pass silently); returns CP_ERR_DEVICE (CP_ERR_NOMEM for out-of-memory). */
CpStatus cp_cuda_fail_runtime (CpBackend *be, const char *what, cudaError_t err);
CpStatus cp_cuda_fail_cudnn   (CpBackend *be, const char *what, cudnnStatus_t status);
CpStatus cp_cuda_fail_cublas  (CpBackend *be, const char *what, cublasStatus_t status);

/* The op's status for a kernel launch's result: CP_OK, or the failure
 * recorded by cp_cuda_fail_runtime. */
static inline CpStatus
cp_cuda_launched (CpBackend *be, const char *what, cudaError_t err)
{
  return err == cudaSuccess ? CP_OK : cp_cuda_fail_runtime (be, what, err);
}

static inline cudaStream_t
cp_cuda_stream (CpBackend *be)
{
  return cp_cuda_ctx (be)->stream;
}

/* Same as cp_error_set but for the runtime's errors: maps out-of-memory to
 * CP_ERR_NOMEM with "out of GPU memory (needed N MiB ...)". */
CpStatus cp_cuda_error_from_runtime (CpBackend *be, CpError *error, cudaError_t err,
                                     size_t needed_bytes, const char *what);

/* Device allocation with the backend's out-of-memory message. */
void    *cp_cuda_device_alloc (CpBackend *be, size_t bytes, CpError *error);

/* Buffers that grow to the largest request; the stream is synchronised
 * before an old buffer is released, since queued work may still use it.
 * NULL when the device is out of memory (with @error set). */
void    *cp_cuda_workspace (CpBackend *be, size_t bytes, CpError *error);
void    *cp_cuda_scratch   (CpBackend *be, size_t bytes, CpError *error);

/* Convolutions (cuda-conv.c). */
CpStatus cp_cuda_conv2d_forward         (CpBackend *be, const CpConvDesc *d, const float *x,
                                         const float *w, float *y);
CpStatus cp_cuda_conv2d_backward_data   (CpBackend *be, const CpConvDesc *d, const float *dy,
                                         const float *w, float *dx);
CpStatus cp_cuda_conv2d_backward_filter (CpBackend *be, const CpConvDesc *d, const float *x,
                                         const float *dy, float *dw);
void     cp_cuda_conv_plans_free        (CpBackend *be);

/* Linear layers and GEMM (cuda-linear.c). */
CpStatus cp_cuda_linear_forward  (CpBackend *be, int n, int in, int out, const float *x,
                                  const float *w, const float *b, float *y);
CpStatus cp_cuda_linear_backward (CpBackend *be, int n, int in, int out, const float *x,
                                  const float *w, const float *dy, float *dx, float *dw,
                                  float *db);
CpStatus cp_cuda_gemm            (CpBackend *be, int trans_a, int trans_b, int m, int n, int k,
                                  float alpha, const float *a, int lda, const float *b, int ldb,
                                  float beta, float *c, int ldc);

/* The ops on our own kernels, one file per op family as on the CPU
 * (cuda-batchnorm.c, cuda-elementwise.c, cuda-pool.c, cuda-loss.c,
 * cuda-sgd.c): argument checks as in the CPU reference, then the
 * launchers of cuda-kernels.h. */
CpStatus cp_cuda_batchnorm_forward_train (CpBackend *be, int n, int c, int hw, const float *x,
                                          const float *gamma, const float *beta,
                                          float *running_mean, float *running_var,
                                          float momentum, float eps,
                                          float *y, float *save_mean, float *save_invstd);
CpStatus cp_cuda_batchnorm_forward_infer (CpBackend *be, int n, int c, int hw, const float *x,
                                          const float *gamma, const float *beta,
                                          const float *running_mean, const float *running_var,
                                          float eps, float *y);
CpStatus cp_cuda_batchnorm_backward      (CpBackend *be, int n, int c, int hw, const float *x,
                                          const float *dy, const float *gamma,
                                          const float *save_mean, const float *save_invstd,
                                          float *dx, float *dgamma, float *dbeta);
CpStatus cp_cuda_relu_forward            (CpBackend *be, size_t count, const float *x, float *y);
CpStatus cp_cuda_relu_backward           (CpBackend *be, size_t count, const float *y,
                                          const float *dy, float *dx);
CpStatus cp_cuda_maxpool_forward         (CpBackend *be, int n, int c, int h, int w, int kernel,
                                          int stride, int pad, const float *x, float *y,
                                          int32_t *indices);
CpStatus cp_cuda_maxpool_backward        (CpBackend *be, int n, int c, int h, int w, int kernel,
                                          int stride, int pad, const float *dy,
                                          const int32_t *indices, float *dx);
CpStatus cp_cuda_avgpool_forward         (CpBackend *be, int n, int c, int hw, const float *x,
                                          float *y);
CpStatus cp_cuda_avgpool_backward        (CpBackend *be, int n, int c, int hw, const float *dy,
                                          float *dx);
CpStatus cp_cuda_add                     (CpBackend *be, size_t count, const float *a,
                                          const float *b, float *y);
CpStatus cp_cuda_softmax_cross_entropy   (CpBackend *be, int n, int classes, const float *logits,
                                          const int32_t *labels, float *loss_host,
                                          float *dlogits);
CpStatus cp_cuda_sgd_update              (CpBackend *be, size_t count, float *param,
                                          const float *grad, float *momentum_buf, float lr,
                                          float momentum, float weight_decay);
CpStatus cp_cuda_l2_normalize_rows       (CpBackend *be, int n, int dim, const float *x,
                                          float *y);

#ifdef __cplusplus
}
#endif
