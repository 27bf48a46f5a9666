/* cp-model-folder.c: models from another folder, or a model file
 * imported into the model folder. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include <adwaita.h>

#include "pipeline/model.h"
#include "pipeline/train.h"
#include "cp-model-folder.h"
#include "cp-threshold-guard.h"

/* The main window may have gone by the time an answer comes: the parent
 * is held weakly, and a message without one goes to the session's toast. */
static void
show_problem (CpSession  *session,
              GtkWindow  *parent,
              const char *heading,
              const char *body)
{
  AdwMessageDialog *dialog;

  if (parent == NULL)
    {
      g_autofree char *text = g_markup_escape_text (body, -1);

      cp_session_toast (session, text);
      return;
    }
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent, heading, body));
  adw_message_dialog_add_response (dialog, "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- models from a folder ------------------------------------------------- */

typedef struct
{
  CpSession *session;
  GWeakRef   parent;
  char      *path;
} Step;

static Step *
step_new (CpSession  *session,
          GtkWindow  *parent,
          const char *path)
{
  Step *step = g_new0 (Step, 1);

  step->session = g_object_ref (session);
  g_weak_ref_init (&step->parent, parent);
  step->path = g_strdup (path);
  return step;
}

static void
step_free (Step *step)
{
  g_object_unref (step->session);
  g_weak_ref_clear (&step->parent);
  g_free (step->path);
  g_free (step);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Step, step_free)

static void
use_now (CpSession  *session,
         GtkWindow  *parent,
         const char *path)
{
  g_autoptr(GError) error = NULL;

  if (!cp_session_set_model_dir (session, path, &error))
    show_problem (session, parent, _("Cannot Use This Folder"), error->message);
}

static void
on_use_confirmed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(Step) step = user_data;
  g_autoptr(GtkWindow) parent = g_weak_ref_get (&step->parent);

  if (cp_threshold_guard_confirm_finish (step->session, result, NULL))
    use_now (step->session, parent, step->path);
}

void
cp_model_folder_use (CpSession  *session,
                     GtkWindow  *parent,
                     const char *path)
{
  /* Another folder is another model for the selected category. */
  if (cp_threshold_guard_is_clear (session))
    use_now (session, parent, path);
  else
    cp_threshold_guard_confirm_async (session, parent, CP_THRESHOLD_GUARD_LEAVE, NULL,
                                      on_use_confirmed, step_new (session, parent, path));
}

/* ---- importing a model file ------------------------------------------------ */

/* What the engine thread found in the file, or why it is not a model. */
typedef struct
{
  char     *category;
  char     *target;    /* where it goes in the model folder */
  gboolean  exists;    /* a model is there already */
  char     *problem;   /* NULL: a model of one of the dataset's categories */
} ImportCheck;

typedef struct
{
  char   *path;
  char   *model_dir;
  GStrv   categories;  /* the dataset's */
  char   *category;    /* copying: the one the check found */
  gboolean replace;    /* copying: over a model there */
} ImportJob;

static void
import_job_free (gpointer data)
{
  ImportJob *job = data;

  g_free (job->path);
  g_free (job->model_dir);
  g_strfreev (job->categories);
  g_free (job->category);
  g_free (job);
}

static void
import_check_free (gpointer data)
{
  ImportCheck *check = data;

  g_free (check->category);
  g_free (check->target);
  g_free (check->problem);
  g_free (check);
}

/* The category @path is a model of, or NULL with @problem set.  The
 * whole model is loaded (on the CPU: no device is touched), so a file
 * that passes is one the Inspection and Evaluation pages can use.  A
 * model without the "category" key (the PyTorch reference writes none)
 * is named by its file, @source: <category>.safetensors. */
