/* cpu-elementwise.c: ReLU, addition and row L2 normalisation.
 *
 * Plain loops the compiler vectorises; large arrays are split among the
 * threads.  Each output element depends only on the same element of the
 * inputs, which is what makes the documented aliasing safe.
 */
#include "cpu-private.h"

#include <math.h>

CpStatus
cp_cpu_relu_forward (CpBackend *be, size_t count, const float *x, float *y)
{
  (void) be;
  if (count == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for simd schedule(static) if (count >= CP_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < count; i++)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  return CP_OK;
}

CpStatus
cp_cpu_relu_backward (CpBackend *be, size_t count, const float *y, const float *dy, float *dx)
{
  (void) be;
  if (count == 0)
    return CP_OK;
  if (y == NULL || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for simd schedule(static) if (count >= CP_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < count; i++)
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  return CP_OK;
}

CpStatus
cp_cpu_add (CpBackend *be, size_t count, const float *a, const float *b, float *y)
{
  (void) be;
  if (count == 0)
    return CP_OK;
  if (a == NULL || b == NULL || y == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for simd schedule(static) if (count >= CP_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < count; i++)
    y[i] = a[i] + b[i];
  return CP_OK;
}

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
