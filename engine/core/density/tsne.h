/* tsne.h: exact t-SNE (van der Maaten and Hinton 2008) for plots.
 *
 * O(n^2) time and memory, fine for n <= 2000 (the images of one category).
 * Input affinities: Gaussian per point with sigma found by binary search so
 * that the perplexity matches (squared Euclidean distances, entropy in
 * nats), symmetrised P = (P + P') / 2n.  Optimisation as van der Maaten's
 * tsne.m: gradient descent with momentum 0.5 for the first 250 iterations
 * then 0.8, early exaggeration 12 for the first 250 iterations, per-
 * coordinate gains (+0.2 when the gradient changes sign against the
 * update, x0.8 otherwise, at least 0.01), and the embedding re-centred each
 * iteration.  The learning rate defaults to scikit-learn's 'auto',
 * max (n / early_exaggeration / 4, 50).  The start is N(0, 1e-4) drawn from
 * the caller's CpRng, so a seed reproduces the map exactly.
 */
#pragma once

#include "core/rng.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  double perplexity;            /* 30; clamped to (n - 1) / 3 for small n */
  int    iterations;            /* 1000 */
  double early_exaggeration;    /* 12 */
  int    exaggeration_iterations; /* 250; also when momentum switches */
  double learning_rate;         /* <= 0: max (n / early_exaggeration / 4, 50) */
  /* Called every 50 iterations and at the end (may be NULL); returning
   * non-zero stops the run with CP_ERR_CANCELLED. */
  int  (*progress) (int iteration, int iterations, double kl_divergence, void *user_data);
  void  *user_data;
} CpTsneOptions;

void     cp_tsne_options_init (CpTsneOptions *options);

/* Embeds @n rows of @x (n, dim) into @out (n, 2).  n >= 2.  The rows are
 * used as given: L2-normalise embeddings first (SPEC section 6).
 * @options may be NULL.  On success @kl_divergence (may be NULL) receives
 * the final KL(P || Q). */
CpStatus cp_tsne (const float *x, int n, int dim, const CpTsneOptions *options, CpRng *rng,
                  float *out, double *kl_divergence, CpError *error);

#ifdef __cplusplus
}
#endif