static char *
model_category (const char  *path,
                const char  *source,
                char       **problem)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CpModel) model = cp_model_load (path, "cpu", &error);
  g_autofree char *base = NULL;
  const char *category;

  if (model == NULL)
    {
      *problem = g_strdup_printf (_("%s is not a model this application can use: %s"), path,
                                  error->message);
      return NULL;
    }
  category = cp_model_get_metadata (model, "category");
  if (category == NULL)
    {
      base = g_path_get_basename (source);
      if (g_str_has_suffix (base, ".safetensors"))
        base[strlen (base) - strlen (".safetensors")] = '\0';
      category = base;
    }
  if (*category == '\0')
    {
      *problem = g_strdup_printf (_("%s does not say which category it is a model of"), path);
      return NULL;
    }
  return g_strdup (category);
}

static gpointer
import_check_run (CpWorkerJob        *worker_job,
                  const volatile int *cancel,
                  gpointer            data,
                  GError            **error)
{
  ImportJob *job = data;
  ImportCheck *check = g_new0 (ImportCheck, 1);
  g_autofree char *source = NULL;
  g_autofree char *target = NULL;

  check->category = model_category (job->path, job->path, &check->problem);
  if (check->category == NULL)
    return check;
  if (!g_strv_contains ((const char * const *) job->categories, check->category))
    {
      g_autofree char *names = g_strjoinv (", ", job->categories);

      check->problem =
        g_strdup_printf (_("%s is a model of the category “%s”, which this dataset does not have "
                           "(its categories: %s)"), job->path, check->category, names);
      return check;
    }
  check->target = cp_train_model_path (job->model_dir, check->category);
  source = g_canonicalize_filename (job->path, NULL);
  target = g_canonicalize_filename (check->target, NULL);
  if (g_strcmp0 (source, target) == 0)
    {
      check->problem = g_strdup_printf (_("%s is the model of “%s” in the model folder already"),
                                        job->path, check->category);
      return check;
    }
  check->exists = g_file_test (check->target, G_FILE_TEST_EXISTS);
  return check;
}

/* Copies into a hidden file of the model folder (written atomically and
 * durably), checks the copy as the original was checked, then renames it
 * into place: the folder never holds half a model, and a model that was
 * not to be replaced stays. */
static gpointer
import_copy_run (CpWorkerJob        *worker_job,
                 const volatile int *cancel,
                 gpointer            data,
                 GError            **error)
{
  ImportJob *job = data;
  g_autofree char *target = cp_train_model_path (job->model_dir, job->category);
  g_autofree char *tmp_name = g_strdup_printf (".%s.import.safetensors", job->category);
  g_autofree char *tmp = g_build_filename (job->model_dir, tmp_name, NULL);
  g_autofree char *bytes = NULL;
  g_autofree char *problem = NULL;
  g_autofree char *category = NULL;
  gsize size = 0;

  if (g_mkdir_with_parents (job->model_dir, 0755) != 0)
    {
      int e = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), _("Cannot create the model folder %s: %s"),
                   job->model_dir, g_strerror (e));
      return NULL;
    }
  if (!g_file_get_contents (job->path, &bytes, &size, error))
    return NULL;
  if (!g_file_set_contents_full (tmp, bytes, (gssize) size,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, error))
    return NULL;
  category = model_category (tmp, job->path, &problem);
  if (category == NULL || g_strcmp0 (category, job->category) != 0)
    {
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s",
                   problem != NULL ? problem : _("the file changed while it was imported"));
      return NULL;
    }
  if (!job->replace && g_file_test (target, G_FILE_TEST_EXISTS))
    {
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("a model of “%s” appeared in the model folder meanwhile; it was kept"),
                   job->category);
      return NULL;
    }
  if (g_rename (tmp, target) != 0)
    {
      int e = errno;

      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), _("Cannot write %s: %s"), target,
                   g_strerror (e));
      return NULL;
    }
  return g_steal_pointer (&target);
}

/* One import, from the check to the copy: the owner of its jobs, which
 * holds itself until the last one ends. */
#define CP_TYPE_MODEL_IMPORT (cp_model_import_get_type ())
G_DECLARE_FINAL_TYPE (CpModelImport, cp_model_import, CP, MODEL_IMPORT, GObject)

