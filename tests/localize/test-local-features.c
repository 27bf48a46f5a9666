/* test-local-features.c: the pieces behind region scores against direct
 * computations: the network's stage taps, the region vectors (box filter,
 * block means, channel choice), Gaussians on raw rows, and the
 * calibration's log-normal threshold. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/backend.h"
#include "core/density/gde.h"
#include "core/localize/local-features.h"
#include "core/nn/network.h"
#include "core/rng.h"

static void
fill_normal (CpRng *rng, float *x, size_t n, double scale)
{
  for (size_t i = 0; i < n; i++)
    x[i] = (float) (scale * cp_rng_normal (rng));
}

/* The channel choice: ascending, distinct, reproducible from the seed, all
 * 128 when asked for 128; bad specs refused. */
static void
test_spec (void)
{
  CpLocalFeatureSpec a, b;
  CpRng r1, r2;
  CpError err = { 0 };

  cp_rng_seed (&r1, 5);
  cp_rng_seed (&r2, 5);
  cp_local_feature_spec_init (&a, 256, 32, 100, &r1);
  cp_local_feature_spec_init (&b, 256, 32, 100, &r2);
  CHECK (cp_local_feature_spec_check (&a, &err) == CP_OK);
  CHECK (memcmp (&a, &b, sizeof a) == 0);
  for (int i = 1; i < 100; i++)
    CHECK (a.channels[i] > a.channels[i - 1]);
  CHECK (a.channels[0] >= 0 && a.channels[99] < 128);
  CHECK (cp_local_feature_count (&a) == (size_t) 32 * 32 * 100);

  cp_local_feature_spec_init (&a, 128, 16, 128, &r1);
  for (int i = 0; i < 128; i++)
    CHECK (a.channels[i] == i);

  cp_local_feature_spec_init (&a, 256, 24, 10, &r1);   /* 64 is not a multiple of 24 */
  CHECK (cp_local_feature_spec_check (&a, &err) == CP_ERR_INVALID);
  cp_local_feature_spec_init (&a, 250, 8, 10, &r1);
  CHECK (cp_local_feature_spec_check (&a, &err) == CP_ERR_INVALID);
  cp_local_feature_spec_init (&a, 256, 8, 129, &r1);
  CHECK (cp_local_feature_spec_check (&a, &err) == CP_ERR_INVALID);
  cp_local_feature_spec_init (&a, 256, 8, 3, &r1);
  a.channels[1] = a.channels[0];                        /* not ascending */
  CHECK (cp_local_feature_spec_check (&a, &err) == CP_ERR_INVALID);
}

/* avg_pool2d (3, stride 1, padding 1, count_include_pad) then the mean of
 * each block, element by element, in double. */
static double
direct_region (const float *map, int side, int grid, int gi, int gj)
{
  int block = side / grid;
  double total = 0;

  for (int y = gi * block; y < (gi + 1) * block; y++)
    for (int x = gj * block; x < (gj + 1) * block; x++)
      {
        double box = 0;

        for (int dy = -1; dy <= 1; dy++)
          for (int dx = -1; dx <= 1; dx++)
            {
              int yy = y + dy, xx = x + dx;

              if (yy >= 0 && yy < side && xx >= 0 && xx < side)
                box += map[yy * side + xx];
            }
        total += box / 9.0;
      }
  return total / (block * block);
}

static void
test_compute (void)
{
  static const int sizes[][2] = { { 64, 16 }, { 64, 8 }, { 128, 32 }, { 96, 8 }, { 64, 1 } };
  CpRng rng;

  cp_rng_seed (&rng, 11);
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++)
    {
      int s = sizes[t][0], g = sizes[t][1];
      CpLocalFeatureSpec spec;
      CpError err = { 0 };
      size_t n_stem = (size_t) 64 * (s / 2) * (s / 2), n_l1 = (size_t) 64 * (s / 4) * (s / 4);
      float *stem = malloc (n_stem * sizeof (float));
      float *l1 = malloc (n_l1 * sizeof (float));
      float *scratch = malloc ((size_t) (s / 2) * (s / 2) * sizeof (float));
      float *out;

      cp_local_feature_spec_init (&spec, s, g, t == 0 ? 128 : 37, &rng);
      CHECK (cp_local_feature_spec_check (&spec, &err) == CP_OK);
      out = malloc (cp_local_feature_count (&spec) * sizeof (float));
      fill_normal (&rng, stem, n_stem, 1.0);
      fill_normal (&rng, l1, n_l1, 2.0);
      cp_local_features_compute (&spec, stem, l1, scratch, out);
      for (int gi = 0; gi < g; gi++)
        for (int gj = 0; gj < g; gj++)
          for (int k = 0; k < spec.n_channels; k++)
            {
              int c = spec.channels[k];
              double expect = c < 64
                ? direct_region (stem + (size_t) c * (s / 2) * (s / 2), s / 2, g, gi, gj)
                : direct_region (l1 + (size_t) (c - 64) * (s / 4) * (s / 4), s / 4, g, gi, gj);

              CHECK_CLOSE (out[((size_t) gi * g + gj) * spec.n_channels + k], expect, 1e-5, 1e-5);
            }
      free (stem);
      free (l1);
      free (scratch);
      free (out);
    }
}

