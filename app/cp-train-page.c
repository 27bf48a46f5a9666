/* cp-train-page.c: the Training page: training the selected category, or
 * all of them, on the engine thread, with progress, a live loss curve and
 * cancel.  The settings are a CpTrainingSettings group.  Training starts
 * from the ImageNet weights found (as `cutpaste train --weights auto`)
 * unless "use-imagenet-weights" is off; the model records which in its
 * backbone_init metadata.  The instant profile trains nothing: it fits
 * the Gaussian on the ImageNet embedding, so it needs the weights.
 *
 * Actions: win.train, win.train-all (both ask first about a moved
 * threshold: training replaces it), win.cancel.
 */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "core/density/threshold.h"
#include "pipeline/localize.h"
#include "pipeline/train.h"
#include "pipeline/weights.h"
#include "cp-plots.h"
#include "cp-threshold-guard.h"
#include "cp-train-page.h"
#include "cp-training-settings.h"

struct _CpTrainPage
{
  CpPage              parent_instance;

  GSignalGroup       *session_signals;
  GSignalGroup       *categories_signals;
  GSignalGroup       *weights_signals;
  gboolean            training_patch;   /* the progress shown is of a heatmap model */

  /* template widgets */
  CpTrainingSettings *training_settings;
  GtkProgressBar     *train_progress;
  GtkLabel           *train_status;
  GtkWidget          *cancel_button;
  CpPlotView         *loss_view;

  gboolean            status_from_job;   /* train_status tells about a job: keep it */
};

G_DEFINE_FINAL_TYPE (CpTrainPage, cp_train_page, CP_TYPE_PAGE)

typedef struct
{
  char          *data_dir;
  char          *model_dir;
  GStrv          categories;
  char          *profile;
  char          *device;
  int            steps;
  int            batch_size;
  int            image_size;
  gboolean       heatmaps;        /* also the patch model of each category */
  gboolean       use_weights;     /* start from the ImageNet weights found */
  char          *weights_path;    /* engine thread: what they resolved to, or NULL */
} TrainJob;

typedef enum
{
  MSG_PROGRESS,
  MSG_CATEGORY_DONE,
} MsgKind;

typedef struct
{
  MsgKind         kind;
  char           *category;
  int             index;          /* of the category in the job */
  int             count;
  CpTrainProgress progress;
  gboolean        patch;          /* MSG_PROGRESS: of the patch (heatmap) model */
  double          auroc;          /* MSG_CATEGORY_DONE */
  double          threshold;
  char           *error;          /* MSG_CATEGORY_DONE, NULL on success */
  char           *notice;
  char           *patch_error;    /* MSG_CATEGORY_DONE: the model trained, its patch model did not */
  char           *backbone_init;  /* MSG_CATEGORY_DONE: what the model records it started from */
} TrainMsg;

typedef struct
{
  int   trained;
  int   failed;
  char *last_error;
} TrainSummary;

typedef struct
{
  CpWorkerJob *job;
  const char  *category;
  int          index;
  int          count;
  gboolean     patch;
  gint64       last_post;
} ProgressContext;

static void
train_job_free (gpointer data)
{
  TrainJob *job = data;

  g_free (job->data_dir);
  g_free (job->model_dir);
  g_strfreev (job->categories);
  g_free (job->profile);
  g_free (job->device);
  g_free (job->weights_path);
  g_free (job);
}

static void
train_msg_free (gpointer data)
{
  TrainMsg *msg = data;

  g_free (msg->category);
  g_free (msg->error);
  g_free (msg->notice);
  g_free (msg->patch_error);
  g_free (msg->backbone_init);
  g_free (msg);
}

static void
train_summary_free (gpointer data)
{
  TrainSummary *summary = data;

  g_free (summary->last_error);
  g_free (summary);
}

/* Engine thread: called at every step; the main loop hears about it at
 * most about 20 times a second, except for phase changes. */
