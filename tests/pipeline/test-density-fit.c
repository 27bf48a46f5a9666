/* test-density-fit.c: the calibration of density-fit.h against direct
 * computations: the held-out split, the log-normal threshold, the combined
 * score, and a whole fit with a local model on generated region vectors. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include <glib/gstdio.h>

#include "core/augment/normalize.h"
#include "core/density/threshold.h"
#include "core/io/safetensors.h"
#include "core/rng.h"
#include "pipeline/density-fit.h"
#include "pipeline/local-model.h"

static void
test_split (void)
{
  gboolean a[300], b[300];
  int held;

  g_assert_cmpint (cp_calibration_count (10), ==, 0);    /* 8 held out would leave 2 */
  g_assert_cmpint (cp_calibration_count (15), ==, 0);
  g_assert_cmpint (cp_calibration_count (16), ==, 8);
  g_assert_cmpint (cp_calibration_count (20), ==, 8);
  g_assert_cmpint (cp_calibration_count (80), ==, 12);
  g_assert_cmpint (cp_calibration_count (279), ==, 42);

  held = cp_calibration_split (279, 3, a);
  g_assert_cmpint (held, ==, 42);
  g_assert_cmpint (cp_calibration_split (279, 3, b), ==, 42);
  g_assert_true (memcmp (a, b, sizeof (gboolean) * 279) == 0);
  {
    int count = 0, differ = 0;

    cp_calibration_split (279, 4, b);
    for (int i = 0; i < 279; i++)
      {
        count += a[i];
        differ += a[i] != b[i];
      }
    g_assert_cmpint (count, ==, 42);
    g_assert_cmpint (differ, >, 0);      /* another seed, another split */
  }
  g_assert_cmpint (cp_calibration_split (12, 3, a), ==, 0);
  for (int i = 0; i < 12; i++)
    g_assert_false (a[i]);
}

static void
test_threshold (void)
{
  double two[2] = { exp (-1.0), exp (1.0) };
  double same[5] = { 2.0, 2.0, 2.0, 2.0, 2.0 };
  double many[400];
  double t;
  CpRng rng;

  /* mean 0, standard deviation sqrt 2 of the logarithms; z(0.99) =
   * 2.326347874 (to 1e-9). */
  t = cp_calibration_threshold (two, 2, 0.01);
  g_assert_cmpfloat_with_epsilon (t, exp (2.326347874 * sqrt (2.0)), 1e-6 * t);
  /* z(0.95) = 1.644853627 */
  t = cp_calibration_threshold (two, 2, 0.05);
  g_assert_cmpfloat_with_epsilon (t, exp (1.644853627 * sqrt (2.0)), 1e-6 * t);
  g_assert_cmpfloat_with_epsilon (cp_calibration_threshold (same, 5, 0.01), 2.0, 1e-12);
  g_assert_true (isnan (cp_calibration_threshold (two, 1, 0.01)));
  g_assert_true (isnan (cp_calibration_threshold (two, 2, 0.0)));
  same[2] = 0.0;
  g_assert_true (isnan (cp_calibration_threshold (same, 5, 0.01)));

  /* A long tail the log-normal misses: the empirical quantile wins. */
  cp_rng_seed (&rng, 1);
  for (int i = 0; i < 400; i++)
    many[i] = 1.0 + 0.01 * cp_rng_uniform (&rng);
  for (int i = 0; i < 12; i++)
    many[i] = 50.0;
  t = cp_calibration_threshold (many, 400, 0.01);
  g_assert_cmpfloat_with_epsilon (t, cp_quantile_linear (many, 400, 0.99), 1e-12);
  g_assert_cmpfloat (t, ==, 50.0);
}

static void
test_combine (void)
{
  g_assert_cmpfloat (cp_density_combine (7.0, NAN, NAN, NAN), ==, 7.0);
  g_assert_cmpfloat (cp_density_combine (7.0, 3.0, 2.0, 1.0), ==, 3.5);
  g_assert_cmpfloat (cp_density_combine (7.0, 9.0, 2.0, 1.0), ==, 9.0);
}

/* Region vectors of @n images: each region's own mean (an aligned part)
 * plus noise; image @bad gets a bump in region 5. */
static float *
make_features (int n, int regions, int dim, int bad, CpRng *rng)
{
  float *f = g_new (float, (gsize) n * regions * dim);

  for (int i = 0; i < n; i++)
    for (int r = 0; r < regions; r++)
      for (int k = 0; k < dim; k++)
        f[((gsize) i * regions + r) * dim + k]
          = (float) (r * 0.5 + k * 0.1 + 0.2 * cp_rng_normal (rng)
                     + (i == bad && r == 5 ? 3.0 : 0.0));
  return f;
}

