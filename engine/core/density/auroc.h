/* auroc.h: area under the ROC curve and ROC curve points.
 *
 * Equal to sklearn.metrics.roc_auc_score: tied scores count one half (the
 * trapezoid between tied thresholds, i.e. Mann-Whitney with average ranks).
 * Labels are 0 (normal, negative) and non-zero (anomalous, positive); a
 * higher score means more anomalous.  NaN scores are errors naming the
 * index; fewer than one sample of either class is an error, as in
 * scikit-learn.
 *
 * The pixel variant takes float maps and uint8 masks and is exact with ties
 * for any number of pixels: scores are mapped to order-preserving 32-bit
 * keys, radix sorted per class and merged, O(n) after the sort.  An
 * accumulator lets the caller add one image at a time.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

CpStatus cp_auroc (const double *scores, const uint8_t *labels, size_t n, double *auroc,
                   CpError *error);

/* ROC curve as sklearn.metrics.roc_curve: points at each distinct score
 * from the highest down, preceded by (0, 0) at threshold +inf.  The
 * threshold of point i is the score s such that "score >= s" is flagged.
 * With @drop_intermediate, points that lie on a straight line between their
 * neighbours are dropped (scikit-learn's default). */
typedef struct
{
  size_t  count;
  double *fpr;
  double *tpr;
  double *thresholds;
  double  auroc;
} CpRocCurve;

CpStatus cp_roc_curve       (const double *scores, const uint8_t *labels, size_t n,
                             int drop_intermediate, CpRocCurve *curve, CpError *error);
void     cp_roc_curve_clear (CpRocCurve *curve);

/* Pixel-level AUROC: @count pixels of score @maps and masks @masks (0 =
 * normal, non-zero = defect). */
CpStatus cp_auroc_pixels (const float *maps, const uint8_t *masks, size_t count, double *auroc,
                          CpError *error);

typedef struct CpPixelRoc CpPixelRoc;

CpPixelRoc *cp_pixel_roc_new    (void);
void        cp_pixel_roc_free   (CpPixelRoc *acc);
/* Adds @count pixels (one image or many). */
CpStatus    cp_pixel_roc_add    (CpPixelRoc *acc, const float *map, const uint8_t *mask, size_t count,
                                 CpError *error);
size_t      cp_pixel_roc_positives (const CpPixelRoc *acc);
size_t      cp_pixel_roc_negatives (const CpPixelRoc *acc);
/* Exact AUROC of everything added so far (sorts in place; more pixels may
 * be added afterwards). */
CpStatus    cp_pixel_roc_auroc  (CpPixelRoc *acc, double *auroc, CpError *error);
/* A ROC curve for plotting: the origin plus at most @max_points (>= 2)
 * exact points taken at evenly spaced positions along the sorted scores,
 * the last one always (1, 1). */
CpStatus    cp_pixel_roc_curve  (CpPixelRoc *acc, size_t max_points, CpRocCurve *curve,
                                 CpError *error);

#ifdef __cplusplus
}
#endif