static void
on_train_progress (const CpTrainProgress *progress,
                   gpointer               user_data)
{
  ProgressContext *ctx = user_data;
  gint64 now = g_get_monotonic_time ();
  gboolean last = progress->step >= progress->total_steps;
  TrainMsg *msg;

  if (!last && now - ctx->last_post < G_USEC_PER_SEC / 20 &&
      progress->phase == CP_TRAIN_PHASE_TRAINING && progress->step > 1)
    return;
  ctx->last_post = now;
  msg = g_new0 (TrainMsg, 1);
  msg->kind = MSG_PROGRESS;
  msg->category = g_strdup (ctx->category);
  msg->index = ctx->index;
  msg->count = ctx->count;
  msg->patch = ctx->patch;
  msg->progress = *progress;
  cp_worker_job_progress (ctx->job, msg, train_msg_free);
}

static gboolean
is_instant (const TrainJob *job)
{
  return g_strcmp0 (job->profile, "instant") == 0;
}

/* The options of the job's model of @category. */
static void
train_options (const TrainJob *job,
               const char     *category,
               CpTrainOptions *opts)
{
  cp_train_options_init (opts, g_strcmp0 (job->profile, "custom") == 0 ? NULL : job->profile);
  opts->data_dir = job->data_dir;
  opts->model_dir = job->model_dir;
  opts->category = category;
  opts->device = job->device;
  opts->image_size = job->image_size;
  opts->weights_path = job->weights_path;
  /* The instant profile's 0 steps are the point of it. */
  if (!is_instant (job))
    {
      opts->steps = job->steps;
      opts->batch_size = job->batch_size;
    }
}

/* Engine thread: trains the patch model of @category, which the
 * Inspection page draws heatmaps with.  The presets pick its image size
 * and steps as `cutpaste train --localize` does; "custom" uses the
 * settings as they are (at least the 64-pixel crop).  Returns NULL, or
 * why it was not trained (cancelling is not an error). */
static char *
train_patch_model (const TrainJob     *job,
                   const char         *category,
                   ProgressContext    *ctx,
                   const volatile int *cancel)
{
  CpTrainOptions opts;
  CpLocalizeOptions loc;
  CpTrainResult result;
  g_autoptr(GError) local = NULL;
  gboolean ok;

  train_options (job, category, &opts);
  if (g_strcmp0 (job->profile, "custom") == 0)
    opts.image_size = MAX (opts.image_size, CP_LOCALIZE_CROP);
  else
    {
      int size, steps;

      cp_localize_profile_defaults (job->profile, &size, &steps);
      opts.image_size = size;
      if (steps > 0)
        opts.steps = steps;
    }
  cp_localize_options_init (&loc);
  cp_localize_train_setup (&opts, &loc);
  cp_train_result_init (&result);
  ctx->patch = TRUE;
  ctx->last_post = 0;
  ok = cp_train_category (&opts, on_train_progress, ctx, cancel, &result, &local);
  ctx->patch = FALSE;
  cp_train_result_clear (&result);
  if (ok || g_error_matches (local, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED))
    return NULL;
  /* Translators: a category name, then why its heatmap model failed. */
  return g_strdup_printf (_("%s: heatmap model: %s"), category, local->message);
}

static gpointer
train_run (CpWorkerJob        *worker_job,
           const volatile int *cancel,
           gpointer            data,
           GError            **error)
{
  TrainJob *job = data;
  TrainSummary *summary = g_new0 (TrainSummary, 1);
  int count = g_strv_length (job->categories);
  g_autoptr(GError) resolve_error = NULL;

  /* Here, not on the main thread: checking a file hashes 45 MB.  "auto"
   * never fails; without weights the run starts from scratch. */
  if (!cp_weights_resolve (job->use_weights ? "auto" : "none", &job->weights_path, NULL,
                           &resolve_error))
    g_clear_pointer (&job->weights_path, g_free);
  if (is_instant (job) && job->weights_path == NULL)
    {
      summary->failed = count;
      summary->last_error =
        g_strdup (job->use_weights
                  ? _("The instant profile fits the Gaussian on ImageNet weights, and none were "
                      "found: download them from the banner or in Preferences.")
                  : _("The instant profile fits the Gaussian on ImageNet weights, and “Start "
                      "from ImageNet weights” is off in Preferences."));
      return summary;
    }

  for (int i = 0; i < count && !g_atomic_int_get (cancel); i++)
    {
      CpTrainOptions opts;
      CpTrainResult result;
      ProgressContext ctx = { worker_job, job->categories[i], i, count, 0 };
      g_autoptr(GError) local = NULL;
      TrainMsg *msg;

      train_options (job, job->categories[i], &opts);
      cp_train_result_init (&result);

      msg = g_new0 (TrainMsg, 1);
      msg->kind = MSG_CATEGORY_DONE;
      msg->category = g_strdup (job->categories[i]);
      msg->index = i;
      msg->count = count;
      if (cp_train_category (&opts, on_train_progress, &ctx, cancel, &result, &local))
        {
          summary->trained++;
          msg->auroc = result.auroc;
          msg->threshold = result.threshold;
          msg->notice = g_strdup (result.notice);
          msg->backbone_init = g_strdup (result.backbone_init);
          /* The patch model trains; the instant profile has none. */
          if (job->heatmaps && !is_instant (job) && !g_atomic_int_get (cancel))
            {
              msg->patch_error = train_patch_model (job, job->categories[i], &ctx, cancel);
              if (msg->patch_error != NULL)
                {
                  summary->failed++;
                  g_free (summary->last_error);
                  summary->last_error = g_strdup (msg->patch_error);
                }
            }
        }
      else if (!g_error_matches (local, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED))
        {
          summary->failed++;
          msg->error = g_strdup_printf ("%s: %s", job->categories[i], local->message);
          g_free (summary->last_error);
          summary->last_error = g_strdup (msg->error);
        }
      cp_train_result_clear (&result);
      cp_worker_job_progress (worker_job, msg, train_msg_free);
    }
  return summary;
}

