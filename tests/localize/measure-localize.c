/* measure-localize.c: measurements for the localisation report (not a
 * test): trains a patch model on a category with chosen sizes, then
 * reports pixel AUROC, the patch model's image AUROC, how often the
 * heatmap maximum lies in the defect mask, and the heatmap time per image.
 *
 *   measure-localize --data-dir D --type CAT --model-dir M [--image-size S]
 *     [--steps N] [--batch-size B] [--fit-images K] [--fit-stride F]
 *     [--stride E] [--density per-location|shared] [--no-train]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "pipeline/localize.h"
#include "pipeline/pipeline.h"

static void
on_progress (const CpTrainProgress *p, gpointer user_data)
{
  static gint64 last;
  gint64 now = g_get_monotonic_time ();

  (void) user_data;
  if (now - last < 20 * G_USEC_PER_SEC && p->step != p->total_steps)
    return;
  last = now;
  printf ("  %s %d/%d (%.0fs)\n", cp_train_phase_to_string (p->phase), p->step, p->total_steps,
          p->elapsed_seconds);
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  g_autofree char *data_dir = NULL, *type = NULL, *model_dir = NULL, *density = NULL;
  int size = 128, steps = CP_LOCALIZE_QUICK_STEPS, batch = 8, fit_images = 0, fit_stride = 8, stride = 4;
  gboolean no_train = FALSE;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Dataset root", "DIR" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, "Category", "CAT" },
    { "model-dir", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "Model folder", "DIR" },
    { "image-size", 0, 0, G_OPTION_ARG_INT, &size, "S", "S" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Steps", "N" },
    { "batch-size", 0, 0, G_OPTION_ARG_INT, &batch, "Batch", "B" },
    { "fit-images", 0, 0, G_OPTION_ARG_INT, &fit_images, "Train images to fit on (0 = all)", "K" },
    { "fit-stride", 0, 0, G_OPTION_ARG_INT, &fit_stride, "Fitting grid step", "F" },
    { "stride", 0, 0, G_OPTION_ARG_INT, &stride, "Heatmap grid step", "E" },
    { "density", 0, 0, G_OPTION_ARG_STRING, &density, "per-location or shared", "D" },
    { "no-train", 0, 0, G_OPTION_ARG_NONE, &no_train, "Use the model already in MODEL_DIR", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- measure localisation");
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr (CpPatchModel) model = NULL;
  CpLocalizeEvalResult ev;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || !data_dir || !type || !model_dir)
    {
      fprintf (stderr, "usage: see the comment at the top of measure-localize.c\n");
      return 2;
    }
  path = cp_patch_model_path (model_dir, type);
  if (!no_train)
    {
      CpTrainOptions opts;
      CpLocalizeOptions loc;
      CpTrainResult result;

      cp_train_options_init (&opts, "quick");
      opts.data_dir = data_dir;
      opts.category = type;
      opts.model_dir = model_dir;
      opts.image_size = size;
      opts.steps = steps;
      opts.batch_size = batch;
      opts.device = "cpu";
      opts.evaluate_test = FALSE;
      cp_localize_options_init (&loc);
      loc.fit_stride = fit_stride;
      loc.max_fit_images = fit_images;
      if (density)
        {
          CpPatchDensityKind kind;
          if (!cp_patch_density_kind_from_string (density, &kind))
            return 2;
          loc.density = kind;
        }
      cp_localize_train_setup (&opts, &loc);
      cp_train_result_init (&result);
      if (!cp_train_category (&opts, on_progress, NULL, NULL, &result, &error))
        {
          fprintf (stderr, "train: %s\n", error->message);
          return 1;
        }
      printf ("%s: trained %d steps on %d images in %.0fs (final loss %.4f)\n", type, result.steps,
              result.train_images, result.seconds, result.final_loss);
      cp_train_result_clear (&result);
    }
  model = cp_patch_model_load (path, "cpu", &error);
  if (model == NULL || !cp_patch_model_set_stride (model, stride))
    {
      fprintf (stderr, "load: %s\n", error ? error->message : "bad stride");
      return 1;
    }
  cp_localize_eval_result_init (&ev);
  if (!cp_patch_model_evaluate (model, data_dir, type, NULL, NULL, NULL, &ev, &error))
    {
      fprintf (stderr, "evaluate: %s\n", error->message);
      return 1;
    }
  printf ("%s pixel AUC: %.4f\n%s patch image AUC: %.4f\n"
          "%s: S %d, %s, heatmap stride %d: maximum inside the mask for %d of %d defect images; "
          "%.2f s per image (%d images)\n",
          type, ev.pixel_auroc, type, ev.image_auroc, type, size,
          cp_patch_density_kind_to_string (cp_patch_model_get_density (model)), stride, ev.max_in_mask,
          ev.defect_with_mask, ev.seconds_per_image, ev.images);
  cp_localize_eval_result_clear (&ev);
  return 0;
}
