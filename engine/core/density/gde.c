/* gde.c: Ledoit-Wolf Gaussian density estimator and Mahalanobis scores. */
#include "gde.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "density-lapack.h"

struct CpGde
{
  int     dim;
  CpGdeInput input;      /* what fitting and scoring do to each row first */
  double *mean;          /* dim */
  double *precision;     /* dim x dim */
  double *covariance;    /* dim x dim, NULL when loaded from a file */
  float  *mean_f32;
  float  *precision_f32;
  double  shrinkage;
  int     rank;
};

/* Rows scored per dgemm: keeps the workspace at 2 x 256 x dim doubles while
 * still giving BLAS a matrix product worth blocking. */
#define SCORE_BLOCK_ROWS 256

void
cp_embeddings_l2_normalize (float *x, int n, int dim)
{
  for (int i = 0; i < n; i++)
    {
      float *row = x + (size_t) i * dim;
      double sum = 0.0;

      for (int j = 0; j < dim; j++)
        sum += (double) row[j] * row[j];
      if (sum > 0.0)
        {
          double inv = 1.0 / sqrt (sum);
          for (int j = 0; j < dim; j++)
            row[j] = (float) (row[j] * inv);
        }
    }
}

/* Copies row @src into double @dst, divided by its L2 norm for
 * CP_GDE_L2_NORMALIZE.  Returns 0 when the row holds a NaN or an infinity. */
static int
row_to_double (const float *src, int dim, CpGdeInput input, double *dst)
{
  double sum = 0.0;

  for (int j = 0; j < dim; j++)
    {
      if (!isfinite (src[j]))
        return 0;
      dst[j] = src[j];
      sum += dst[j] * dst[j];
    }
  if (input == CP_GDE_L2_NORMALIZE && sum > 0.0)
    {
      double norm = sqrt (sum);
      for (int j = 0; j < dim; j++)
        dst[j] /= norm;
    }
  return 1;
}

static CpGde *
gde_alloc (int dim, int with_covariance)
{
  CpGde *gde = calloc (1, sizeof *gde);
  size_t dd = (size_t) dim * dim;

  if (gde == NULL)
    return NULL;
  gde->dim = dim;
  gde->mean = malloc (sizeof (double) * dim);
  gde->precision = malloc (sizeof (double) * dd);
  gde->mean_f32 = malloc (sizeof (float) * dim);
  gde->precision_f32 = malloc (sizeof (float) * dd);
  if (with_covariance)
    gde->covariance = malloc (sizeof (double) * dd);
  if (gde->mean == NULL || gde->precision == NULL || gde->mean_f32 == NULL
      || gde->precision_f32 == NULL || (with_covariance && gde->covariance == NULL))
    {
      cp_gde_free (gde);
      return NULL;
    }
  gde->shrinkage = NAN;
  gde->rank = -1;
  return gde;
}

void
cp_gde_free (CpGde *gde)
{
  if (gde == NULL)
    return;
  free (gde->mean);
  free (gde->precision);
  free (gde->covariance);
  free (gde->mean_f32);
  free (gde->precision_f32);
  free (gde);
}

/* Symmetric pseudo-inverse as scipy.linalg.pinvh: eigendecomposition, keep
 * eigenvalues with |w| > max|w| * dim * eps, P = V diag(1/w) V'.  @a
 * (dim x dim) is destroyed.  Returns the rank kept, or -1 with @error set. */
