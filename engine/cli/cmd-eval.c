/* cmd-eval.c: `cutpaste eval`: image AUROC of trained models on test/. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "cli-common.h"
#include "commands.h"
#include "eval-plots.h"
#include "pipeline/pipeline.h"
#include "pipeline/localize.h"

/* "washer by defect: bent 0.9950 (10), scratch 0.4050 (10)": which kinds of
 * defect the model finds and which it misses. */
static void
print_defect_aurocs (const char *category, const CpEvalResult *result)
{
  g_autoptr (GArray) by_defect = cp_eval_auroc_by_defect (result);

  if (by_defect->len < 2)
    return;
  printf ("%s by defect:", category);
  for (guint k = 0; k < by_defect->len; k++)
    {
      const CpDefectAuroc *d = &g_array_index (by_defect, CpDefectAuroc, k);

      if (isnan (d->auroc))
        printf ("%s %s n/a (%d)", k ? "," : "", d->defect_type, d->count);
      else
        printf ("%s %s %.4f (%d)", k ? "," : "", d->defect_type, d->auroc, d->count);
    }
  printf ("\n");
}

int
cp_cmd_eval (int argc, char **argv)
{
  g_autofree char *data_dir = NULL, *type = NULL, *model_dir = NULL, *plots_dir = NULL;
  g_autofree char *csv_path = NULL, *device = NULL, *summary_path = NULL;
  gboolean localize = FALSE;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Dataset root (MVTec AD layout)", "DIR" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, "Categories: CAT[,CAT...] or all", "CAT" },
    { "model-dir", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "Folder of <category>.safetensors models", "DIR" },
    { "save-plots", 0, 0, G_OPTION_ARG_FILENAME, &plots_dir, "Write ROC, histogram and t-SNE PNGs here", "DIR" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv_path, "Per-image scores (path,label,defect_type,score,verdict: PASS or FAIL)", "FILE" },
    { "summary", 0, 0, G_OPTION_ARG_FILENAME, &summary_path, "Summary table: FILE.md and FILE.csv", "FILE" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "localize", 0, 0, G_OPTION_ARG_NONE, &localize, "Also pixel AUROC of <category>.patch.safetensors (and its own image AUROC)", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- score test images and report image AUROC");
  g_auto (GStrv) categories = NULL;
  g_autoptr (GPtrArray) results = g_ptr_array_new ();
  g_autoptr (GString) all_csv = NULL;
  int failures = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Prints '<category> AUC: 0.xxxx' per category, then a Markdown table with the mean.\n"
    "With several categories, --csv gets one file per category: FILE with the\n"
    "category inserted before the extension.  Exit status: 0 ok, 1 failed, 2 usage.");
  if (!cp_cli_parse (context, "eval", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc > 1)
    {
      cp_cli_error ("eval", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  if (data_dir == NULL || type == NULL || model_dir == NULL)
    {
      cp_cli_error ("eval", "--data-dir, --type and --model-dir are required (see 'cutpaste eval --help')");
      return CP_EXIT_USAGE;
    }
  categories = cp_cli_expand_categories ("eval", data_dir, type);
  if (categories == NULL)
    return CP_EXIT_FAILED;
  if (plots_dir && g_mkdir_with_parents (plots_dir, 0755) != 0)
    {
      int e = errno;
      cp_cli_error ("eval", "cannot create %s: %s", plots_dir, g_strerror (e));
      return CP_EXIT_FAILED;
    }

  for (int i = 0; categories[i]; i++)
    {
      g_autofree char *model_path = cp_train_model_path (model_dir, categories[i]);
      g_autoptr (CpModel) model = NULL;
      g_autoptr (GError) error = NULL;
      CpEvalResult *result = g_new0 (CpEvalResult, 1);
      CpEvalOptions opts;

      cp_eval_result_init (result);
      if (localize)
        {
          /* The patch model: pixel AUROC over all test pixels, and the
           * maxima of its maps as image scores. */
          g_autofree char *patch_path = cp_patch_model_path (model_dir, categories[i]);
          g_autoptr (CpPatchModel) patch = cp_patch_model_load (patch_path, device ? device : "auto", &error);
          CpLocalizeEvalResult loc;

          cp_localize_eval_result_init (&loc);
          if (patch == NULL
              || !cp_patch_model_evaluate (patch, data_dir, categories[i], NULL, NULL, NULL, &loc, &error))
            {
              cp_cli_error ("eval", "%s: %s", categories[i], error->message);
              g_clear_error (&error);
              failures++;
            }
          else
            {
              for (guint k = 0; k < loc.skipped_images->len; k++)
                cp_cli_error ("eval", "skipped %s", (char *) loc.skipped_images->pdata[k]);
              printf ("%s pixel AUC: %.4f\n", categories[i], loc.pixel_auroc);
              if (!isnan (loc.image_auroc))
                printf ("%s patch image AUC: %.4f\n", categories[i], loc.image_auroc);
              printf ("%s: heatmap maximum inside the mask for %d of %d defect images, %.2fs per image\n",
                      categories[i], loc.max_in_mask, loc.defect_with_mask, loc.seconds_per_image);
              fflush (stdout);
            }
          cp_localize_eval_result_clear (&loc);
          /* A patch model may be trained alone. */
          if (!g_file_test (model_path, G_FILE_TEST_EXISTS))
            {
              cp_eval_result_clear (result);
              g_free (result);
              continue;
            }
        }
      model = cp_model_load (model_path, device ? device : "auto", &error);
      if (model == NULL)
        {
          cp_cli_error ("eval", "%s: %s", categories[i], error->message);
          failures++;
          cp_eval_result_clear (result);
          g_free (result);
          continue;
        }
      if (strcmp (cp_model_get_category (model), categories[i]) != 0)
        {
          cp_cli_error ("eval", "%s: model %s was trained on category '%s'", categories[i], model_path,
                        cp_model_get_category (model));
          failures++;
          cp_eval_result_clear (result);
          g_free (result);
          continue;
        }
      cp_eval_options_init (&opts);
      opts.with_train_embeddings = FALSE;
      if (plots_dir != NULL)
        cp_eval_options_want_tsne (&opts);
      if (!cp_evaluate_category (data_dir, categories[i], model, &opts, NULL, NULL, NULL, result, &error))
        {
          cp_cli_error ("eval", "%s: %s", categories[i], error->message);
          failures++;
          cp_eval_result_clear (result);
          g_free (result);
          continue;
        }
      for (guint k = 0; k < result->skipped_images->len; k++)
        cp_cli_error ("eval", "skipped %s", (char *) result->skipped_images->pdata[k]);
      if (isnan (result->auroc))
        printf ("%s AUC: n/a (test/ needs good and defect images)\n", categories[i]);
      else
        printf ("%s AUC: %.4f\n", categories[i], result->auroc);
      print_defect_aurocs (categories[i], result);
      if (result->skipped_images->len)
        printf ("%s: %u images skipped\n", categories[i], result->skipped_images->len);
      fflush (stdout);

      if (csv_path)
        {
          g_autofree char *path = NULL;
          if (g_strv_length (categories) == 1)
            path = g_strdup (csv_path);
          else
            {
              const char *dot = strrchr (csv_path, '.');
              const char *slash = strrchr (csv_path, '/');
              if (dot && (!slash || dot > slash))
                path = g_strdup_printf ("%.*s-%s%s", (int) (dot - csv_path), csv_path, categories[i], dot);
              else
                path = g_strdup_printf ("%s-%s", csv_path, categories[i]);
            }
          if (!cp_eval_write_csv (result, path, &error))
            {
              cp_cli_error ("eval", "%s", error->message);
              failures++;
            }
        }
      if (plots_dir && !cp_eval_save_plots (result, plots_dir, &error))
        {
          cp_cli_error ("eval", "%s: plots: %s", categories[i], error->message);
          failures++;
        }
      g_ptr_array_add (results, result);
    }

  if (results->len > 0)
    {
      g_autofree char *table = cp_eval_summary_markdown ((CpEvalResult *const *) results->pdata, (int) results->len);
      printf ("\n%s", table);
      if (summary_path)
        {
          g_autofree char *md = g_strdup_printf ("%s.md", summary_path);
          g_autofree char *csv = g_strdup_printf ("%s.csv", summary_path);
          g_autoptr (GError) error = NULL;
          if (!cp_eval_write_summary ((CpEvalResult *const *) results->pdata, (int) results->len, md, csv, &error))
            {
              cp_cli_error ("eval", "%s", error->message);
              failures++;
            }
        }
    }
  for (guint i = 0; i < results->len; i++)
    {
      cp_eval_result_clear (results->pdata[i]);
      g_free (results->pdata[i]);
    }
  return failures ? CP_EXIT_FAILED : CP_EXIT_OK;
}
