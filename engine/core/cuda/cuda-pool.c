/* cuda-pool.c: max pool and global average pool.
 *
 * Each op checks its arguments exactly as the CPU reference (cpu-pool.c) does, so
 * both backends accept and refuse the same calls, then launches the
 * kernels of cuda-pool.cu on the backend's stream.
 */
#include "cuda-private.h"

CpStatus
cp_cuda_maxpool_forward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                         int pad, const float *x, float *y, int32_t *indices)
{
  if (!cp_op_maxpool_args_ok (n, c, h, w, kernel, stride, pad) || x == NULL || y == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "maxpool_forward",
                   cp_cuda_launch_maxpool_forward (cp_cuda_stream (be), n, c, h, w, kernel, stride,
                                                   pad, cp_op_maxpool_out (h, kernel, stride, pad),
                                                   cp_op_maxpool_out (w, kernel, stride, pad), x, y,
                                                   indices));
}

CpStatus
cp_cuda_maxpool_backward (CpBackend *be, int n, int c, int h, int w, int kernel, int stride,
                          int pad, const float *dy, const int32_t *indices, float *dx)
{
  if (!cp_op_maxpool_args_ok (n, c, h, w, kernel, stride, pad) || dy == NULL || dx == NULL
      || indices == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "maxpool_backward",
                   cp_cuda_launch_maxpool_backward (cp_cuda_stream (be), n, c, h, w, kernel, stride,
                                                    pad, cp_op_maxpool_out (h, kernel, stride, pad),
                                                    cp_op_maxpool_out (w, kernel, stride, pad), dy,
                                                    indices, dx));
}

CpStatus
cp_cuda_avgpool_forward (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  if (n <= 0 || c <= 0 || hw <= 0 || x == NULL || y == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "avgpool_forward",
                   cp_cuda_launch_avgpool_forward (cp_cuda_stream (be), (size_t) n * c, hw, x, y));
}

CpStatus
cp_cuda_avgpool_backward (CpBackend *be, int n, int c, int hw, const float *dy, float *dx)
{
  if (n <= 0 || c <= 0 || hw <= 0 || dy == NULL || dx == NULL)
    return CP_ERR_INVALID;
  return cp_cuda_launched (be, "avgpool_backward",
                   cp_cuda_launch_avgpool_backward (cp_cuda_stream (be), (size_t) n * c, hw, dy, dx));
}
