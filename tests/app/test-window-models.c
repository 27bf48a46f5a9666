/* test-window-models.c: models made elsewhere reach the real window:
 * DATASET/models written by the engine (as `cutpaste train --model-dir
 * DATASET/models` writes it) is picked up when the dataset opens; a
 * folder chosen for a dataset is used and remembered; a model file is
 * imported (checked, copied under its category's name, asked about
 * before it replaces one), and a file that is not a model, or a model of
 * a category the dataset lacks, is refused with a message and changes
 * nothing. */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-preferences-window.h"
#include "cp-window.h"
#include "cp-worker.h"
#include "window-probe.h"
#include "data/synth.h"
#include "pipeline/train.h"
#include "test-support.h"

#define CATEGORY "washer"
#define OTHER    "weave"

static CpApplication *app;
static CpWindow *window;
static CpWorker *worker;
static char *tmp_dir;
static char *data_dir;      /* CATEGORY, with data_dir/models from the engine */
static char *other_dir;     /* OTHER only */
static char *chosen_dir;    /* empty until a model is imported into it */
static char *other_model;   /* a model of OTHER, outside any model folder */

/* ---- helpers ---- */

static void
wait_idle (void)
{
  /* A job's result may queue the next one (an import's check, then its
   * copy, then the scan): a few rounds let the chain finish. */
  for (int round = 0; round < 4; round++)
    {
      probe_wait_idle (worker);
    }
}

static const char *
model_dir_of (CpWindow *w)
{
  return cp_session_get_model_dir (probe_session (w));
}

static gboolean
action_enabled (const char *name)
{
  return g_action_group_get_action_enabled (G_ACTION_GROUP (window), name);
}

static void
activate_with_path (const char *action,
                    const char *path)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), action, "s", path));
}

static const char *
last_toast (void)
{
  static char *toast;

  g_free (toast);
  g_object_get (window, "last-toast", &toast, NULL);
  return toast;
}

/* Clicks the shown dialog's button labelled @label, as the user would. */
static void
respond (const char *label)
{
  AdwMessageDialog *dialog = probe_dialog (window);
  GtkWidget *button;

  g_assert_nonnull (dialog);
  button = probe_find_button (GTK_WIDGET (dialog), label);
  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
  wait_idle ();
  g_assert_null (probe_dialog (window));
}

static char *
read_all (const char *path,
          gsize      *size)
{
  char *bytes = NULL;

  g_assert_true (g_file_get_contents (path, &bytes, size, NULL));
  return bytes;
}

/* The names in @dir, sorted, joined by spaces. */
static char *
listing (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* ---- (a) DATASET/models is picked up ---- */

static void
test_dataset_models (void)
{
  g_autofree char *beside = g_build_filename (data_dir, "models", NULL);
  GtkWidget *prefs;
  GtkWidget *group;

  probe_open_dataset (window, data_dir);
  wait_idle ();
  g_assert_null (cp_session_get_dataset_error (probe_session (window)));
  g_assert_cmpstr (model_dir_of (window), ==, beside);
  g_assert_cmpint (cp_session_get_model_dir_origin (probe_session (window)), ==, CP_MODEL_DIR_DATASET);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));
  wait_idle ();
  g_assert_true (action_enabled ("inspect-open"));
  g_assert_true (action_enabled ("evaluate"));

  /* The Dataset page shows the folder (cut in the middle, whole in the
   * tooltip), as does the Preferences window. */
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (probe_model_folder (window, "folder_label"))), ==, beside);
  g_assert_cmpstr (gtk_widget_get_tooltip_text (probe_model_folder (window, "folder_label")), ==, beside);
  g_assert_true (gtk_widget_get_sensitive (probe_model_folder (window, "use_folder_button")));
  g_assert_true (gtk_widget_get_sensitive (probe_model_folder (window, "import_button")));
  prefs = cp_preferences_window_new (cp_application_get_settings (app), probe_session (window),
                                     cp_application_get_weights_state (app));
  group = GTK_WIDGET (gtk_widget_get_template_child (prefs, CP_TYPE_PREFERENCES_WINDOW, "model_folder_group"));
  g_assert_nonnull (group);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (gtk_widget_get_template_child (group, CP_TYPE_MODEL_FOLDER_GROUP,
                                                                                  "folder_label"))), ==, beside);
  gtk_window_destroy (GTK_WINDOW (prefs));
}

