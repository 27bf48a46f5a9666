/* cp-evaluation.c: a category's evaluation and its t-SNE map. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/density/tsne.h"
#include "core/rng.h"
#include "pipeline/model.h"
#include "cp-evaluation.h"

/* Augmented samples embedded for the t-SNE map (each of CutPaste and scar). */
#define AUGMENTED_SAMPLES 30

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

/* The map of the test, train and augmented embeddings, in that order.
 * NOTE: `cutpaste evaluate --plots` (engine/cli/eval-plots.c) assembles
 * its own input with another seed and iteration count; both should call
 * one engine function (cp_eval_tsne (), issue 18) once there is one. */
static void
compute_tsne (CpEvaluation *self)
{
  CpEvalResult *eval = self->result;
  int n_test = eval->images->len;
  int n = n_test + eval->n_train + eval->n_aug;
  g_autofree float *all = NULL;
  CpTsneOptions opts;
  CpRng rng;
  CpError err = { 0 };

  if (n < 2)
    return;
  all = g_new (float, (gsize) n * 512);
  memcpy (all, eval->test_embeddings, sizeof (float) * 512 * n_test);
  if (eval->n_train > 0)
    memcpy (all + (gsize) n_test * 512, eval->train_embeddings, sizeof (float) * 512 * eval->n_train);
  if (eval->n_aug > 0)
    memcpy (all + (gsize) (n_test + eval->n_train) * 512, eval->aug_embeddings,
            sizeof (float) * 512 * eval->n_aug);
  self->tsne_xy = g_new (float, (gsize) n * 2);
  self->tsne_n = n;
  cp_tsne_options_init (&opts);
  opts.iterations = 500;
  cp_rng_seed (&rng, 1);
  if (cp_tsne (all, n, 512, &opts, &rng, self->tsne_xy, NULL, &err) != CP_OK)
    {
      self->tsne_error = g_strdup (err.message);
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
  opts.with_train_embeddings = TRUE;
  opts.augmented_samples = AUGMENTED_SAMPLES;
  self = g_atomic_rc_box_new0 (CpEvaluation);
  self->result = g_new0 (CpEvalResult, 1);
  cp_eval_result_init (self->result);
  if (!cp_evaluate_category (data_dir, category, model, &opts, NULL, NULL, cancel,
                             self->result, error))
    {
      cp_evaluation_unref (self);
      return NULL;
    }
  compute_tsne (self);
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
