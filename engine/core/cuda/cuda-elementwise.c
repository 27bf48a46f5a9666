/* cuda-elementwise.c: ReLU, add and L2 row normalisation.
 *
 * Each op checks its arguments exactly as the CPU reference (cpu-elementwise.c) does, so
 * both backends accept and refuse the same calls, then launches the
 * kernels of cuda-elementwise.cu on the backend's stream.
 */
#include "cuda-private.h"

CpStatus
cp_cuda_relu_forward (CpBackend *be, size_t count, const float *x, float *y)
{
  if (count == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "relu_forward", cp_cuda_launch_relu_forward (cp_cuda_stream (be), count, x, y));
}

CpStatus
cp_cuda_relu_backward (CpBackend *be, size_t count, const float *y, const float *dy, float *dx)
{
  if (count == 0)
    return CP_OK;
  if (y == NULL || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "relu_backward",
                   cp_cuda_launch_relu_backward (cp_cuda_stream (be), count, y, dy, dx));
}

CpStatus
cp_cuda_add (CpBackend *be, size_t count, const float *a, const float *b, float *y)
{
  if (count == 0)
    return CP_OK;
  if (a == NULL || b == NULL || y == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "add", cp_cuda_launch_add (cp_cuda_stream (be), count, a, b, y));
}

CpStatus
cp_cuda_l2_normalize_rows (CpBackend *be, int n, int dim, const float *x, float *y)
{
  if (n < 0 || dim < 0)
    return CP_ERR_INVALID;
  if (n == 0 || dim == 0)
    return CP_OK;
  if (x == NULL || y == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "l2_normalize_rows",
                   cp_cuda_launch_l2_normalize_rows (cp_cuda_stream (be), n, dim, x, y));
}
