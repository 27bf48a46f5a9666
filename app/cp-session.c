/* cp-session.c: the open dataset, its categories and their jobs. */
#include "config.h"

#include <string.h>

#include <math.h>

#include <glib/gi18n.h>

#include "pipeline/train.h"
#include "cp-dataset-scan.h"
#include "cp-session.h"

struct _CpSession
{
  GObject         parent_instance;

  GSettings      *settings;
  CpWorker       *worker;
  CpWeightsState *weights;

  char           *data_dir;
  char           *model_dir;
  CpModelDirOrigin model_dir_origin;
  char           *dataset_error;
  GListStore     *categories;        /* CpCategoryItem */
  CpCategoryItem *selected;
  gboolean        fresh;             /* a new dataset: the next scan makes new items */

  char           *training_category;
  GArray         *losses;            /* float */
  int             loss_total_steps;

  gboolean        saving;
};

enum
{
  PROP_0,
  PROP_SETTINGS,
  PROP_WORKER,
  PROP_WEIGHTS,
  PROP_DATA_DIR,
  PROP_MODEL_DIR,
  PROP_MODEL_DIR_ORIGIN,
  PROP_DATASET_ERROR,
  PROP_CATEGORIES,
  PROP_SELECTED,
  PROP_TRAINING_CATEGORY,
  PROP_SAVING,
  N_PROPS
};

enum
{
  SIGNAL_TOAST,
  SIGNAL_TOAST_ACTION,
  SIGNAL_LOSSES_CHANGED,
  SIGNAL_THRESHOLD_SAVED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (CpSession, cp_session, G_TYPE_OBJECT)

static void
set_string (CpSession  *self,
            char      **field,
            const char *value,
            int         prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

/* ---- messages ------------------------------------------------------------ */

void
cp_session_toast (CpSession  *self,
                  const char *message)
{
  g_signal_emit (self, signals[SIGNAL_TOAST], 0, message);
}

void
cp_session_toast_action (CpSession  *self,
                         const char *message,
                         const char *button_label,
                         const char *action_name,
                         GVariant   *target)
{
  g_autoptr(GVariant) sunk = target != NULL ? g_variant_ref_sink (target) : NULL;

  g_signal_emit (self, signals[SIGNAL_TOAST_ACTION], 0, message, button_label, action_name, sunk);
}

/* ---- categories ---------------------------------------------------------- */

GListModel *
cp_session_get_categories (CpSession *self)
{
  return G_LIST_MODEL (self->categories);
}

CpCategoryItem *
cp_session_find (CpSession  *self,
                 const char *name)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->categories));

  for (guint i = 0; name != NULL && i < n; i++)
    {
      g_autoptr(CpCategoryItem) item = g_list_model_get_item (G_LIST_MODEL (self->categories), i);

      if (g_strcmp0 (cp_category_item_get_name (item), name) == 0)
        return item;   /* the store holds it */
    }
  return NULL;
}

CpCategoryItem *
cp_session_get_selected (CpSession *self)
{
  return self->selected;
}