static void
test_fit (void)
{
  const int n = 24, dim = 16, grid = 4, regions = grid * grid;
  g_autoptr (GError) error = NULL;
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpNetworkConfig config = { .head_layers = 1, .num_classes = 3 };
  CpNetwork *net = cp_network_new (be, &config, &err);
  CpLocalFeatureSpec spec;
  CpLocalModel *lm;
  CpRng rng;
  g_autofree float *emb = g_new (float, n * CP_EMBEDDING_DIM);
  g_autofree float *feat = NULL;
  gboolean held_out[24];
  CpDensityFit fit;
  CpDensityFitInput in;

  cp_rng_seed (&rng, 17);
  cp_network_init (net, &rng);
  cp_local_feature_spec_init (&spec, 64, grid, dim, &rng);
  lm = cp_local_model_new (net, &spec, &error);
  g_assert_no_error (error);
  for (int i = 0; i < n * CP_EMBEDDING_DIM; i++)
    emb[i] = (float) cp_rng_normal (&rng);
  feat = make_features (n, regions, dim, -1, &rng);
  g_assert_cmpfloat (cp_local_features_alignment (feat, n, regions, dim), >, CP_LOCAL_ALIGNED_RATIO);

  g_assert_cmpint (cp_calibration_split (n, 5, held_out), ==, 8);
  in = (CpDensityFitInput) {
    .embeddings = emb, .features = feat, .local = lm,
    .local_kind = CP_PATCH_DENSITY_PER_LOCATION, .n = n, .held_out = held_out,
    .folds = 5, .false_reject_rate = 0.01,
  };
  g_assert_true (cp_density_fit (&in, &fit, &error));
  g_assert_no_error (error);
  g_assert_true (fit.held_out);
  g_assert_cmpint (fit.n_calibration, ==, 8);
  g_assert_cmpint (cp_patch_density_count (cp_local_model_density (lm)), ==, regions);

  /* The global part is calibrated on the held-out images under the
   * Gaussian of the others; the local part on every image, k-fold (its
   * extractor never trained); each part's threshold at half the target
   * rate is its scale, and the combined threshold is 1. */
  {
    int n_fit = 0, k = 0;
    g_autofree float *fit_emb = g_new (float, n * CP_EMBEDDING_DIM);
    g_autofree float *cal_emb = g_new (float, 8 * CP_EMBEDDING_DIM);
    double g[8], l_all[24], gt, lt;
    CpGde *gde;
    CpLocalModel *check = cp_local_model_new (net, &spec, &error);

    for (int i = 0; i < n; i++)
      {
        float *de = held_out[i] ? cal_emb + k * CP_EMBEDDING_DIM : fit_emb + n_fit * CP_EMBEDDING_DIM;

        memcpy (de, emb + i * CP_EMBEDDING_DIM, CP_EMBEDDING_DIM * sizeof (float));
        if (held_out[i])
          k++;
        else
          n_fit++;
      }
    gde = cp_gde_fit (fit_emb, n_fit, CP_EMBEDDING_DIM, &err);
    g_assert_nonnull (gde);
    g_assert_cmpint (cp_gde_score (gde, cal_emb, 8, g, &err), ==, CP_OK);
    /* Five folds: image i in fold i % 5. */
    for (int f = 0; f < 5; f++)
      {
        g_autofree float *fit_feat = g_new (float, (gsize) n * regions * dim);
        g_autofree float *eval_feat = g_new (float, (gsize) n * regions * dim);
        double scores[24];
        int nf = 0, ne = 0;

        for (int i = 0; i < n; i++)
          memcpy (i % 5 == f ? eval_feat + (gsize) ne++ * regions * dim
                             : fit_feat + (gsize) nf++ * regions * dim,
                  feat + (gsize) i * regions * dim, (gsize) regions * dim * sizeof (float));
        g_assert_true (cp_local_model_fit (check, fit_feat, nf, CP_PATCH_DENSITY_PER_LOCATION, &error));
        g_assert_true (cp_local_model_score (check, eval_feat, ne, NULL, scores, &error));
        for (int i = 0, e = 0; i < n; i++)
          if (i % 5 == f)
            l_all[i] = scores[e++];
      }
    gt = cp_calibration_threshold (g, 8, 0.005);
    lt = cp_calibration_threshold (l_all, n, 0.005);
    g_assert_cmpfloat_with_epsilon (fit.global_scale, gt, 1e-9 * gt);
    g_assert_cmpfloat_with_epsilon (fit.local_scale, lt, 1e-9 * lt);
    g_assert_cmpfloat (fit.threshold, ==, 1.0);
    for (int i = 0, c = 0; i < n; i++)
      if (held_out[i])
        {
          double expect = MAX (g[c] / gt, l_all[i] / lt);

          g_assert_cmpfloat_with_epsilon (fit.calibration_local[c], l_all[i], 1e-9 * l_all[i]);
          g_assert_cmpfloat_with_epsilon (fit.calibration_scores[c], expect, 1e-9 * expect);
          c++;
        }
    cp_gde_free (gde);
    cp_local_model_free (check);
  }

  /* The stored densities are fitted on every image. */
  {
    CpGde *all = cp_gde_fit (emb, n, CP_EMBEDDING_DIM, &err);
    for (int j = 0; j < CP_EMBEDDING_DIM; j++)
      g_assert_cmpfloat (cp_gde_mean (all)[j], ==, cp_gde_mean (fit.gde)[j]);
    cp_gde_free (all);
  }

  /* A bump in one region of a new image stands out in that region. */
  {
    g_autofree float *bad = make_features (1, regions, dim, 0, &rng);
    float map[16];
    double top;

    g_assert_true (cp_local_model_score (lm, bad, 1, map, &top, &error));
    for (int r = 0; r < regions; r++)
      if (r != 5)
        g_assert_cmpfloat (map[r], <, map[5]);
    g_assert_cmpfloat (top, ==, map[5]);
    g_assert_cmpfloat (top / fit.local_scale, >, fit.threshold);
  }
  cp_density_fit_clear (&fit);

  /* k-fold when nothing is held out: every image is a calibration image. */
  in.held_out = NULL;
  g_assert_true (cp_density_fit (&in, &fit, &error));
  g_assert_false (fit.held_out);
  g_assert_cmpint (fit.n_calibration, ==, n);
  cp_density_fit_clear (&fit);

  cp_local_model_free (lm);
  cp_network_free (net);
  cp_backend_free (be);
}