/* Stage taps: the stem tap is conv1 + BN + ReLU run op by op; the layer4
 * tap, averaged, is the embedding of a normal forward; stopping early
 * changes no earlier tap. */
static void
test_stage_taps (void)
{
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpNetworkConfig config = { .head_layers = 1, .num_classes = 3 };
  CpNetwork *net;
  CpRng rng;
  const int n = 2, s = 64;
  size_t in_count = (size_t) n * 3 * s * s;
  int c[5], h[5], w[5];
  float *taps[5], *taps_early[5] = { NULL };
  float *images;

  CHECK (be != NULL);
  if (be == NULL)
    return;
  net = cp_network_new (be, &config, &err);
  cp_rng_seed (&rng, 3);
  cp_network_init (net, &rng);
  /* Non-trivial batch-norm statistics, so the inference path's folding
   * is exercised. */
  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);

      if (p->kind == CP_PARAM_RUNNING_STAT)
        for (size_t k = 0; k < p->count; k++)
          p->data[k] = strstr (p->name, "running_var") ? (float) (0.5 + cp_rng_uniform (&rng))
                                                       : (float) (0.2 * cp_rng_normal (&rng));
    }
  cp_network_params_changed (net);

  images = malloc (in_count * sizeof (float));
  fill_normal (&rng, images, in_count, 1.0);
  for (int st = 0; st < 5; st++)
    {
      cp_network_stage_shape (st, s, s, &c[st], &h[st], &w[st]);
      taps[st] = malloc ((size_t) n * c[st] * h[st] * w[st] * sizeof (float));
    }
  CHECK (c[0] == 64 && h[0] == 32 && c[1] == 64 && h[1] == 16 && c[2] == 128 && h[2] == 8
         && c[4] == 512 && h[4] == 2 && w[4] == 2);
  CHECK (cp_network_forward_stages (net, images, n, s, s, 4, taps, &err) == CP_OK);

  /* Stem, op by op with the backend's reference ops. */
  {
    const CpParam *wt = cp_network_find_param (net, "resnet18.conv1.weight");
    const CpParam *g = cp_network_find_param (net, "resnet18.bn1.weight");
    const CpParam *b = cp_network_find_param (net, "resnet18.bn1.bias");
    const CpParam *rm = cp_network_find_param (net, "resnet18.bn1.running_mean");
    const CpParam *rv = cp_network_find_param (net, "resnet18.bn1.running_var");
    size_t count = (size_t) n * 64 * 32 * 32;
    float *y = malloc (count * sizeof (float));
    CpConvDesc d;
    double worst = 0;

    cp_conv_desc_init (&d, n, 3, s, s, 64, 7, 7, 2, 3);
    CHECK (be->conv2d_forward (be, &d, images, wt->data, y) == CP_OK);
    CHECK (be->batchnorm_forward_infer (be, n, 64, 32 * 32, y, g->data, b->data, rm->data, rv->data,
                                        1e-5f, y) == CP_OK);
    CHECK (be->relu_forward (be, count, y, y) == CP_OK);
    for (size_t k = 0; k < count; k++)
      worst = fmax (worst, fabs (y[k] - taps[0][k]) / (1.0 + fabs (y[k])));
    CHECK_MSG (worst < 1e-5, "stem tap differs from conv + BN + ReLU by %g", worst);
    free (y);
  }

  /* layer4, averaged: the embedding. */
  CHECK (cp_network_forward (net, images, n, s, s, 0, &err) == CP_OK);
  {
    const float *emb = cp_network_embedding (net);

    for (int i = 0; i < n; i++)
      for (int ch = 0; ch < 512; ch++)
        {
          double mean = 0;

          for (int k = 0; k < 4; k++)
            mean += taps[4][((size_t) i * 512 + ch) * 4 + k];
          CHECK_CLOSE (mean / 4, emb[i * 512 + ch], 1e-5, 1e-5);
        }
  }

  /* Stopping after layer1 gives the same stem and layer1. */
  taps_early[0] = malloc ((size_t) n * 64 * 32 * 32 * sizeof (float));
  taps_early[1] = malloc ((size_t) n * 64 * 16 * 16 * sizeof (float));
  CHECK (cp_network_forward_stages (net, images, n, s, s, 1, taps_early, &err) == CP_OK);
  CHECK (memcmp (taps_early[0], taps[0], (size_t) n * 64 * 32 * 32 * sizeof (float)) == 0);
  CHECK (memcmp (taps_early[1], taps[1], (size_t) n * 64 * 16 * 16 * sizeof (float)) == 0);
  CHECK (cp_network_forward_stages (net, images, n, s, s, 5, taps_early, &err) == CP_ERR_INVALID);

  for (int st = 0; st < 5; st++)
    free (taps[st]);
  free (taps_early[0]);
  free (taps_early[1]);
  free (images);
  cp_network_free (net);
  cp_backend_free (be);
}

