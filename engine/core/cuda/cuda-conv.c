/* cuda-conv.c: convolutions through cuDNN.
 *
 * Each shape gets a plan, built the first time it is seen: the cuDNN
 * descriptors and, per direction (forward, backward data, backward
 * filter), the algorithms cuDNN measured fastest on the real buffers
 * (cudnnFind*AlgorithmEx, as torch.backends.cudnn.benchmark = True does),
 * or its heuristic choice (cudnnGet*Algorithm_v7) when measuring fails.
 * The plans and the one workspace they share are kept for the backend's
 * life, so a training step makes no cuDNN set-up calls after the first.
 *
 * TF32: allowed by default (cuDNN's default math, as PyTorch's
 * torch.backends.cudnn.allow_tf32 = True); with it switched off the
 * descriptors ask for FMA math only and the results are full FP32.
 */
#include "cuda-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most workspace an algorithm search may use: large enough for the
 * FFT and implicit-precomputed algorithms at ResNet-18 shapes with 96
 * images, small enough to leave the activations their room. */
#define CP_CUDA_FIND_WORKSPACE_MAX ((size_t) 2 << 30)

typedef enum
{
  DIR_FORWARD,
  DIR_BACKWARD_DATA,
  DIR_BACKWARD_FILTER,
} ConvDirection;

static const char *const direction_names[] = {
  "conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter",
};

/* ---- plans -------------------------------------------------------------- */

static void
plan_free (CpCudaConvPlan *p)
{
  if (p->x != NULL)
    cudnnDestroyTensorDescriptor (p->x);
  if (p->y != NULL)
    cudnnDestroyTensorDescriptor (p->y);
  if (p->w != NULL)
    cudnnDestroyFilterDescriptor (p->w);
  if (p->conv != NULL)
    cudnnDestroyConvolutionDescriptor (p->conv);
  free (p);
}

void
cp_cuda_conv_plans_free (CpBackend *be)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);

  while (ctx->plans != NULL)
    {
      CpCudaConvPlan *next = ctx->plans->next;
      plan_free (ctx->plans);
      ctx->plans = next;
    }
}

static int
desc_ok (const CpConvDesc *d)
{
  return d->n > 0 && d->c_in > 0 && d->h_in > 0 && d->w_in > 0 && d->c_out > 0 && d->kh > 0
         && d->kw > 0 && d->stride > 0 && d->pad >= 0 && d->h_out > 0 && d->w_out > 0
         && d->h_out == (d->h_in + 2 * d->pad - d->kh) / d->stride + 1
         && d->w_out == (d->w_in + 2 * d->pad - d->kw) / d->stride + 1;
}

static cudnnMathType_t
base_math (int tf32)
{
  return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

static CpCudaConvPlan *
plan_get (CpBackend *be, const CpConvDesc *d, CpStatus *status)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  CpCudaConvPlan *p, **link;
  cudnnStatus_t st;
  int on, oc, oh, ow;

  /* Most recently used first: a training step walks the same few shapes
   * over and over. */
  for (link = &ctx->plans; (p = *link) != NULL; link = &p->next)
    if (p->tf32 == ctx->allow_tf32 && memcmp (&p->desc, d, sizeof *d) == 0)
      {
        *link = p->next;
        p->next = ctx->plans;
        ctx->plans = p;
        return p;
      }

  p = calloc (1, sizeof *p);
  if (p == NULL)
    {
      *status = CP_ERR_NOMEM;
      return NULL;
    }
  p->desc = *d;
  p->tf32 = ctx->allow_tf32;
  if ((st = cudnnCreateTensorDescriptor (&p->x)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnCreateTensorDescriptor (&p->y)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnCreateFilterDescriptor (&p->w)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnCreateConvolutionDescriptor (&p->conv)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnSetTensor4dDescriptor (p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n,
                                           d->c_in, d->h_in, d->w_in)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnSetTensor4dDescriptor (p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->n,
                                           d->c_out, d->h_out, d->w_out)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnSetFilter4dDescriptor (p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->c_out,
                                           d->c_in, d->kh, d->kw)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnSetConvolution2dDescriptor (p->conv, d->pad, d->pad, d->stride, d->stride, 1,
                                                1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT)) != CUDNN_STATUS_SUCCESS
      || (st = cudnnSetConvolutionMathType (p->conv, base_math (p->tf32)))
         != CUDNN_STATUS_SUCCESS
      || (st = cudnnGetConvolution2dForwardOutputDim (p->conv, p->x, p->w, &on, &oc, &oh, &ow))
         != CUDNN_STATUS_SUCCESS)
    {
      *status = cp_cuda_fail_cudnn (be, "creating convolution descriptors", st);
      plan_free (p);
      return NULL;
    }
  /* Our descriptor and cuDNN must agree on the output, or the buffers the
   * caller sized would be overrun. */
  if (on != d->n || oc != d->c_out || oh != d->h_out || ow != d->w_out)
    {
      char message[CP_ERROR_MESSAGE_SIZE];

      snprintf (message, sizeof message,
                "convolution output shape mismatch: cuDNN says (%d, %d, %d, %d), expected "
                "(%d, %d, %d, %d)", on, oc, oh, ow, d->n, d->c_out, d->h_out, d->w_out);
      snprintf (ctx->last_error, sizeof ctx->last_error, "%s", message);
      *status = CP_ERR_INVALID;
      plan_free (p);
      return NULL;
    }
  p->next = ctx->plans;
  ctx->plans = p;
  return p;
}