void
cp_session_set_selected (CpSession      *self,
                         CpCategoryItem *item)
{
  if (self->selected == item)
    return;
  /* A moved threshold lives only while its category is selected: the
   * question about it was asked (or skipped on purpose) before this. */
  if (self->selected != NULL)
    cp_category_item_reset_threshold (self->selected);
  g_set_object (&self->selected, item);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

gboolean
cp_session_select_name (CpSession  *self,
                        const char *name)
{
  CpCategoryItem *item = cp_session_find (self, name);

  if (item == NULL && name != NULL)
    return FALSE;
  cp_session_set_selected (self, item);
  return TRUE;
}

void
cp_session_update_model (CpSession         *self,
                         CpCategoryItem    *item,
                         const CpModelInfo *info)
{
  gboolean moved = item == self->selected && cp_category_item_get_moved (item);
  double moved_value = cp_category_item_get_threshold (item);
  g_autofree char *stamp = g_strdup (cp_category_item_get_model_stamp (item));

  cp_category_item_set_model_info (item, info);
  /* A slider moved while the category trained (Save is off then) was set
   * against the old model's scores: the new model's own threshold takes
   * its place, and the user is told. */
  if (moved && g_strcmp0 (stamp, cp_category_item_get_model_stamp (item)) != 0)
    {
      /* Translators: a category name, then the threshold the slider was
       * moved to. */
      g_autofree char *msg =
        g_strdup_printf (_("The model of “%s” changed: the slider shows its stored threshold again, "
                           "not the unsaved %.2f"), cp_category_item_get_name (item), moved_value);

      cp_session_toast (self, msg);
    }
}

/* ---- scanning ------------------------------------------------------------ */

typedef struct
{
  char            *root;
  char            *model_dir;   /* NULL when opening: the scan picks it */
  char            *remembered;  /* the folder chosen for @root before, or NULL */
  CpModelDirOrigin origin;      /* of @model_dir */
  char            *select;      /* a category to select once scanned, or NULL */
  gboolean         open;        /* opening @root (else scanning the open dataset again) */
  gboolean         announce;    /* say how many categories have a model */
} ScanJob;

/* What a scan found, or why it found nothing: the job comes back with it,
 * so that a failed open knows what it tried to open. */
typedef struct
{
  ScanJob   *job;
  GPtrArray *scanned;   /* CpScannedCategory, NULL on failure */
  char      *error;
} ScanResult;

static void
scan_job_free (gpointer data)
{
  ScanJob *job = data;

  if (job == NULL)
    return;
  g_free (job->root);
  g_free (job->model_dir);
  g_free (job->remembered);
  g_free (job->select);
  g_free (job);
}

static void
scan_result_free (gpointer data)
{
  ScanResult *res = data;

  scan_job_free (res->job);
  g_clear_pointer (&res->scanned, g_ptr_array_unref);
  g_free (res->error);
  g_free (res);
}

/* The folder of the application's own for the dataset at @data_dir. */
static char *
app_model_dir_for (const char *data_dir)
{
  g_autofree char *base = g_path_get_basename (data_dir);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA1, data_dir, -1);
  g_autofree char *leaf = g_strdup_printf ("%s-%.8s", base, hash);

  /* The dataset may be read-only or shared: without a models folder of
   * its own, the models go to the user's data folder; the hash tells
   * apart datasets of one name. */
  return g_build_filename (g_get_user_data_dir (), "cutpaste-inspector", "models", leaf, NULL);
}

/* @dir holds a model file (any <name>.safetensors, the layout of
 * cp_train_model_path ()), and is not a category called "models". */
static gboolean
folder_holds_models (const char *dir)
{
  g_autofree char *good = g_build_filename (dir, "train", "good", NULL);
  g_autoptr(GDir) listing = NULL;
  const char *name;

  if (g_file_test (good, G_FILE_TEST_IS_DIR))
    return FALSE;
  listing = g_dir_open (dir, 0, NULL);
  while (listing != NULL && (name = g_dir_read_name (listing)) != NULL)
    if (name[0] != '.' && g_str_has_suffix (name, ".safetensors"))
      return TRUE;
  return FALSE;
}

/* The folder the user chose for @root, else the dataset's own "models"
 * (where `cutpaste train --model-dir ROOT/models` writes) when it holds
 * models, else the application's folder.  Reads the disk: engine thread. */
static char *
pick_model_dir (const char       *root,
                const char       *remembered,
                CpModelDirOrigin *origin)
{
  g_autofree char *beside = g_build_filename (root, "models", NULL);

  if (remembered != NULL)
    {
      *origin = CP_MODEL_DIR_CHOSEN;
      return g_strdup (remembered);
    }
  if (folder_holds_models (beside))
    {
      *origin = CP_MODEL_DIR_DATASET;
      return g_steal_pointer (&beside);
    }
  *origin = CP_MODEL_DIR_APP;
  return app_model_dir_for (root);
}

static gpointer
scan_run (CpWorkerJob        *worker_job,
          const volatile int *cancel,
          gpointer            data,
          GError            **error)
{
  ScanJob *job = data;
  ScanResult *res = g_new0 (ScanResult, 1);
  g_autoptr(GError) local = NULL;

  res->job = g_new0 (ScanJob, 1);
  res->job->root = g_strdup (job->root);
  res->job->origin = job->origin;
  res->job->model_dir = job->model_dir != NULL ? g_strdup (job->model_dir)
                        : pick_model_dir (job->root, job->remembered, &res->job->origin);
  res->job->select = g_strdup (job->select);
  res->job->open = job->open;
  res->job->announce = job->announce;
  res->scanned = cp_dataset_scan_with_models (job->root, res->job->model_dir, cancel, &local);
  if (res->scanned == NULL)
    res->error = g_strdup (local != NULL ? local->message : "");
  return res;
}

