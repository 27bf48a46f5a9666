/* cpu-private.h: internals of the CPU backend shared by its op files and
 * by the op tests (which compare the fast convolution with the direct
 * loops declared here).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/op-args.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Alignment of every buffer the backend hands out: one cache line, which
 * is also what AVX-512 loads would want. */
#define CP_CPU_ALIGNMENT 64

/* Most threads a backend's pool starts. */
#define CP_CPU_MAX_THREADS 64

/* The backend's worker threads (cpu-threads.c). */
typedef struct CpCpuPool CpCpuPool;

/* Runs fn (arg, begin, end) over a static split of [0, count) among the
 * pool's threads, or as one call fn (arg, 0, count) when @parallel is 0
 * (too little work to be worth waking the workers). */
typedef void (*CpCpuRangeFn) (void *arg, size_t begin, size_t end);

CpCpuPool *cp_cpu_pool_new     (void);
void       cp_cpu_pool_free    (CpCpuPool *pool);
int        cp_cpu_pool_threads (const CpCpuPool *pool);

/* Per-backend state.  The convolution workspace is kept between calls so
 * that a training step does not malloc and fault in megabytes per layer;
 * its size is bounded by the convolution tiling, never by the batch. */
/* oneDNN's convolutions (cpu-dnnl.c); NULL when not built or disabled. */
typedef struct CpDnnl CpDnnl;

typedef struct
{
  float     *workspace;
  size_t     workspace_floats;
  CpCpuPool *pool;            /* NULL: everything runs on the caller */
  CpDnnl    *dnnl;
} CpCpuContext;

void     cp_cpu_parallel_for (CpBackend *be, size_t count, int parallel, CpCpuRangeFn fn,
                              void *arg);

/* Returns a workspace of at least @floats floats (contents undefined), or
 * NULL when memory runs out. */
float   *cp_cpu_workspace (CpBackend *be, size_t floats);

/* Checks that a descriptor is self-consistent (positive sizes, h_out and
 * w_out as cp_conv_desc_init computes them). */
CpStatus cp_cpu_conv_desc_check (const CpConvDesc *d);

/* Fast convolution: im2col / col2im over column tiles + cblas_sgemm. */
/* Sets the floats of unfolded patches per tile and thread (benchmarks). */
void     cp_cpu_conv_set_tile_floats   (size_t floats);
size_t   cp_cpu_conv_tile_floats_get   (void);
/* OpenBLAS single-threaded while the pool's threads each call it; returns
 * the setting to restore (no-ops with another BLAS). */
int      cp_cpu_blas_threads_single    (void);
void     cp_cpu_blas_threads_restore   (int saved);
CpStatus cp_cpu_conv2d_forward         (CpBackend *be, const CpConvDesc *d, const float *x,
                                        const float *w, float *y);
CpStatus cp_cpu_conv2d_backward_data   (CpBackend *be, const CpConvDesc *d, const float *dy,
                                        const float *w, float *dx);
CpStatus cp_cpu_conv2d_backward_filter (CpBackend *be, const CpConvDesc *d, const float *x,
                                        const float *dy, float *dw);

/* Inference convolution with folded bias, residual and ReLU, skipping
 * taps in the zero padding (cpu-conv-fused.c); weights (c_out, kh, kw,
 * c_in).  Axes of at most @outputs outputs (default 2) are split by valid
 * taps, larger ones unfold zeros like cp_cpu_conv2d_forward (tests and
 * benchmarks set it to cover both paths). */
CpStatus cp_cpu_conv2d_bias_act_forward (CpBackend *be, const CpConvDesc *d, const float *x,
                                         const float *w, const float *bias,
                                         const float *residual, int relu, float *y);
void     cp_cpu_conv_fused_set_split_max (int outputs);

/* The plain direct-loop convolution (double accumulators) that the fast one
 * is tested against.  Same semantics as the backend ops. */
void     cp_cpu_conv2d_reference_forward         (const CpConvDesc *d, const float *x,
                                                  const float *w, float *y);
void     cp_cpu_conv2d_reference_backward_data   (const CpConvDesc *d, const float *dy,
                                                  const float *w, float *dx);