static char *
format_duration (double seconds)
{
  int s;

  if (isnan (seconds) || seconds < 0)
    return g_strdup ("–");
  s = (int) (seconds + 0.5);
  if (s >= 3600)
    return g_strdup_printf ("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return g_strdup_printf ("%d:%02d", s / 60, s % 60);
}

static const char *
phase_label (CpTrainPhase phase)
{
  switch (phase)
    {
    case CP_TRAIN_PHASE_LOADING: return _("Loading images");
    case CP_TRAIN_PHASE_TRAINING: return _("Training");
    case CP_TRAIN_PHASE_FITTING: return _("Fitting the Gaussian and threshold");
    case CP_TRAIN_PHASE_EVALUATING: return _("Measuring AUROC on the test images");
    case CP_TRAIN_PHASE_SAVING: return _("Saving the model");
    default: return "";
    }
}

static gboolean
training (CpTrainPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  return session != NULL && cp_worker_slot_busy (cp_session_get_worker (session), "train");
}

static void
update_actions (CpTrainPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  gboolean busy = training (self);
  gboolean has_data = session != NULL
                      && g_list_model_get_n_items (cp_session_get_categories (session)) > 0;
  gboolean selected = session != NULL && cp_session_get_selected (session) != NULL;

  cp_page_set_action_enabled (CP_PAGE (self), "train", has_data && selected && !busy);
  cp_page_set_action_enabled (CP_PAGE (self), "train-all", has_data && !busy);
  cp_page_set_action_enabled (CP_PAGE (self), "cancel", busy);
  /* Red only while there is something to cancel. */
  if (busy)
    gtk_widget_add_css_class (self->cancel_button, "destructive-action");
  else
    gtk_widget_remove_css_class (self->cancel_button, "destructive-action");
  if (!busy && !self->status_from_job)
    {
      CpCategoryItem *item = selected ? cp_session_get_selected (session) : NULL;

      if (item != NULL && cp_category_item_is_trained (item))
        {
          g_autofree char *text =
            g_strdup_printf (_("“%s” has a model. Train makes a new one, which replaces it "
                               "once it is saved."), cp_category_item_get_name (item));

          gtk_label_set_text (self->train_status, text);
        }
      else
        gtk_label_set_text (self->train_status, _("Choose a category and press Train."));
    }
}

/* Weights came or went: what a run said about them is out of date. */
static void
on_weights_changed (CpTrainPage *self)
{
  if (!training (self))
    self->status_from_job = FALSE;
  update_actions (self);
}

static void
on_selected_changed (CpTrainPage *self)
{
  /* Another category: what the last job said is about another one. */
  self->status_from_job = FALSE;
  update_actions (self);
}

/* The engine thread is busy with the rest of the job, so a scan of the
 * model files would wait for it: the message carries what the pages
 * show.  A full scan follows when the job ends. */
static void
category_done (CpTrainPage    *self,
               const TrainMsg *msg)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpCategoryItem *item = cp_session_find (session, msg->category);

  if (msg->error != NULL)
    cp_session_toast (session, msg->error);
  else if (msg->patch_error != NULL)
    cp_session_toast (session, msg->patch_error);
  else if (msg->notice != NULL)
    cp_session_toast (session, msg->notice);
  cp_session_set_training_category (session, NULL);
  self->training_patch = FALSE;
  if (item == NULL)
    return;
  if (msg->error == NULL)
    {
      g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
      CpModelInfo info;

      cp_model_info_init (&info);
      info.state = CP_CATEGORY_STATE_TRAINED;
      info.auroc = msg->auroc;
      info.threshold = msg->threshold;
      /* A new model: its threshold is the cross-validated one, for the
       * default rate the window trains with. */
      info.threshold_source = isnan (msg->threshold) ? CP_THRESHOLD_SOURCE_NONE
                                                     : CP_THRESHOLD_SOURCE_CROSS_VALIDATION;
      info.false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
      info.cv_threshold = msg->threshold;
      info.image_size = g_settings_get_int (cp_session_get_settings (session), "image-size");
      info.created = g_date_time_format_iso8601 (now);
      info.backbone_init = g_strdup (msg->backbone_init);
      cp_session_update_model (session, item, &info);
      cp_model_info_clear (&info);
    }
  else
    /* A failed run left any older model in place. */
    cp_category_item_set_state (item, !isnan (cp_category_item_get_stored_threshold (item))
                                      ? CP_CATEGORY_STATE_TRAINED : CP_CATEGORY_STATE_NOT_TRAINED);
}

