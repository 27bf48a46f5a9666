/* cpu-batchnorm.c: batch normalisation over (n, c, hw), PyTorch semantics.
 *
 * Channels are independent, so they are shared among the backend's
 * threads.  The per-channel sums run over up to n*hw = 1.5 million values
 * at S = 256, so they are accumulated in double across planes (in 16
 * float lanes within a plane, where the loop vectorises): a float sum over
 * the whole channel would lose several digits of the mean and variance.
 */
#include "cpu-private.h"

#include <math.h>

/* Arguments of one batch-norm call, shared with the worker threads. */
typedef struct
{
  int          n, c, hw;
  const float *x, *dy, *gamma, *beta;
  float       *running_mean, *running_var;
  const float *save_mean_in, *save_invstd_in;
  float        momentum, eps;
  float       *y, *save_mean, *save_invstd;
  float       *dx, *dgamma, *dbeta;
} BnJob;

static void
bn_train_channels (void *arg, size_t begin, size_t end)
{
  const BnJob *j = arg;
  const int n = j->n, c = j->c, hw = j->hw;
  const size_t m = (size_t) n * hw;
  const float *x = j->x;

  for (size_t ch = begin; ch < end; ch++)
    {
      double sum = 0.0, sq = 0.0, mean, var;
      float fmean, invstd, scale, shift;

      for (int b = 0; b < n; b++)
        sum += cp_cpu_sum (x + ((size_t) b * c + ch) * hw, (size_t) hw);
      mean = sum / (double) m;
      fmean = (float) mean;
      /* Second pass about the mean: no cancellation as with E[x^2]-E[x]^2. */
      for (int b = 0; b < n; b++)
        sq += cp_cpu_sum_sq_dev (x + ((size_t) b * c + ch) * hw, (size_t) hw, fmean);
      var = sq / (double) m;
      invstd = (float) (1.0 / sqrt (var + (double) j->eps));
      j->save_mean[ch] = fmean;
      j->save_invstd[ch] = invstd;
      if (j->running_mean != NULL)
        j->running_mean[ch] = (1.0f - j->momentum) * j->running_mean[ch] + j->momentum * fmean;
      if (j->running_var != NULL)
        j->running_var[ch] = (1.0f - j->momentum) * j->running_var[ch]
                             + j->momentum * (float) (var * (double) m / (double) (m - 1));

      scale = j->gamma[ch] * invstd;
      shift = j->beta[ch] - fmean * scale;
      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          float *ys = j->y + ((size_t) b * c + ch) * hw;

          for (int i = 0; i < hw; i++)
            ys[i] = xs[i] * scale + shift;
        }
    }
}

CpStatus
cp_cpu_batchnorm_forward_train (CpBackend *be, int n, int c, int hw, const float *x,
                                const float *gamma, const float *beta,
                                float *running_mean, float *running_var,
                                float momentum, float eps,
                                float *y, float *save_mean, float *save_invstd)
{
  const size_t m = (size_t) n * hw;

  if (!cp_op_batchnorm_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL
      || y == NULL || save_mean == NULL || save_invstd == NULL)
    return CP_ERR_INVALID;
  /* PyTorch refuses to train on a single value per channel: the unbiased
   * variance would divide by zero. */
  if (m < 2)
    return CP_ERR_INVALID;

  {
    BnJob j = {
      .n = n, .c = c, .hw = hw, .x = x, .gamma = gamma, .beta = beta,
      .running_mean = running_mean, .running_var = running_var,
      .momentum = momentum, .eps = eps,
      .y = y, .save_mean = save_mean, .save_invstd = save_invstd,
    };

    cp_cpu_parallel_for (be, (size_t) c, m * c >= CP_CPU_PARALLEL_MIN, bn_train_channels, &j);
  }
  return CP_OK;
}