void     cp_cpu_conv2d_reference_backward_filter (const CpConvDesc *d, const float *x,
                                                  const float *dy, float *dw);

/* oneDNN convolutions (cpu-dnnl.c, built with CP_CPU_HAVE_DNNL).  Same
 * semantics as the ops above; CP_ERR_UNSUPPORTED or CP_ERR_NOMEM leave the
 * caller to run the im2col path instead.  cp_cpu_dnnl_new returns NULL
 * when CP_CPU_DNNL=0 is set in the environment. */
CpDnnl  *cp_cpu_dnnl_new                  (int threads);
void     cp_cpu_dnnl_free                 (CpDnnl *dn);
/* Weights in [ptr, ptr + bytes) stay as they are until written or freed:
 * their reordered copies may be kept. */
void     cp_cpu_dnnl_pin                  (CpDnnl *dn, const void *ptr, size_t bytes);
/* [ptr, ptr + bytes) was written (or, with @freed, the block at ptr freed):
 * forget reordered copies of weights in it. */
void     cp_cpu_dnnl_written              (CpDnnl *dn, const void *ptr, size_t bytes, int freed);
CpStatus cp_cpu_dnnl_conv_fused           (CpDnnl *dn, const CpConvDesc *d, const float *x,
                                           const float *w, const float *bias,
                                           const float *residual, int relu, float *y);
CpStatus cp_cpu_dnnl_conv_fused_nhwc      (CpDnnl *dn, const CpConvDesc *d, const float *x,
                                           int x_nchw, const float *w, const float *bias,
                                           const float *residual, int relu, float *y);
/* Max pool, or the global average pool when @kernel is 0, channels last. */
CpStatus cp_cpu_dnnl_pool_nhwc            (CpDnnl *dn, int n, int c, int h, int w, int kernel,
                                           int stride, int pad, const float *x, float *y);
CpStatus cp_cpu_dnnl_conv_forward         (CpDnnl *dn, const CpConvDesc *d, const float *x,
                                           const float *w, float *y);
CpStatus cp_cpu_dnnl_conv_backward_data   (CpDnnl *dn, const CpConvDesc *d, const float *dy,
                                           const float *w, float *dx);
CpStatus cp_cpu_dnnl_conv_backward_filter (CpDnnl *dn, const CpConvDesc *d, const float *x,
                                           const float *dy, float *dw);

/* Batch norm (cpu-batchnorm.c). */
CpStatus cp_cpu_batchnorm_forward_train (CpBackend *be, int n, int c, int hw, const float *x,
                                         const float *gamma, const float *beta,
                                         float *running_mean, float *running_var,
                                         float momentum, float eps,
                                         float *y, float *save_mean, float *save_invstd);
CpStatus cp_cpu_batchnorm_forward_infer (CpBackend *be, int n, int c, int hw, const float *x,
                                         const float *gamma, const float *beta,
                                         const float *running_mean, const float *running_var,
                                         float eps, float *y);
CpStatus cp_cpu_batchnorm_backward      (CpBackend *be, int n, int c, int hw, const float *x,
                                         const float *dy, const float *gamma,
                                         const float *save_mean, const float *save_invstd,
                                         float *dx, float *dgamma, float *dbeta);

/* Pooling (cpu-pool.c). */
CpStatus cp_cpu_maxpool_forward  (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                                  int pad, const float *x, float *y, int32_t *indices);
CpStatus cp_cpu_maxpool_backward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                                  int pad, const float *dy, const int32_t *indices, float *dx);
CpStatus cp_cpu_maxpool_forward_nhwc (CpBackend *be, int n, int c, int h, int w, int kernel,
                                      int stride, int pad, const float *x, float *y);
CpStatus cp_cpu_avgpool_forward_nhwc (CpBackend *be, int n, int c, int hw, const float *x,
                                      float *y);
CpStatus cp_cpu_avgpool_forward  (CpBackend *be, int n, int c, int hw, const float *x, float *y);
CpStatus cp_cpu_avgpool_backward (CpBackend *be, int n, int c, int hw, const float *dy, float *dx);

/* Fully connected layer and GEMM (cpu-linear.c). */
CpStatus cp_cpu_linear_forward  (CpBackend *be, int n, int in, int out, const float *x,
                                 const float *w, const float *b, float *y);
