/* eval-tsne.c: the t-SNE map of an evaluation, the same for the
 * application and the command line.
 *
 * Both used to assemble the input themselves, with their own seed,
 * iteration count and number of augmented samples, so the GUI and
 * `cutpaste eval --plots` drew different maps of the same model.
 */
#include "evaluate.h"

#include <string.h>

#include "core/density/tsne.h"
#include "core/nn/network.h"
#include "pipeline-private.h"

void
cp_eval_options_want_tsne (CpEvalOptions *opts)
{
  opts->with_train_embeddings = TRUE;
  opts->augmented_samples = CP_EVAL_TSNE_AUGMENTED_SAMPLES;
}

static int
tsne_progress (int iteration, int iterations, double kl_divergence, void *user_data)
{
  (void) iteration;
  (void) iterations;
  (void) kl_divergence;
  return cp_pipeline_cancelled (user_data);
}

gboolean
cp_eval_tsne (const CpEvalResult *result,
              const volatile int *cancel,
              float             **xy,
              int                *n_points,
              GError            **error)
{
  const gsize row = CP_EMBEDDING_DIM;
  int n_test = (int) result->images->len;
  int n = n_test + result->n_train + result->n_aug;
  g_autofree float *x = NULL;
  g_autofree float *out = NULL;
  CpTsneOptions options;
  CpError err = { 0 };
  CpRng rng;

  *xy = NULL;
  *n_points = n;
  if (n < 2)
    return TRUE;
  /* Test, train, augmented: one map, so that distances between the
   * groups mean something (the paper's figure 3). */
  x = g_new (float, (gsize) n * row);
  memcpy (x, result->test_embeddings, (gsize) n_test * row * sizeof (float));
  if (result->n_train > 0)
    memcpy (x + (gsize) n_test * row, result->train_embeddings,
            (gsize) result->n_train * row * sizeof (float));
  if (result->n_aug > 0)
    memcpy (x + (gsize) (n_test + result->n_train) * row, result->aug_embeddings,
            (gsize) result->n_aug * row * sizeof (float));

  out = g_new (float, (gsize) n * 2);
  cp_tsne_options_init (&options);
  options.iterations = CP_EVAL_TSNE_ITERATIONS;
  options.progress = tsne_progress;
  options.user_data = (void *) cancel;
  cp_rng_seed (&rng, CP_EVAL_TSNE_SEED);
  if (cp_tsne (x, n, (int) row, &options, &rng, out, NULL, &err) != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, cp_pipeline_error_from_status (err.code),
                   "t-SNE: %s", err.message[0] ? err.message : cp_status_to_string (err.code));
      return FALSE;
    }
  *xy = g_steal_pointer (&out);
  return TRUE;
}
