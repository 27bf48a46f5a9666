/* cmd-predict.c: `cutpaste predict`: score images with a trained model. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli-common.h"
#include "commands.h"
#include "pipeline/pipeline.h"
#include "pipeline/localize.h"

/* JSON has no NaN: an unknown number is null. */
static void
print_json_number (double value)
{
  if (isfinite (value))
    printf ("%.6f", value);
  else
    printf ("null");
}

int
cp_cmd_predict (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *threshold_text = NULL, *device = NULL;
  gboolean json = FALSE;
  g_autofree char *heatmap_dir = NULL;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "Model file written by 'cutpaste train'", "FILE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object per line", NULL },
    { "threshold", 0, 0, G_OPTION_ARG_STRING, &threshold_text, "Override the model's pass/fail threshold for this run ('cutpaste threshold --set' stores one)", "T" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "heatmap", 0, 0, G_OPTION_ARG_FILENAME, &heatmap_dir, "Write DIR/<image>.heatmap.png: from the patch model beside --model when there is one, else from the model's region scores", "DIR" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("IMAGE... - score images with a trained model");
  g_autoptr (CpModel) model = NULL;
  g_autoptr (GError) error = NULL;
  double threshold = NAN, rate;
  CpThresholdSource source;
  int n, skipped = 0, anomalous = 0;
  g_autofree double *scores = NULL;
  g_autofree char **messages = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Prints one line per image: path, score (Mahalanobis distance) and verdict\n"
    "(anomalous when the score is above the threshold).  Unreadable images are\n"
    "reported and skipped.  With --json each line also gives threshold_source\n"
    "(cross-validation, manual, ...) and false_reject_rate, null unless the threshold\n"
    "is the cross-validated one the rate was set for.\n"
    "Exit status: 0 ok, 1 failed (or an image was skipped), 2 usage.");
  if (!cp_cli_parse (context, "predict", &argc, &argv))
    return CP_EXIT_USAGE;
  if (model_path == NULL)
    {
      cp_cli_error ("predict", "--model is required (see 'cutpaste predict --help')");
      return CP_EXIT_USAGE;
    }
  if (argc < 2)
    {
      cp_cli_error ("predict", "no images given");
      return CP_EXIT_USAGE;
    }
  if (threshold_text && !cp_cli_parse_double (threshold_text, &threshold))
    {
      cp_cli_error ("predict", "--threshold must be a number (got '%s')", threshold_text);
      return CP_EXIT_USAGE;
    }

  model = cp_model_load (model_path, device ? device : "auto", &error);
  if (model == NULL)
    {
      cp_cli_error ("predict", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  if (threshold_text)
    cp_model_set_threshold (model, threshold);
  threshold = cp_model_get_threshold (model);
  source = cp_model_get_threshold_source (model);
  rate = cp_model_get_false_reject_rate (model);

  n = argc - 1;
  scores = g_new (double, n);
  messages = g_new0 (char *, n);
  if (!cp_model_score_files (model, (const char *const *) argv + 1, n, scores, NULL, messages, NULL, &error))
    {
      cp_cli_error ("predict", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  for (int i = 0; i < n; i++)
    {
      const char *path = argv[i + 1];
      gboolean bad;

      if (messages[i])
        {
          cp_cli_error ("predict", "skipped %s", messages[i]);
          g_free (messages[i]);
          skipped++;
          continue;
        }
      bad = cp_model_is_anomalous (model, scores[i]);
      anomalous += bad;
      if (json)
        {
          printf ("{\"path\": ");
          cp_cli_print_json_string (path);
          printf (", \"score\": %.6f, \"threshold\": ", scores[i]);
          print_json_number (threshold);
          /* The rate holds only for a cross-validated threshold: null once
           * it was set by hand (stored, or --threshold here). */
          printf (", \"threshold_source\": \"%s\", \"false_reject_rate\": ",
                  cp_threshold_source_to_string (source));
          print_json_number (source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION ? rate : NAN);
          printf (", \"verdict\": \"%s\"}\n", bad ? "anomalous" : "good");
        }
      else
        printf ("%s\t%.6f\t%s\n", path, scores[i], bad ? "anomalous" : "good");
    }
  if (heatmap_dir)
    {
      /* Localisation: the patch model beside the image model
       * (X.patch.safetensors) when there is one, else the image model's
       * own region map; one overlay PNG per image. */
      g_autofree char *patch_path = cp_patch_model_path_for (model_path);
      g_autoptr (CpPatchModel) patch = NULL;
      g_autoptr (GHashTable) used = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

      if (g_file_test (patch_path, G_FILE_TEST_EXISTS) || !cp_model_has_local (model))
        {
          patch = cp_patch_model_load (patch_path, device ? device : "auto", &error);
          if (patch == NULL)
            {
              cp_cli_error ("predict", "%s", error->message);
              return CP_EXIT_FAILED;
            }
        }
      if (g_mkdir_with_parents (heatmap_dir, 0755) != 0)
        {
          cp_cli_error ("predict", "cannot create %s", heatmap_dir);
          return CP_EXIT_FAILED;
        }
      for (int i = 0; i < n; i++)
        {
          g_autoptr (CpImage) image = NULL;
          g_autoptr (GError) local = NULL;
          g_autofree char *base = NULL, *name = NULL, *out = NULL;
          const char *dot;
          CpHeatmap heatmap;

          if (isnan (scores[i]) || !cp_image_load (argv[i + 1], &image, &local))
            continue;   /* already reported as skipped */
          base = g_path_get_basename (argv[i + 1]);
          dot = strrchr (base, '.');
          name = g_strdup_printf ("%.*s.heatmap.png", dot ? (int) (dot - base) : (int) strlen (base), base);
          /* MVTec names repeat across defect folders (000.png): the second
           * one gets its folder's name in front. */
          if (g_hash_table_contains (used, name))
            {
              g_autofree char *dir = g_path_get_dirname (argv[i + 1]);
              g_autofree char *parent = g_path_get_basename (dir);
              char *longer = g_strdup_printf ("%s-%s", parent, name);
              g_free (name);
              name = longer;
            }
          g_hash_table_add (used, g_strdup (name));
          out = g_build_filename (heatmap_dir, name, NULL);
          if (!(patch ? cp_patch_model_heatmap (patch, image, &heatmap, NULL, &local)
                      : cp_model_region_heatmap (model, image, &heatmap, &local))
              || !cp_heatmap_write_png (&heatmap, out, &local))
            {
              cp_cli_error ("predict", "%s: %s", argv[i + 1], local->message);
              skipped++;
              continue;
            }
          fprintf (stderr, "cutpaste predict: %s: heatmap %s (%s, map maximum %.4f, colours %.4g to %.4g)\n",
                   argv[i + 1], out, patch ? "patch model" : "region scores", heatmap.score,
                   heatmap.low, heatmap.high);
          cp_heatmap_clear (&heatmap);
        }
    }
  fprintf (stderr, "cutpaste predict: %d images: %d good, %d anomalous, %d skipped (threshold %.6f, %s)\n",
           n, n - skipped - anomalous, anomalous, skipped, threshold, cp_threshold_source_to_string (source));
  return skipped ? CP_EXIT_FAILED : CP_EXIT_OK;
}
