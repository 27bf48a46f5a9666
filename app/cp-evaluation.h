/* cp-evaluation.h: the evaluation of one category's model on its test
 * images (scores, ROC, AUROC) with the t-SNE map of its embeddings, as
 * computed on the engine thread.  Immutable once made; reference counted. */
#pragma once

#include <glib-object.h>

#include "pipeline/evaluate.h"

G_BEGIN_DECLS

typedef struct
{
  CpEvalResult *result;
  float        *tsne_xy;     /* (tsne_n, 2): test, train, then augmented points; NULL when none */
  int           tsne_n;
  char         *tsne_error;  /* why there is no map, or NULL */
} CpEvaluation;

#define CP_TYPE_EVALUATION (cp_evaluation_get_type ())
GType         cp_evaluation_get_type (void);

CpEvaluation *cp_evaluation_ref      (CpEvaluation *self);
void          cp_evaluation_unref    (CpEvaluation *self);

/* Engine thread: evaluates the model at @model_path on the test images of
 * @category in @data_dir and maps the embeddings.  NULL with @error set
 * when the model or the images cannot be used, or on cancel. */
CpEvaluation *cp_evaluation_compute  (const char         *data_dir,
                                      const char         *category,
                                      const char         *model_path,
                                      const char         *device,
                                      const volatile int *cancel,
                                      GError            **error);

/* The highest test score (or the threshold the evaluation used, if
 * higher); NaN when there is none. */
double        cp_evaluation_max_score (const CpEvaluation *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpEvaluation, cp_evaluation_unref)

G_END_DECLS