/* ---- algorithm choice --------------------------------------------------- */

/* The three directions' perf structs differ only in the algorithm's enum
 * type; this is what we keep of each. */
typedef struct
{
  cudnnStatus_t   status;
  int             algo;
  size_t          memory;
  cudnnMathType_t math;
} FoundAlgo;

static int
usable (const FoundAlgo *f, int tf32)
{
  if (f->status != CUDNN_STATUS_SUCCESS)
    return 0;
  /* Never let cuDNN convert FP32 data to FP16; without TF32, no tensor
   * cores at all. */
  if (f->math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
    return 0;
  if (!tf32 && f->math == CUDNN_TENSOR_OP_MATH)
    return 0;
  return 1;
}

static void
keep_found (CpCudaAlgoList *list, const FoundAlgo *found, int returned, int tf32)
{
  list->count = 0;
  list->current = 0;
  for (int i = 0; i < returned && list->count < CP_CUDA_MAX_ALGOS; i++)
    if (usable (&found[i], tf32))
      {
        CpCudaAlgo *a = &list->algos[list->count++];

        a->algo = found[i].algo;
        a->workspace = found[i].memory;
        /* Without TF32 the algorithm runs under FMA math whatever cuDNN
         * reported (its "default" math would allow TF32 on Ampere and
         * later). */
        a->math = tf32 ? found[i].math : CUDNN_FMA_MATH;
      }
}

/* A temporary buffer for measuring, as large as the device allows up to
 * the cap; measuring with less only narrows the choice. */
static void *
find_workspace (size_t *bytes)
{
  size_t free_bytes = 0, total_bytes = 0, want;
  void *ptr = NULL;

  if (cudaMemGetInfo (&free_bytes, &total_bytes) != cudaSuccess)
    {
      (void) cudaGetLastError ();
      free_bytes = 0;
    }
  want = free_bytes / 2 < CP_CUDA_FIND_WORKSPACE_MAX ? free_bytes / 2 : CP_CUDA_FIND_WORKSPACE_MAX;
  while (want >= ((size_t) 1 << 20))
    {
      if (cudaMalloc (&ptr, want) == cudaSuccess)
        {
          *bytes = want;
          return ptr;
        }
      (void) cudaGetLastError ();
      want /= 2;
    }
  *bytes = 0;
  return NULL;
}

/* Measures (or, failing that, asks the heuristics for) the algorithms of
 * one direction.  @a, @b, @c are the buffers of the call in the order the
 * direction's cuDNN function takes them; the output one is overwritten. */
static CpStatus
choose (CpBackend *be, CpCudaConvPlan *p, ConvDirection dir, const void *a, const void *b, void *c)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  CpCudaAlgoList *list = dir == DIR_FORWARD ? &p->fwd
                         : dir == DIR_BACKWARD_DATA ? &p->bwd_data : &p->bwd_filter;
  FoundAlgo found[CP_CUDA_MAX_ALGOS];
  int returned = 0;
  size_t ws_bytes = 0;
  void *ws;
  cudnnStatus_t st;
  cudaError_t err;

  /* Queued work must finish first: the search times kernels on the
   * stream, and the buffers it reads may still be being written. */
  if ((err = cudaStreamSynchronize (ctx->stream)) != cudaSuccess)
    return cp_cuda_fail_runtime (be, direction_names[dir], err);
  cudnnSetConvolutionMathType (p->conv, base_math (p->tf32));
  ws = find_workspace (&ws_bytes);

  switch (dir)
    {
    case DIR_FORWARD:
      {
        cudnnConvolutionFwdAlgoPerf_t perf[CP_CUDA_MAX_ALGOS];

        st = cudnnFindConvolutionForwardAlgorithmEx (ctx->cudnn, p->x, a, p->w, b, p->conv, p->y,
                                                     c, CP_CUDA_MAX_ALGOS, &returned, perf, ws,
                                                     ws_bytes);
        if (st != CUDNN_STATUS_SUCCESS)
          st = cudnnGetConvolutionForwardAlgorithm_v7 (ctx->cudnn, p->x, p->w, p->conv, p->y,
                                                       CP_CUDA_MAX_ALGOS, &returned, perf);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned; i++)
          {
            found[i].status = perf[i].status;
            found[i].algo = perf[i].algo;
            found[i].memory = perf[i].memory;
            found[i].math = perf[i].mathType;
          }
        break;
      }
    case DIR_BACKWARD_DATA:
      {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CP_CUDA_MAX_ALGOS];

        st = cudnnFindConvolutionBackwardDataAlgorithmEx (ctx->cudnn, p->w, a, p->y, b, p->conv,
                                                          p->x, c, CP_CUDA_MAX_ALGOS, &returned,
                                                          perf, ws, ws_bytes);
        if (st != CUDNN_STATUS_SUCCESS)
          st = cudnnGetConvolutionBackwardDataAlgorithm_v7 (ctx->cudnn, p->w, p->y, p->conv, p->x,
                                                            CP_CUDA_MAX_ALGOS, &returned, perf);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned; i++)
          {
            found[i].status = perf[i].status;
            found[i].algo = perf[i].algo;
            found[i].memory = perf[i].memory;
            found[i].math = perf[i].mathType;
          }
        break;
      }
    default:
      {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CP_CUDA_MAX_ALGOS];

        st = cudnnFindConvolutionBackwardFilterAlgorithmEx (ctx->cudnn, p->x, a, p->y, b,
                                                            p->conv, p->w, c, CP_CUDA_MAX_ALGOS,
                                                            &returned, perf, ws, ws_bytes);
        if (st != CUDNN_STATUS_SUCCESS)
          st = cudnnGetConvolutionBackwardFilterAlgorithm_v7 (ctx->cudnn, p->x, p->y, p->conv,
                                                              p->w, CP_CUDA_MAX_ALGOS, &returned,
                                                              perf);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned; i++)
          {
            found[i].status = perf[i].status;
            found[i].algo = perf[i].algo;
            found[i].memory = perf[i].memory;
            found[i].math = perf[i].mathType;
          }
        break;
      }
    }
  if (ws != NULL)
    cudaFree (ws);
  if (st != CUDNN_STATUS_SUCCESS)
    return cp_cuda_fail_cudnn (be, direction_names[dir], st);
  keep_found (list, found, returned, p->tf32);
  if (list->count == 0)
    {
      char message[CP_ERROR_MESSAGE_SIZE];

      snprintf (message, sizeof message,
                "%s: cuDNN offers no usable algorithm for (%d, %d, %d, %d) * (%d, %d, %d, %d) "
                "stride %d pad %d", direction_names[dir], p->desc.n, p->desc.c_in, p->desc.h_in,
                p->desc.w_in, p->desc.c_out, p->desc.c_in, p->desc.kh, p->desc.kw,
                p->desc.stride, p->desc.pad);
      snprintf (ctx->last_error, sizeof ctx->last_error, "%s", message);
      fprintf (stderr, "cuda backend: %s\n", message);
      return CP_ERR_UNSUPPORTED;
    }
  list->chosen = 1;
  return CP_OK;
}

