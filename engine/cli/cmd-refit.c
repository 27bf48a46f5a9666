/* cmd-refit.c: `cutpaste refit`: add images to a model's good set (a
 * wrong reject), take them out again, and refit the Gaussian and the
 * threshold on the existing network (pipeline/good-set.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli-common.h"
#include "commands.h"
#include "data/file-hash.h"
#include "line/records.h"
#include "line/refit-rows.h"
#include "pipeline/good-set.h"
#include "pipeline/pipeline.h"

static void
print_list (const char *model_path, GPtrArray *list)
{
  printf ("%s: %u image%s added by refits\n", model_path, list->len, list->len == 1 ? "" : "s");
  for (guint i = 0; i < list->len; i++)
    {
      const CpGoodImage *image = list->pdata[i];

      printf ("batch %d\t%s\t%s\t%s\tfrom %s\n", image->batch, image->added ? image->added : "",
              image->sha256, image->path ? image->path : image->file,
              image->source ? image->source : "(unknown)");
    }
}

/* Records the change in the line database: one refit row per image, and
 * an operator override to "pass" on every recorded part with the bytes of
 * an added image (the wrong rejects this refit corrects). */
static gboolean
record_change (const char *db_path, const char *model_path, const CpGoodSetChange *change,
               const char *operator_name, const char *note, int *overridden, GError **error)
{
  g_autoptr (CpRecords) records = cp_records_open (db_path, CP_RECORDS_OPEN_DEFAULT, 10000, error);

  *overridden = 0;
  if (records == NULL
      || !cp_records_add_good_set_change (records, change, model_path, operator_name, note, error))
    return FALSE;
  for (guint i = 0; i < change->added->len; i++)
    {
      const CpGoodImage *image = change->added->pdata[i];
      int changed = 0;

      if (!cp_records_set_override_by_hash (records, image->sha256, CP_VERDICT_PASS,
                                            note ? note : "marked as good (cutpaste refit)", operator_name,
                                            &changed, error))
        return FALSE;
      *overridden += changed;
    }
  return TRUE;
}