static void
train_progress (gpointer payload,
                gpointer user_data)
{
  CpTrainPage *self = CP_TRAIN_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  TrainMsg *msg = payload;
  const CpTrainProgress *p = &msg->progress;

  if (session == NULL)
    return;
  if (msg->kind == MSG_CATEGORY_DONE)
    {
      category_done (self, msg);
      return;
    }

  if (g_strcmp0 (cp_session_get_training_category (session), msg->category) != 0)
    {
      CpCategoryItem *item = cp_session_find (session, msg->category);

      cp_session_set_training_category (session, msg->category);
      self->training_patch = msg->patch;
      cp_session_reset_losses (session, p->total_steps);
      if (item != NULL)
        cp_category_item_set_state (item, CP_CATEGORY_STATE_TRAINING);
    }
  else if (self->training_patch != msg->patch)
    {
      /* The heatmap model starts: a curve of its own. */
      self->training_patch = msg->patch;
      cp_session_reset_losses (session, p->total_steps);
    }

  if (p->phase == CP_TRAIN_PHASE_TRAINING)
    {
      g_autofree char *eta = format_duration (p->eta_seconds);
      g_autofree char *text = NULL;
      g_autofree char *bar = NULL;

      cp_session_add_loss (session, p->step, p->total_steps, p->loss);
      text = msg->patch
        ? g_strdup_printf (_("%s (%d of %d), heatmap model: step %d of %d · loss %.4f · %.1f images/s · %s left"),
                           msg->category, msg->index + 1, msg->count, p->step, p->total_steps,
                           p->loss, p->images_per_sec, eta)
        : g_strdup_printf (_("%s (%d of %d): step %d of %d · loss %.4f · %.1f images/s · %s left"),
                           msg->category, msg->index + 1, msg->count, p->step, p->total_steps,
                           p->loss, p->images_per_sec, eta);
      bar = g_strdup_printf (_("Step %d of %d"), p->step, p->total_steps);
      gtk_label_set_text (self->train_status, text);
      self->status_from_job = TRUE;
      gtk_progress_bar_set_text (self->train_progress, bar);
      gtk_progress_bar_set_fraction (self->train_progress,
                                     p->total_steps > 0 ? (double) p->step / p->total_steps : 0);
    }
  else
    {
      g_autofree char *text = msg->patch
        ? g_strdup_printf (_("%s (%d of %d), heatmap model: %s"), msg->category, msg->index + 1,
                           msg->count, phase_label (p->phase))
        : g_strdup_printf (_("%s (%d of %d): %s"), msg->category, msg->index + 1, msg->count,
                           phase_label (p->phase));

      gtk_label_set_text (self->train_status, text);
      self->status_from_job = TRUE;
      gtk_progress_bar_set_text (self->train_progress, phase_label (p->phase));
      if (p->total_steps > 0)
        gtk_progress_bar_set_fraction (self->train_progress, (double) p->step / p->total_steps);
      else
        gtk_progress_bar_pulse (self->train_progress);
    }
}

