/* cpu-elementwise.c: ReLU, addition and row L2 normalisation.
 *
 * Plain loops the compiler vectorises; large arrays are split among the
 * backend's threads.  Each output element depends only on the same element
 * of the inputs, which is what makes the documented aliasing safe.
 */
#include "cpu-private.h"

#include <math.h>

typedef struct
{
  const float *a, *b;
  float       *y;
} VecJob;

static void
relu_forward_range (void *arg, size_t begin, size_t end)
{
  const VecJob *j = arg;
  const float *x = j->a;
  float *y = j->y;

  for (size_t i = begin; i < end; i++)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void
relu_backward_range (void *arg, size_t begin, size_t end)
{
  const VecJob *j = arg;
  const float *y = j->a, *dy = j->b;
  float *dx = j->y;

  /* The load of dy is unconditional so that the select compiles to a
   * vector blend, not a branch that mispredicts on every other element. */
  for (size_t i = begin; i < end; i++)
    {
      float g = dy[i];
      dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

static void
add_range (void *arg, size_t begin, size_t end)
{
  const VecJob *j = arg;
  const float *a = j->a, *b = j->b;
  float *y = j->y;

  for (size_t i = begin; i < end; i++)
    y[i] = a[i] + b[i];
}

CpStatus
cp_cpu_relu_forward (CpBackend *be, size_t count, const float *x, float *y)
{
  VecJob j = { x, NULL, y };

  if (count == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;
  cp_cpu_parallel_for (be, count, count >= CP_CPU_PARALLEL_MIN, relu_forward_range, &j);
  return CP_OK;
}

CpStatus
cp_cpu_relu_backward (CpBackend *be, size_t count, const float *y, const float *dy, float *dx)
{
  VecJob j = { y, dy, dx };

  if (count == 0)
    return CP_OK;
  if (y == NULL || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;
  cp_cpu_parallel_for (be, count, count >= CP_CPU_PARALLEL_MIN, relu_backward_range, &j);
  return CP_OK;
}

CpStatus
cp_cpu_add (CpBackend *be, size_t count, const float *a, const float *b, float *y)
{
  VecJob j = { a, b, y };

  if (count == 0)
    return CP_OK;
  if (a == NULL || b == NULL || y == NULL)
    return CP_ERR_INVALID;
  cp_cpu_parallel_for (be, count, count >= CP_CPU_PARALLEL_MIN, add_range, &j);
  return CP_OK;
}

/* Rows are few (a batch of embeddings): no threads. */
CpStatus
cp_cpu_l2_normalize_rows (CpBackend *be, int n, int dim, const float *x, float *y)
{
  (void) be;
  if (n < 0 || dim < 0)
    return CP_ERR_INVALID;
  if (n == 0 || dim == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;

  for (int i = 0; i < n; i++)
    {
      const float *xr = x + (size_t) i * dim;
      float *yr = y + (size_t) i * dim;
      double sq = 0.0;
      float inv;

      for (int j = 0; j < dim; j++)
        sq += (double) xr[j] * xr[j];
      /* A zero row has no direction: it stays zero rather than NaN. */
      inv = sq > 0.0 ? (float) (1.0 / sqrt (sq)) : 0.0f;
      for (int j = 0; j < dim; j++)
        yr[j] = xr[j] * inv;
    }
  return CP_OK;
}
