/* tsne.c: exact t-SNE, gradient descent as in van der Maaten's tsne.m. */
#include "tsne.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void
cp_tsne_options_init (CpTsneOptions *options)
{
  memset (options, 0, sizeof *options);
  options->perplexity = 30.0;
  options->iterations = 1000;
  options->early_exaggeration = 12.0;
  options->exaggeration_iterations = 250;
  options->learning_rate = 0.0;
}

/* Squared Euclidean distances (n x n) through the Gram matrix, clamped at
 * zero against rounding. */
static void
squared_distances (const double *x, int n, int dim, double *d)
{
  double *norms = malloc (sizeof (double) * n);

  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dim, -2.0, x, dim, x, dim, 0.0, d, n);
  if (norms == NULL)
    {
      /* Fall back to direct sums; slower but no allocation. */
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
          {
            double s = 0.0;
            for (int k = 0; k < dim; k++)
              {
                double t = x[(size_t) i * dim + k] - x[(size_t) j * dim + k];
                s += t * t;
              }
            d[(size_t) i * n + j] = s;
          }
      return;
    }
  for (int i = 0; i < n; i++)
    norms[i] = -0.5 * d[(size_t) i * n + i];
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      {
        double v = d[(size_t) i * n + j] + norms[i] + norms[j];
        d[(size_t) i * n + j] = (i == j || v < 0.0) ? 0.0 : v;
      }
  free (norms);
}

/* Row i of the conditional P(j | i) with the precision beta = 1/(2 sigma^2)
 * chosen by bisection so that the entropy is log(perplexity). */
static void
conditional_row (const double *d_row, int n, int i, double log_perplexity, double *p_row)
{
  double beta = 1.0, beta_lo = -INFINITY, beta_hi = INFINITY;
  double d_min = INFINITY;

  /* Subtracting the nearest distance keeps exp() from underflowing for
   * far-apart data; it cancels in the normalisation. */
  for (int j = 0; j < n; j++)
    if (j != i && d_row[j] < d_min)
      d_min = d_row[j];

  for (int step = 0; step < 200; step++)
    {
      double sum = 0.0, weighted = 0.0, entropy;

      for (int j = 0; j < n; j++)
        {
          double v = j == i ? 0.0 : exp (-(d_row[j] - d_min) * beta);
          p_row[j] = v;
          sum += v;
        }
      if (sum <= 0.0)
        sum = DBL_MIN;
      for (int j = 0; j < n; j++)
        {
          p_row[j] /= sum;
          weighted += (d_row[j] - d_min) * p_row[j];
        }
      /* H = log(sum) + beta * E[d] in nats. */
      entropy = log (sum) + beta * weighted;
      if (fabs (entropy - log_perplexity) < 1e-5)
        break;
      if (entropy > log_perplexity)
        {
          beta_lo = beta;
          beta = isinf (beta_hi) ? beta * 2.0 : 0.5 * (beta + beta_hi);
        }
      else
        {
          beta_hi = beta;
          beta = isinf (beta_lo) ? beta * 0.5 : 0.5 * (beta + beta_lo);
        }
    }
}