struct _CpModelImport
{
  GObject    parent_instance;

  CpSession *session;
  GWeakRef   parent;
  char      *path;
  char      *model_dir;
  char      *category;
};

G_DEFINE_FINAL_TYPE (CpModelImport, cp_model_import, G_TYPE_OBJECT)

static void
cp_model_import_finalize (GObject *object)
{
  CpModelImport *self = CP_MODEL_IMPORT (object);

  g_clear_object (&self->session);
  g_weak_ref_clear (&self->parent);
  g_free (self->path);
  g_free (self->model_dir);
  g_free (self->category);
  G_OBJECT_CLASS (cp_model_import_parent_class)->finalize (object);
}

static void
cp_model_import_class_init (CpModelImportClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = cp_model_import_finalize;
}

static void
cp_model_import_init (CpModelImport *self)
{
  g_weak_ref_init (&self->parent, NULL);
}

static void
import_problem (CpModelImport *self,
                const char    *message)
{
  g_autoptr(GtkWindow) parent = g_weak_ref_get (&self->parent);

  show_problem (self->session, parent, _("Cannot Import Model"), message);
}

static void
import_copied (gpointer      result,
               const GError *error,
               gboolean      dropped,
               gpointer      user_data)
{
  g_autoptr(CpModelImport) self = user_data;   /* the reference the job held */

  if (dropped)
    return;
  if (result == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("%s was not imported: %s"), self->path,
                                              error != NULL ? error->message : "");

      import_problem (self, msg);
      return;
    }
  {
    /* Translators: a file, then a category name. */
    g_autofree char *msg = g_strdup_printf (_("Imported %s as the model of “%s”"), self->path,
                                            self->category);
    g_autofree char *escaped = g_markup_escape_text (msg, -1);

    cp_session_toast (self->session, escaped);
  }
  /* Only while the dataset it was made for is open in that folder. */
  if (g_strcmp0 (cp_session_get_model_dir (self->session), self->model_dir) == 0)
    cp_session_refresh (self->session);
}

static void
import_copy (CpModelImport *self,
             gboolean       replace)
{
  ImportJob *job = g_new0 (ImportJob, 1);

  /* A run writes the model of its category when it ends. */
  if (g_strcmp0 (cp_session_get_training_category (self->session), self->category) == 0)
    {
      g_autofree char *msg = g_strdup_printf (_("“%s” is training: import its model once training ends"),
                                              self->category);

      import_problem (self, msg);
      import_job_free (job);
      return;
    }
  job->path = g_strdup (self->path);
  job->model_dir = g_strdup (self->model_dir);
  job->category = g_strdup (self->category);
  job->replace = replace;
  cp_worker_submit (cp_session_get_worker (self->session), "import", import_copy_run, job,
                    import_job_free, NULL, import_copied, g_free, G_OBJECT (g_object_ref (self)));
}

static void
on_replace_response (AdwMessageDialog *dialog,
                     const char       *response,
                     gpointer          user_data)
{
  g_autoptr(CpModelImport) self = user_data;

  if (g_strcmp0 (response, "replace") == 0)
    import_copy (self, TRUE);
}

static void
import_checked (gpointer      result,
                const GError *error,
                gboolean      dropped,
                gpointer      user_data)
{
  g_autoptr(CpModelImport) self = user_data;   /* the reference the job held */
  g_autoptr(GtkWindow) parent = NULL;
  ImportCheck *check = result;
  AdwMessageDialog *dialog;
  g_autofree char *heading = NULL;
  g_autofree char *body = NULL;

  if (dropped || check == NULL)
    return;
  if (check->problem != NULL)
    {
      import_problem (self, check->problem);
      return;
    }
  self->category = g_strdup (check->category);
  if (!check->exists)
    {
      import_copy (self, FALSE);
      return;
    }
  /* Never over a model unasked: it may be the only copy of a long run. */
  parent = g_weak_ref_get (&self->parent);
  if (parent == NULL)
    return;
  heading = g_strdup_printf (_("Replace the Model of “%s”?"), check->category);
  /* Translators: the model file there, then the file imported. */
  body = g_strdup_printf (_("%s exists. Importing %s replaces it, and the model it holds now is lost."),
                          check->target, self->path);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent, heading, body));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "replace", _("_Replace"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "replace", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_signal_connect (dialog, "response", G_CALLBACK (on_replace_response), g_object_ref (self));
  gtk_window_present (GTK_WINDOW (dialog));
}

