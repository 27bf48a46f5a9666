/* test-localize-quick.c: the quick profile's patch model on the synthetic
 * texture, at full length (suite "slow": 6 to 11 minutes of two CPU
 * cores; CI's normal pass runs it, the sanitizer passes leave it out).
 *
 * The same settings as `cutpaste train --localize` (S 128, 8 per view,
 * CP_LOCALIZE_QUICK_STEPS steps, fitting stride 8, heatmaps at stride 4,
 * a shared Gaussian for a texture) on `cutpaste synth`'s default weave
 * (256 x 256 images, 80 train, 20 good and 10 per defect type to test).
 * Asserts the targets: pixel AUROC of at least 0.90, and the
 * heatmap's maximum inside the defect mask for most defect images. */
#include <math.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "data/synth.h"
#include "pipeline/localize.h"
#include "pipeline/pipeline.h"
#include "test-support.h"

static void
test_weave_quick (gconstpointer data)
{
  const char *root = data;
  const char *cats[] = { "weave", NULL };
  g_autofree char *data_dir = g_build_filename (root, "data", NULL);
  g_autofree char *model_dir = g_build_filename (root, "models", NULL);
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (CpPatchModel) model = NULL;
  CpSynthOptions synth;
  CpTrainOptions opts;
  CpLocalizeOptions loc;
  CpTrainResult result;
  CpLocalizeEvalResult ev;
  double rate;

  cp_synth_options_init (&synth);
  synth.categories = cats;
  g_assert_true (cp_synth_write (data_dir, &synth, NULL, NULL, &error));
  g_assert_no_error (error);

  cp_train_options_init (&opts, "quick");
  opts.data_dir = data_dir;
  opts.category = "weave";
  opts.model_dir = model_dir;
  opts.image_size = 128;
  opts.steps = CP_LOCALIZE_QUICK_STEPS;
  opts.device = "cpu";
  opts.evaluate_test = FALSE;
  cp_localize_options_init (&loc);
  cp_localize_train_setup (&opts, &loc);
  cp_train_result_init (&result);
  g_assert_true (cp_train_category (&opts, NULL, NULL, NULL, &result, &error));
  g_assert_no_error (error);
  g_printerr ("# weave: %d steps in %.0f s, final loss %.4f\n", result.steps, result.seconds,
              result.final_loss);

  path = cp_patch_model_path (model_dir, "weave");
  model = cp_patch_model_load (path, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpint (cp_patch_model_get_density (model), ==, CP_PATCH_DENSITY_SHARED);
  cp_localize_eval_result_init (&ev);
  g_assert_true (cp_patch_model_evaluate (model, data_dir, "weave", NULL, NULL, NULL, &ev, &error));
  g_assert_no_error (error);
  rate = (double) ev.max_in_mask / ev.defect_with_mask;
  g_printerr ("# weave: pixel AUROC %.4f, patch image AUROC %.4f, heatmap maximum in the mask for "
              "%d of %d defect images (%.0f%%), %.2f s per image\n", ev.pixel_auroc, ev.image_auroc,
              ev.max_in_mask, ev.defect_with_mask, 100 * rate, ev.seconds_per_image);
  g_assert_cmpint (ev.defect_with_mask, ==, 30);
  g_assert_cmpfloat (ev.pixel_auroc, >=, 0.90);
  g_assert_cmpfloat (rate, >, 0.5);
  cp_localize_eval_result_clear (&ev);
  cp_train_result_clear (&result);
}

int
main (int argc, char **argv)
{
  g_autofree char *root = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  root = cp_test_make_tmp_dir ("cp-localize-quick-XXXXXX");
  g_test_add_data_func ("/localize/quick/weave", root, test_weave_quick);
  status = g_test_run ();
  cp_test_remove_tree (root);
  return status;
}