/* Planes (image, channel) are independent in inference. */
static void
bn_infer_planes (void *arg, size_t begin, size_t end)
{
  const BnJob *j = arg;
  const int c = j->c, hw = j->hw;

  for (size_t plane = begin; plane < end; plane++)
    {
      const size_t ch = plane % (size_t) c;
      float invstd = (float) (1.0 / sqrt ((double) j->running_var[ch] + (double) j->eps));
      float scale = j->gamma[ch] * invstd;
      float shift = j->beta[ch] - j->running_mean[ch] * scale;
      const float *xs = j->x + plane * hw;
      float *ys = j->y + plane * hw;

      for (int i = 0; i < hw; i++)
        ys[i] = xs[i] * scale + shift;
    }
}

CpStatus
cp_cpu_batchnorm_forward_infer (CpBackend *be, int n, int c, int hw, const float *x,
                                const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var,
                                float eps, float *y)
{
  if (!cp_op_batchnorm_args_ok (n, c, hw) || x == NULL || gamma == NULL || beta == NULL
      || y == NULL || running_mean == NULL || running_var == NULL)
    return CP_ERR_INVALID;

  {
    /* Inference only reads the running statistics. */
    BnJob j = {
      .n = n, .c = c, .hw = hw, .x = x, .gamma = gamma, .beta = beta,
      .running_mean = (float *) running_mean, .running_var = (float *) running_var,
      .eps = eps, .y = y,
    };

    cp_cpu_parallel_for (be, (size_t) n * c, (size_t) n * c * hw >= CP_CPU_PARALLEL_MIN,
                         bn_infer_planes, &j);
  }
  return CP_OK;
}

static void
bn_backward_channels (void *arg, size_t begin, size_t end)
{
  const BnJob *j = arg;
  const int n = j->n, c = j->c, hw = j->hw;
  const size_t m = (size_t) n * hw;
  const float *x = j->x, *dy = j->dy;

  for (size_t ch = begin; ch < end; ch++)
    {
      const float mean = j->save_mean_in[ch], invstd = j->save_invstd_in[ch];
      double sum_dy = 0.0, sum_dy_xc = 0.0;
      float k_mean, k_xhat, scale;

      for (int b = 0; b < n; b++)
        {
          double s, t;

          cp_cpu_sum_dy_dev (dy + ((size_t) b * c + ch) * hw, x + ((size_t) b * c + ch) * hw,
                             (size_t) hw, mean, &s, &t);
          sum_dy += s;
          sum_dy_xc += t;
        }
      if (j->dbeta != NULL)
        j->dbeta[ch] = (float) sum_dy;
      if (j->dgamma != NULL)
        j->dgamma[ch] = (float) (sum_dy_xc * invstd);

      /* dx = scale * (dy - k_mean - (x - mean) * k_xhat) */
      scale = j->gamma[ch] * invstd;
      k_mean = (float) (sum_dy / (double) m);
      k_xhat = (float) (sum_dy_xc * (double) invstd * (double) invstd / (double) m);
      for (int b = 0; b < n; b++)
        {
          const float *xs = x + ((size_t) b * c + ch) * hw;
          const float *dys = dy + ((size_t) b * c + ch) * hw;
          float *dxs = j->dx + ((size_t) b * c + ch) * hw;

          for (int i = 0; i < hw; i++)
            dxs[i] = scale * (dys[i] - k_mean - (xs[i] - mean) * k_xhat);
        }
    }
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

  if (!cp_op_batchnorm_args_ok (n, c, hw) || x == NULL || dy == NULL || gamma == NULL
      || save_mean == NULL || save_invstd == NULL || dx == NULL)
    return CP_ERR_INVALID;

  {
    BnJob j = {
      .n = n, .c = c, .hw = hw, .x = x, .dy = dy, .gamma = gamma,
      .save_mean_in = save_mean, .save_invstd_in = save_invstd,
      .dx = dx, .dgamma = dgamma, .dbeta = dbeta,
    };

    cp_cpu_parallel_for (be, (size_t) c, m * c >= CP_CPU_PARALLEL_MIN, bn_backward_channels, &j);
  }
  return CP_OK;
}
