/* reference.h: the good scores the drift rule (core/density/drift.h)
 * compares recent passed parts with.
 *
 * In order of preference:
 *  1. "calibration": held-out good scores the model file stores as the F32
 *     tensor "calibration.scores" [n] (training's calibration split: images
 *     the network never saw, scored by the final Gaussian);
 *  2. "cross-validation": the k-fold held-out scores of the dataset's
 *     train/good (cp_model_cross_validated_scores (), as the threshold is
 *     chosen), computed through the model when it stores no calibration
 *     scores.  The network trained on these images, so new good parts
 *     may score higher than they do: a warning against this reference can
 *     mean only that, and its text says so.
 * The line database caches the scores of case 2 per model file (they take
 * seconds to compute), so a restart finds them there.
 */
#pragma once

#include <glib.h>

#include "records.h"
#include "pipeline/model.h"

G_BEGIN_DECLS

#define CP_REFERENCE_SOURCE_CALIBRATION      "calibration"
#define CP_REFERENCE_SOURCE_CROSS_VALIDATION "cross-validation"

/* The name of the model tensor of case 1. */
#define CP_REFERENCE_CALIBRATION_TENSOR "calibration.scores"

typedef struct
{
  double *scores;   /* n */
  int     n;
  char   *source;   /* CP_REFERENCE_SOURCE_* */
} CpReference;

void     cp_reference_clear (CpReference *reference);

/* Reads the calibration tensor of the model file at @model_path into
 * @reference; FALSE without an error when the file has none. */
gboolean cp_reference_from_model_file (const char   *model_path,
                                       CpReference  *reference,
                                       GError      **error);

/* Case 1, else the cache in @cached (a models row, may be NULL), else case
 * 2 on DATA_DIR/CATEGORY/train/good, with @data_dir or else the model's
 * recorded data_dir.  Fails (with a message that says why drift cannot be
 * checked) when none is available. */
gboolean cp_reference_find (CpModel              *model,
                            const CpModelRecord  *cached,
                            const char           *data_dir,
                            CpReference          *reference,
                            GError              **error);

/* One line for people: "reference: 60 held-out calibration scores" or
 * "reference: 279 cross-validated train/good scores (the network trained
 * on these images: new parts may score higher)" (newly allocated). */
char    *cp_reference_describe (const CpReference *reference);

G_END_DECLS
