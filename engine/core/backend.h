/* backend.h: the one interface behind which the CPU and CUDA backends sit.
 *
 * A backend is a struct of function pointers plus a context pointer (as in
 * ggml).  The CPU backend is the reference; every other backend is tested
 * op by op against it.  All pointers passed to ops are backend memory
 * (obtained from alloc) unless the name says _host.  Ops run in order on the
 * backend's stream; `synchronize` waits for them.  Layouts are row-major:
 * images NCHW, linear weights [out, in], convolution weights
 * [c_out, c_in, kh, kw] (PyTorch's).
 *
 * Gradients are OVERWRITTEN by backward ops (never accumulated); the network
 * adds branch gradients with `add`.  Ops whose output may alias an input say
 * so.  An op a backend lacks is NULL and the wrapper reports
 * CP_ERR_UNSUPPORTED.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  int n;                /* batch */
  int c_in, h_in, w_in;
  int c_out, h_out, w_out;
  int kh, kw;
  int stride, pad;      /* same in both directions (ResNet-18 needs no more) */
} CpConvDesc;

/* Fills h_out and w_out from the other fields. */
void cp_conv_desc_init (CpConvDesc *d, int n, int c_in, int h_in, int w_in,
                        int c_out, int kh, int kw, int stride, int pad);

typedef struct CpBackend CpBackend;

/* The op list, written once.  Every function pointer of CpBackend appears
 * here, in struct order, so that code which must touch each op (a
 * backend's fill function, the network's check, the tests' tables) walks
 * this list instead of spelling the ops out again:
 *
 *   #define FILL(op) be->op = cp_cpu_##op;
 *   CP_BACKEND_OPS (FILL)
 *
 * CP_BACKEND_OPS: every backend implements these (cp_network_check_backend
 * refuses one that does not).  CP_BACKEND_OPTIONAL_OPS: a backend may leave
 * them NULL, and callers fall back (see each op's comment in the struct).
 * backend.c checks at compile time that the two lists name every pointer
 * in the struct; "Adding an op" in HACKING.md says what else to touch. */
#define CP_BACKEND_OPS(X) \
  X (destroy) \
  X (alloc) \
  X (free) \
  X (upload) \
  X (download) \
  X (copy) \
  X (zero) \
  X (synchronize) \
  X (conv2d_forward) \
  X (conv2d_backward_data) \
  X (conv2d_backward_filter) \
  X (batchnorm_forward_train) \
  X (batchnorm_forward_infer) \
  X (batchnorm_backward) \
  X (relu_forward) \
  X (relu_backward) \
  X (maxpool_forward) \
  X (maxpool_backward) \
  X (avgpool_forward) \
  X (avgpool_backward) \
  X (linear_forward) \
  X (linear_backward) \
  X (add) \
  X (softmax_cross_entropy) \
  X (sgd_update) \
  X (gemm) \
  X (l2_normalize_rows)

#define CP_BACKEND_OPTIONAL_OPS(X) \
  X (conv2d_bias_act_forward) \
  X (pin) \
  X (conv2d_bias_act_forward_nhwc) \
  X (maxpool_forward_nhwc) \
  X (avgpool_forward_nhwc)

struct CpBackend
{
  const char *name;   /* "cpu", "cuda" */
  void       *ctx;

  void      (*destroy)  (CpBackend *be);

  /* Memory.  alloc returns NULL (with @error set) on failure; memory is not
   * zeroed. */
  void     *(*alloc)    (CpBackend *be, size_t bytes, CpError *error);
  void      (*free)     (CpBackend *be, void *ptr);
  CpStatus  (*upload)   (CpBackend *be, void *dst, const void *src_host, size_t bytes, CpError *error);
  CpStatus  (*download) (CpBackend *be, void *dst_host, const void *src, size_t bytes, CpError *error);
  CpStatus  (*copy)     (CpBackend *be, void *dst, const void *src, size_t bytes, CpError *error);
  CpStatus  (*zero)     (CpBackend *be, void *dst, size_t bytes, CpError *error);
  CpStatus  (*synchronize) (CpBackend *be, CpError *error);