int
cp_cmd_refit (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *data_dir = NULL, *rate_text = NULL, *device = NULL;
  g_autofree char *db_path = NULL, *operator_name = NULL, *note = NULL;
  g_auto (GStrv) add = NULL, remove = NULL;
  gboolean undo = FALSE, list = FALSE;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "Model file written by 'cutpaste train'", "FILE" },
    { "add-good", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &add, "Add IMG to the good set (repeatable; images after the options are added too)", "IMG" },
    { "remove-good", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &remove, "Take out an image a refit added (its name, path, source path or SHA-256; repeatable)", "IMG" },
    { "undo", 0, 0, G_OPTION_ARG_NONE, &undo, "Take out the images the last --add-good added", NULL },
    { "list", 0, 0, G_OPTION_ARG_NONE, &list, "List the images refits added, and change nothing", NULL },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Dataset root holding CATEGORY/train/good (default: the one the model records)", "DIR" },
    { "false-reject-rate", 0, 0, G_OPTION_ARG_STRING, &rate_text, "Target false-reject rate of the new threshold (default: the model's)", "R" },
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "Line database: record the change, and mark the added images' parts as passed by the operator", "FILE" },
    { "operator", 0, 0, G_OPTION_ARG_STRING, &operator_name, "Who made the change (default: the login name)", "NAME" },
    { "note", 0, 0, G_OPTION_ARG_STRING, &note, "Why (kept with the override in --db)", "TEXT" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("[IMG...] - add good images to a model and refit its Gaussian and threshold");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) adds = g_ptr_array_new ();
  CpGoodSetRequest request;
  CpGoodSetChange change;
  double rate = NAN;
  int status = CP_EXIT_OK, n_remove;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Copies each added image into the good set of the model's dataset\n"
    "(DATA_DIR/CATEGORY/train/good, as refit-<hash>-<name>), refits the Gaussian and\n"
    "the cross-validated threshold on the existing network (seconds, not a\n"
    "retraining), and writes the model atomically.  The model lists the images\n"
    "refits added (--list); --remove-good and --undo take them out again.  A refit\n"
    "with nothing to add or remove refits on the good set as it is.\n"
    "Exit status: 0 ok, 1 failed (nothing changed), 2 usage.");
  if (!cp_cli_parse (context, "refit", &argc, &argv))
    return CP_EXIT_USAGE;
  if (model_path == NULL)
    {
      cp_cli_error ("refit", "--model is required (see 'cutpaste refit --help')");
      return CP_EXIT_USAGE;
    }
  for (int i = 0; add && add[i]; i++)
    g_ptr_array_add (adds, add[i]);
  if (argc > 1 && add == NULL)
    {
      cp_cli_error ("refit", "images given without --add-good: '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (adds, argv[i]);
  n_remove = remove ? (int) g_strv_length (remove) : 0;
  if (list && (adds->len > 0 || n_remove > 0 || undo))
    {
      cp_cli_error ("refit", "--list changes nothing: give it alone with --model");
      return CP_EXIT_USAGE;
    }
  if (rate_text && (!cp_cli_parse_double (rate_text, &rate) || rate < 0 || rate >= 1))
    {
      cp_cli_error ("refit", "--false-reject-rate must be a number in [0, 1) (got '%s')", rate_text);
      return CP_EXIT_USAGE;
    }
  if ((operator_name || note) && db_path == NULL)
    {
      cp_cli_error ("refit", "--operator and --note are kept in the line database: give --db");
      return CP_EXIT_USAGE;
    }

  if (list)
    {
      g_autoptr (GPtrArray) listed = cp_model_file_list_added (model_path, &error);

      if (listed == NULL)
        {
          cp_cli_error ("refit", "%s", error->message);
          return CP_EXIT_FAILED;
        }
      print_list (model_path, listed);
      return CP_EXIT_OK;
    }

  cp_good_set_request_init (&request);
  request.data_dir = data_dir;
  request.add = (const char *const *) adds->pdata;
  request.n_add = (int) adds->len;
  request.remove = (const char *const *) remove;
  request.n_remove = n_remove;
  request.undo = undo;
  request.false_reject_rate = rate;
  request.device = device;
  cp_good_set_change_init (&change);
  if (!cp_model_change_good_set (model_path, &request, &change, &error))
    {
      cp_cli_error ("refit", "%s (nothing was changed)", error->message);
      cp_good_set_change_clear (&change);
      return CP_EXIT_FAILED;
    }

  for (guint i = 0; i < change.already->len; i++)
    fprintf (stderr, "cutpaste refit: %s: already in the good set (the same bytes were added before)\n",
             (const char *) change.already->pdata[i]);
  for (guint i = 0; i < change.refit.skipped->len; i++)
    fprintf (stderr, "cutpaste refit: skipped %s\n", (const char *) change.refit.skipped->pdata[i]);
  for (guint i = 0; i < change.notes->len; i++)
    fprintf (stderr, "cutpaste refit: %s\n", (const char *) change.notes->pdata[i]);
  for (guint i = 0; i < change.added->len; i++)
    {
      const CpGoodImage *image = change.added->pdata[i];
      printf ("added %s (from %s)\n", image->path, image->source);
    }
  for (guint i = 0; i < change.removed->len; i++)
    {
      const CpGoodImage *image = change.removed->pdata[i];
      printf ("removed %s\n", image->path);
    }
  if (change.refit.source_before == CP_THRESHOLD_SOURCE_MANUAL)
    fprintf (stderr, "cutpaste refit: the threshold set by hand (%.6f) was replaced by a cross-validated "
             "one: the refit moved the scores\n", change.refit.threshold_before);
  printf ("%s: %s: %d good images, threshold %.6f -> %.6f (cross-validation, target false-reject rate %g), "
          "refit in %.2f s\n", model_path, change.category, change.refit.n_good, change.refit.threshold_before,
          change.refit.threshold_after, change.refit.false_reject_rate, change.refit.seconds);

  if (db_path)
    {
      int overridden = 0;

      if (!record_change (db_path, model_path, &change, operator_name, note, &overridden, &error))
        {
          cp_cli_error ("refit", "the model was refitted, but the change could not be recorded: %s",
                        error->message);
          status = CP_EXIT_FAILED;
        }
      else if (change.added->len > 0)
        printf ("%s: %d recorded part%s marked as passed by the operator\n", db_path, overridden,
                overridden == 1 ? "" : "s");
    }
  cp_good_set_change_clear (&change);
  return status;
}
