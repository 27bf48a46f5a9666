/* test-tsne.c: exact t-SNE keeps well-separated clusters apart and is
 * reproducible from a seed. */
#include <math.h>
#include <stdlib.h>

#include "../../harness.h"
#include "core/density/tsne.h"
#include "core/rng.h"

enum { CLUSTERS = 3, PER = 60, N = CLUSTERS * PER, D = 50 };

static void
make_clusters (float *x, int *label)
{
  CpRng rng;
  double centre[CLUSTERS][D];

  cp_rng_seed (&rng, 2021);
  for (int c = 0; c < CLUSTERS; c++)
    for (int k = 0; k < D; k++)
      centre[c][k] = 4.0 * cp_rng_normal (&rng);
  for (int i = 0; i < N; i++)
    {
      int c = i % CLUSTERS;    /* interleaved, so order gives no hint */
      label[i] = c;
      for (int k = 0; k < D; k++)
        x[i * D + k] = (float) (centre[c][k] + cp_rng_normal (&rng));
    }
}

static int
stop_at_100 (int iteration, int iterations, double kl, void *user_data)
{
  int *calls = user_data;

  (*calls)++;
  return iteration >= 100;
}

static void
test_clusters (void)
{
  static float x[N * D], y[N * 2], y2[N * 2], y3[N * 2];
  int label[N], wrong = 0;
  double cx[CLUSTERS] = { 0 }, cy[CLUSTERS] = { 0 }, spread[CLUSTERS] = { 0 }, kl = -1;
  double min_centre = INFINITY, max_spread = 0;
  CpRng rng;
  CpError err = { 0 };

  make_clusters (x, label);
  cp_rng_seed (&rng, 5);
  CHECK_MSG (cp_tsne (x, N, D, NULL, &rng, y, &kl, &err) == CP_OK, "%s", err.message);
  CHECK (isfinite (kl) && kl > 0);

  /* Each point's nearest neighbour in the map is of its own cluster. */
  for (int i = 0; i < N; i++)
    {
      double best = INFINITY;
      int nearest = -1;
      for (int j = 0; j < N; j++)
        {
          double d;
          if (j == i)
            continue;
          d = hypot (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
          if (d < best)
            {
              best = d;
              nearest = j;
            }
        }
      wrong += label[nearest] != label[i];
    }
  CHECK_MSG (wrong == 0, "%d points have a nearest neighbour of another cluster", wrong);

  /* Centroids far apart compared with each cluster's RMS radius. */
  for (int i = 0; i < N; i++)
    {
      cx[label[i]] += y[2 * i] / PER;
      cy[label[i]] += y[2 * i + 1] / PER;
    }
  for (int i = 0; i < N; i++)
    spread[label[i]] += (pow (y[2 * i] - cx[label[i]], 2) + pow (y[2 * i + 1] - cy[label[i]], 2)) / PER;
  for (int a = 0; a < CLUSTERS; a++)
    {
      spread[a] = sqrt (spread[a]);
      if (spread[a] > max_spread)
        max_spread = spread[a];
      for (int b = a + 1; b < CLUSTERS; b++)
        {
          double d = hypot (cx[a] - cx[b], cy[a] - cy[b]);
          if (d < min_centre)
            min_centre = d;
        }
    }
  printf ("# KL %.4f, closest centroids %.2f apart, largest RMS radius %.2f\n", kl, min_centre, max_spread);
  CHECK (min_centre > 4.0 * max_spread);

  /* Same seed, same map; another seed, another map. */
  cp_rng_seed (&rng, 5);
  CHECK (cp_tsne (x, N, D, NULL, &rng, y2, NULL, &err) == CP_OK);
  CHECK (memcmp (y, y2, sizeof y) == 0);
  cp_rng_seed (&rng, 6);
  CHECK (cp_tsne (x, N, D, NULL, &rng, y3, NULL, &err) == CP_OK);
  CHECK (memcmp (y, y3, sizeof y) != 0);
}

static void
test_small_and_cancel (void)
{
  float x[5 * 3] = { 0, 0, 0, 1, 0, 0, 0, 1, 0, 5, 5, 5, 5, 5, 6 }, y[10];
  CpTsneOptions opts;
  CpRng rng;
  CpError err = { 0 };
  int calls = 0;

  cp_rng_seed (&rng, 1);
  /* Perplexity 30 with 5 points is clamped, not refused. */
  CHECK_MSG (cp_tsne (x, 5, 3, NULL, &rng, y, NULL, &err) == CP_OK, "%s", err.message);
  for (int i = 0; i < 10; i++)
    CHECK (isfinite (y[i]));
  /* Identical points do not produce NaN. */
  memset (x, 0, sizeof x);
  CHECK (cp_tsne (x, 5, 3, NULL, &rng, y, NULL, &err) == CP_OK);
  for (int i = 0; i < 10; i++)
    CHECK (isfinite (y[i]));

  cp_tsne_options_init (&opts);
  opts.progress = stop_at_100;
  opts.user_data = &calls;
  CHECK (cp_tsne (x, 5, 3, &opts, &rng, y, NULL, &err) == CP_ERR_CANCELLED);
  CHECK (calls == 2);
  CHECK (cp_tsne (x, 1, 3, NULL, &rng, y, NULL, &err) == CP_ERR_INVALID);
  x[4] = NAN;
  CHECK (cp_tsne (x, 5, 3, NULL, &rng, y, NULL, &err) == CP_ERR_NUMERIC);
}

int
main (void)
{
  RUN_TEST (test_clusters);
  RUN_TEST (test_small_and_cancel);
  return harness_exit ();
}