static int
pseudo_inverse_symmetric (double *a, int dim, double *out, CpError *error)
{
  double *w = malloc (sizeof (double) * dim);
  double *scaled = NULL;
  double work_query;
  int iwork_query, lwork = -1, liwork = -1, info = 0, n = dim, rank = 0;
  double *work = NULL;
  int *iwork = NULL;
  char jobz = 'V', uplo = 'L';
  double max_abs = 0.0, cutoff;

  if (w == NULL)
    goto nomem;
  cp_lapack_dsyevd (&jobz, &uplo, &n, a, &n, w, &work_query, &lwork, &iwork_query, &liwork, &info);
  if (info != 0)
    goto lapack_failed;
  lwork = (int) work_query;
  liwork = iwork_query;
  work = malloc (sizeof (double) * (size_t) lwork);
  iwork = malloc (sizeof (int) * (size_t) liwork);
  if (work == NULL || iwork == NULL)
    goto nomem;
  cp_lapack_dsyevd (&jobz, &uplo, &n, a, &n, w, work, &lwork, iwork, &liwork, &info);
  if (info != 0)
    goto lapack_failed;

  for (int i = 0; i < dim; i++)
    if (fabs (w[i]) > max_abs)
      max_abs = fabs (w[i]);
  cutoff = max_abs * dim * DBL_EPSILON;

  /* LAPACK is column-major, so in our row-major buffer row j of @a is the
   * j-th eigenvector.  Gather the kept ones scaled by 1/w into @scaled and
   * form P = V_kept' diag(1/w) V_kept with one dgemm. */
  scaled = malloc (sizeof (double) * (size_t) dim * dim);
  if (scaled == NULL)
    goto nomem;
  for (int j = 0; j < dim; j++)
    if (fabs (w[j]) > cutoff)
      {
        double inv = 1.0 / w[j];
        const double *v = a + (size_t) j * dim;
        double *dst_scaled = scaled + (size_t) rank * dim;
        double *dst_plain = a + (size_t) rank * dim;   /* rank <= j: safe in place */

        for (int i = 0; i < dim; i++)
          dst_scaled[i] = v[i] * inv;
        if (dst_plain != v)
          memmove (dst_plain, v, sizeof (double) * dim);
        rank++;
      }
  if (rank > 0)
    cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, rank,
                 1.0, a, dim, scaled, dim, 0.0, out, dim);
  else
    memset (out, 0, sizeof (double) * (size_t) dim * dim);
  /* Exact symmetry, so that float copies and later products agree. */
  for (int i = 0; i < dim; i++)
    for (int j = i + 1; j < dim; j++)
      {
        double s = 0.5 * (out[(size_t) i * dim + j] + out[(size_t) j * dim + i]);
        out[(size_t) i * dim + j] = s;
        out[(size_t) j * dim + i] = s;
      }
  free (w);
  free (work);
  free (iwork);
  free (scaled);
  return rank;

nomem:
  cp_error_set (error, CP_ERR_NOMEM, "gde: out of memory for a %d x %d eigendecomposition", dim, dim);
  goto fail;
lapack_failed:
  cp_error_set (error, CP_ERR_NUMERIC, "gde: LAPACK dsyevd failed (info %d) on the %d x %d covariance",
                info, dim, dim);
fail:
  free (w);
  free (work);
  free (iwork);
  free (scaled);
  return -1;
}

static void
gde_make_f32 (CpGde *gde)
{
  size_t dd = (size_t) gde->dim * gde->dim;

  for (int i = 0; i < gde->dim; i++)
    gde->mean_f32[i] = (float) gde->mean[i];
  for (size_t i = 0; i < dd; i++)
    gde->precision_f32[i] = (float) gde->precision[i];
}

CpGde *
cp_gde_fit (const float *x, int n, int dim, CpError *error)
{
  return cp_gde_fit_input (x, n, dim, CP_GDE_L2_NORMALIZE, error);
}

