/* test-localize.c: the patch model end to end (SPEC 7) on small synthetic
 * categories: training on crops through the pipeline's loop, the model
 * file, loading, heatmaps and their overlay, pixel AUROC, and where the
 * heatmap's maximum falls.
 *
 * Sizes are cut down to fit a test's time on two CPU cores: 128 x 128
 * images, 12 training images, two steps, Gaussians fitted on the patches
 * at stride 8 and heatmaps at stride 8.  The numbers measured are
 * printed; the bounds asserted are far above what chance gives (a random
 * pixel lies in a defect mask a few percent of the time). */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "data/synth.h"
#include "pipeline/localize.h"
#include "pipeline/pipeline.h"
#include "test-support.h"

#define SIZE 128
/* Two steps exercise the crop training; on a CPU within a test's time,
 * more steps of the full-lr schedule measured worse maps (40 steps: weave
 * 0.66 / washer 0.65 pixel AUROC), the features of a barely trained
 * network being noisier than those of its initialisation. */
#define STEPS 2
#define FIT_STRIDE 8

static char *work_root;

static const char *
data_dir (void)
{
  static char *dir;

  if (dir == NULL)
    {
      const char *cats[] = { "weave", "washer", NULL };
      CpSynthOptions o;
      g_autoptr (GError) error = NULL;

      dir = g_build_filename (work_root, "data", NULL);
      cp_synth_options_init (&o);
      o.categories = cats;
      o.size = SIZE;
      o.n_train = 12;
      o.n_test_good = 2;
      o.n_test_defect = 2;
      g_assert_true (cp_synth_write (dir, &o, NULL, NULL, &error));
      g_assert_no_error (error);
    }
  return dir;
}

static char *
train_patch_model (const char *category, int density, int steps, CpLocalizeOptions *loc,
                   CpTrainResult *result)
{
  CpTrainOptions opts;
  g_autoptr (GError) error = NULL;
  g_autofree char *model_dir = g_build_filename (work_root, "models", NULL);

  cp_train_options_init (&opts, "quick");
  opts.data_dir = data_dir ();
  opts.category = category;
  opts.image_size = SIZE;
  opts.steps = steps;
  opts.batch_size = 4;
  opts.device = "cpu";
  opts.model_dir = model_dir;
  opts.seed = 3;
  opts.evaluate_test = FALSE;
  cp_localize_options_init (loc);
  loc->density = density;
  loc->fit_stride = FIT_STRIDE;
  loc->cells = 4;
  cp_localize_train_setup (&opts, loc);
  g_assert_cmpint (opts.crop_size, ==, 64);
  cp_train_result_init (result);
  g_assert_true (cp_train_category (&opts, NULL, NULL, NULL, result, &error));
  g_assert_no_error (error);
  return cp_patch_model_path (model_dir, category);
}

/* Mean fraction of defect pixels in the defect images' masks: how often
 * a maximum placed at random would land inside. */
static double
mask_fraction (const char *category)
{
  g_autoptr (CpCategory) cat = cp_dataset_scan_category (data_dir (), category, NULL);
  double sum = 0;
  int n = 0;

  for (size_t i = 0; i < cat->n_test; i++)
    {
      g_autofree uint8_t *mask = NULL;
      int on = 0;
      if (cat->test[i].mask_path == NULL)
        continue;
      g_assert_true (cp_mask_load (cat->test[i].mask_path, SIZE, &mask, NULL));
      for (int p = 0; p < SIZE * SIZE; p++)
        on += mask[p] != 0;
      sum += (double) on / (SIZE * SIZE);
      n++;
    }
  return sum / n;
}

