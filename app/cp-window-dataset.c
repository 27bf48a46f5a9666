/* cp-window-dataset.c: opening a dataset, the category list, the sample
 * dataset. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "data/synth.h"
#include "pipeline/model.h"
#include "pipeline/train.h"
#include "cp-window-private.h"

/* ---- scanning (engine thread) ------------------------------------------ */

typedef struct
{
  char *root;
  char *model_dir;
} ScanJob;

static void
scan_job_free (gpointer data)
{
  ScanJob *job = data;

  g_free (job->root);
  g_free (job->model_dir);
  g_free (job);
}

static void
read_model_metadata (CpCategoryInfo *info,
                     const char     *path)
{
  CpError err = { 0 };
  CpSafetensors *st;
  const char *format, *version, *value;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return;
  st = cp_safetensors_open (path, &err);
  if (st == NULL)
    {
      info->state = CP_CATEGORY_STATE_MODEL_ERROR;
      info->problem = g_strdup (err.message);
      return;
    }
  format = cp_safetensors_metadata (st, "format");
  version = cp_safetensors_metadata (st, "format_version");
  if (format != NULL && g_strcmp0 (format, CP_MODEL_FORMAT) != 0)
    {
      info->state = CP_CATEGORY_STATE_MODEL_ERROR;
      info->problem = g_strdup_printf (_("The model is in format “%s”, not a CutPaste Inspector model"),
                                       format);
    }
  else if (version != NULL && atoi (version) != CP_MODEL_FORMAT_VERSION)
    {
      info->state = CP_CATEGORY_STATE_MODEL_ERROR;
      info->problem = g_strdup_printf (_("The model has format version %s; this version of the application reads version %d"),
                                       version, CP_MODEL_FORMAT_VERSION);
    }
  else
    info->state = CP_CATEGORY_STATE_TRAINED;

  value = cp_safetensors_metadata (st, "auroc");
  info->auroc = value != NULL ? g_ascii_strtod (value, NULL) : NAN;
  value = cp_safetensors_metadata (st, "threshold");
  info->threshold = value != NULL ? g_ascii_strtod (value, NULL) : NAN;
  info->threshold_source = cp_threshold_source_from_metadata (cp_safetensors_metadata (st, "threshold_source"),
                                                              value,
                                                              cp_safetensors_metadata (st, "false_reject_rate"));
  value = cp_safetensors_metadata (st, "false_reject_rate");
  info->false_reject_rate = value != NULL ? g_ascii_strtod (value, NULL) : NAN;
  value = cp_safetensors_metadata (st, "cross_validation_threshold");
  info->cv_threshold = value != NULL ? g_ascii_strtod (value, NULL) : NAN;
  if (info->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    info->cv_threshold = info->threshold;
  value = cp_safetensors_metadata (st, "image_size");
  info->image_size = value != NULL ? atoi (value) : 0;
  info->created = g_strdup (cp_safetensors_metadata (st, "created"));
  cp_safetensors_close (st);
}

static gpointer
scan_run (CpWorkerJob        *worker_job,
          const volatile int *cancel,
          gpointer            data,
          GError            **error)
{
  ScanJob *job = data;
  g_auto(GStrv) names = cp_dataset_scan_root (job->root, error);
  GPtrArray *infos;

  if (names == NULL)
    return NULL;
  infos = g_ptr_array_new_with_free_func (cp_category_info_free);
  for (guint i = 0; names[i] != NULL && !g_atomic_int_get (cancel); i++)
    {
      CpCategoryInfo *info = g_new0 (CpCategoryInfo, 1);
      g_autoptr(CpCategory) cat = NULL;
      g_autoptr(GError) local = NULL;
      g_autofree char *path = NULL;

      info->name = g_strdup (names[i]);
      info->auroc = NAN;
      info->threshold = NAN;
      info->false_reject_rate = NAN;
      info->cv_threshold = NAN;
      cat = cp_dataset_scan_category (job->root, names[i], &local);
      if (cat != NULL)
        {
          info->n_train = cat->n_train;
          info->n_test = cat->n_test;
        }
      path = cp_train_model_path (job->model_dir, names[i]);
      read_model_metadata (info, path);
      g_ptr_array_add (infos, info);
    }
  return infos;
}

static void
scan_done (gpointer      result,
           const GError *error,
           gboolean      dropped,
           gpointer      user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  GPtrArray *infos = result;

  if (dropped)
    return;
  g_clear_pointer (&self->dataset_error, g_free);
  if (infos == NULL)
    {
      self->dataset_error =
        g_strdup_printf (_("“%s” is not a dataset in MVTec AD layout. Expected one folder per category, "
                           "each holding train/good/ with images (and optionally test/good/ and "
                           "test/<defect>/). %s"),
                         self->data_dir, error != NULL ? error->message : "");
      g_ptr_array_set_size (self->categories, 0);
      adw_status_page_set_title (self->empty_page, _("Not a Dataset"));
      {
        g_autofree char *escaped = g_markup_escape_text (self->dataset_error, -1);

        /* The description is markup; paths and messages are not. */
        adw_status_page_set_description (self->empty_page, escaped);
      }
    }
  else
    {
      /* Keep the "training" state of the category being trained. */
      for (guint i = 0; i < infos->len; i++)
        {
          CpCategoryInfo *info = g_ptr_array_index (infos, i);

          if (g_strcmp0 (info->name, self->training_category) == 0)
            info->state = CP_CATEGORY_STATE_TRAINING;
        }
      g_ptr_array_unref (self->categories);
      self->categories = g_ptr_array_ref (infos);
    }
  cp_window_dataset_rebuild_list (self);
}

void
cp_window_dataset_refresh (CpWindow *self)
{
  ScanJob *job;

  if (self->data_dir == NULL)
    return;
  job = g_new0 (ScanJob, 1);
  job->root = g_strdup (self->data_dir);
  job->model_dir = g_strdup (self->model_dir);
  cp_worker_submit (self->worker, "scan", scan_run, job, scan_job_free, NULL,
                    scan_done, (GDestroyNotify) g_ptr_array_unref, G_OBJECT (self));
}

/* ---- the list ---------------------------------------------------------- */

static char *
format_created (const char *iso)
{
  g_autoptr(GDateTime) utc = NULL;
  g_autoptr(GDateTime) local = NULL;

  if (iso == NULL || *iso == '\0')
    return NULL;
  utc = g_date_time_new_from_iso8601 (iso, NULL);
  if (utc == NULL)
    return g_strdup (iso);
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, "%x %X");
}

