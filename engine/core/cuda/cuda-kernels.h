/* cuda-kernels.h: launchers of the CUDA backend's own kernels.
 *
 * The kernels live in the .cu files, the only files nvcc compiles, each
 * named after the op family it serves (cuda-batchnorm.cu beside
 * cuda-batchnorm.c, which mirrors cpu-batchnorm.c); the rest of the backend
 * is C11 compiled by the C compiler.  Launchers take already validated
 * arguments (the op wrappers check shapes the way the CPU reference does),
 * enqueue on @stream and return the launch status from cudaGetLastError (),
 * so a bad launch is reported by the op that made it.  Layouts and
 * semantics are those documented in backend.h.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cuda-elementwise.cu --------------------------------------------------- */

/* y[i] = value for i < count (used to check that the fat binary has code
 * for the device, and for GEMMs with k = 0 and beta = 0). */
cudaError_t cp_cuda_launch_fill (cudaStream_t stream, float *y, size_t count, float value);

cudaError_t cp_cuda_launch_relu_forward  (cudaStream_t stream, size_t count, const float *x,
                                          float *y);
cudaError_t cp_cuda_launch_relu_backward (cudaStream_t stream, size_t count, const float *y,
                                          const float *dy, float *dx);
cudaError_t cp_cuda_launch_add           (cudaStream_t stream, size_t count, const float *a,
                                          const float *b, float *y);

cudaError_t cp_cuda_launch_l2_normalize_rows (cudaStream_t stream, int n, int dim, const float *x,
                                              float *y);

/* ---- cuda-linear.cu -------------------------------------------------------- */

/* C (m, n, row stride ldc) *= beta; beta = 0 writes zeros without reading C
 * (BLAS semantics, so NaN garbage does not survive). */
cudaError_t cp_cuda_launch_scale_matrix (cudaStream_t stream, float *c, int m, int n, int ldc,
                                         float beta);

/* y (n, out) += b (out) per row; db (out) = column sums of dy (n, out). */
cudaError_t cp_cuda_launch_bias_add     (cudaStream_t stream, int n, int out, const float *b,
                                         float *y);
cudaError_t cp_cuda_launch_column_sums  (cudaStream_t stream, int n, int out, const float *dy,
                                         float *db);

/* ---- cuda-batchnorm.cu ----------------------------------------------------- */

/* Batch norm.  The reductions run in two stages (partial sums per channel
 * slice in double, then a fixed-order sum per channel), so results do not
 * depend on timing.  @scratch is device memory of at least
 * cp_cuda_bn_scratch_bytes (n, c, hw, sm_count) bytes, 16-byte aligned. */
size_t      cp_cuda_bn_scratch_bytes (int n, int c, int hw, int sm_count);
cudaError_t cp_cuda_launch_bn_forward_train (cudaStream_t stream, int sm_count, int n, int c, int hw,
                                             const float *x, const float *gamma, const float *beta,
                                             float *running_mean, float *running_var,
                                             float momentum, float eps, float *y,
                                             float *save_mean, float *save_invstd, void *scratch);
cudaError_t cp_cuda_launch_bn_forward_infer (cudaStream_t stream, int n, int c, int hw,
                                             const float *x, const float *gamma, const float *beta,
                                             const float *running_mean, const float *running_var,
                                             float eps, float *y, void *scratch);
cudaError_t cp_cuda_launch_bn_backward      (cudaStream_t stream, int sm_count, int n, int c, int hw,
                                             const float *x, const float *dy, const float *gamma,
                                             const float *save_mean, const float *save_invstd,
                                             float *dx, float *dgamma, float *dbeta,
                                             void *scratch);

/* ---- cuda-pool.cu ---------------------------------------------------------- */

/* Max pool with a square kernel; h_out and w_out as the CPU computes them. */
cudaError_t cp_cuda_launch_maxpool_forward  (cudaStream_t stream, int n, int c, int h, int w,
                                             int kernel, int stride, int pad, int h_out, int w_out,
                                             const float *x, float *y, int32_t *indices);
cudaError_t cp_cuda_launch_maxpool_backward (cudaStream_t stream, int n, int c, int h, int w,
                                             int kernel, int stride, int pad, int h_out, int w_out,
                                             const float *dy, const int32_t *indices, float *dx);

/* Global average pool over @planes planes of @hw values. */
cudaError_t cp_cuda_launch_avgpool_forward  (cudaStream_t stream, size_t planes, int hw,
                                             const float *x, float *y);
cudaError_t cp_cuda_launch_avgpool_backward (cudaStream_t stream, size_t planes, int hw,
                                             const float *dy, float *dx);

/* ---- cuda-loss.cu ---------------------------------------------------------- */

/* Mean softmax cross-entropy: writes the mean loss to loss_dev[0] and the
 * number of out-of-range labels to bad_labels_dev[0]; dlogits may be NULL. */
cudaError_t cp_cuda_launch_softmax_xent (cudaStream_t stream, int n, int classes,
                                         const float *logits, const int32_t *labels,
                                         float *dlogits, float *loss_dev, int32_t *bad_labels_dev);

/* ---- cuda-sgd.cu ----------------------------------------------------------- */

cudaError_t cp_cuda_launch_sgd (cudaStream_t stream, size_t count, float *param, const float *grad,
                                float *momentum_buf, float lr, float momentum, float weight_decay);

#ifdef __cplusplus
}
#endif
