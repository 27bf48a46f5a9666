/* cuda-loss.cu: the softmax cross-entropy kernel.
 *
 * Host side: cuda-loss.c; shared helpers: cuda-kernel-util.cuh.
 */
#include "cuda-kernel-util.cuh"

/* One block: batches are small, and a single block makes the mean a fixed
 * reduction tree. */
__global__ static void
softmax_xent_kernel (int n, int classes, const float *logits, const int32_t *labels,
                     float *dlogits, float *loss, int32_t *bad_labels)
{
  double total = 0.0, bad = 0.0;

  for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
      const float *z = logits + (size_t) i * classes;
      const int32_t label = labels[i];
      double zmax, sum = 0.0, lse;

      if (label < 0 || label >= classes)
        {
          bad += 1.0;
          continue;
        }
      zmax = z[0];
      for (int j = 1; j < classes; j++)
        if (z[j] > zmax)
          zmax = z[j];
      for (int j = 0; j < classes; j++)
        sum += exp ((double) z[j] - zmax);
      lse = zmax + log (sum);
      total += lse - (double) z[label];
      if (dlogits != NULL)
        {
          float *g = dlogits + (size_t) i * classes;

          for (int j = 0; j < classes; j++)
            g[j] = (float) ((exp ((double) z[j] - lse) - (j == label ? 1.0 : 0.0)) / n);
        }
    }
  block_reduce2 (&total, &bad);
  if (threadIdx.x == 0)
    {
      loss[0] = (float) (total / n);
      bad_labels[0] = (int32_t) bad;
    }
}

extern "C" cudaError_t
cp_cuda_launch_softmax_xent (cudaStream_t stream, int n, int classes, const float *logits,
                             const int32_t *labels, float *dlogits, float *loss_dev,
                             int32_t *bad_labels_dev)
{
  softmax_xent_kernel<<<1, CP_THREADS, 0, stream>>> (n, classes, logits, labels, dlogits, loss_dev,
                                                     bad_labels_dev);
  return cudaGetLastError ();
}