static char *
category_subtitle (CpWindow       *self,
                   CpCategoryInfo *info)
{
  g_autofree char *counts = NULL;
  g_autofree char *date = NULL;
  int size = g_settings_get_int (self->settings, "image-size");

  g_autofree char *train = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d training image",
                                                          "%d training images", info->n_train),
                                             info->n_train);
  g_autofree char *test = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d test image",
                                                         "%d test images", info->n_test),
                                            info->n_test);

  /* Translators: the two counts of a category, "20 training images, 26 test images". */
  counts = g_strdup_printf (_("%s, %s"), train, test);
  switch (info->state)
    {
    case CP_CATEGORY_STATE_TRAINING:
      return g_strdup_printf (_("%s · training…"), counts);
    case CP_CATEGORY_STATE_MODEL_ERROR:
      return g_strdup_printf (_("%s · model unusable: %s"), counts, info->problem);
    case CP_CATEGORY_STATE_TRAINED:
      {
        g_autofree char *auroc = isnan (info->auroc)
          ? g_strdup (_("AUROC unknown")) : g_strdup_printf (_("AUROC %.3f"), info->auroc);
        g_autofree char *size_note = info->image_size > 0 && info->image_size != size
          ? g_strdup_printf (_(" · trained at %d px, settings say %d px"), info->image_size, size)
          : g_strdup ("");

        date = format_created (info->created);
        return g_strdup_printf (_("%s · trained %s · %s%s"), counts, date != NULL ? date : "",
                                auroc, size_note);
      }
    case CP_CATEGORY_STATE_NOT_TRAINED:
    default:
      return g_strdup_printf (_("%s · not trained"), counts);
    }
}

