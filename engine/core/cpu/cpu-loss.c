/* cpu-loss.c: mean softmax cross-entropy and its gradient.
 *
 * Each row is shifted by its maximum before exponentiating, so logits of
 * any magnitude give a finite loss; the log-sum-exp is kept in double.
 */
#include "cpu-private.h"

#include <math.h>

CpStatus
cp_cpu_softmax_cross_entropy (CpBackend *be, int n, int classes, const float *logits,
                              const int32_t *labels, float *loss_host, float *dlogits)
{
  double total = 0.0;

  (void) be;
  if (n <= 0 || classes <= 0 || logits == NULL || labels == NULL || loss_host == NULL)
    return CP_ERR_INVALID;
  for (int i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= classes)
      return CP_ERR_INVALID;

  for (int i = 0; i < n; i++)
    {
      const float *z = logits + (size_t) i * classes;
      double zmax = z[0], sum = 0.0, lse;

      for (int j = 1; j < classes; j++)
        if (z[j] > zmax)
          zmax = z[j];
      for (int j = 0; j < classes; j++)
        sum += exp ((double) z[j] - zmax);
      lse = zmax + log (sum);
      total += lse - (double) z[labels[i]];

      if (dlogits != NULL)
        {
          float *g = dlogits + (size_t) i * classes;

          for (int j = 0; j < classes; j++)
            {
              double p = exp ((double) z[j] - lse);

              g[j] = (float) ((p - (j == labels[i] ? 1.0 : 0.0)) / n);
            }
        }
    }
  *loss_host = (float) (total / n);
  if (!isfinite (*loss_host))
    return CP_ERR_NUMERIC;
  return CP_OK;
}