/* Keeps the items of the categories still there (pages follow them) and
 * updates them in place; the store changes only when the names do. */
static void
merge_scan (CpSession  *self,
            GPtrArray  *scanned,
            const char *select)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *keep = select != NULL ? g_strdup (select)
                          : self->selected != NULL ? g_strdup (cp_category_item_get_name (self->selected))
                          : NULL;
  guint n_old = g_list_model_get_n_items (G_LIST_MODEL (self->categories));
  gboolean fresh = self->fresh;
  gboolean same = !self->fresh && n_old == scanned->len;
  CpCategoryItem *first_trained = NULL;

  for (guint i = 0; i < scanned->len; i++)
    {
      CpScannedCategory *sc = g_ptr_array_index (scanned, i);
      CpCategoryItem *item = self->fresh ? NULL : cp_session_find (self, sc->name);

      item = item != NULL ? g_object_ref (item) : cp_category_item_new (sc->name);
      if (same)
        {
          g_autoptr(CpCategoryItem) old = g_list_model_get_item (G_LIST_MODEL (self->categories), i);

          same = old == item;
        }
      g_ptr_array_add (items, item);
    }
  if (!same)
    {
      /* Deselect first when the selected item goes, so that nothing
       * follows an item no longer listed. */
      if (self->selected != NULL && (self->fresh || !g_ptr_array_find (items, self->selected, NULL)))
        cp_session_set_selected (self, NULL);
      g_list_store_splice (self->categories, 0, n_old, items->pdata, items->len);
    }
  self->fresh = FALSE;

  for (guint i = 0; i < scanned->len; i++)
    {
      CpScannedCategory *sc = g_ptr_array_index (scanned, i);
      CpCategoryItem *item = g_ptr_array_index (items, i);

      /* The category being trained is still training, whatever the
       * file says meanwhile. */
      if (g_strcmp0 (sc->name, self->training_category) == 0)
        sc->info.state = CP_CATEGORY_STATE_TRAINING;
      cp_category_item_set_counts (item, sc->n_train, sc->n_test);
      cp_session_update_model (self, item, &sc->info);
    }

  /* A dataset just opened shows a category that has a model, where one
   * has: the one asked for, else the one selected before if it is trained
   * here too, else the first trained one. */
  for (guint i = 0; i < items->len && first_trained == NULL; i++)
    if (cp_category_item_is_trained (g_ptr_array_index (items, i)))
      first_trained = g_ptr_array_index (items, i);
  if (fresh && select == NULL && first_trained != NULL &&
      (keep == NULL || !cp_category_item_is_trained (cp_session_find (self, keep))))
    {
      g_free (keep);
      keep = g_strdup (cp_category_item_get_name (first_trained));
    }

  /* The category that was selected stays so (by name, in a new dataset
   * too), else the first one. */
  if (!cp_session_select_name (self, keep))
    cp_session_set_selected (self, items->len > 0 ? g_ptr_array_index (items, 0) : NULL);
  else if (self->selected == NULL && items->len > 0)
    cp_session_set_selected (self, g_ptr_array_index (items, 0));
}

static void
set_model_dir (CpSession        *self,
               const char       *model_dir,
               CpModelDirOrigin  origin)
{
  if (self->model_dir_origin != origin)
    {
      self->model_dir_origin = origin;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_DIR_ORIGIN]);
    }
  set_string (self, &self->model_dir, model_dir, PROP_MODEL_DIR);
}

/* The dataset at @root becomes the open one, its models read from
 * @model_dir. */
static void
commit_open (CpSession        *self,
             const char       *root,
             const char       *model_dir,
             CpModelDirOrigin  origin)
{
  /* The model folder first: what follows "data-dir" may read it. */
  set_model_dir (self, model_dir, origin);
  set_string (self, &self->data_dir, root, PROP_DATA_DIR);
  g_settings_set_string (self->settings, "data-folder", root);
  /* Another dataset may have a category of the same name: its pages
   * start over with new items. */
  self->fresh = TRUE;
}

/* After the user chose a model folder: what it holds for this dataset. */
static void
announce_models (CpSession *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->categories));
  guint trained = 0;
  g_autofree char *msg = NULL;
  g_autofree char *escaped = NULL;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(CpCategoryItem) item = g_list_model_get_item (G_LIST_MODEL (self->categories), i);

      trained += cp_category_item_is_trained (item) ? 1 : 0;
    }
  /* Translators: the number of categories with a model, all categories,
   * then a folder. */
  msg = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u of %u category has a model in %s",
                                      "%u of %u categories have a model in %s", n),
                         trained, n, self->model_dir);
  /* Toasts read markup; paths hold '<' and '&' as any text. */
  escaped = g_markup_escape_text (msg, -1);
  cp_session_toast (self, escaped);
}