void
cp_window_dataset_rebuild_list (CpWindow *self)
{
  GtkWidget *child;
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autofree char *keep = g_strdup (self->category);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->category_list))) != NULL)
    gtk_list_box_remove (self->category_list, child);

  self->syncing_dropdown = TRUE;
  for (guint i = 0; i < self->categories->len; i++)
    {
      CpCategoryInfo *info = g_ptr_array_index (self->categories, i);
      g_autofree char *subtitle = category_subtitle (self, info);
      GtkWidget *row = adw_action_row_new ();
      const char *icon;

      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), info->name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      switch (info->state)
        {
        case CP_CATEGORY_STATE_TRAINED: icon = "emblem-ok-symbolic"; break;
        case CP_CATEGORY_STATE_TRAINING: icon = "emblem-synchronizing-symbolic"; break;
        case CP_CATEGORY_STATE_MODEL_ERROR: icon = "dialog-warning-symbolic"; break;
        default: icon = "radio-symbolic"; break;
        }
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), gtk_image_new_from_icon_name (icon));
      gtk_list_box_append (self->category_list, row);
      g_ptr_array_add (names, info->name);
    }
  g_ptr_array_add (names, NULL);
  gtk_string_list_splice (self->category_names, 0,
                          g_list_model_get_n_items (G_LIST_MODEL (self->category_names)),
                          (const char *const *) names->pdata);
  self->syncing_dropdown = FALSE;

  gtk_stack_set_visible_child_name (self->dataset_stack,
                                    self->categories->len > 0 ? "list" : "empty");
  gtk_widget_set_visible (GTK_WIDGET (self->category_dropdown), self->categories->len > 0);
  if (self->data_dir != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Dataset: %s"), self->data_dir);
      g_autofree char *models = g_strdup_printf (_("Models are saved in %s"), self->model_dir);

      gtk_label_set_text (self->dataset_label, text);
      gtk_label_set_text (self->models_label, models);
    }

  /* Re-select the category that was selected, else the first one.  Its
   * pages start over only when its model file changed: a rebuild while
   * training keeps the inspection rows and the evaluation. */
  if (cp_window_find_category (self, keep) != NULL)
    {
      g_autofree char *stamp = cp_category_info_model_stamp (cp_window_find_category (self, keep));

      if (g_strcmp0 (stamp, self->category_model_stamp) == 0)
        cp_window_sync_category_widgets (self, keep);
      else
        {
          /* A slider moved while the category trained (Save is off then)
           * was set against the old model's scores: the new model's own
           * threshold takes its place, and the user is told. */
          gboolean moved = cp_window_inspect_threshold_moved (self);
          double moved_value = gtk_adjustment_get_value (self->threshold_adjustment);

          g_clear_pointer (&self->category, g_free);
          cp_window_select_category (self, keep);
          if (moved)
            {
              /* Translators: a category name, then the threshold the
               * slider was moved to. */
              g_autofree char *msg =
                g_strdup_printf (_("The model of “%s” changed: the slider shows its stored threshold again, "
                                   "not the unsaved %.2f"), keep, moved_value);

              cp_window_toast (self, msg);
            }
        }
    }
  else if (self->categories->len > 0)
    cp_window_select_category (self, ((CpCategoryInfo *) g_ptr_array_index (self->categories, 0))->name);
  else
    cp_window_select_category (self, NULL);
  cp_window_update_actions (self);
}

/* ---- opening ------------------------------------------------------------- */

static char *
model_dir_for (const char *data_dir)
{
  g_autofree char *base = g_path_get_basename (data_dir);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA1, data_dir, -1);
  g_autofree char *leaf = g_strdup_printf ("%s-%.8s", base, hash);

  /* Models live in the user's data folder, not in the dataset, which may
   * be read-only or shared; the hash tells apart datasets of one name. */
  return g_build_filename (g_get_user_data_dir (), "cutpaste-inspector", "models", leaf, NULL);
}