CpStatus cp_cpu_linear_backward (CpBackend *be, int n, int in, int out, const float *x,
                                 const float *w, const float *dy, float *dx, float *dw, float *db);
CpStatus cp_cpu_gemm            (CpBackend *be, int trans_a, int trans_b, int m, int n, int k,
                                 float alpha, const float *a, int lda, const float *b, int ldb,
                                 float beta, float *c, int ldc);

/* Elementwise ops (cpu-elementwise.c). */
CpStatus cp_cpu_relu_forward      (CpBackend *be, size_t count, const float *x, float *y);
CpStatus cp_cpu_relu_backward     (CpBackend *be, size_t count, const float *y, const float *dy,
                                   float *dx);
CpStatus cp_cpu_add               (CpBackend *be, size_t count, const float *a, const float *b,
                                   float *y);
CpStatus cp_cpu_l2_normalize_rows (CpBackend *be, int n, int dim, const float *x, float *y);

/* Loss (cpu-loss.c) and optimiser (cpu-sgd.c). */
CpStatus cp_cpu_softmax_cross_entropy (CpBackend *be, int n, int classes, const float *logits,
                                       const int32_t *labels, float *loss_host, float *dlogits);
CpStatus cp_cpu_sgd_update            (CpBackend *be, size_t count, float *param,
                                       const float *grad, float *momentum_buf, float lr,
                                       float momentum, float weight_decay);

/* Sums for the statistics loops.  Sixteen independent partial sums let the
 * compiler keep two AVX registers of accumulators (a single float
 * accumulator is a serial chain of additions, 4x slower, and may not be
 * reordered without -ffast-math); they also round better than one long
 * chain.  Callers add the per-plane results in double. */
#define CP_CPU_LANES 16

static inline double
cp_cpu_sum (const float *x, size_t count)
{
  float acc[CP_CPU_LANES] = { 0 };
  double total = 0.0;
  size_t i = 0;

  for (; i + CP_CPU_LANES <= count; i += CP_CPU_LANES)
    for (int k = 0; k < CP_CPU_LANES; k++)
      acc[k] += x[i + k];
  for (; i < count; i++)
    total += x[i];
  for (int k = 0; k < CP_CPU_LANES; k++)
    total += acc[k];
  return total;
}

/* sum (x - mean)^2 */
static inline double
cp_cpu_sum_sq_dev (const float *x, size_t count, float mean)
{
  float acc[CP_CPU_LANES] = { 0 };
  double total = 0.0;
  size_t i = 0;

  for (; i + CP_CPU_LANES <= count; i += CP_CPU_LANES)
    for (int k = 0; k < CP_CPU_LANES; k++)
      {
        float d = x[i + k] - mean;
        acc[k] += d * d;
      }
  for (; i < count; i++)
    total += ((double) x[i] - mean) * ((double) x[i] - mean);
  for (int k = 0; k < CP_CPU_LANES; k++)
    total += acc[k];
  return total;
}

/* sum dy and sum dy * (x - mean), in one pass */
static inline void
cp_cpu_sum_dy_dev (const float *dy, const float *x, size_t count, float mean, double *sum_dy,
                   double *sum_dy_dev)
{
  float a[CP_CPU_LANES] = { 0 }, b[CP_CPU_LANES] = { 0 };
  double s = 0.0, t = 0.0;
  size_t i = 0;

  for (; i + CP_CPU_LANES <= count; i += CP_CPU_LANES)
    for (int k = 0; k < CP_CPU_LANES; k++)
      {
        a[k] += dy[i + k];
        b[k] += dy[i + k] * (x[i + k] - mean);
      }
  for (; i < count; i++)
    {
      s += dy[i];
      t += (double) dy[i] * ((double) x[i] - mean);
    }
  for (int k = 0; k < CP_CPU_LANES; k++)
    {
      s += a[k];
      t += b[k];
    }
  *sum_dy = s;
  *sum_dy_dev = t;
}

/* Elementwise loops only pay for waking the worker threads (tens of
 * microseconds) above this many elements. */
#define CP_CPU_PARALLEL_MIN 32768

#ifdef __cplusplus
}
#endif