static void
scan_done (gpointer      result,
           const GError *error,
           gboolean      dropped,
           gpointer      user_data)
{
  CpSession *self = CP_SESSION (user_data);
  ScanResult *res = result;

  if (dropped || res == NULL)
    return;
  if (res->scanned == NULL)
    {
      g_autofree char *detail = g_strdup (res->error != NULL && *res->error ? res->error : _("none"));
      g_autofree char *message = NULL;

      /* The scanner's message is a clause ("no category folder ..."): it
       * goes after "Details:" without its own full stop. */
      g_strchomp (detail);
      if (g_str_has_suffix (detail, "."))
        detail[strlen (detail) - 1] = '\0';
      message =
        g_strdup_printf (_("“%s” is not a dataset in MVTec AD layout. Expected one folder per category, "
                           "each holding train/good/ with images (and optionally test/good/ and "
                           "test/<defect>/). Details: %s."),
                         res->job->root, detail);

      /* A failed open leaves the dataset that is open as it was. */
      if (res->job->open && self->data_dir != NULL && self->dataset_error == NULL)
        {
          /* Toasts read markup; paths hold '<' and '&' as any text. */
          g_autofree char *escaped = g_markup_escape_text (message, -1);

          cp_session_toast (self, escaped);
          return;
        }
      if (res->job->open)
        commit_open (self, res->job->root, res->job->model_dir, res->job->origin);
      cp_session_set_selected (self, NULL);
      g_list_store_remove_all (self->categories);
      set_string (self, &self->dataset_error, message, PROP_DATASET_ERROR);
      return;
    }
  if (res->job->open)
    commit_open (self, res->job->root, res->job->model_dir, res->job->origin);
  set_string (self, &self->dataset_error, NULL, PROP_DATASET_ERROR);
  merge_scan (self, res->scanned, res->job->select);
  if (res->job->announce)
    announce_models (self);
}

static char *remembered_model_dir (CpSession  *self,
                                   const char *root);

static void
submit_scan (CpSession  *self,
             const char *root,
             const char *select,
             gboolean    open,
             gboolean    announce)
{
  ScanJob *job = g_new0 (ScanJob, 1);

  job->root = g_strdup (root);
  if (open)
    job->remembered = remembered_model_dir (self, root);
  else
    {
      job->model_dir = g_strdup (self->model_dir);
      job->origin = self->model_dir_origin;
    }
  job->select = g_strdup (select);
  job->open = open;
  job->announce = announce;
  cp_worker_submit (self->worker, "scan", scan_run, job, scan_job_free, NULL,
                    scan_done, scan_result_free, G_OBJECT (self));
}

void
cp_session_refresh (CpSession *self)
{
  if (self->data_dir == NULL)
    return;
  submit_scan (self, self->data_dir, NULL, FALSE, FALSE);
}

/* ---- the dataset ----------------------------------------------------------- */

/* ---- the model folder --------------------------------------------------------- */

static char *
remembered_model_dir (CpSession  *self,
                      const char *root)
{
  g_autoptr(GVariant) folders = g_settings_get_value (self->settings, "model-folders");
  const char *dir = NULL;

  if (g_variant_lookup (folders, root, "&s", &dir) && dir[0] != '\0')
    return g_strdup (dir);
  return NULL;
}

static void
remember_model_dir (CpSession  *self,
                    const char *root,
                    const char *dir)
{
  g_autoptr(GVariant) folders = g_settings_get_value (self->settings, "model-folders");
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key, *value;

  /* a{ss}: GVariantDict would make a{sv}. */
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  g_variant_iter_init (&iter, folders);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    if (g_strcmp0 (key, root) != 0)
      g_variant_builder_add (&builder, "{ss}", key, value);
  g_variant_builder_add (&builder, "{ss}", root, dir);
  g_settings_set_value (self->settings, "model-folders", g_variant_builder_end (&builder));
}

