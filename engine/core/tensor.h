/* tensor.h: a float32 NCHW tensor whose storage lives on a backend.
 *
 * A CpTensor is a view: it does not know how its memory was obtained.  The
 * network carves all of its tensors out of a few large allocations (one
 * owner, one free), as llm.c does.  1-D and 2-D tensors use h = w = 1.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  float *data;      /* backend memory: host for the CPU, device for CUDA */
  int    n, c, h, w;
} CpTensor;

static inline size_t
cp_tensor_numel (const CpTensor *t)
{
  return (size_t) t->n * (size_t) t->c * (size_t) t->h * (size_t) t->w;
}

static inline size_t
cp_tensor_bytes (const CpTensor *t)
{
  return cp_tensor_numel (t) * sizeof (float);
}

static inline CpTensor
cp_tensor_make (float *data, int n, int c, int h, int w)
{
  CpTensor t = { data, n, c, h, w };
  return t;
}

#ifdef __cplusplus
}
#endif