void
cp_model_folder_import (CpSession  *session,
                        GtkWindow  *parent,
                        const char *path)
{
  GListModel *categories = cp_session_get_categories (session);
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  CpModelImport *self;
  ImportJob *job;

  if (cp_session_get_data_dir (session) == NULL || cp_session_get_dataset_error (session) != NULL)
    {
      show_problem (session, parent, _("Cannot Import Model"),
                    _("Open a dataset first: a model is imported into the dataset’s model folder"));
      return;
    }
  for (guint i = 0; i < g_list_model_get_n_items (categories); i++)
    {
      g_autoptr(CpCategoryItem) item = g_list_model_get_item (categories, i);

      g_strv_builder_add (names, cp_category_item_get_name (item));
    }
  self = g_object_new (CP_TYPE_MODEL_IMPORT, NULL);
  self->session = g_object_ref (session);
  g_weak_ref_set (&self->parent, parent);
  self->path = g_strdup (path);
  self->model_dir = g_strdup (cp_session_get_model_dir (session));
  job = g_new0 (ImportJob, 1);
  job->path = g_strdup (path);
  job->model_dir = g_strdup (self->model_dir);
  job->categories = g_strv_builder_end (names);
  /* The job's reference: the worker holds its owner weakly. */
  cp_worker_submit (cp_session_get_worker (session), "import", import_check_run, job, import_job_free,
                    NULL, import_checked, import_check_free, G_OBJECT (self));
}

/* ---- the choosers --------------------------------------------------------- */

static void
on_chosen (GtkNativeDialog *dialog,
           int              response,
           gpointer         user_data)
{
  g_autoptr(Step) step = user_data;
  g_autoptr(GtkWindow) parent = g_weak_ref_get (&step->parent);
  gboolean folder = gtk_file_chooser_get_action (GTK_FILE_CHOOSER (dialog)) == GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path == NULL)
        cp_session_toast (step->session, _("Only local files and folders can be used"));
      else if (folder)
        cp_model_folder_use (step->session, parent, path);
      else
        cp_model_folder_import (step->session, parent, path);
    }
  g_object_unref (dialog);
}

void
cp_model_folder_choose_folder (CpSession *session,
                               GtkWindow *parent)
{
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Use Models from Folder"), parent, GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                 _("_Use Folder"), _("_Cancel"));
  const char *current = cp_session_get_model_dir (session);

  if (current != NULL && g_file_test (current, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GFile) file = g_file_new_for_path (current);

      gtk_file_chooser_set_file (GTK_FILE_CHOOSER (dialog), file, NULL);
    }
  g_signal_connect (dialog, "response", G_CALLBACK (on_chosen), step_new (session, parent, NULL));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

void
cp_model_folder_choose_model (CpSession *session,
                              GtkWindow *parent)
{
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Import Model"), parent, GTK_FILE_CHOOSER_ACTION_OPEN,
                                 _("_Import"), _("_Cancel"));
  g_autoptr(GtkFileFilter) models = gtk_file_filter_new ();
  g_autoptr(GtkFileFilter) all = gtk_file_filter_new ();

  gtk_file_filter_set_name (models, _("Models (*.safetensors)"));
  gtk_file_filter_add_pattern (models, "*.safetensors");
  gtk_file_filter_set_name (all, _("All files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), models);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), all);
  g_signal_connect (dialog, "response", G_CALLBACK (on_chosen), step_new (session, parent, NULL));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}