gboolean
cp_session_set_model_dir (CpSession   *self,
                          const char  *path,
                          GError     **error)
{
  g_autofree char *dir = NULL;

  if (self->data_dir == NULL || self->dataset_error != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _("Open a dataset first: the model folder belongs to a dataset"));
      return FALSE;
    }
  /* The run writes where it started and reads its model back from there. */
  if (self->training_category != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   _("“%s” is training: choose the model folder once training ends"),
                   self->training_category);
      return FALSE;
    }
  dir = g_canonicalize_filename (path, NULL);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, _("%s is not a folder"), dir);
      return FALSE;
    }
  remember_model_dir (self, self->data_dir, dir);
  set_model_dir (self, dir, CP_MODEL_DIR_CHOSEN);
  submit_scan (self, self->data_dir, NULL, FALSE, TRUE);
  return TRUE;
}

CpModelDirOrigin
cp_session_get_model_dir_origin (CpSession *self)
{
  return self->model_dir_origin;
}

void
cp_session_open (CpSession  *self,
                 const char *path)
{
  g_autofree char *good = g_build_filename (path, "train", "good", NULL);

  /* A category folder (it holds train/good itself): open the dataset it
   * belongs to, with that category selected. */
  if (g_file_test (good, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *parent = g_path_get_dirname (path);
      g_autofree char *name = g_path_get_basename (path);

      submit_scan (self, parent, name, TRUE, FALSE);
      return;
    }
  /* Nothing changes until the scan found a dataset there. */
  submit_scan (self, path, NULL, TRUE, FALSE);
}

void
cp_session_restore (CpSession *self)
{
  g_autofree char *folder = g_settings_get_string (self->settings, "data-folder");

  if (folder != NULL && *folder != '\0')
    cp_session_open (self, folder);
}

const char *
cp_session_get_data_dir (CpSession *self)
{
  return self->data_dir;
}

const char *
cp_session_get_model_dir (CpSession *self)
{
  return self->model_dir;
}

const char *
cp_session_get_dataset_error (CpSession *self)
{
  return self->dataset_error;
}

char *
cp_session_model_path (CpSession  *self,
                       const char *category)
{
  if (self->model_dir == NULL || category == NULL)
    return NULL;
  return cp_train_model_path (self->model_dir, category);
}

/* ---- training ---------------------------------------------------------------- */

const char *
cp_session_get_training_category (CpSession *self)
{
  return self->training_category;
}

void
cp_session_set_training_category (CpSession  *self,
                                  const char *name)
{
  set_string (self, &self->training_category, name, PROP_TRAINING_CATEGORY);
}

GArray *
cp_session_get_losses (CpSession *self)
{
  return self->losses;
}

const int *
cp_session_get_loss_total_steps (CpSession *self)
{
  return &self->loss_total_steps;
}

void
cp_session_reset_losses (CpSession *self,
                         int        total_steps)
{
  g_array_set_size (self->losses, 0);
  self->loss_total_steps = total_steps;
  g_signal_emit (self, signals[SIGNAL_LOSSES_CHANGED], 0);
}

void
cp_session_add_loss (CpSession *self,
                     int        step,
                     int        total_steps,
                     double     loss)
{
  /* Steps we did not hear about (throttled) repeat the latest loss: the
   * curve stays aligned with the step axis. */
  if (!isnan (loss))
    {
      float value = (float) loss;

      while ((int) self->losses->len < step)
        g_array_append_val (self->losses, value);
    }
  self->loss_total_steps = total_steps;
  g_signal_emit (self, signals[SIGNAL_LOSSES_CHANGED], 0);
}

/* ---- storing the threshold in the model file ----------------------------- */

typedef struct
{
  char  *model_path;
  char  *category;
  double expected;    /* the threshold the window believes is stored */
  double threshold;   /* the one to store */
} ThresholdJob;

typedef struct
{
  char             *category;
  char             *model_name;   /* file name, for the message */
  double            threshold;    /* stored in the file when the job ended */
  CpThresholdSource source;
  double            false_reject_rate;
  double            cv_threshold;
  char             *problem;      /* why nothing was stored, or NULL */
} ThresholdResult;

static void
threshold_job_free (gpointer data)
{
  ThresholdJob *job = data;

  g_free (job->model_path);
  g_free (job->category);
  g_free (job);
}

static void
threshold_result_free (gpointer data)
{
  ThresholdResult *res = data;

  g_free (res->category);
  g_free (res->model_name);
  g_free (res->problem);
  g_free (res);
}

static gpointer
threshold_save_run (CpWorkerJob        *worker_job,
                    const volatile int *cancel,
                    gpointer            data,
                    GError            **error)
{
  ThresholdJob *job = data;
  ThresholdResult *res;
  /* Only metadata changes: the file is read and rewritten with its tensors
   * copied as they are, with no network built and no device touched. */
  g_autoptr(CpModelFile) file = cp_model_file_open (job->model_path, error);
  g_autoptr(GError) local = NULL;

  if (file == NULL)
    return NULL;
  res = g_new0 (ThresholdResult, 1);
  res->category = g_strdup (job->category);
  res->model_name = g_path_get_basename (job->model_path);
  /* The file may have changed since the window read it (retrained, or
   * set with `cutpaste threshold`): a threshold chosen against the old
   * value must not overwrite the new one unseen.  The store refuses, and
   * a failed store leaves the file as it was. */
  if (!cp_model_file_store_threshold (file, job->threshold, job->expected, &local))
    {
      if (!g_error_matches (local, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CHANGED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          threshold_result_free (res);
          return NULL;
        }
      res->problem = g_strdup_printf (_("The threshold stored in %s changed to %.2f since it was read; "
                                        "yours was not saved. Save again to replace it."),
                                      res->model_name, cp_model_file_get_threshold (file));
    }
  /* What the file holds now: as read when the store refused, as written
   * when it succeeded (no second read of the file). */
  res->threshold = cp_model_file_get_threshold (file);
  res->source = cp_model_file_get_threshold_source (file);
  res->false_reject_rate = cp_model_file_get_false_reject_rate (file);
  res->cv_threshold = cp_model_file_get_cross_validation_threshold (file);
  return res;
}

static void
set_saving (CpSession *self,
            gboolean   saving)
{
  if (self->saving == saving)
    return;
  self->saving = saving;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SAVING]);
}