static void
train_done (gpointer      result,
            const GError *error,
            gboolean      dropped,
            gpointer      user_data)
{
  CpTrainPage *self = CP_TRAIN_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  TrainSummary *summary = result;

  if (session == NULL || training (self))
    return;   /* superseded by a newer run, which now owns the page */

  cp_session_set_training_category (session, NULL);
  self->training_patch = FALSE;
  gtk_progress_bar_set_fraction (self->train_progress, 0);
  gtk_progress_bar_set_text (self->train_progress, NULL);
  self->status_from_job = TRUE;
  if (dropped)
    gtk_label_set_text (self->train_status, _("Training cancelled. Saved models were left as they were."));
  else if (summary != NULL && summary->failed > 0)
    gtk_label_set_text (self->train_status, summary->last_error);
  else if (summary != NULL)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "Trained %d category.",
                                                            "Trained %d categories.",
                                                            summary->trained),
                                               summary->trained);

      gtk_label_set_text (self->train_status, text);
      self->status_from_job = TRUE;
      gtk_progress_bar_set_fraction (self->train_progress, 1);
    }
  cp_session_refresh (session);
  update_actions (self);
}

static void
train_start (CpTrainPage *self,
             gboolean     all)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  GSettings *settings;
  GListModel *categories;
  CpCategoryItem *selected;
  TrainJob *job;
  GStrvBuilder *builder;

  if (session == NULL || training (self))
    return;
  settings = cp_session_get_settings (session);
  categories = cp_session_get_categories (session);
  selected = cp_session_get_selected (session);
  builder = g_strv_builder_new ();
  if (all)
    for (guint i = 0; i < g_list_model_get_n_items (categories); i++)
      {
        g_autoptr(CpCategoryItem) item = g_list_model_get_item (categories, i);

        g_strv_builder_add (builder, cp_category_item_get_name (item));
      }
  else if (selected != NULL)
    g_strv_builder_add (builder, cp_category_item_get_name (selected));

  job = g_new0 (TrainJob, 1);
  job->categories = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  if (job->categories[0] == NULL)
    {
      train_job_free (job);
      return;
    }
  job->data_dir = g_strdup (cp_session_get_data_dir (session));
  job->model_dir = g_strdup (cp_session_get_model_dir (session));
  job->profile = g_settings_get_string (settings, "profile");
  job->device = g_settings_get_string (settings, "device");
  job->steps = g_settings_get_int (settings, "steps");
  job->batch_size = g_settings_get_int (settings, "batch-size");
  /* The network needs a multiple of 32; round what a typed value left. */
  job->image_size = MAX (32, g_settings_get_int (settings, "image-size") / 32 * 32);
  job->heatmaps = g_settings_get_boolean (settings, "heatmaps");
  job->use_weights = g_settings_get_boolean (settings, "use-imagenet-weights");

  cp_session_reset_losses (session, is_instant (job) ? 0 : job->steps);
  gtk_label_set_text (self->train_status, _("Starting…"));
  self->status_from_job = TRUE;
  cp_worker_submit (cp_session_get_worker (session), "train", train_run, job, train_job_free,
                    train_progress, train_done, train_summary_free, G_OBJECT (self));
  cp_page_present (CP_PAGE (self));
  update_actions (self);
}

/* Training replaces the selected category's model, and with it the
 * stored threshold: a moved one that is not saved is asked about first. */
static void
on_confirmed_one (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(CpTrainPage) self = user_data;

  if (cp_threshold_guard_confirm_finish (CP_SESSION (source), result, NULL))
    train_start (self, FALSE);
}

static void
on_confirmed_all (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(CpTrainPage) self = user_data;

  if (cp_threshold_guard_confirm_finish (CP_SESSION (source), result, NULL))
    train_start (self, TRUE);
}