/* Raw rows: the mean is the raw mean and a score is the Mahalanobis
 * distance computed directly with the stored precision; L2 rows give the
 * same Gaussian as raw rows that were normalised beforehand. */
static void
test_gde_raw (void)
{
  const int n = 40, dim = 6;
  float x[40 * 6], unit[40 * 6];
  CpError err = { 0 };
  CpGde *raw, *l2, *pre;
  CpRng rng;
  double scores[40];

  cp_rng_seed (&rng, 9);
  fill_normal (&rng, x, (size_t) n * dim, 3.0);
  for (int i = 0; i < n; i++)
    x[i * dim] += 10.0f;   /* far from the unit sphere */
  raw = cp_gde_fit_input (x, n, dim, CP_GDE_RAW, &err);
  CHECK (raw != NULL && cp_gde_input (raw) == CP_GDE_RAW);
  for (int j = 0; j < dim; j++)
    {
      double mean = 0;

      for (int i = 0; i < n; i++)
        mean += x[i * dim + j];
      CHECK_CLOSE (cp_gde_mean (raw)[j], mean / n, 1e-9, 1e-9);
    }
  CHECK (cp_gde_score (raw, x, n, scores, &err) == CP_OK);
  for (int i = 0; i < n; i++)
    {
      double q = 0;

      for (int a = 0; a < dim; a++)
        for (int b = 0; b < dim; b++)
          q += (x[i * dim + a] - cp_gde_mean (raw)[a]) * cp_gde_precision (raw)[a * dim + b]
               * (x[i * dim + b] - cp_gde_mean (raw)[b]);
      CHECK_CLOSE (scores[i], sqrt (q), 1e-9, 1e-9);
    }

  memcpy (unit, x, sizeof x);
  cp_embeddings_l2_normalize (unit, n, dim);
  l2 = cp_gde_fit (x, n, dim, &err);
  pre = cp_gde_fit_input (unit, n, dim, CP_GDE_RAW, &err);
  CHECK (l2 != NULL && pre != NULL);
  for (int j = 0; j < dim * dim; j++)
    CHECK_CLOSE (cp_gde_precision (l2)[j], cp_gde_precision (pre)[j], 1e-6, 1e-6);

  /* A stored raw Gaussian scores like the fitted one. */
  {
    CpGde *stored = cp_gde_new_from_f32_input (cp_gde_mean_f32 (raw), cp_gde_precision_f32 (raw),
                                               dim, CP_GDE_RAW, &err);
    double again[40];

    CHECK (stored != NULL && cp_gde_score (stored, x, n, again, &err) == CP_OK);
    for (int i = 0; i < n; i++)
      CHECK_CLOSE (again[i], scores[i], 1e-4, 1e-4);
    cp_gde_free (stored);
  }
  cp_gde_free (raw);
  cp_gde_free (l2);
  cp_gde_free (pre);
}

int
main (void)
{
  RUN_TEST (test_spec);
  RUN_TEST (test_compute);
  RUN_TEST (test_stage_taps);
  RUN_TEST (test_gde_raw);
  return harness_exit ();
}