CpGde *
cp_gde_fit_input (const float *x, int n, int dim, CpGdeInput input, CpError *error)
{
  CpGde *gde = NULL;
  double *xc = NULL, *work = NULL;
  double *cov;
  size_t dd;
  double trace = 0.0, m, beta_hat = 0.0, delta_hat = 0.0, beta, delta, s;

  if (x == NULL || n < 2 || dim < 1)
    {
      cp_error_set (error, CP_ERR_INVALID,
                    "gde: need at least 2 embeddings of dimension >= 1 to fit (got %d x %d)", n, dim);
      return NULL;
    }
  dd = (size_t) dim * dim;
  gde = gde_alloc (dim, 1);
  if (gde != NULL)
    gde->input = input;
  xc = malloc (sizeof (double) * (size_t) n * dim);
  work = malloc (sizeof (double) * dd);
  if (gde == NULL || xc == NULL || work == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "gde: out of memory fitting %d x %d embeddings", n, dim);
      goto fail;
    }
  cov = gde->covariance;

  for (int i = 0; i < n; i++)
    if (!row_to_double (x + (size_t) i * dim, dim, input, xc + (size_t) i * dim))
      {
        cp_error_set (error, CP_ERR_NUMERIC, "gde: embedding %d holds a NaN or an infinity", i);
        goto fail;
      }

  /* Mean, then centre (assume_centered=False). */
  for (int j = 0; j < dim; j++)
    gde->mean[j] = 0.0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < dim; j++)
      gde->mean[j] += xc[(size_t) i * dim + j];
  for (int j = 0; j < dim; j++)
    gde->mean[j] /= n;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < dim; j++)
      xc[(size_t) i * dim + j] -= gde->mean[j];

  /* Empirical covariance S = X'X / n. */
  cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, n,
               1.0 / n, xc, dim, xc, dim, 0.0, cov, dim);

  if (dim == 1)
    {
      /* scikit-learn's special case: one feature, no shrinkage. */
      s = 0.0;
    }
  else
    {
      for (int j = 0; j < dim; j++)
        trace += cov[(size_t) j * dim + j];
      m = trace / dim;
      /* beta_hat = sum_ij ((X.^2)'(X.^2))_ij = sum_k (sum_i x_ki^2)^2. */
      for (int k = 0; k < n; k++)
        {
          double r = 0.0;
          for (int j = 0; j < dim; j++)
            r += xc[(size_t) k * dim + j] * xc[(size_t) k * dim + j];
          beta_hat += r * r;
        }
      /* delta_hat = sum_ij ((X'X)_ij)^2 / n^2 = sum_ij S_ij^2. */
      for (size_t i = 0; i < dd; i++)
        delta_hat += cov[i] * cov[i];
      beta = (beta_hat / n - delta_hat) / ((double) dim * n);
      delta = (delta_hat - 2.0 * m * trace + dim * m * m) / dim;
      if (beta > delta)
        beta = delta;
      s = beta == 0.0 ? 0.0 : beta / delta;
      for (size_t i = 0; i < dd; i++)
        cov[i] *= 1.0 - s;
      for (int j = 0; j < dim; j++)
        cov[(size_t) j * dim + j] += s * m;
    }
  gde->shrinkage = s;

  memcpy (work, cov, sizeof (double) * dd);
  gde->rank = pseudo_inverse_symmetric (work, dim, gde->precision, error);
  if (gde->rank < 0)
    goto fail;
  gde_make_f32 (gde);
  free (xc);
  free (work);
  return gde;

fail:
  cp_gde_free (gde);
  free (xc);
  free (work);
  return NULL;
}

CpGde *
cp_gde_new_from_f32 (const float *mean, const float *precision, int dim, CpError *error)
{
  return cp_gde_new_from_f32_input (mean, precision, dim, CP_GDE_L2_NORMALIZE, error);
}