/* Trains, checks the file, measures localisation on test/. */
static void
check_category (const char *category, CpPatchDensityKind expected_kind, double min_rate,
                double min_pixel_auroc)
{
  CpLocalizeOptions loc;
  CpTrainResult result;
  g_autofree char *path = train_patch_model (category, -1, STEPS, &loc, &result);
  g_autoptr (CpPatchModel) model = NULL;
  g_autoptr (GError) error = NULL;
  CpLocalizeEvalResult ev;
  CpError err = { 0 };
  CpSafetensors *st;
  double rate, chance;

  g_assert_cmpstr (result.model_path, ==, path);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  /* The hook replaces the image model: none is written by this run. */
  {
    g_autofree char *dir = g_path_get_dirname (path);
    g_autofree char *img = cp_train_model_path (dir, category);
    g_assert_false (g_file_test (img, G_FILE_TEST_EXISTS));
  }
  g_assert_cmpint (result.steps, ==, STEPS);
  g_assert_cmpuint (result.loss_history->len, ==, STEPS);

  st = cp_safetensors_open (path, &err);
  g_assert_nonnull (st);
  g_assert_cmpstr (cp_safetensors_metadata (st, "format"), ==, CP_PATCH_MODEL_FORMAT);
  g_assert_cmpstr (cp_safetensors_metadata (st, "density"), ==, cp_patch_density_kind_to_string (expected_kind));
  g_assert_cmpstr (cp_safetensors_metadata (st, "crop_size"), ==, "64");
  g_assert_cmpstr (cp_safetensors_metadata (st, "grid"), ==, "25");
  g_assert_cmpstr (cp_safetensors_metadata (st, "image_size"), ==, "128");
  {
    const CpTensorInfo *mean = cp_safetensors_find (st, "patch.mean");
    g_assert_nonnull (mean);
    g_assert_cmpint (mean->shape[0], ==, expected_kind == CP_PATCH_DENSITY_SHARED ? 1 : 16);
    g_assert_nonnull (cp_safetensors_find (st, "resnet18.layer4.1.conv2.weight"));
  }
  cp_safetensors_close (st);

  model = cp_patch_model_load (path, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpint (cp_patch_model_get_image_size (model), ==, SIZE);
  g_assert_cmpint (cp_patch_model_get_density (model), ==, expected_kind);
  g_assert_cmpfloat (cp_patch_model_get_score_high (model), >, cp_patch_model_get_score_low (model));
  g_assert_false (cp_patch_model_set_stride (model, 6));    /* not a multiple of 4 */
  g_assert_false (cp_patch_model_set_stride (model, 20));   /* does not divide 96 */
  g_assert_true (cp_patch_model_set_stride (model, 8));

  cp_localize_eval_result_init (&ev);
  g_assert_true (cp_patch_model_evaluate (model, data_dir (), category, NULL, NULL, NULL, &ev, &error));
  g_assert_no_error (error);
  rate = (double) ev.max_in_mask / ev.defect_with_mask;
  chance = mask_fraction (category);
  g_printerr ("# %s (%s, %d steps): pixel AUROC %.4f, patch image AUROC %.4f, heatmap maximum in "
              "the mask for %d of %d defect images (%.0f%%), %.2f s per %dx%d image at stride 8\n",
              category, cp_patch_density_kind_to_string (expected_kind), STEPS, ev.pixel_auroc, ev.image_auroc,
              ev.max_in_mask, ev.defect_with_mask, 100 * rate, ev.seconds_per_image, SIZE, SIZE);
  g_assert_cmpint (ev.images, ==, 2 + (int) g_strv_length ((char **) cp_synth_defect_types (category)) * 2);
  g_assert_cmpint (ev.skipped_images->len, ==, 0);
  g_printerr ("# %s: a random pixel of a defect image lies in its mask with probability %.3f\n",
              category, chance);
  g_assert_cmpfloat (rate, >=, min_rate);
  g_assert_cmpfloat (rate, >=, 5 * chance);
  g_assert_cmpfloat (ev.pixel_auroc, >=, min_pixel_auroc);
  cp_localize_eval_result_clear (&ev);
  cp_train_result_clear (&result);
}

static void
test_texture (void)
{
  check_category ("weave", CP_PATCH_DENSITY_SHARED, 0.2, 0.7);
}

static void
test_aligned (void)
{
  check_category ("washer", CP_PATCH_DENSITY_PER_LOCATION, 0.2, 0.7);
}

/* The heatmap the app shows: map at the image's own size, overlay, PNG. */
static void
test_heatmap_api (void)
{
  g_autofree char *model_dir = g_build_filename (work_root, "models", NULL);
  g_autofree char *path = cp_patch_model_path (model_dir, "weave");
  g_autofree char *image_path = g_build_filename (data_dir (), "weave", "test", "scratch", "000.png", NULL);
  g_autofree char *png = g_build_filename (work_root, "heatmap.png", NULL);
  g_autoptr (CpPatchModel) model = cp_patch_model_load (path, "cpu", NULL);
  g_autoptr (CpImage) image = NULL;
  g_autoptr (CpImage) odd = NULL;
  g_autoptr (CpImage) back = NULL;
  g_autoptr (GError) error = NULL;
  CpHeatmap hm, hm2;
  float top = -INFINITY;
  gboolean tinted = FALSE;

  g_assert_nonnull (model);
  g_assert_true (cp_patch_model_set_stride (model, 8));
  g_assert_true (cp_image_load (image_path, &image, &error));
  /* Not S x S and not square: the map comes back at the image's size. */
  odd = cp_image_resize_bicubic (image, 150, 100);
  g_assert_true (cp_patch_model_heatmap (model, odd, &hm, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (hm.width, ==, 150);
  g_assert_cmpint (hm.height, ==, 100);
  for (int p = 0; p < 150 * 100; p++)
    {
      g_assert_true (isfinite (hm.map[p]));
      top = MAX (top, hm.map[p]);
      g_assert_cmpint (hm.overlay[p * 4 + 3], ==, 255);
      tinted |= memcmp (hm.overlay + p * 4, odd->pixels + (p / 150) * odd->stride + (p % 150) * 3, 3) != 0;
    }
  g_assert_true (tinted);
  /* Bilinear resizing never exceeds the S x S map's maximum. */
  g_assert_cmpfloat (top, <=, hm.score + 1e-4);
  g_assert_cmpfloat (top, >, 0.5 * hm.score);
  g_assert_cmpfloat (hm.low, ==, cp_patch_model_get_score_low (model));
  g_assert_true (cp_heatmap_write_png (&hm, png, &error));
  g_assert_true (cp_image_load (png, &back, &error));
  g_assert_cmpint (back->width, ==, 150);
  g_assert_cmpint (back->height, ==, 100);
  g_assert_cmpmem (back->pixels, 3, hm.overlay, 3);

  /* Same input, same map: inference is deterministic. */
  g_assert_true (cp_patch_model_heatmap (model, odd, &hm2, NULL, &error));
  g_assert_cmpmem (hm.map, sizeof (float) * 150 * 100, hm2.map, sizeof (float) * 150 * 100);
  cp_heatmap_clear (&hm);
  cp_heatmap_clear (&hm2);
  {
    volatile int cancel = 1;
    g_assert_false (cp_patch_model_heatmap (model, odd, &hm, &cancel, &error));
    g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED);
  }
  /* An image model is refused as a patch model, with a hint. */
  {
    g_autoptr (GError) e2 = NULL;
    g_autofree char *bad = g_build_filename (work_root, "notpatch.safetensors", NULL);
    g_assert_true (g_file_set_contents (bad, "not a model", -1, NULL));
    g_assert_null (cp_patch_model_load (bad, "cpu", &e2));
    g_assert_nonnull (e2);
  }
  {
    g_autofree char *patch_path = cp_patch_model_path_for ("/m/weave.safetensors");
    g_assert_cmpstr (patch_path, ==, "/m/weave.patch.safetensors");
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  work_root = cp_test_make_tmp_dir ("cp-localize-XXXXXX");
  g_test_add_func ("/localize/texture", test_texture);
  g_test_add_func ("/localize/heatmap-api", test_heatmap_api);
  g_test_add_func ("/localize/aligned", test_aligned);
  status = g_test_run ();
  cp_test_remove_tree (work_root);
  g_free (work_root);
  return status;
}