/* ---- (b) a chosen folder is used, and remembered for the dataset ---- */

static void
test_use_folder (void)
{
  g_autofree char *beside = g_build_filename (data_dir, "models", NULL);
  g_autofree char *missing = g_build_filename (tmp_dir, "no-such-folder", NULL);
  g_autoptr(GVariant) folders = NULL;
  const char *remembered = NULL;

  probe_open_dataset (window, data_dir);
  wait_idle ();
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));

  /* What the folder chooser gives: the path of an empty folder. */
  activate_with_path ("win.use-model-folder", chosen_dir);
  wait_idle ();
  g_assert_cmpstr (model_dir_of (window), ==, chosen_dir);
  g_assert_cmpint (cp_session_get_model_dir_origin (probe_session (window)), ==, CP_MODEL_DIR_CHOSEN);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (probe_model_folder (window, "folder_label"))), ==, chosen_dir);
  /* No model there: the category is not trained, Open Images is off, and
   * the user is told what the folder holds. */
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_NOT_TRAINED);
  g_assert_false (action_enabled ("inspect-open"));
  g_assert_nonnull (strstr (last_toast (), "0 of 1"));

  folders = g_settings_get_value (cp_application_get_settings (app), "model-folders");
  g_assert_true (g_variant_lookup (folders, data_dir, "&s", &remembered));
  g_assert_cmpstr (remembered, ==, chosen_dir);

  /* Another dataset, then this one again: the chosen folder, not the
   * dataset's own models folder that holds a model. */
  probe_open_dataset (window, other_dir);
  wait_idle ();
  g_assert_cmpstr (cp_session_get_data_dir (probe_session (window)), ==, other_dir);
  g_assert_cmpint (cp_session_get_model_dir_origin (probe_session (window)), ==, CP_MODEL_DIR_APP);
  probe_open_dataset (window, data_dir);
  wait_idle ();
  g_assert_cmpstr (model_dir_of (window), ==, chosen_dir);
  g_assert_cmpint (cp_session_get_model_dir_origin (probe_session (window)), ==, CP_MODEL_DIR_CHOSEN);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_NOT_TRAINED);

  /* A folder that is not there: said so, and nothing changes. */
  g_assert_null (probe_dialog (window));
  activate_with_path ("win.use-model-folder", missing);
  wait_idle ();
  g_assert_nonnull (probe_dialog (window));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (probe_dialog (window)), missing));
  respond ("_Close");
  g_assert_cmpstr (model_dir_of (window), ==, chosen_dir);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (beside, G_FILE_TEST_IS_DIR));
}

/* ---- (c) importing a model file ---- */

