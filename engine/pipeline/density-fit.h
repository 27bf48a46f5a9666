/* density-fit.h: a model's densities, score and threshold from good images.
 *
 * A model scores an image with one or two parts:
 *   - global: the Mahalanobis distance of the L2-normalised 512-d embedding
 *     under the Gaussian of the good images (SPEC 5);
 *   - local (optional, local-model.h): the largest Mahalanobis distance of
 *     the image's regions under the regions' Gaussians.
 * With one part the image score is the global distance itself (every model
 * written before the local part existed reads that way).  With two, each
 * part is divided by its scale, the median of that part's score over the
 * calibration images, and the image score is the larger quotient:
 *
 *     score = max (global / global_scale, local / local_scale)
 *
 * so a score reads as "so many times the score of a typical good image",
 * whichever part found the defect, and an outline defect (global) and a
 * small surface defect (local) count alike.
 *
 * Calibration images are good images whose scores are unbiased:
 *   - held out: a part of train/good (15 %, at least 8 images) that the
 *     network never trained on and the Gaussians were not fitted on
 *     (SPEC 6: a network trained from scratch on tens of images memorises
 *     them, so their own scores are far too low to set a threshold);
 *   - or, when train/good is too small to hold 8 images out and keep 8 to
 *     train on, k-fold: each fold scored by Gaussians fitted on the other
 *     folds (unbiased for the Gaussians, not for the network).
 *
 * The threshold for a target false-reject rate r is taken from the
 * calibration scores with a log-normal tail: exp (m + z s), m and s the
 * mean and standard deviation of their logarithms, z the standard normal
 * quantile of 1 - r; or their empirical 1 - r quantile (numpy's linear
 * one) when that is higher.  With 8 to 60 calibration images the
 * empirical 99th percentile is just their maximum, which a new good part
 * exceeds with probability 1 / (n + 1) (over 10 % for 8 images); the
 * fitted tail goes past it by an amount that grows with the spread of the
 * scores.  With hundreds of images the empirical quantile knows a long
 * tail better than the log-normal does.
 *
 * Finally the Gaussians are refitted on every good image for the stored
 * model (SPEC 6), the threshold and scales keeping their calibrated values.
 */
#pragma once

#include <glib.h>

#include "core/density/gde.h"
#include "core/localize/localize.h"
#include "local-model.h"

G_BEGIN_DECLS

/* Images held out for calibration out of @n good images: 15 % (rounded
 * up), at least 8; 0 when fewer than 8 would be left to train on. */
int      cp_calibration_count    (int n);

/* Marks cp_calibration_count (n) of the @n images in @held_out (TRUE),
 * chosen by a generator seeded with @seed; returns the count. */
int      cp_calibration_split    (int n, guint64 seed, gboolean *held_out);

/* The larger of exp (mean (log s) + z sd (log s)) over the @n positive
 * @scores, z the standard normal quantile of 1 - @rate, and their
 * empirical 1 - @rate quantile (n >= 2, 0 < rate < 1); NaN when a score is
 * not positive and finite. */
double   cp_calibration_threshold (const double *scores, int n, double rate);

/* The image score from its parts (see the top of this file): @global alone
 * when @local_scale is NaN (no local part). */
double   cp_density_combine      (double global, double local, double global_scale,
                                  double local_scale);

typedef struct
{
  const float         *embeddings;   /* (n, 512) raw embeddings of every good image */
  const float         *features;     /* (n, regions, D) region vectors, NULL: no local part */
  CpLocalModel        *local;        /* fitted here when @features is set (borrowed) */
  CpPatchDensityKind   local_kind;
  int                  n;
  const gboolean      *held_out;     /* n flags, or NULL for k-fold calibration */
  int                  folds;        /* for k-fold (5) */
  double               false_reject_rate;
} CpDensityFitInput;

typedef struct
{
  CpGde   *gde;                 /* fitted on all n (owned) */
  double   global_scale;        /* NaN without a local part */
  double   local_scale;         /* NaN without a local part */
  double   threshold;
  gboolean held_out;            /* calibrated on held-out images (else k-fold) */
  int      n_calibration;
  double  *calibration_scores;  /* (n_calibration) image scores, ascending order of image */
  double  *calibration_global;  /* (n_calibration) global distances */
  double  *calibration_local;   /* (n_calibration) local maxima, NULL without a local part */
  float   *calibration_maps;    /* (n_calibration, regions) region maps, NULL without */
} CpDensityFit;

gboolean cp_density_fit          (const CpDensityFitInput *in, CpDensityFit *out, GError **error);
void     cp_density_fit_clear    (CpDensityFit *fit);

G_END_DECLS
