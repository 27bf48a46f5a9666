/* cpu-batchnorm.c: batch normalisation over (n, c, hw), PyTorch semantics.
 *
 * Channels are independent, so they are shared among the threads.  The
 * per-channel sums run over up to n*hw = 1.5 million values at S = 256, so
 * they are accumulated in double: a float sum would lose several digits of
 * the mean and variance.
 */
#include "cpu-private.h"

#include <math.h>

static int
bn_args_ok (int n, int c, int hw)
{
  return n > 0 && c > 0 && hw > 0;
}

CpStatus
cp_cpu_batchnorm_forward_train (CpBackend *be, int n, int c, int hw, const float *x,
                                const float *gamma, const float *beta,
                                float *running_mean, float *running_var,
                                float momentum, float eps,
                                float *y, float *save_mean, float *save_invstd)
{
  const size_t m = (size_t) n * hw;

  (void) be;
  if (!bn_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL || y == NULL
      || save_mean == NULL || save_invstd == NULL)
    return CP_ERR_INVALID;
  /* PyTorch refuses to train on a single value per channel: the unbiased
   * variance would divide by zero. */
  if (m < 2)
    return CP_ERR_INVALID;

#pragma omp parallel for schedule(dynamic, 1) if (m * c >= CP_CPU_PARALLEL_MIN)
  for (int ch = 0; ch < c; ch++)
    {
      double sum = 0.0, sq = 0.0, mean, var;
      float fmean, invstd, scale, shift;

      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          float part = 0.0f;

          /* Float partial sums per plane (vectorisable), double across. */
          for (int i = 0; i < hw; i++)
            part += xs[i];
          sum += part;
        }
      mean = sum / (double) m;
      fmean = (float) mean;
      /* Second pass about the mean: no cancellation as with E[x^2]-E[x]^2. */
      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          float part = 0.0f;

          for (int i = 0; i < hw; i++)
            {
              float dv = xs[i] - fmean;
              part += dv * dv;
            }
          sq += part;
        }
      var = sq / (double) m;
      invstd = (float) (1.0 / sqrt (var + (double) eps));
      save_mean[ch] = fmean;
      save_invstd[ch] = invstd;
      if (running_mean != NULL)
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * fmean;
      if (running_var != NULL)
        running_var[ch] = (1.0f - momentum) * running_var[ch]
                          + momentum * (float) (var * (double) m / (double) (m - 1));

      scale = gamma[ch] * invstd;
      shift = beta[ch] - fmean * scale;
      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          float *ys = y + ((size_t) b * c + ch) * hw;

          for (int i = 0; i < hw; i++)
            ys[i] = xs[i] * scale + shift;
        }
    }
  return CP_OK;
}

CpStatus
cp_cpu_batchnorm_forward_infer (CpBackend *be, int n, int c, int hw, const float *x,
                                const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var,
                                float eps, float *y)
{
  (void) be;
  if (!bn_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL || y == NULL
      || running_mean == NULL || running_var == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for collapse(2) schedule(static) if ((size_t) n * c * hw >= CP_CPU_PARALLEL_MIN)
  for (int b = 0; b < n; b++)
    for (int ch = 0; ch < c; ch++)
      {
        float invstd = (float) (1.0 / sqrt ((double) running_var[ch] + (double) eps));
        float scale = gamma[ch] * invstd;
        float shift = beta[ch] - running_mean[ch] * scale;
        const float *xs = x + ((size_t) b * c + ch) * hw;
        float *ys = y + ((size_t) b * c + ch) * hw;

        for (int i = 0; i < hw; i++)
          ys[i] = xs[i] * scale + shift;
      }
  return CP_OK;
}

/* With xhat = (x - mean) * invstd and m values per channel:
 *   dbeta  = sum dy
 *   dgamma = sum dy * xhat
 *   dx     = gamma * invstd * (dy - dbeta/m - xhat * dgamma/m)          */
CpStatus
cp_cpu_batchnorm_backward (CpBackend *be, int n, int c, int hw, const float *x,
                           const float *dy, const float *gamma,
                           const float *save_mean, const float *save_invstd,
                           float *dx, float *dgamma, float *dbeta)
{
  const size_t m = (size_t) n * hw;

  (void) be;
  if (!bn_args_ok (n, c, hw) || x == NULL || dy == NULL || gamma == NULL || save_mean == NULL
      || save_invstd == NULL || dx == NULL)
    return CP_ERR_INVALID;

#pragma omp parallel for schedule(dynamic, 1) if (m * c >= CP_CPU_PARALLEL_MIN)
  for (int ch = 0; ch < c; ch++)
    {
      const float mean = save_mean[ch], invstd = save_invstd[ch];
      double sum_dy = 0.0, sum_dy_xc = 0.0;
      float k_mean, k_xhat, scale;

      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          const float *dys = dy + ((size_t) b * c + ch) * hw;
          float p_dy = 0.0f, p_dy_xc = 0.0f;

          for (int i = 0; i < hw; i++)
            {
              p_dy += dys[i];
              p_dy_xc += dys[i] * (xs[i] - mean);
            }
          sum_dy += p_dy;
          sum_dy_xc += p_dy_xc;
        }
      if (dbeta != NULL)
        dbeta[ch] = (float) sum_dy;
      if (dgamma != NULL)
        dgamma[ch] = (float) (sum_dy_xc * invstd);

      /* dx = scale * (dy - k_mean - (x - mean) * k_xhat) */
      scale = gamma[ch] * invstd;
      k_mean = (float) (sum_dy / (double) m);
      k_xhat = (float) (sum_dy_xc * (double) invstd * (double) invstd / (double) m);
      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          const float *dys = dy + ((size_t) b * c + ch) * hw;
          float *dxs = dx + ((size_t) b * c + ch) * hw;

          for (int i = 0; i < hw; i++)
            dxs[i] = scale * (dys[i] - k_mean - (xs[i] - mean) * k_xhat);
        }
    }
  return CP_OK;
}