/* ---- execution ---------------------------------------------------------- */

static cudnnStatus_t
execute (CpCudaContext *ctx, CpCudaConvPlan *p, ConvDirection dir, const CpCudaAlgo *algo,
         const void *a, const void *b, void *c)
{
  const float one = 1.0f, zero = 0.0f;
  void *ws = algo->workspace > 0 ? ctx->workspace : NULL;
  size_t ws_bytes = algo->workspace > 0 ? ctx->workspace_bytes : 0;
  cudnnStatus_t st = cudnnSetConvolutionMathType (p->conv, algo->math);

  if (st != CUDNN_STATUS_SUCCESS)
    return st;
  switch (dir)
    {
    case DIR_FORWARD:
      return cudnnConvolutionForward (ctx->cudnn, &one, p->x, a, p->w, b, p->conv,
                                      (cudnnConvolutionFwdAlgo_t) algo->algo, ws, ws_bytes, &zero,
                                      p->y, c);
    case DIR_BACKWARD_DATA:
      return cudnnConvolutionBackwardData (ctx->cudnn, &one, p->w, a, p->y, b, p->conv,
                                           (cudnnConvolutionBwdDataAlgo_t) algo->algo, ws,
                                           ws_bytes, &zero, p->x, c);
    default:
      return cudnnConvolutionBackwardFilter (ctx->cudnn, &one, p->x, a, p->y, b, p->conv,
                                             (cudnnConvolutionBwdFilterAlgo_t) algo->algo, ws,
                                             ws_bytes, &zero, p->w, c);
    }
}

