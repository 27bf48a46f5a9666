/* cmd-threshold.c: `cutpaste threshold`: show or set the pass/fail
 * threshold stored in a model file. */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "cli-common.h"
#include "commands.h"
#include "pipeline/pipeline.h"

static void
print_threshold (const char       *path,
                 double            threshold,
                 CpThresholdSource source,
                 double            rate,
                 double            cv)
{
  printf ("%s\n", path);
  if (source == CP_THRESHOLD_SOURCE_NONE)
    printf ("threshold: none (every part passes)\n");
  else
    printf ("threshold: %.6f\n", threshold);
  printf ("source: %s\n", cp_threshold_source_to_string (source));
  /* The rate belongs to the cross-validated threshold: once the threshold
   * is set by hand it is shown beside that value, not as the current one's. */
  if (isnan (rate))
    printf ("false-reject rate: unknown\n");
  else if (source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    printf ("false-reject rate: %g (target of the cross-validated threshold)\n", rate);
  else if (!isnan (cv))
    printf ("false-reject rate: not measured for this threshold (%g was the target of the "
            "cross-validated threshold %.6f)\n", rate, cv);
  else
    printf ("false-reject rate: not measured for this threshold\n");
}

/* Stores the threshold from the metadata alone: the network is neither
 * built nor re-serialised, and every tensor in the file (converted
 * checkpoints may hold ones the loader ignores) is kept byte for byte. */
static int
set_threshold (const char *model_path,
               double      threshold)
{
  g_autoptr (CpModelFile) file = NULL;
  g_autoptr (GError) error = NULL;

  file = cp_model_file_open (model_path, &error);
  if (file == NULL)
    {
      cp_cli_error ("threshold", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  if (!cp_model_file_store_threshold (file, threshold, NAN, &error))
    {
      cp_cli_error ("threshold", "%s (the model was not changed)", error->message);
      return CP_EXIT_FAILED;
    }
  print_threshold (cp_model_file_get_path (file), cp_model_file_get_threshold (file),
                   cp_model_file_get_threshold_source (file),
                   cp_model_file_get_false_reject_rate (file),
                   cp_model_file_get_cross_validation_threshold (file));
  return CP_EXIT_OK;
}

int
cp_cmd_threshold (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *set_text = NULL;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "Model file written by 'cutpaste train'", "FILE" },
    { "set", 0, 0, G_OPTION_ARG_STRING, &set_text, "Store T as the pass/fail threshold", "T" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- show or set a model's pass/fail threshold");
  g_autoptr (CpModel) model = NULL;
  g_autoptr (GError) error = NULL;
  double threshold = NAN;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Without --set, prints the stored threshold, where it comes from\n"
    "(cross-validation for a false-reject rate at training, or manual) and the rate.\n"
    "With --set T, stores T (a score: finite, not negative) in the model file,\n"
    "marked as set by hand; the file is replaced atomically and left as it was\n"
    "on any failure.  Exit status: 0 ok, 1 failed, 2 usage.");
  if (!cp_cli_parse (context, "threshold", &argc, &argv))
    return CP_EXIT_USAGE;
  if (model_path == NULL)
    {
      cp_cli_error ("threshold", "--model is required (see 'cutpaste threshold --help')");
      return CP_EXIT_USAGE;
    }
  if (argc > 1)
    {
      cp_cli_error ("threshold", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  /* Checked before the model is read: a bad value must not cost a read,
   * and must never reach the file.  Scores are distances, so a negative
   * threshold would fail every part. */
  if (set_text != NULL && (!cp_cli_parse_double (set_text, &threshold) || threshold < 0))
    {
      cp_cli_error ("threshold", "%s: --set must be a finite number >= 0 (got '%s'); the model was not changed",
                    model_path, set_text);
      return CP_EXIT_USAGE;
    }

  if (set_text != NULL)
    return set_threshold (model_path, threshold);

  /* Showing loads the whole model, so that a damaged one is reported.  The
   * CPU is enough; no device is started. */
  model = cp_model_load (model_path, "cpu", &error);
  if (model == NULL)
    {
      cp_cli_error ("threshold", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  print_threshold (cp_model_get_path (model), cp_model_get_threshold (model),
                   cp_model_get_threshold_source (model), cp_model_get_false_reject_rate (model),
                   cp_model_get_cross_validation_threshold (model));
  return CP_EXIT_OK;
}