static void
threshold_save_done (gpointer      result,
                     const GError *error,
                     gboolean      dropped,
                     gpointer      user_data)
{
  CpSession *self = CP_SESSION (user_data);
  ThresholdResult *res = result;
  CpCategoryItem *item;
  gboolean stored;

  set_saving (self, FALSE);
  if (dropped)
    {
      g_signal_emit (self, signals[SIGNAL_THRESHOLD_SAVED], 0, FALSE);
      return;
    }
  if (res == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("The threshold was not saved: %s"),
                                              error != NULL ? error->message : "");

      cp_session_toast (self, msg);
      g_signal_emit (self, signals[SIGNAL_THRESHOLD_SAVED], 0, FALSE);
      return;
    }
  /* What the file holds now is the new baseline, saved or not. */
  item = cp_session_find (self, res->category);
  if (item != NULL)
    cp_category_item_set_stored_threshold (item, res->threshold, res->source,
                                           res->false_reject_rate, res->cv_threshold);
  stored = res->problem == NULL;
  if (!stored)
    cp_session_toast (self, res->problem);
  else
    {
      g_autofree char *msg = g_strdup_printf (_("Threshold %.2f saved in %s"), res->threshold,
                                              res->model_name);

      cp_session_toast (self, msg);
    }
  /* Last: what waited on the save may close the window. */
  g_signal_emit (self, signals[SIGNAL_THRESHOLD_SAVED], 0, stored);
}

gboolean
cp_session_save_threshold (CpSession *self)
{
  CpCategoryItem *item = self->selected;
  ThresholdJob *job;

  if (!cp_category_item_is_trained (item) || !cp_category_item_get_moved (item))
    return FALSE;
  job = g_new0 (ThresholdJob, 1);
  job->model_path = cp_session_model_path (self, cp_category_item_get_name (item));
  job->category = g_strdup (cp_category_item_get_name (item));
  job->expected = cp_category_item_get_stored_threshold (item);
  job->threshold = cp_category_item_get_threshold (item);
  set_saving (self, TRUE);
  cp_worker_submit (self->worker, "threshold", threshold_save_run, job, threshold_job_free, NULL,
                    threshold_save_done, threshold_result_free, G_OBJECT (self));
  return TRUE;
}

gboolean
cp_session_get_saving (CpSession *self)
{
  return self->saving;
}

/* ---- evaluation -------------------------------------------------------------- */

typedef struct
{
  char *data_dir;
  char *category;
  char *model_path;
  char *model_stamp;   /* of the model evaluated */
  char *device;
} EvalJob;

static void
eval_job_free (gpointer data)
{
  EvalJob *job = data;

  g_free (job->data_dir);
  g_free (job->category);
  g_free (job->model_path);
  g_free (job->model_stamp);
  g_free (job->device);
  g_free (job);
}