/* Unless a moved threshold makes it wait: see cp_window_inspect_may_leave (). */
void
cp_window_open_data_dir (CpWindow   *self,
                         const char *path)
{
  if (cp_window_inspect_may_leave (self, CP_WINDOW_STEP_DATASET, path))
    cp_window_dataset_open_now (self, path);
}

void
cp_window_dataset_open_now (CpWindow   *self,
                            const char *path)
{
  g_free (self->data_dir);
  self->data_dir = g_strdup (path);
  g_free (self->model_dir);
  self->model_dir = model_dir_for (path);
  g_settings_set_string (self->settings, "data-folder", path);
  /* Another dataset may have a category of the same name: start over. */
  g_clear_pointer (&self->category_model_stamp, g_free);
  cp_window_eval_clear (self);
  cp_window_dataset_refresh (self);
}

static void
on_folder_chosen (GtkNativeDialog *dialog,
                  int              response,
                  CpWindow        *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;

      if (path != NULL)
        cp_window_open_data_dir (self, path);
      else
        cp_window_toast (self, _("Only local folders can be opened"));
    }
  g_object_unref (dialog);
}

void
cp_window_dataset_open_dialog (CpWindow *self)
{
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Open Dataset"), GTK_WINDOW (self),
                                 GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Open"), _("_Cancel"));

  if (self->data_dir != NULL)
    {
      g_autoptr(GFile) current = g_file_new_for_path (self->data_dir);

      gtk_file_chooser_set_file (GTK_FILE_CHOOSER (dialog), current, NULL);
    }
  g_signal_connect (dialog, "response", G_CALLBACK (on_folder_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

/* ---- sample dataset -------------------------------------------------------- */

static gpointer
sample_run (CpWorkerJob        *worker_job,
            const volatile int *cancel,
            gpointer            data,
            GError            **error)
{
  const char *out_dir = data;
  CpSynthOptions opts;

  cp_synth_options_init (&opts);
  /* Small enough to train on a laptop CPU in minutes, large enough to
   * show every page with meaningful numbers. */
  opts.size = 128;
  opts.n_train = 60;
  opts.n_test_good = 12;
  opts.n_test_defect = 6;
  if (!cp_synth_write (out_dir, &opts, NULL, NULL, error))
    {
      /* A sample made at an earlier start is as good as a new one. */
      if (g_error_matches (*error, CP_DATA_ERROR, CP_DATA_ERROR_EXISTS))
        {
          g_clear_error (error);
          return g_strdup (out_dir);
        }
      return NULL;
    }
  return g_strdup (out_dir);
}

static void
sample_done (gpointer      result,
             const GError *error,
             gboolean      dropped,
             gpointer      user_data)
{
  CpWindow *self = CP_WINDOW (user_data);

  gtk_widget_set_sensitive (self->sample_button, TRUE);
  if (dropped)
    return;
  if (result == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not create the sample dataset: %s"),
                                              error != NULL ? error->message : "");
      cp_window_toast (self, msg);
      return;
    }
  cp_window_open_data_dir (self, result);
  cp_window_update_actions (self);
}

void
cp_window_dataset_create_sample (CpWindow *self)
{
  char *out_dir = g_build_filename (g_get_user_data_dir (), "cutpaste-inspector", "sample", NULL);

  gtk_widget_set_sensitive (self->sample_button, FALSE);
  adw_status_page_set_description (self->empty_page, _("Creating the sample dataset…"));
  cp_worker_submit (self->worker, "sample", sample_run, out_dir, g_free, NULL,
                    sample_done, g_free, G_OBJECT (self));
  cp_window_update_actions (self);
}

void
cp_window_dataset_init (CpWindow *self)
{
  g_autofree char *folder = g_settings_get_string (self->settings, "data-folder");

  if (folder != NULL && *folder != '\0')
    cp_window_open_data_dir (self, folder);
  else
    cp_window_dataset_rebuild_list (self);
}