  /* Convolution without bias.  x (n, c_in, h_in, w_in), w (c_out, c_in, kh,
   * kw), y (n, c_out, h_out, w_out). */
  CpStatus  (*conv2d_forward)         (CpBackend *be, const CpConvDesc *d, const float *x, const float *w, float *y);
  CpStatus  (*conv2d_backward_data)   (CpBackend *be, const CpConvDesc *d, const float *dy, const float *w, float *dx);
  CpStatus  (*conv2d_backward_filter) (CpBackend *be, const CpConvDesc *d, const float *x, const float *dy, float *dw);

  /* Batch norm over (n, c, hw): statistics per channel over n*hw values.
   * Training: normalise with the batch mean and biased variance, save mean
   * and 1/sqrt(var+eps) (c each), and update the running statistics with
   * running = (1-momentum)*running + momentum*batch, using the UNBIASED
   * variance for running_var (PyTorch).  y may alias x.  Inference uses the
   * running statistics. */
  CpStatus  (*batchnorm_forward_train) (CpBackend *be, int n, int c, int hw, const float *x,
                                        const float *gamma, const float *beta,
                                        float *running_mean, float *running_var,
                                        float momentum, float eps,
                                        float *y, float *save_mean, float *save_invstd);
  CpStatus  (*batchnorm_forward_infer) (CpBackend *be, int n, int c, int hw, const float *x,
                                        const float *gamma, const float *beta,
                                        const float *running_mean, const float *running_var,
                                        float eps, float *y);
  /* Backward of the training-mode forward.  dx may alias dy. */
  CpStatus  (*batchnorm_backward)      (CpBackend *be, int n, int c, int hw, const float *x,
                                        const float *dy, const float *gamma,
                                        const float *save_mean, const float *save_invstd,
                                        float *dx, float *dgamma, float *dbeta);

  /* y = max(x, 0); y may alias x.  Backward uses the output y:
   * dx = dy where y > 0 else 0; dx may alias dy. */
  CpStatus  (*relu_forward)  (CpBackend *be, size_t count, const float *x, float *y);
  CpStatus  (*relu_backward) (CpBackend *be, size_t count, const float *y, const float *dy, float *dx);

  /* Max pool (n, c, h, w) -> (n, c, h_out, w_out) with a square kernel;
   * padding counts as -inf.  indices (same count as y) records the flat
   * h*w position of each maximum for the backward pass (first maximum wins
   * on ties).  Backward overwrites all of dx. */
  CpStatus  (*maxpool_forward)  (CpBackend *be, int n, int c, int h, int w, int kernel, int stride, int pad,
                                 const float *x, float *y, int32_t *indices);
  CpStatus  (*maxpool_backward) (CpBackend *be, int n, int c, int h, int w, int kernel, int stride, int pad,
                                 const float *dy, const int32_t *indices, float *dx);

  /* Global average pool (n, c, hw) -> (n, c). */
  CpStatus  (*avgpool_forward)  (CpBackend *be, int n, int c, int hw, const float *x, float *y);
  CpStatus  (*avgpool_backward) (CpBackend *be, int n, int c, int hw, const float *dy, float *dx);

  /* y (n, out) = x (n, in) w(out, in)^T + b (b may be NULL).  Backward: dx
   * may be NULL (first layer), db may be NULL when there is no bias. */
  CpStatus  (*linear_forward)  (CpBackend *be, int n, int in, int out, const float *x, const float *w,
                                const float *b, float *y);
  CpStatus  (*linear_backward) (CpBackend *be, int n, int in, int out, const float *x, const float *w,
                                const float *dy, float *dx, float *dw, float *db);

  /* y = a + b elementwise; y may alias a or b (residual add and its
   * backward, where the gradient simply flows to both branches). */
  CpStatus  (*add) (CpBackend *be, size_t count, const float *a, const float *b, float *y);

  /* Mean softmax cross-entropy over n rows of `classes` logits with int32
   * labels (backend memory).  Writes the mean loss to *loss_host (host
   * memory; the call synchronises) and, when dlogits is not NULL, the
   * gradient of the mean loss: (softmax - onehot) / n. */
  CpStatus  (*softmax_cross_entropy) (CpBackend *be, int n, int classes, const float *logits,
                                      const int32_t *labels, float *loss_host, float *dlogits);

