/* cp-window-train.c: training one or all categories on the engine thread,
 * with progress, a live loss curve and cancel. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "core/density/threshold.h"
#include "pipeline/localize.h"
#include "pipeline/train.h"
#include "cp-plots.h"
#include "cp-window-private.h"

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
  opts->steps = job->steps;
  opts->batch_size = job->batch_size;
  opts->image_size = job->image_size;
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
          if (job->heatmaps && !g_atomic_int_get (cancel))
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

static void
set_category_state (CpWindow       *self,
                    const char     *name,
                    CpCategoryState state)
{
  CpCategoryInfo *info = cp_window_find_category (self, name);

  if (info != NULL)
    info->state = state;
}

static void
train_progress (gpointer payload,
                gpointer user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  TrainMsg *msg = payload;
  const CpTrainProgress *p = &msg->progress;

  if (msg->kind == MSG_CATEGORY_DONE)
    {
      if (msg->error != NULL)
        cp_window_toast (self, msg->error);
      else if (msg->patch_error != NULL)
        cp_window_toast (self, msg->patch_error);
      else if (msg->notice != NULL)
        cp_window_toast (self, msg->notice);
      g_clear_pointer (&self->training_category, g_free);
      self->training_patch = FALSE;
      /* The engine thread is busy with the rest of the job, so a scan of
       * the model files would wait for it: the message carries what the
       * list shows.  A full scan follows when the job ends. */
      {
        CpCategoryInfo *info = cp_window_find_category (self, msg->category);

        if (info != NULL && msg->error == NULL)
          {
            g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

            info->state = CP_CATEGORY_STATE_TRAINED;
            info->auroc = msg->auroc;
            info->threshold = msg->threshold;
            /* A new model: its threshold is the cross-validated one, for
             * the default rate the window trains with. */
            info->threshold_source = isnan (msg->threshold) ? CP_THRESHOLD_SOURCE_NONE
                                                            : CP_THRESHOLD_SOURCE_CROSS_VALIDATION;
            info->false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
            info->cv_threshold = msg->threshold;
            info->image_size = g_settings_get_int (self->settings, "image-size");
            g_clear_pointer (&info->problem, g_free);
            g_free (info->created);
            info->created = g_date_time_format_iso8601 (now);
          }
        else if (info != NULL)
          /* A failed run left any older model in place. */
          info->state = !isnan (info->threshold) ? CP_CATEGORY_STATE_TRAINED
                                                 : CP_CATEGORY_STATE_NOT_TRAINED;
        cp_window_dataset_rebuild_list (self);
      }
      return;
    }

  if (g_strcmp0 (self->training_category, msg->category) != 0)
    {
      g_free (self->training_category);
      self->training_category = g_strdup (msg->category);
      self->training_patch = msg->patch;
      g_array_set_size (self->losses, 0);
      set_category_state (self, msg->category, CP_CATEGORY_STATE_TRAINING);
      cp_window_dataset_rebuild_list (self);
    }
  else if (self->training_patch != msg->patch)
    {
      /* The heatmap model starts: a curve of its own. */
      self->training_patch = msg->patch;
      g_array_set_size (self->losses, 0);
    }

  if (p->phase == CP_TRAIN_PHASE_TRAINING)
    {
      g_autofree char *eta = format_duration (p->eta_seconds);
      g_autofree char *text = NULL;
      g_autofree char *bar = NULL;

      /* Steps we did not hear about (throttled) repeat the latest loss:
       * the curve stays aligned with the step axis. */
      if (!isnan (p->loss))
        {
          float loss = (float) p->loss;

          while ((int) self->losses->len < p->step)
            g_array_append_val (self->losses, loss);
        }
      self->loss_total_steps = p->total_steps;
      cp_plot_view_update (self->loss_view);

      text = msg->patch
        ? g_strdup_printf (_("%s (%d of %d), heatmap model: step %d of %d · loss %.4f · %.1f images/s · %s left"),
                           msg->category, msg->index + 1, msg->count, p->step, p->total_steps,
                           p->loss, p->images_per_sec, eta)
        : g_strdup_printf (_("%s (%d of %d): step %d of %d · loss %.4f · %.1f images/s · %s left"),
                           msg->category, msg->index + 1, msg->count, p->step, p->total_steps,
                           p->loss, p->images_per_sec, eta);
      bar = g_strdup_printf (_("Step %d of %d"), p->step, p->total_steps);
      gtk_label_set_text (self->train_status, text);
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
  CpWindow *self = CP_WINDOW (user_data);
  TrainSummary *summary = result;

  if (cp_worker_slot_busy (self->worker, "train"))
    return;   /* superseded by a newer run, which now owns the page */

  g_clear_pointer (&self->training_category, g_free);
  self->training_patch = FALSE;
  gtk_progress_bar_set_fraction (self->train_progress, 0);
  gtk_progress_bar_set_text (self->train_progress, NULL);
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
      gtk_progress_bar_set_fraction (self->train_progress, 1);
    }
  cp_window_dataset_refresh (self);
  cp_window_update_actions (self);
}

void
cp_window_train_start (CpWindow *self,
                       gboolean  all)
{
  TrainJob *job;
  GStrvBuilder *builder = g_strv_builder_new ();

  if (cp_worker_slot_busy (self->worker, "train") || self->categories->len == 0)
    {
      g_strv_builder_unref (builder);
      return;
    }
  if (all)
    for (guint i = 0; i < self->categories->len; i++)
      g_strv_builder_add (builder, ((CpCategoryInfo *) g_ptr_array_index (self->categories, i))->name);
  else if (self->category != NULL)
    g_strv_builder_add (builder, self->category);

  job = g_new0 (TrainJob, 1);
  job->categories = g_strv_builder_end (builder);
  g_strv_builder_unref (builder);
  if (job->categories[0] == NULL)
    {
      train_job_free (job);
      return;
    }
  job->data_dir = g_strdup (self->data_dir);
  job->model_dir = g_strdup (self->model_dir);
  job->profile = g_settings_get_string (self->settings, "profile");
  job->device = g_settings_get_string (self->settings, "device");
  job->steps = g_settings_get_int (self->settings, "steps");
  job->batch_size = g_settings_get_int (self->settings, "batch-size");
  /* The network needs a multiple of 32; round what a typed value left. */
  job->image_size = MAX (32, g_settings_get_int (self->settings, "image-size") / 32 * 32);
  job->heatmaps = g_settings_get_boolean (self->settings, "heatmaps");

  g_array_set_size (self->losses, 0);
  self->loss_total_steps = job->steps;
  cp_plot_view_update (self->loss_view);
  gtk_label_set_text (self->train_status, _("Starting…"));
  cp_worker_submit (self->worker, "train", train_run, job, train_job_free,
                    train_progress, train_done, train_summary_free, G_OBJECT (self));
  cp_window_show_page (self, "train");
  cp_window_update_actions (self);
}

void
cp_window_train_cancel (CpWindow *self)
{
  if (!cp_worker_slot_busy (self->worker, "train"))
    return;
  cp_worker_cancel_slot (self->worker, "train");
  gtk_label_set_text (self->train_status, _("Cancelling…"));
}

void
cp_window_train_init (CpWindow *self)
{
  cp_plots_set_loss (self->loss_view, self->losses, &self->loss_total_steps);
  cp_plot_view_set_placeholder (self->loss_view, _("The loss curve appears here during training."));
}
