/* cp-mark-good.c: "Mark as good" and its Undo (see cp-mark-good.h). */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "line/records.h"
#include "line/refit-rows.h"
#include "pipeline/good-set.h"
#include "cp-dataset-scan.h"
#include "cp-mark-good.h"

typedef struct
{
  char    *category;
  char    *model_path;
  char    *data_dir;
  char    *device;
  char    *image;      /* NULL: undo */
  char    *db_path;    /* NULL: none */
  gint64   part_id;
} MarkJob;

typedef struct
{
  CpModelInfo info;          /* the model file after the change */
  char       *category;
  char       *db_path;
  gboolean    undo;
  int         n_changed;     /* images added or removed */
  double      threshold_before;
  double      threshold_after;
  char       *record_error;  /* the refit happened, the database could not say so */
} MarkResult;

static void
mark_job_free (gpointer data)
{
  MarkJob *job = data;

  g_free (job->category);
  g_free (job->model_path);
  g_free (job->data_dir);
  g_free (job->device);
  g_free (job->image);
  g_free (job->db_path);
  g_free (job);
}

static void
mark_result_free (gpointer data)
{
  MarkResult *result = data;

  cp_model_info_clear (&result->info);
  g_free (result->category);
  g_free (result->db_path);
  g_free (result->record_error);
  g_free (result);
}

/* As `cutpaste refit --db`: a refits row per image added or removed; the
 * marked part and every part with the bytes of an added image pass by
 * the operator's override; a removal takes those overrides back. */
static gboolean
record_change (const MarkJob          *job,
               const CpGoodSetChange  *change,
               GError                **error)
{
  g_autoptr(CpRecords) records = cp_records_open (job->db_path, CP_RECORDS_OPEN_EXISTING, 10000, error);
  const char *note = _("marked as good in CutPaste Inspector");

  if (records == NULL
      || !cp_records_add_good_set_change (records, change, job->model_path, NULL, note, error))
    return FALSE;
  if (job->part_id > 0 &&
      !cp_records_set_override (records, job->part_id, CP_VERDICT_PASS, note, NULL, error))
    return FALSE;
  for (guint i = 0; i < change->added->len; i++)
    if (!cp_records_set_override_by_hash (records, ((CpGoodImage *) change->added->pdata[i])->sha256,
                                          CP_VERDICT_PASS, note, NULL, NULL, error))
      return FALSE;
  for (guint i = 0; i < change->removed->len; i++)
    if (!cp_records_set_override_by_hash (records, ((CpGoodImage *) change->removed->pdata[i])->sha256,
                                          CP_VERDICT_NONE, NULL, NULL, NULL, error))
      return FALSE;
  return TRUE;
}

/* Engine thread. */
static gpointer
mark_run (CpWorkerJob        *worker_job,
          const volatile int *cancel,
          gpointer            job_data,
          GError            **error)
{
  MarkJob *job = job_data;
  const char *add[1] = { job->image };
  CpGoodSetRequest request;
  CpGoodSetChange change;
  MarkResult *result;
  g_autoptr(GError) record_error = NULL;

  cp_good_set_request_init (&request);
  request.data_dir = job->data_dir;
  request.device = job->device;
  if (job->image != NULL)
    {
      request.add = add;
      request.n_add = 1;
    }
  else
    request.undo = TRUE;
  cp_good_set_change_init (&change);
  /* Nothing has changed when this fails (good-set.h). */
  if (!cp_model_change_good_set (job->model_path, &request, &change, error))
    {
      cp_good_set_change_clear (&change);
      return NULL;
    }
  result = g_new0 (MarkResult, 1);
  cp_model_info_init (&result->info);
  cp_model_info_read (&result->info, job->model_path);
  result->category = g_strdup (job->category);
  result->db_path = g_strdup (job->db_path);
  result->undo = job->image == NULL;
  result->n_changed = (int) (result->undo ? change.removed->len : change.added->len + change.already->len);
  result->threshold_before = change.refit.threshold_before;
  result->threshold_after = change.refit.threshold_after;
  if (job->db_path != NULL && !record_change (job, &change, &record_error))
    result->record_error = g_strdup (record_error->message);
  cp_good_set_change_clear (&change);
  return result;
}

/* Main thread. */
static void
mark_done (gpointer      data,
           const GError *error,
           gboolean      dropped,
           gpointer      user_data)
{
  MarkResult *result = data;
  CpSession *session = CP_SESSION (user_data);
  CpCategoryItem *item;
  g_autofree char *message = NULL;

  if (dropped)
    return;
  if (result == NULL)
    {
      /* Translators: why an image could not be added to the good set. */
      message = g_strdup_printf (_("Nothing was changed: %s"), error->message);
      cp_session_toast (session, message);
      return;
    }
  item = cp_session_find (session, result->category);
  if (item != NULL)
    {
      cp_session_update_model (session, item, &result->info);
      /* The evaluation was scored with the old Gaussian. */
      cp_category_item_set_evaluation (item, NULL);
    }
  if (result->record_error != NULL)
    {
      message = g_strdup_printf (_("The model was refitted, but the line database could not record it: %s"),
                                 result->record_error);
      cp_session_toast (session, message);
    }
  else if (result->undo)
    {
      message = g_strdup_printf (_("Undone: the threshold of “%s” is %.3f again"), result->category,
                                 result->threshold_after);
      cp_session_toast (session, message);
    }
  else
    {
      /* Translators: a category, then its threshold before and after. */
      message = g_strdup_printf (_("Added to the good set of “%s”: threshold %.3f → %.3f"),
                                 result->category, result->threshold_before, result->threshold_after);
      cp_session_toast_action (session, message, _("_Undo"), "win.undo-mark-good",
                               g_variant_new ("(ss)", result->category,
                                              result->db_path != NULL ? result->db_path : ""));
    }
}

static void
submit (CpSession  *session,
        const char *category,
        const char *image,
        const char *db_path,
        gint64      part_id)
{
  static guint counter;
  g_autofree char *slot = NULL;
  g_autofree char *model_path = cp_session_model_path (session, category);
  MarkJob *job;

  if (model_path == NULL)
    return;
  job = g_new0 (MarkJob, 1);
  job->category = g_strdup (category);
  job->model_path = g_steal_pointer (&model_path);
  job->data_dir = g_strdup (cp_session_get_data_dir (session));
  job->device = g_settings_get_string (cp_session_get_settings (session), "device");
  job->image = g_strdup (image);
  job->db_path = db_path != NULL && *db_path != '\0' ? g_strdup (db_path) : NULL;
  job->part_id = part_id;
  /* A slot of its own: a second mark must not drop the first's result
   * (jobs run one after another on the engine thread anyway). */
  slot = g_strdup_printf ("mark-good-%u", ++counter);
  cp_worker_submit (cp_session_get_worker (session), slot, mark_run, job, mark_job_free, NULL,
                    mark_done, mark_result_free, G_OBJECT (session));
}

void
cp_mark_good (CpSession  *session,
              const char *category,
              const char *image,
              const char *db_path,
              gint64      part_id)
{
  g_return_if_fail (image != NULL);
  submit (session, category, image, db_path, part_id);
}

void
cp_mark_good_undo (CpSession  *session,
                   const char *category,
                   const char *db_path)
{
  submit (session, category, NULL, db_path, 0);
}