static void
action_train (GSimpleAction *action,
              GVariant      *param,
              gpointer       user_data)
{
  CpTrainPage *self = CP_TRAIN_PAGE (user_data);
  gboolean all = g_str_equal (g_action_get_name (G_ACTION (action)), "train-all");
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  if (session == NULL)
    return;
  if (cp_threshold_guard_is_clear (session))
    train_start (self, all);
  else
    cp_threshold_guard_confirm_async (session, cp_page_get_window (CP_PAGE (self)),
                                      CP_THRESHOLD_GUARD_RETRAIN, NULL,
                                      all ? on_confirmed_all : on_confirmed_one,
                                      g_object_ref (self));
}

static void
action_cancel (GSimpleAction *action,
               GVariant      *param,
               gpointer       user_data)
{
  CpTrainPage *self = CP_TRAIN_PAGE (user_data);

  if (!training (self))
    return;
  cp_worker_cancel_slot (cp_session_get_worker (cp_page_get_session (CP_PAGE (self))), "train");
  gtk_label_set_text (self->train_status, _("Cancelling…"));
  self->status_from_job = TRUE;
}

static void
on_losses_changed (CpTrainPage *self)
{
  cp_plot_view_update (self->loss_view);
}

static void
cp_train_page_session_changed (CpPage    *page,
                               CpSession *previous)
{
  CpTrainPage *self = CP_TRAIN_PAGE (page);
  CpSession *session = cp_page_get_session (page);

  g_signal_group_set_target (self->session_signals, session);
  g_signal_group_set_target (self->categories_signals,
                             session != NULL ? cp_session_get_categories (session) : NULL);
  g_signal_group_set_target (self->weights_signals,
                             session != NULL ? cp_session_get_weights (session) : NULL);
  if (session != NULL)
    {
      cp_training_settings_set_settings (self->training_settings, cp_session_get_settings (session));
      if (cp_session_get_weights (session) != NULL)
        cp_training_settings_set_weights (self->training_settings, cp_session_get_weights (session));
      /* The curve is the session's: it outlives the view. */
      cp_plots_set_loss (self->loss_view, cp_session_get_losses (session),
                         cp_session_get_loss_total_steps (session));
    }
  else
    cp_plot_view_set_funcs (self->loss_view, NULL, NULL, NULL, NULL);
  update_actions (self);
}

static void
cp_train_page_dispose (GObject *object)
{
  CpTrainPage *self = CP_TRAIN_PAGE (object);

  cp_page_set_session (CP_PAGE (self), NULL);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->categories_signals);
  g_clear_object (&self->weights_signals);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_TRAIN_PAGE);
  G_OBJECT_CLASS (cp_train_page_parent_class)->dispose (object);
}

static void
cp_train_page_class_init (CpTrainPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_train_page_dispose;
  CP_PAGE_CLASS (klass)->session_changed = cp_train_page_session_changed;
  g_type_ensure (CP_TYPE_PLOT_VIEW);
  g_type_ensure (CP_TYPE_TRAINING_SETTINGS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-train-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CpTrainPage, training_settings);
  gtk_widget_class_bind_template_child (widget_class, CpTrainPage, train_progress);
  gtk_widget_class_bind_template_child (widget_class, CpTrainPage, train_status);
  gtk_widget_class_bind_template_child (widget_class, CpTrainPage, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, CpTrainPage, loss_view);
}

static void
cp_train_page_init (CpTrainPage *self)
{
  static const GActionEntry actions[] = {
    { "train", action_train },
    { "train-all", action_train },
    { "cancel", action_cancel },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  cp_page_add_actions (CP_PAGE (self), actions, G_N_ELEMENTS (actions));
  cp_plot_view_set_placeholder (self->loss_view, _("The loss curve appears here during training."));
  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (on_selected_changed), self);
  g_signal_group_connect_swapped (self->session_signals, "losses-changed",
                                  G_CALLBACK (on_losses_changed), self);
  self->categories_signals = g_signal_group_new (G_TYPE_LIST_MODEL);
  g_signal_group_connect_swapped (self->categories_signals, "items-changed",
                                  G_CALLBACK (update_actions), self);
  self->weights_signals = g_signal_group_new (CP_TYPE_WEIGHTS_STATE);
  g_signal_group_connect_swapped (self->weights_signals, "notify::path",
                                  G_CALLBACK (on_weights_changed), self);
  update_actions (self);
}