  /* SGD with momentum and weight decay, PyTorch semantics (dampening 0,
   * no Nesterov): g = grad + weight_decay * param; buf = momentum * buf + g;
   * param -= lr * buf.  buf must start at zero. */
  CpStatus  (*sgd_update) (CpBackend *be, size_t count, float *param, const float *grad, float *momentum_buf,
                           float lr, float momentum, float weight_decay);

  /* Row-major GEMM: C (m, n) = alpha * op(A) op(B) + beta * C, where op(A)
   * is (m, k) and op(B) is (k, n); trans_* select the transpose. */
  CpStatus  (*gemm) (CpBackend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

  /* Divides each of the n rows of x (n, dim) by its L2 norm (rows of zeros
   * stay zero); y may alias x. */
  CpStatus  (*l2_normalize_rows) (CpBackend *be, int n, int dim, const float *x, float *y);

  /* Optional (NULL: the network falls back to conv2d_forward and then the
   * batch-norm, add and relu ops).  The inference convolution of a layer
   * whose batch norm is folded into its weights and a bias, with the rest
   * of the layer fused into the output pass:
   *   y = act (conv (x, w) + bias[c_out] (+ residual))
   * w is in (c_out, kh, kw, c_in) layout (NOT PyTorch's: the taps of one
   * kernel row are contiguous, so taps that only see zero padding can be
   * left out without copying weights).  residual (n, c_out, h_out, w_out)
   * may be NULL; act is ReLU when @relu is non-zero, else the identity.
   * y must alias neither x nor residual.  The result equals the unfused
   * ops up to float summation order. */
  CpStatus  (*conv2d_bias_act_forward) (CpBackend *be, const CpConvDesc *d, const float *x,
                                        const float *w, const float *bias,
                                        const float *residual, int relu, float *y);

  /* Optional (may be NULL): [ptr, ptr + bytes) holds weights that stay as
   * they are until written through upload, copy or zero, or freed (the
   * network's folded inference weights), so the backend may keep
   * repacked copies of them instead of repacking on every call. */
  void      (*pin) (CpBackend *be, const void *ptr, size_t bytes);

  /* Optional, all three or none: the inference fast path with channels-last
   * activations, (n, h, w, c), which is the layout fast CPU convolution
   * kernels work in, so no layer pays for reordering its input and output.
   * conv2d_bias_act_forward_nhwc is conv2d_bias_act_forward with y and
   * residual in (n, h_out, w_out, c_out) and x in (n, h_in, w_in, c_in),
   * or in (n, c_in, h_in, w_in) when @x_nchw is non-zero (the images).
   * The pools are maxpool_forward and avgpool_forward on (n, h, w, c)
   * tensors (y (n, ho, wo, c) and (n, c)), without argmax indices. */
  CpStatus  (*conv2d_bias_act_forward_nhwc) (CpBackend *be, const CpConvDesc *d, const float *x,
                                             int x_nchw, const float *w, const float *bias,
                                             const float *residual, int relu, float *y);
  CpStatus  (*maxpool_forward_nhwc) (CpBackend *be, int n, int c, int h, int w, int kernel,
                                     int stride, int pad, const float *x, float *y);
  CpStatus  (*avgpool_forward_nhwc) (CpBackend *be, int n, int c, int hw, const float *x,
                                     float *y);
};

/* Creates the CPU reference backend (always available). */
CpBackend *cp_backend_cpu_new  (CpError *error);

/* Creates the CUDA backend on @device.  Returns NULL with a message naming
 * the problem (not built with CUDA, no driver, no device, out of memory). */
CpBackend *cp_backend_cuda_new (int device, CpError *error);

/* "cpu", "cuda" or "auto" (CUDA when a GPU works, else the CPU).  With
 * "auto", @notice (may be NULL) receives code CP_OK and an empty message
 * when CUDA was used or a one-line reason when it fell back to the CPU. */
CpBackend *cp_backend_open     (const char *name, CpError *notice, CpError *error);

void       cp_backend_free     (CpBackend *be);

#ifdef __cplusplus
}
#endif