CpGde *
cp_gde_new_from_f32_input (const float *mean, const float *precision, int dim, CpGdeInput input,
                           CpError *error)
{
  CpGde *gde;
  size_t dd;

  if (mean == NULL || precision == NULL || dim < 1)
    {
      cp_error_set (error, CP_ERR_INVALID, "gde: a stored Gaussian needs a mean and a precision of dimension >= 1");
      return NULL;
    }
  dd = (size_t) dim * dim;
  for (int i = 0; i < dim; i++)
    if (!isfinite (mean[i]))
      {
        cp_error_set (error, CP_ERR_NUMERIC, "gde.mean: element %d is not finite", i);
        return NULL;
      }
  for (size_t i = 0; i < dd; i++)
    if (!isfinite (precision[i]))
      {
        cp_error_set (error, CP_ERR_NUMERIC, "gde.precision: element (%zu, %zu) is not finite",
                      i / dim, i % dim);
        return NULL;
      }
  gde = gde_alloc (dim, 0);
  if (gde == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "gde: out of memory for a %d-d Gaussian", dim);
      return NULL;
    }
  gde->input = input;
  memcpy (gde->mean_f32, mean, sizeof (float) * dim);
  memcpy (gde->precision_f32, precision, sizeof (float) * dd);
  for (int i = 0; i < dim; i++)
    gde->mean[i] = mean[i];
  for (size_t i = 0; i < dd; i++)
    gde->precision[i] = precision[i];
  return gde;
}

int           cp_gde_dim (const CpGde *gde) { return gde->dim; }
CpGdeInput    cp_gde_input (const CpGde *gde) { return gde->input; }
const float  *cp_gde_mean_f32 (const CpGde *gde) { return gde->mean_f32; }
const float  *cp_gde_precision_f32 (const CpGde *gde) { return gde->precision_f32; }
const double *cp_gde_mean (const CpGde *gde) { return gde->mean; }
const double *cp_gde_precision (const CpGde *gde) { return gde->precision; }
const double *cp_gde_covariance (const CpGde *gde) { return gde->covariance; }
double        cp_gde_shrinkage (const CpGde *gde) { return gde->shrinkage; }
int           cp_gde_rank (const CpGde *gde) { return gde->rank; }

CpStatus
cp_gde_score (const CpGde *gde, const float *x, int n, double *scores, CpError *error)
{
  int dim, block;
  double *d, *t;

  if (gde == NULL || (n > 0 && (x == NULL || scores == NULL)) || n < 0)
    return cp_error_set (error, CP_ERR_INVALID, "gde: score needs a fitted Gaussian, rows and an output");
  if (n == 0)
    return CP_OK;
  dim = gde->dim;
  block = n < SCORE_BLOCK_ROWS ? n : SCORE_BLOCK_ROWS;
  d = malloc (sizeof (double) * (size_t) block * dim);
  t = malloc (sizeof (double) * (size_t) block * dim);
  if (d == NULL || t == NULL)
    {
      free (d);
      free (t);
      return cp_error_set (error, CP_ERR_NOMEM, "gde: out of memory scoring %d rows", n);
    }

  for (int start = 0; start < n; start += block)
    {
      int rows = n - start < block ? n - start : block;

      for (int r = 0; r < rows; r++)
        {
          double *dr = d + (size_t) r * dim;

          if (!row_to_double (x + (size_t) (start + r) * dim, dim, gde->input, dr))
            {
              free (d);
              free (t);
              return cp_error_set (error, CP_ERR_NUMERIC, "gde: embedding %d holds a NaN or an infinity",
                                   start + r);
            }
          for (int j = 0; j < dim; j++)
            dr[j] -= gde->mean[j];
        }
      /* T = D P; the quadratic form is the row sum of T .* D. */
      cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dim, dim,
                   1.0, d, dim, gde->precision, dim, 0.0, t, dim);
      for (int r = 0; r < rows; r++)
        {
          const double *dr = d + (size_t) r * dim, *tr = t + (size_t) r * dim;
          double q = 0.0;

          for (int j = 0; j < dim; j++)
            q += dr[j] * tr[j];
          /* A positive semi-definite form can round a hair below zero. */
          scores[start + r] = q > 0.0 ? sqrt (q) : 0.0;
        }
    }
  free (d);
  free (t);
  return CP_OK;
}
