/* threshold.h: pass/fail threshold from good images only (SPEC section 6).
 *
 * k-fold cross-validation over the train/good embeddings: fold f holds the
 * rows i with i % k == f (deterministic, no shuffling, so the same images
 * give the same threshold); a Gaussian fitted on the other folds scores the
 * held-out fold.  The threshold is the (1 - target_false_reject_rate)
 * quantile of all held-out scores, with numpy's default ("linear")
 * definition: sorted scores s[0..N-1], h = (N - 1) q, threshold =
 * s[floor h] + (h - floor h) (s[floor h + 1] - s[floor h]).  An image whose
 * score is strictly above the threshold fails.
 *
 * Scores of images the Gaussian was fitted on are biased low, which is why
 * they must not set the threshold.  The caller refits the Gaussian on all
 * rows afterwards (cp_gde_fit) for the model it stores.
 */
#pragma once

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_THRESHOLD_DEFAULT_FOLDS 5
#define CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE 0.01

typedef struct
{
  int    folds;                     /* k >= 2; 0 means the default (5) */
  double target_false_reject_rate;  /* in [0, 1); < 0 means the default (0.01) */
} CpThresholdOptions;

typedef struct
{
  double  threshold;
  double  target_false_reject_rate;
  /* Fraction of held-out scores strictly above the threshold: the
   * false-reject rate expected on new good images. */
  double  estimated_false_reject_rate;
  int     folds;                    /* folds actually used (<= n) */
  int     n;
  double *held_out_scores;          /* n, row order; free with cp_threshold_result_clear */
} CpThresholdResult;

/* Fills @options with the defaults. */
void     cp_threshold_options_init (CpThresholdOptions *options);

/* @x: n raw embeddings (n, dim), n >= 3 (every training split needs two
 * rows); when n < folds, leave-one-out is used.  @options may be NULL. */
CpStatus cp_threshold_fit (const float *x, int n, int dim, const CpThresholdOptions *options,
                           CpThresholdResult *result, CpError *error);

void     cp_threshold_result_clear (CpThresholdResult *result);

/* numpy.quantile (method "linear") of @n values, @q in [0, 1].  @values
 * need not be sorted and are left untouched.  NaN when n == 0. */
double   cp_quantile_linear (const double *values, int n, double q);

#ifdef __cplusplus
}
#endif
