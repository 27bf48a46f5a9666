/* op-args.h: the argument rules of the ops, written once for every backend.
 *
 * backend.h promises that all backends accept and refuse the same calls;
 * each backend's op checks its pointers and then applies these rules,
 * which are those of the CPU reference (and of PyTorch where it has one).
 */
#pragma once

#include <stdbool.h>

/* Output size of a max pool along one side. */
static inline int
cp_op_maxpool_out (int size, int kernel, int stride, int pad)
{
  return (size + 2 * pad - kernel) / stride + 1;
}

/* As PyTorch: padding at most half the kernel, so that no window lies
 * entirely in the padding and every output has a real maximum. */
static inline bool
cp_op_maxpool_args_ok (int n, int c, int h, int w, int kernel, int stride, int pad)
{
  return n > 0 && c > 0 && h > 0 && w > 0 && kernel > 0 && stride > 0 && pad >= 0
         && 2 * pad <= kernel && h + 2 * pad >= kernel && w + 2 * pad >= kernel;
}

static inline bool
cp_op_batchnorm_args_ok (int n, int c, int hw)
{
  return n > 0 && c > 0 && hw > 0;
}

/* Sizes of a row-major GEMM (backend.h): no negative size, and each
 * leading dimension covers the stored row width (cuBLAS's rule too, once
 * transposed). */
static inline bool
cp_op_gemm_args_ok (int trans_a, int trans_b, int m, int n, int k, int lda, int ldb, int ldc)
{
  const int m1 = m > 1 ? m : 1, n1 = n > 1 ? n : 1, k1 = k > 1 ? k : 1;

  return m >= 0 && n >= 0 && k >= 0
         && lda >= (trans_a ? m1 : k1) && ldb >= (trans_b ? k1 : n1) && ldc >= n1;
}
