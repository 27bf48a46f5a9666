/* cuda-kernel-util.cuh: what every kernel file of the CUDA backend shares:
 * the block size, launch-size helpers, grid-stride indexing and the block
 * reduction.
 *
 * Everything the backend's kernels do is memory-bound, so they aim at
 * coalesced 16-byte accesses (float4 when every pointer involved is
 * 16-byte aligned, which cudaMalloc and the network's 256-byte arena
 * carving give) and grid-stride loops.  Reductions run in double and in a
 * fixed order (per-thread partial sums, then a tree within the block, then
 * a sequential sum across blocks) so that results match the CPU reference
 * closely and do not vary from run to run.  Kept C-like on purpose: no
 * templates beyond what CUDA needs.  Included only by the .cu files.
 */
#pragma once

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "cuda-kernels.h"

#define CP_THREADS 256

/* Grid-stride loops cover whatever the grid does not: the cap only bounds
 * the launch size, never the work. */
static inline unsigned int
grid_for (size_t units)
{
  size_t blocks = (units + CP_THREADS - 1) / CP_THREADS;

  if (blocks < 1)
    blocks = 1;
  if (blocks > 1048576)
    blocks = 1048576;
  return (unsigned int) blocks;
}

static inline int
aligned16 (const void *p)
{
  return ((uintptr_t) p & 15u) == 0;
}

__device__ static inline size_t
global_thread (void)
{
  return (size_t) blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ static inline size_t
grid_stride (void)
{
  return (size_t) gridDim.x * blockDim.x;
}

/* Quotient of an element index by a small divisor.  64-bit division is
 * emulated in software on the GPU (about a hundred instructions); every
 * realistic tensor has fewer than 2^32 elements, where the hardware's
 * 32-bit path applies. */
__device__ static inline size_t
div_index (size_t a, unsigned int b)
{
  return a <= 0xffffffffu ? (size_t) ((unsigned int) a / b) : a / b;
}

/* Sums @a and @b over the block; the totals are valid in thread 0.  Needs
 * blockDim.x to be a multiple of 32 (every launch here uses CP_THREADS). */
__device__ static inline void
block_reduce2 (double *a, double *b)
{
  __shared__ double sa[32], sb[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  double x = *a, y = *b;

  for (int off = 16; off > 0; off >>= 1)
    {
      x += __shfl_down_sync (0xffffffffu, x, off);
      y += __shfl_down_sync (0xffffffffu, y, off);
    }
  if (lane == 0)
    {
      sa[warp] = x;
      sb[warp] = y;
    }
  __syncthreads ();
  if (warp == 0)
    {
      x = lane < warps ? sa[lane] : 0.0;
      y = lane < warps ? sb[lane] : 0.0;
      for (int off = 16; off > 0; off >>= 1)
        {
          x += __shfl_down_sync (0xffffffffu, x, off);
          y += __shfl_down_sync (0xffffffffu, y, off);
        }
    }
  *a = x;
  *b = y;
}

/* Blocks for one thread per channel (or column). */
static inline unsigned int
channel_blocks (int c)
{
  return (unsigned int) ((c + CP_THREADS - 1) / CP_THREADS);
}