static void
test_import (void)
{
  g_autofree char *source = g_build_filename (data_dir, "models", CATEGORY ".safetensors", NULL);
  g_autofree char *target = g_build_filename (chosen_dir, CATEGORY ".safetensors", NULL);
  g_autofree char *not_model = g_build_filename (tmp_dir, "notes.safetensors", NULL);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *source_bytes = NULL, *target_bytes = NULL, *kept_bytes = NULL;
  gsize source_size, target_size, kept_size;
  const char *body;

  probe_open_dataset (window, data_dir);
  wait_idle ();
  activate_with_path ("win.use-model-folder", chosen_dir);
  wait_idle ();
  g_assert_cmpstr (model_dir_of (window), ==, chosen_dir);
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));
  wait_idle ();
  g_assert_false (action_enabled ("inspect-open"));
  before = listing (chosen_dir);

  /* Not a model (a name that says it is does not make it one). */
  g_assert_true (g_file_set_contents (not_model, "not a model\n", -1, NULL));
  activate_with_path ("win.import-model", not_model);
  wait_idle ();
  g_assert_nonnull (probe_dialog (window));
  body = adw_message_dialog_get_body (probe_dialog (window));
  g_assert_nonnull (strstr (body, not_model));
  g_assert_nonnull (strstr (body, "not a model"));
  respond ("_Close");

  /* A real model, of a category this dataset does not have. */
  activate_with_path ("win.import-model", other_model);
  wait_idle ();
  g_assert_nonnull (probe_dialog (window));
  body = adw_message_dialog_get_body (probe_dialog (window));
  g_assert_nonnull (strstr (body, other_model));
  g_assert_nonnull (strstr (body, OTHER));
  respond ("_Close");

  /* Nothing changed. */
  after = listing (chosen_dir);
  g_assert_cmpstr (after, ==, before);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_NOT_TRAINED);
  g_assert_false (action_enabled ("inspect-open"));

  /* The model of CATEGORY: copied under its category's name, and the
   * category can be inspected and evaluated. */
  activate_with_path ("win.import-model", source);
  wait_idle ();
  g_assert_null (probe_dialog (window));
  g_assert_true (g_file_test (target, G_FILE_TEST_IS_REGULAR));
  source_bytes = read_all (source, &source_size);
  target_bytes = read_all (target, &target_size);
  g_assert_cmpmem (source_bytes, source_size, target_bytes, target_size);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  g_assert_true (action_enabled ("inspect-open"));
  g_assert_true (action_enabled ("evaluate"));
  g_assert_nonnull (strstr (last_toast (), CATEGORY));
  /* No hidden copy is left behind. */
  g_free (after);
  after = listing (chosen_dir);
  g_assert_cmpstr (after, ==, CATEGORY ".safetensors");

  /* Importing over it asks first; Cancel keeps the model there. */
  g_assert_true (g_file_set_contents (target, "a model the user wants kept", -1, NULL));
  activate_with_path ("win.import-model", source);
  wait_idle ();
  g_assert_nonnull (probe_dialog (window));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (probe_dialog (window)), target));
  respond ("_Cancel");
  kept_bytes = read_all (target, &kept_size);
  g_assert_cmpmem (kept_bytes, kept_size, "a model the user wants kept", strlen ("a model the user wants kept"));
  /* Replace does. */
  activate_with_path ("win.import-model", source);
  wait_idle ();
  respond ("_Replace");
  g_free (target_bytes);
  target_bytes = read_all (target, &target_size);
  g_assert_cmpmem (source_bytes, source_size, target_bytes, target_size);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
}

int
main (int argc, char **argv)
{
  const ProbeSetup setup = { "cp-app-models-XXXXXX", CATEGORY, 2, 2, NULL };
  g_autofree char *other_models = NULL;
  g_autofree char *beside = NULL;
  int status;

  if (!probe_setup (&argc, &argv, &setup, &tmp_dir, &data_dir, &app, &worker, &window))
    return 77;

  other_dir = g_build_filename (tmp_dir, "other", NULL);
  chosen_dir = g_build_filename (tmp_dir, "chosen-models", NULL);
  other_models = g_build_filename (tmp_dir, "other-models", NULL);
  beside = g_build_filename (data_dir, "models", NULL);
  probe_make_dataset (other_dir, OTHER, 2, 2);
  g_assert_cmpint (g_mkdir_with_parents (chosen_dir, 0755), ==, 0);
  /* Written by the engine as `cutpaste train --model-dir` writes them. */
  probe_train_tiny_into (data_dir, CATEGORY, beside, CP_TRAIN_LOCAL_NONE, 7);
  probe_train_tiny_into (other_dir, OTHER, other_models, CP_TRAIN_LOCAL_NONE, 7);
  other_model = cp_train_model_path (other_models, OTHER);

  g_test_add_func ("/app/window-models/dataset-models", test_dataset_models);
  g_test_add_func ("/app/window-models/use-folder", test_use_folder);
  g_test_add_func ("/app/window-models/import", test_import);
  status = g_test_run ();

  probe_teardown (tmp_dir, data_dir, app, worker, window);
  g_free (other_dir);
  g_free (chosen_dir);
  g_free (other_model);
  return status;
}
