/* cp-evaluation.c: a category's evaluation and its t-SNE map. */
#include "config.h"

#include <math.h>

#include "pipeline/model.h"
#include "cp-evaluation.h"

G_DEFINE_BOXED_TYPE (CpEvaluation, cp_evaluation, cp_evaluation_ref, cp_evaluation_unref)

static void
evaluation_clear (gpointer data)
{
  CpEvaluation *self = data;

  if (self->result != NULL)
    {
      cp_eval_result_clear (self->result);
      g_free (self->result);
    }
  g_free (self->tsne_xy);
  g_free (self->tsne_error);
}

CpEvaluation *
cp_evaluation_ref (CpEvaluation *self)
{
  return g_atomic_rc_box_acquire (self);
}

void
cp_evaluation_unref (CpEvaluation *self)
{
  g_atomic_rc_box_release_full (self, evaluation_clear);
}

/* The map of the test, train and augmented embeddings: cp_eval_tsne (),
 * the very map `cutpaste evaluate --plots` draws of the same model.  A map
 * that fails costs the map only, and says why. */
static void
compute_tsne (CpEvaluation       *self,
              const volatile int *cancel)
{
  g_autoptr(GError) error = NULL;

  if (!cp_eval_tsne (self->result, cancel, &self->tsne_xy, &self->tsne_n, &error))
    {
      self->tsne_error = g_strdup (error->message);
      g_clear_pointer (&self->tsne_xy, g_free);
      self->tsne_n = 0;
    }
}

CpEvaluation *
cp_evaluation_compute (const char         *data_dir,
                       const char         *category,
                       const char         *model_path,
                       const char         *device,
                       const volatile int *cancel,
                       GError            **error)
{
  g_autoptr(CpModel) model = cp_model_load (model_path, device, error);
  CpEvalOptions opts;
  CpEvaluation *self;

  if (model == NULL)
    return NULL;
  cp_eval_options_init (&opts);
  cp_eval_options_want_tsne (&opts);
  self = g_atomic_rc_box_new0 (CpEvaluation);
  self->result = g_new0 (CpEvalResult, 1);
  cp_eval_result_init (self->result);
  if (!cp_evaluate_category (data_dir, category, model, &opts, NULL, NULL, cancel,
                             self->result, error))
    {
      cp_evaluation_unref (self);
      return NULL;
    }
  compute_tsne (self, cancel);
  return self;
}

double
cp_evaluation_max_score (const CpEvaluation *self)
{
  double max_score = self->result->threshold;

  for (guint i = 0; i < self->result->images->len; i++)
    {
      double s = g_array_index (self->result->images, CpEvalImage, i).score;

      if (!isnan (s))
        max_score = isnan (max_score) ? s : MAX (max_score, s);
    }
  return max_score;
}
