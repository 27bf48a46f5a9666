/* refit.h: refitting a model's density and threshold on its existing
 * network, for the good images of its category.
 *
 * cp_model_refit () is the one place a refit happens (`cutpaste refit`,
 * and the application's "Mark as good" through good-set.h).  It embeds the
 * good images through the model itself (cp_model_score_files (), the path
 * `cutpaste predict` scores by), then fits what training fits after its
 * last step, the same way (train.c, density-fit.h): the threshold from
 * calibration scores (of the images training held out of the network,
 * named in the model's "held_out_images", or else by 5-fold
 * cross-validation), and the Gaussians (global, and the local part's
 * region Gaussians when the model has one) on all of them.  The network
 * and the local part's extractor are not touched: seconds, not a
 * retraining.
 *
 * The refitted threshold is a cross-validated one again (threshold_source
 * "cross-validation"): a threshold set by hand was a point on the old
 * Gaussian's scale, which the refit changes.  The caller saves the model
 * (cp_model_save, atomic); until then only the CpModel in memory changed.
 *
 * Given the images training used, in the same order (the sorted
 * train/good), the refit reproduces the trained Gaussian and threshold
 * (test line-refit checks it): predict and training decode and resize
 * images alike.
 */
#pragma once

#include <glib.h>

#include "model.h"

G_BEGIN_DECLS

typedef struct
{
  int                n_good;            /* images the density was fitted on */
  GPtrArray         *skipped;           /* char *: "PATH: reason", images that could not be read */
  double             threshold_before;
  CpThresholdSource  source_before;
  double             threshold_after;
  double             false_reject_rate; /* the target used */
  double             estimated_false_reject_rate;  /* held-out scores above the new threshold */
  double            *held_out_scores;   /* (n_held_out) calibration scores: of the images
                                         * training held out, else cross-validated ones of
                                         * every image read, in input order */
  int                n_held_out;
  double             seconds;           /* embedding and fitting */
} CpRefitResult;

void     cp_refit_result_init  (CpRefitResult *result);
/* Frees what @result owns (init it again to reuse it). */
void     cp_refit_result_clear (CpRefitResult *result);

/* Refits @model's Gaussian and threshold on the @n images at @good_paths
 * (at least 3 must be readable; unreadable ones are listed in
 * result->skipped and left out).  @false_reject_rate: the target, in
 * [0, 1); NaN keeps the model's (1 % when it has none).  @cancel may be
 * NULL.  On failure the model is unchanged. */
gboolean cp_model_refit        (CpModel            *model,
                                const char *const  *good_paths,
                                int                 n,
                                double              false_reject_rate,
                                const volatile int *cancel,
                                CpRefitResult      *result,
                                GError            **error);

/* The cross-validated scores (the held-out scores of
 * cp_model_refit ()'s k-fold) of @good_paths under @model's network,
 * leaving the model as it is: the reference of the drift rule for a model
 * that stores no held-out calibration scores.  *@scores (g_free) gets
 * *@n_scores values, one per readable image. */
gboolean cp_model_cross_validated_scores (CpModel            *model,
                                          const char *const  *good_paths,
                                          int                 n,
                                          const volatile int *cancel,
                                          double            **scores,
                                          int                *n_scores,
                                          GError            **error);

G_END_DECLS