/* Always made, failed or not: the main thread learns whose it was. */
typedef struct
{
  char         *category;
  char         *model_stamp;
  CpEvaluation *evaluation;   /* NULL on failure */
  char         *error;
} EvalOutput;

static void
eval_output_free (gpointer data)
{
  EvalOutput *out = data;

  g_free (out->category);
  g_free (out->model_stamp);
  g_clear_pointer (&out->evaluation, cp_evaluation_unref);
  g_free (out->error);
  g_free (out);
}

static gpointer
eval_run (CpWorkerJob        *worker_job,
          const volatile int *cancel,
          gpointer            data,
          GError            **error)
{
  EvalJob *job = data;
  EvalOutput *out = g_new0 (EvalOutput, 1);
  g_autoptr(GError) local = NULL;

  out->category = g_strdup (job->category);
  out->model_stamp = g_strdup (job->model_stamp);
  out->evaluation = cp_evaluation_compute (job->data_dir, job->category, job->model_path,
                                           job->device, cancel, &local);
  if (out->evaluation == NULL)
    out->error = g_strdup (local != NULL ? local->message : "");
  return out;
}

/* Only one category is evaluated at a time: a new job supersedes the
 * running one, whose category then waits on nothing. */
static void
clear_evaluating (CpSession *self)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->categories)); i++)
    {
      g_autoptr(CpCategoryItem) item = g_list_model_get_item (G_LIST_MODEL (self->categories), i);

      cp_category_item_set_evaluating (item, FALSE);
    }
}

static void
eval_done (gpointer      result,
           const GError *error,
           gboolean      dropped,
           gpointer      user_data)
{
  CpSession *self = CP_SESSION (user_data);
  EvalOutput *out = result;
  CpCategoryItem *item;

  if (dropped || out == NULL)
    {
      if (!cp_worker_slot_busy (self->worker, "eval"))
        clear_evaluating (self);
      return;
    }
  item = cp_session_find (self, out->category);
  if (item == NULL)
    return;
  cp_category_item_set_evaluating (item, FALSE);
  /* Made with a model since replaced: it says nothing about this one. */
  if (g_strcmp0 (out->model_stamp, cp_category_item_get_model_stamp (item)) != 0)
    return;
  if (out->evaluation != NULL)
    {
      cp_category_item_set_eval_error (item, NULL);
      cp_category_item_set_evaluation (item, out->evaluation);
    }
  else
    {
      g_autofree char *msg = g_strdup_printf (_("Evaluation failed: %s"), out->error);

      cp_category_item_set_eval_error (item, msg);
    }
}

void
cp_session_evaluate (CpSession *self,
                     gboolean   again)
{
  CpCategoryItem *item = self->selected;
  EvalJob *job;

  if (!cp_category_item_is_trained (item) || self->data_dir == NULL)
    return;
  /* "evaluating" without a job in the slot: another window's job took
   * the slot (the worker is the application's) and ours was dropped. */
  if (!again && (cp_category_item_get_evaluation (item) != NULL ||
                 (cp_category_item_get_evaluating (item) &&
                  cp_worker_slot_busy (self->worker, "eval"))))
    return;
  job = g_new0 (EvalJob, 1);
  job->data_dir = g_strdup (self->data_dir);
  job->category = g_strdup (cp_category_item_get_name (item));
  job->model_path = cp_session_model_path (self, job->category);
  job->model_stamp = g_strdup (cp_category_item_get_model_stamp (item));
  job->device = g_settings_get_string (self->settings, "device");
  clear_evaluating (self);
  cp_category_item_set_eval_error (item, NULL);
  cp_category_item_set_evaluating (item, TRUE);
  cp_worker_submit (self->worker, "eval", eval_run, job, eval_job_free, NULL,
                    eval_done, eval_output_free, G_OBJECT (self));
}

/* ---- life cycle ---------------------------------------------------------------- */

GSettings *
cp_session_get_settings (CpSession *self)
{
  return self->settings;
}

CpWorker *
cp_session_get_worker (CpSession *self)
{
  return self->worker;
}

CpWeightsState *
cp_session_get_weights (CpSession *self)
{
  return self->weights;
}

static void
cp_session_dispose (GObject *object)
{
  CpSession *self = CP_SESSION (object);

  g_clear_object (&self->selected);
  if (self->categories != NULL)
    g_list_store_remove_all (self->categories);
  G_OBJECT_CLASS (cp_session_parent_class)->dispose (object);
}