CpStatus
cp_tsne (const float *x, int n, int dim, const CpTsneOptions *options, CpRng *rng,
         float *out, double *kl_divergence, CpError *error)
{
  CpTsneOptions opts;
  double *xd = NULL, *p = NULL, *num = NULL, *y = NULL, *grad = NULL, *inc = NULL, *gains = NULL;
  double perplexity, lr, kl = NAN;
  size_t nn;
  CpStatus status = CP_OK;

  if (options != NULL)
    opts = *options;
  else
    cp_tsne_options_init (&opts);
  if (x == NULL || out == NULL || rng == NULL || dim < 1)
    return cp_error_set (error, CP_ERR_INVALID, "tsne: input, output and a generator are required");
  if (n < 2)
    return cp_error_set (error, CP_ERR_INVALID, "tsne: need at least 2 points (got %d)", n);
  if (opts.iterations < 1 || !(opts.perplexity > 0.0) || !(opts.early_exaggeration >= 1.0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "tsne: iterations must be >= 1, perplexity > 0, exaggeration >= 1");
  for (size_t i = 0; i < (size_t) n * dim; i++)
    if (!isfinite (x[i]))
      return cp_error_set (error, CP_ERR_NUMERIC, "tsne: point %zu holds a NaN or an infinity",
                           i / (size_t) dim);

  nn = (size_t) n * n;
  perplexity = opts.perplexity;
  /* A perplexity near n cannot be reached; scikit-learn refuses it, a plot
   * of a handful of images should still work. */
  if (perplexity > (n - 1) / 3.0)
    perplexity = (n - 1) / 3.0 > 1.0 ? (n - 1) / 3.0 : 1.0;
  lr = opts.learning_rate > 0.0 ? opts.learning_rate : n / opts.early_exaggeration / 4.0;
  if (opts.learning_rate <= 0.0 && lr < 50.0)
    lr = 50.0;

  xd = malloc (sizeof (double) * (size_t) n * dim);
  p = malloc (sizeof (double) * nn);
  num = malloc (sizeof (double) * nn);
  y = malloc (sizeof (double) * 2 * n);
  grad = malloc (sizeof (double) * 2 * n);
  inc = calloc ((size_t) 2 * n, sizeof (double));
  gains = malloc (sizeof (double) * 2 * n);
  if (xd == NULL || p == NULL || num == NULL || y == NULL || grad == NULL || inc == NULL || gains == NULL)
    {
      status = cp_error_set (error, CP_ERR_NOMEM, "tsne: out of memory for %d points", n);
      goto out;
    }
  for (size_t i = 0; i < (size_t) n * dim; i++)
    xd[i] = x[i];

  /* Affinities: distances into num, conditional rows into p. */
  squared_distances (xd, n, dim, num);
  for (int i = 0; i < n; i++)
    conditional_row (num + (size_t) i * n, n, i, log (perplexity), p + (size_t) i * n);
  for (int i = 0; i < n; i++)
    for (int j = i; j < n; j++)
      {
        double v = (p[(size_t) i * n + j] + p[(size_t) j * n + i]) / (2.0 * n);
        if (v < 1e-12)
          v = 1e-12;
        p[(size_t) i * n + j] = v;
        p[(size_t) j * n + i] = v;
      }

  for (int i = 0; i < 2 * n; i++)
    {
      y[i] = 1e-4 * cp_rng_normal (rng);
      gains[i] = 1.0;
    }

  for (int iter = 0; iter < opts.iterations; iter++)
    {
      double exaggeration = iter < opts.exaggeration_iterations ? opts.early_exaggeration : 1.0;
      double momentum = iter < opts.exaggeration_iterations ? 0.5 : 0.8;
      double z = 0.0, mean0 = 0.0, mean1 = 0.0;
      int report = opts.progress != NULL && ((iter + 1) % 50 == 0 || iter + 1 == opts.iterations);
      int want_kl = report || iter + 1 == opts.iterations;

      /* Student-t kernel num_ij = 1 / (1 + |y_i - y_j|^2) for j > i only,
       * in row i's upper part: rows are read and written contiguously and
       * each pair is computed once. */
      for (int i = 0; i < n; i++)
        {
          double yi0 = y[2 * i], yi1 = y[2 * i + 1], row_sum = 0.0;
          double *nrow = num + (size_t) i * n;

          for (int j = i + 1; j < n; j++)
            {
              double d0 = yi0 - y[2 * j], d1 = yi1 - y[2 * j + 1];
              double v = 1.0 / (1.0 + d0 * d0 + d1 * d1);
              nrow[j] = v;
              row_sum += v;
            }
          z += 2.0 * row_sum;
        }
      if (z < DBL_MIN)
        z = DBL_MIN;

      /* dC/dy_i = 4 sum_j (e p_ij - q_ij) num_ij (y_i - y_j); each pair
       * adds to y_i and, with the opposite sign, to y_j. */
      memset (grad, 0, sizeof (double) * 2 * n);
      for (int i = 0; i < n; i++)
        {
          double yi0 = y[2 * i], yi1 = y[2 * i + 1], g0 = 0.0, g1 = 0.0;
          const double *prow = p + (size_t) i * n, *nrow = num + (size_t) i * n;
          double inv_z = 1.0 / z;

          for (int j = i + 1; j < n; j++)
            {
              double m = (exaggeration * prow[j] - nrow[j] * inv_z) * nrow[j];
              double f0 = m * (yi0 - y[2 * j]), f1 = m * (yi1 - y[2 * j + 1]);
              g0 += f0;
              g1 += f1;
              grad[2 * j] -= f0;
              grad[2 * j + 1] -= f1;
            }
          grad[2 * i] += g0;
          grad[2 * i + 1] += g1;
        }
      for (int k = 0; k < 2 * n; k++)
        grad[k] *= 4.0;

      if (want_kl)
        {
          kl = 0.0;
          /* P and Q are symmetric: twice the upper triangle. */
          for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
              {
                double pij = p[(size_t) i * n + j];
                double qij = num[(size_t) i * n + j] / z;
                if (qij < 1e-12)
                  qij = 1e-12;
                kl += 2.0 * pij * log (pij / qij);
              }
        }

      for (int k = 0; k < 2 * n; k++)
        {
          /* Gains grow where the gradient keeps reversing the step. */
          if ((grad[k] > 0.0) != (inc[k] > 0.0))
            gains[k] += 0.2;
          else
            gains[k] *= 0.8;
          if (gains[k] < 0.01)
            gains[k] = 0.01;
          inc[k] = momentum * inc[k] - lr * gains[k] * grad[k];
          y[k] += inc[k];
        }
      for (int i = 0; i < n; i++)
        {
          mean0 += y[2 * i];
          mean1 += y[2 * i + 1];
        }
      mean0 /= n;
      mean1 /= n;
      for (int i = 0; i < n; i++)
        {
          y[2 * i] -= mean0;
          y[2 * i + 1] -= mean1;
        }

      if (report && opts.progress (iter + 1, opts.iterations, kl, opts.user_data))
        {
          status = cp_error_set (error, CP_ERR_CANCELLED, "tsne: cancelled at iteration %d", iter + 1);
          goto out;
        }
    }

  for (int k = 0; k < 2 * n; k++)
    {
      if (!isfinite (y[k]))
        {
          status = cp_error_set (error, CP_ERR_NUMERIC, "tsne: the embedding diverged (point %d)", k / 2);
          goto out;
        }
      out[k] = (float) y[k];
    }
  if (kl_divergence != NULL)
    *kl_divergence = kl;

out:
  free (xd);
  free (p);
  free (num);
  free (y);
  free (grad);
  free (inc);
  free (gains);
  return status;
}