/* A two-level tensor (3, 64, 64): vertical tracks 3 pixels wide every 8,
 * shifted by @phase; with @speck, one dark pixel alone in the bright field
 * at (37, 21) (region (4, 2) of an 8 x 8 grid). */
static float *
two_level_tensor (int phase, gboolean speck)
{
  const int size = 64;
  g_autofree guint8 *rgb = g_new (guint8, size * size * 3);
  float *tensor = g_new (float, 3 * size * size);

  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        guint8 v = (x + phase) % 8 < 3 ? 25 : 230;

        if (speck && y == 37 && x == 21)
          v = 25;
        memset (rgb + (y * size + x) * 3, v, 3);
      }
  cp_images_to_tensor (rgb, 1, size, size, tensor);
  return tensor;
}

/* The pattern kind end to end: codes of good two-level images, the
 * calibration, a speck found in its region above the threshold, and the
 * counts saved and loaded back with the same scores.  A refit that fails
 * leaves the counts as they were. */
static void
test_patterns (void)
{
  const int n = 20, size = 64, grid = 8, regions = grid * grid;
  g_autoptr (GError) error = NULL;
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpNetworkConfig config = { .head_layers = 1, .num_classes = 3 };
  CpNetwork *net = cp_network_new (be, &config, &err);
  CpLocalFeatureSpec spec;
  CpLocalModel *lm;
  CpRng rng;
  g_autofree float *emb = g_new (float, n * CP_EMBEDDING_DIM);
  g_autofree float *feat = g_new (float, (gsize) n * size * size);
  g_autofree float *bad_feat = g_new (float, (gsize) size * size);
  g_autofree char *dir = g_dir_make_tmp ("cp-patterns-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m.safetensors", NULL);
  float map[64], map2[64];
  double top, top2, good_top[20];
  CpDensityFit fit;
  CpDensityFitInput in;

  cp_rng_seed (&rng, 3);
  cp_network_init (net, &rng);
  cp_local_feature_spec_init (&spec, size, grid, 16, &rng);
  lm = cp_local_model_new (net, &spec, &error);
  g_assert_no_error (error);
  {
    g_autofree float *t = two_level_tensor (0, FALSE);
    g_autofree unsigned char *scratch = g_new (unsigned char, size * size);

    g_assert_cmpfloat (cp_local_pattern_separation (t, size, scratch), >, CP_LOCAL_PATTERN_SEPARATION);
  }
  g_assert_true (cp_local_model_use_patterns (lm, &error));
  g_assert_true (cp_local_model_uses_patterns (lm));
  g_assert_cmpint (cp_local_feature_count (cp_local_model_spec (lm)), ==, size * size);
  for (int i = 0; i < n; i++)
    {
      g_autofree float *t = two_level_tensor (i % 8, FALSE);

      g_assert_true (cp_local_model_features (lm, t, 1, feat + (gsize) i * size * size, &error));
    }
  for (int i = 0; i < n * CP_EMBEDDING_DIM; i++)
    emb[i] = (float) cp_rng_normal (&rng);
  in = (CpDensityFitInput) {
    .embeddings = emb, .features = feat, .local = lm,
    .local_kind = CP_PATCH_DENSITY_PER_LOCATION, .n = n, .held_out = NULL,
    .folds = 5, .false_reject_rate = 0.01,
  };
  g_assert_true (cp_density_fit (&in, &fit, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (cp_local_model_kind_name (lm), ==, "pattern");
  g_assert_cmpfloat (fit.local_scale, >, 0.0);

  /* Good images show only common patterns; the speck's patterns were
   * never seen: its region holds the image's maximum, log (total + 1). */
  g_assert_true (cp_local_model_score (lm, feat, n, NULL, good_top, &error));
  {
    g_autofree float *t = two_level_tensor (2, TRUE);

    g_assert_true (cp_local_model_features (lm, t, 1, bad_feat, &error));
  }
  g_assert_true (cp_local_model_score (lm, bad_feat, 1, map, &top, &error));
  g_assert_cmpfloat_with_epsilon (top, log (n * size * size + 1.0), 1e-9);
  g_assert_cmpfloat (map[4 * grid + 2], ==, (float) top);
  for (int i = 0; i < n; i++)
    g_assert_cmpfloat (good_top[i], <, top);
  g_assert_cmpfloat (top / fit.local_scale, >, fit.threshold);
  for (int r = 0; r < regions; r++)
    if (r != 4 * grid + 2)              /* the speck's 3 x 3 neighbourhood lies in it */
      g_assert_cmpfloat (map[r], <, (float) top);

  /* Saved and loaded: same kind, same scores, no extractor in the file. */
  {
    CpSafetensorsWriter *w = cp_safetensors_writer_new ();
    g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    GHashTableIter iter;
    gpointer key, value;
    CpSafetensors *st;
    CpLocalModel *back;

    g_assert_true (cp_local_model_save (lm, w, meta, &error));
    g_hash_table_iter_init (&iter, meta);
    while (g_hash_table_iter_next (&iter, &key, &value))
      g_assert_cmpint (cp_safetensors_writer_set_metadata (w, key, value, &err), ==, CP_OK);
    g_assert_cmpint (cp_safetensors_writer_save (w, path, &err), ==, CP_OK);
    cp_safetensors_writer_free (w);
    st = cp_safetensors_open (path, &err);
    g_assert_nonnull (st);
    g_assert_true (cp_local_model_present (st));
    g_assert_null (cp_safetensors_find (st, "local.resnet18.conv1.weight"));
    back = cp_local_model_load (be, st, path, &error);
    g_assert_no_error (error);
    g_assert_true (cp_local_model_uses_patterns (back));
    g_assert_true (cp_local_model_score (back, bad_feat, 1, map2, &top2, &error));
    g_assert_cmpfloat (top2, ==, top);
    g_assert_true (memcmp (map, map2, sizeof map) == 0);
    cp_local_model_free (back);
    cp_safetensors_close (st);
    g_unlink (path);
    g_rmdir (dir);
  }

  /* Taken out and put back: the same counts score the same. */
  {
    CpLocalFit *saved = cp_local_model_steal_fit (lm);

    g_assert_false (cp_local_model_score (lm, bad_feat, 1, NULL, &top2, NULL));
    cp_local_model_fit (lm, feat, 1, CP_PATCH_DENSITY_PER_LOCATION, &error);
    cp_local_model_set_fit (lm, saved);
    g_assert_true (cp_local_model_score (lm, bad_feat, 1, map2, &top2, &error));
    g_assert_cmpfloat (top2, ==, top);
  }
  cp_density_fit_clear (&fit);
  cp_local_model_free (lm);
  cp_network_free (net);
  cp_backend_free (be);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/density-fit/split", test_split);
  g_test_add_func ("/density-fit/threshold", test_threshold);
  g_test_add_func ("/density-fit/combine", test_combine);
  g_test_add_func ("/density-fit/fit", test_fit);
  g_test_add_func ("/density-fit/patterns", test_patterns);
  return g_test_run ();
}