static void
cp_session_finalize (GObject *object)
{
  CpSession *self = CP_SESSION (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->worker);
  g_clear_object (&self->weights);
  g_clear_object (&self->categories);
  g_free (self->data_dir);
  g_free (self->model_dir);
  g_free (self->dataset_error);
  g_free (self->training_category);
  g_array_unref (self->losses);
  G_OBJECT_CLASS (cp_session_parent_class)->finalize (object);
}

static void
cp_session_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  CpSession *self = CP_SESSION (object);

  switch (prop_id)
    {
    case PROP_SETTINGS: g_value_set_object (value, self->settings); break;
    case PROP_WORKER: g_value_set_object (value, self->worker); break;
    case PROP_WEIGHTS: g_value_set_object (value, self->weights); break;
    case PROP_DATA_DIR: g_value_set_string (value, self->data_dir); break;
    case PROP_MODEL_DIR: g_value_set_string (value, self->model_dir); break;
    case PROP_MODEL_DIR_ORIGIN: g_value_set_int (value, self->model_dir_origin); break;
    case PROP_DATASET_ERROR: g_value_set_string (value, self->dataset_error); break;
    case PROP_CATEGORIES: g_value_set_object (value, self->categories); break;
    case PROP_SELECTED: g_value_set_object (value, self->selected); break;
    case PROP_TRAINING_CATEGORY: g_value_set_string (value, self->training_category); break;
    case PROP_SAVING: g_value_set_boolean (value, self->saving); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_session_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  CpSession *self = CP_SESSION (object);

  switch (prop_id)
    {
    case PROP_SETTINGS: self->settings = g_value_dup_object (value); break;
    case PROP_WORKER: self->worker = g_value_dup_object (value); break;
    case PROP_WEIGHTS: self->weights = g_value_dup_object (value); break;
    case PROP_SELECTED: cp_session_set_selected (self, g_value_get_object (value)); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_session_class_init (CpSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags co = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = cp_session_dispose;
  object_class->finalize = cp_session_finalize;
  object_class->get_property = cp_session_get_property;
  object_class->set_property = cp_session_set_property;

  properties[PROP_SETTINGS] = g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS, co);
  properties[PROP_WORKER] = g_param_spec_object ("worker", NULL, NULL, CP_TYPE_WORKER, co);
  properties[PROP_WEIGHTS] = g_param_spec_object ("weights", NULL, NULL, CP_TYPE_WEIGHTS_STATE, co);
  properties[PROP_DATA_DIR] = g_param_spec_string ("data-dir", NULL, NULL, NULL, ro);
  properties[PROP_MODEL_DIR] = g_param_spec_string ("model-dir", NULL, NULL, NULL, ro);
  properties[PROP_MODEL_DIR_ORIGIN] =
    g_param_spec_int ("model-dir-origin", NULL, NULL, CP_MODEL_DIR_APP, CP_MODEL_DIR_CHOSEN,
                      CP_MODEL_DIR_APP, ro);
  properties[PROP_DATASET_ERROR] = g_param_spec_string ("dataset-error", NULL, NULL, NULL, ro);
  properties[PROP_CATEGORIES] = g_param_spec_object ("categories", NULL, NULL, G_TYPE_LIST_MODEL, ro);
  properties[PROP_SELECTED] =
    g_param_spec_object ("selected", NULL, NULL, CP_TYPE_CATEGORY_ITEM,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TRAINING_CATEGORY] = g_param_spec_string ("training-category", NULL, NULL, NULL, ro);
  properties[PROP_SAVING] = g_param_spec_boolean ("saving", NULL, NULL, FALSE, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_TOAST] =
    g_signal_new ("toast", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_TOAST_ACTION] =
    g_signal_new ("toast-action", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_VARIANT);
  signals[SIGNAL_LOSSES_CHANGED] =
    g_signal_new ("losses-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_THRESHOLD_SAVED] =
    g_signal_new ("threshold-saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

static void
cp_session_init (CpSession *self)
{
  self->categories = g_list_store_new (CP_TYPE_CATEGORY_ITEM);
  self->losses = g_array_new (FALSE, FALSE, sizeof (float));
}

CpSession *
cp_session_new (GSettings      *settings,
                CpWorker       *worker,
                CpWeightsState *weights)
{
  return g_object_new (CP_TYPE_SESSION, "settings", settings, "worker", worker,
                       "weights", weights, NULL);
}