static CpStatus
run (CpBackend *be, const CpConvDesc *d, ConvDirection dir, const void *a, const void *b, void *c)
{
  CpCudaContext *ctx = cp_cuda_ctx (be);
  CpCudaConvPlan *p;
  CpCudaAlgoList *list;
  CpStatus status = CP_OK;
  cudnnStatus_t last = CUDNN_STATUS_SUCCESS;

  if (d == NULL || !desc_ok (d) || a == NULL || b == NULL || c == NULL)
    return CP_ERR_INVALID;
  p = plan_get (be, d, &status);
  if (p == NULL)
    return status;
  list = dir == DIR_FORWARD ? &p->fwd : dir == DIR_BACKWARD_DATA ? &p->bwd_data : &p->bwd_filter;
  if (!list->chosen && (status = choose (be, p, dir, a, b, c)) != CP_OK)
    return status;

  /* Fastest first; fall back along the measured list when the workspace
   * cannot grow or an algorithm refuses to run. */
  for (; list->current < list->count; list->current++)
    {
      const CpCudaAlgo *algo = &list->algos[list->current];
      CpError error;

      if (algo->workspace > ctx->workspace_bytes
          && cp_cuda_workspace (be, algo->workspace, &error) == NULL)
        {
          snprintf (ctx->last_error, sizeof ctx->last_error, "%s", error.message);
          last = CUDNN_STATUS_ALLOC_FAILED;
          continue;
        }
      last = execute (ctx, p, dir, algo, a, b, c);
      if (last == CUDNN_STATUS_SUCCESS)
        return CP_OK;
    }
  /* Nothing ran: start from the fastest again next time (memory may have
   * been freed meanwhile). */
  list->current = 0;
  return cp_cuda_fail_cudnn (be, direction_names[dir], last);
}

CpStatus
cp_cuda_conv2d_forward (CpBackend *be, const CpConvDesc *d, const float *x, const float *w,
                        float *y)
{
  return run (be, d, DIR_FORWARD, x, w, y);
}

CpStatus
cp_cuda_conv2d_backward_data (CpBackend *be, const CpConvDesc *d, const float *dy,
                              const float *w, float *dx)
{
  return run (be, d, DIR_BACKWARD_DATA, w, dy, dx);
}

CpStatus
cp_cuda_conv2d_backward_filter (CpBackend *be, const CpConvDesc *d, const float *x,
                                const float *dy, float *dw)
{
  return run (be, d, DIR_BACKWARD_FILTER, x, dy, dw);
}
