/* gde.h: Gaussian density estimator over embeddings (SPEC section 5).
 *
 * Fitting L2-normalises every row, takes the mean, estimates the covariance
 * with Ledoit-Wolf shrinkage exactly as scikit-learn's LedoitWolf
 * (assume_centered=False) and inverts it with a symmetric pseudo-inverse
 * using scipy's pinvh cutoff (eigenvalues <= max|eig| * p * DBL_EPSILON are
 * dropped).  Everything is computed in double; the model file stores the
 * mean and precision as float32 (`gde.mean`, `gde.precision`).
 *
 * Scoring also L2-normalises each row, so callers pass raw embeddings both
 * when fitting and when scoring.  The score is the Mahalanobis distance
 * sqrt ((x - mu)' P (x - mu)); higher means more anomalous.
 */
#pragma once

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CpGde CpGde;

/* What fitting and scoring do to each row before anything else.  The
 * global embedding is L2-normalised (SPEC 5); local feature maps are not:
 * their length carries the local contrast that tells a scratch or a
 * stain from the surface around it, and a Gaussian on raw local features
 * (as PaDiM fits them) finds more of those defects. */
typedef enum
{
  CP_GDE_L2_NORMALIZE = 0,
  CP_GDE_RAW = 1,
} CpGdeInput;

/* Divides each of the @n rows of @x (n, dim) by its L2 norm, in place.
 * Rows of zeros stay zero.  The norm is accumulated in double. */
void          cp_embeddings_l2_normalize (float *x, int n, int dim);

/* Fits a Gaussian to @n raw embeddings @x (n, dim); n >= 2, dim >= 1; n may
 * be smaller than dim.  NULL with @error set on bad shapes, non-finite
 * input or a LAPACK failure. */
CpGde        *cp_gde_fit          (const float *x, int n, int dim, CpError *error);

/* cp_gde_fit with the rows taken as @input says (cp_gde_fit is
 * CP_GDE_L2_NORMALIZE); scoring then treats rows the same way. */
CpGde        *cp_gde_fit_input    (const float *x, int n, int dim, CpGdeInput input,
                                   CpError *error);

/* Builds an estimator from a stored mean (dim) and precision (dim, dim),
 * as read from a model file.  The precision must be finite. */
CpGde        *cp_gde_new_from_f32 (const float *mean, const float *precision, int dim,
                                   CpError *error);

CpGde        *cp_gde_new_from_f32_input (const float *mean, const float *precision, int dim,
                                         CpGdeInput input, CpError *error);

void          cp_gde_free         (CpGde *gde);

int           cp_gde_dim          (const CpGde *gde);
CpGdeInput    cp_gde_input        (const CpGde *gde);

/* float32 copies for the model file: mean (dim), precision (dim, dim),
 * row-major.  Owned by @gde. */
const float  *cp_gde_mean_f32      (const CpGde *gde);
const float  *cp_gde_precision_f32 (const CpGde *gde);

/* Double versions used for scoring.  Owned by @gde. */
const double *cp_gde_mean          (const CpGde *gde);
const double *cp_gde_precision     (const CpGde *gde);

/* Fit diagnostics (NULL / -1 / NaN for an estimator built from a file):
 * the shrunk covariance (dim, dim), the Ledoit-Wolf shrinkage in [0, 1],
 * and the rank kept by the pseudo-inverse. */
const double *cp_gde_covariance    (const CpGde *gde);
double        cp_gde_shrinkage     (const CpGde *gde);
int           cp_gde_rank          (const CpGde *gde);

/* Mahalanobis scores of @n raw embeddings @x (n, dim) into @scores (n),
 * each row first treated as the estimator's CpGdeInput says.
 * Rows are processed in blocks with one dgemm each, so millions of rows
 * (patch grids) need only a small workspace.  Non-finite input rows are an
 * error naming the row. */
CpStatus      cp_gde_score        (const CpGde *gde, const float *x, int n, double *scores,
                                   CpError *error);

#ifdef __cplusplus
}
#endif
