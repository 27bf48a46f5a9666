/* cp-window.c: the main window's class, actions and shared state. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "cp-window-private.h"
#include "pipeline/train.h"

G_DEFINE_FINAL_TYPE (CpWindow, cp_window, ADW_TYPE_APPLICATION_WINDOW)

void
cp_category_info_free (gpointer data)
{
  CpCategoryInfo *info = data;

  g_free (info->name);
  g_free (info->created);
  g_free (info->problem);
  g_free (info);
}

char *
cp_category_info_model_stamp (const CpCategoryInfo *info)
{
  /* The creation time names a model file's content well enough: a new
   * training run writes a new one. */
  return g_strdup_printf ("%s|%d", info->created != NULL ? info->created : "",
                          info->state == CP_CATEGORY_STATE_MODEL_ERROR);
}

CpCategoryInfo *
cp_window_find_category (CpWindow   *self,
                         const char *name)
{
  for (guint i = 0; name != NULL && i < self->categories->len; i++)
    {
      CpCategoryInfo *info = g_ptr_array_index (self->categories, i);

      if (g_strcmp0 (info->name, name) == 0)
        return info;
    }
  return NULL;
}

void
cp_window_toast (CpWindow   *self,
                 const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
  g_free (self->last_toast);
  self->last_toast = g_strdup (message);
}

const char *
cp_window_get_last_toast (CpWindow *self)
{
  return self->last_toast;
}

char *
cp_window_model_path (CpWindow   *self,
                      const char *category)
{
  if (self->model_dir == NULL)
    return NULL;
  return cp_train_model_path (self->model_dir, category);
}

void
cp_window_update_actions (CpWindow *self)
{
  gboolean training = cp_worker_slot_busy (self->worker, "train");
  gboolean has_data = self->categories->len > 0;
  CpCategoryInfo *info = cp_window_find_category (self, self->category);
  gboolean trained = info != NULL && info->state == CP_CATEGORY_STATE_TRAINED;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.train", has_data && info != NULL && !training);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.train-all", has_data && !training);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.cancel", training);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.inspect-open", trained);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.evaluate", trained);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.export-plots",
                                 cp_plot_view_has_plot (self->roc_view));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.export-csv", self->eval != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.new-samples", info != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.create-sample",
                                 !cp_worker_slot_busy (self->worker, "sample"));
  cp_window_inspect_update_controls (self);
}

/* ---- actions ---------------------------------------------------------- */

static void
action_open_dataset (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_dataset_open_dialog (CP_WINDOW (widget));
}

static void
action_create_sample (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_dataset_create_sample (CP_WINDOW (widget));
}

/* Training replaces the selected category's model, and with it the
 * stored threshold: a moved one that is not saved is asked about first. */
static void
action_train (GtkWidget *widget, const char *name, GVariant *param)
{
  CpWindow *self = CP_WINDOW (widget);

  if (cp_window_inspect_may_leave (self, CP_WINDOW_STEP_TRAIN, NULL))
    cp_window_train_start (self, FALSE);
}

static void
action_train_all (GtkWidget *widget, const char *name, GVariant *param)
{
  CpWindow *self = CP_WINDOW (widget);

  if (cp_window_inspect_may_leave (self, CP_WINDOW_STEP_TRAIN, "all"))
    cp_window_train_start (self, TRUE);
}

static void
action_cancel (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_train_cancel (CP_WINDOW (widget));
}

static void
action_inspect_open (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_inspect_open_dialog (CP_WINDOW (widget));
}

static void
action_inspect_clear (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_inspect_clear (CP_WINDOW (widget));
}

static void
action_threshold_save (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_inspect_save_threshold (CP_WINDOW (widget));
}

static void
action_threshold_reset (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_inspect_reset_threshold (CP_WINDOW (widget));
}

static void
action_evaluate (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_eval_run (CP_WINDOW (widget));
}

static void
action_export_plots (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_eval_export_plots (CP_WINDOW (widget));
}

static void
action_export_csv (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_eval_export_csv (CP_WINDOW (widget));
}

static void
action_new_samples (GtkWidget *widget, const char *name, GVariant *param)
{
  cp_window_augment_refresh (CP_WINDOW (widget), TRUE);
}

/* ---- category selection ------------------------------------------------ */

static void
category_changed (CpWindow *self)
{
  cp_window_eval_clear (self);
  cp_window_inspect_category_changed (self);
  cp_window_augment_refresh (self, FALSE);
  cp_window_update_actions (self);
  adw_view_switcher_title_set_subtitle (self->switcher_title,
                                        self->category != NULL ? self->category : "");
}

/* Shows @name as selected in the drop-down and the list, without
 * re-entering the selection handlers. */
void
cp_window_sync_category_widgets (CpWindow   *self,
                                 const char *name)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->category_names));

  self->syncing_dropdown = TRUE;
  for (guint i = 0; i < n; i++)
    if (g_strcmp0 (gtk_string_list_get_string (self->category_names, i), name) == 0)
      {
        GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->category_list, i);

        gtk_drop_down_set_selected (self->category_dropdown, i);
        if (row != NULL)
          gtk_list_box_select_row (self->category_list, row);
      }
  self->syncing_dropdown = FALSE;
}

void
cp_window_select_category (CpWindow   *self,
                           const char *name)
{
  CpCategoryInfo *info;

  if (g_strcmp0 (name, self->category) == 0)
    return;
  g_free (self->category);
  self->category = g_strdup (name);
  info = cp_window_find_category (self, name);
  g_free (self->category_model_stamp);
  self->category_model_stamp = info != NULL ? cp_category_info_model_stamp (info) : NULL;
  cp_window_sync_category_widgets (self, name);
  category_changed (self);
}

/* The user picked @name in the drop-down or the list, which show it
 * already: a moved threshold may make it wait (or not happen). */
static void
user_selects_category (CpWindow   *self,
                       const char *name)
{
  /* Back to the selected one while a switch waits on a save: the switch
   * that waits becomes this no-op one. */
  if (g_strcmp0 (name, self->category) == 0 && self->pending_step == CP_WINDOW_STEP_NONE)
    return;
  if (cp_window_inspect_may_leave (self, CP_WINDOW_STEP_CATEGORY, name))
    cp_window_select_category (self, name);
}

static void
on_dropdown_selected (GtkDropDown *dropdown,
                      GParamSpec  *pspec,
                      CpWindow    *self)
{
  guint selected = gtk_drop_down_get_selected (dropdown);

  if (self->syncing_dropdown || selected == GTK_INVALID_LIST_POSITION)
    return;
  user_selects_category (self, gtk_string_list_get_string (self->category_names, selected));
}

static void
on_category_row_selected (GtkListBox    *box,
                          GtkListBoxRow *row,
                          CpWindow      *self)
{
  if (self->syncing_dropdown || row == NULL)
    return;
  user_selects_category (self, gtk_string_list_get_string (self->category_names,
                                                           gtk_list_box_row_get_index (row)));
}

void
cp_window_run_step (CpWindow     *self,
                    CpWindowStep  step,
                    const char   *target)
{
  switch (step)
    {
    case CP_WINDOW_STEP_CATEGORY:
      /* The dataset may have been scanned again meanwhile. */
      if (cp_window_find_category (self, target) != NULL)
        cp_window_select_category (self, target);
      else
        cp_window_sync_category_widgets (self, self->category);
      break;
    case CP_WINDOW_STEP_DATASET:
      cp_window_dataset_open_now (self, target);
      break;
    case CP_WINDOW_STEP_CLOSE:
      /* Asks close-request again, which now lets it through. */
      gtk_window_close (GTK_WINDOW (self));
      break;
    case CP_WINDOW_STEP_TRAIN:
      cp_window_train_start (self, g_strcmp0 (target, "all") == 0);
      break;
    case CP_WINDOW_STEP_NONE:
    default:
      break;
    }
}

CpCategoryState
cp_window_get_category_state (CpWindow   *self,
                              const char *name)
{
  CpCategoryInfo *info = cp_window_find_category (self, name);

  return info != NULL ? info->state : CP_CATEGORY_STATE_NOT_TRAINED;
}

const char *
cp_window_get_category_problem (CpWindow   *self,
                                const char *name)
{
  CpCategoryInfo *info = cp_window_find_category (self, name);

  return info != NULL ? info->problem : NULL;
}

const char *
cp_window_get_dataset_error (CpWindow *self)
{
  return self->dataset_error;
}

const char *
cp_window_get_model_dir (CpWindow *self)
{
  return self->model_dir;
}

GtkWidget *
cp_window_get_plot (CpWindow   *self,
                    const char *name)
{
  if (g_strcmp0 (name, "loss") == 0)
    return GTK_WIDGET (self->loss_view);
  if (g_strcmp0 (name, "roc") == 0)
    return GTK_WIDGET (self->roc_view);
  if (g_strcmp0 (name, "hist") == 0)
    return GTK_WIDGET (self->hist_view);
  if (g_strcmp0 (name, "tsne") == 0)
    return GTK_WIDGET (self->tsne_view);
  return NULL;
}

void
cp_window_show_page (CpWindow   *self,
                     const char *name)
{
  adw_view_stack_set_visible_child_name (self->stack, name);
}

/* ---- training presets -------------------------------------------------- */

/* A preset writes its numbers into the settings so that every view of
 * them (training page, preferences) shows what will run. */
static void
apply_profile (CpWindow *self)
{
  g_autofree char *profile = g_settings_get_string (self->settings, "profile");
  CpTrainOptions opts;

  if (g_strcmp0 (profile, "custom") == 0)
    return;
  cp_train_options_init (&opts, profile);
  g_settings_set_int (self->settings, "steps", opts.steps);
  g_settings_set_int (self->settings, "batch-size", opts.batch_size);
  g_settings_set_int (self->settings, "image-size", opts.image_size);
}

static void
on_profile_changed (GSettings  *settings,
                    const char *key,
                    CpWindow   *self)
{
  apply_profile (self);
}

/* ---- life cycle ------------------------------------------------------- */

static void
cp_window_dispose (GObject *object)
{
  CpWindow *self = CP_WINDOW (object);

  /* Our jobs may be running: stop them; their results are dropped since
   * the worker only holds a weak reference to us. */
  if (self->worker != NULL)
    {
      cp_worker_cancel_slot (self->worker, "train");
      cp_worker_cancel_slot (self->worker, "score");
      cp_worker_cancel_slot (self->worker, "heatmap");
      cp_worker_cancel_slot (self->worker, "eval");
      cp_worker_cancel_slot (self->worker, "augment");
      cp_worker_cancel_slot (self->worker, "scan");
      /* Not "threshold": a save the user asked for still runs (it
       * replaces the file atomically); only its report is dropped. */
    }
  cp_window_inspect_free (self);
  cp_window_eval_clear (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_WINDOW);
  g_clear_object (&self->settings);
  g_clear_object (&self->worker);
  g_clear_pointer (&self->categories, g_ptr_array_unref);
  g_clear_pointer (&self->losses, g_array_unref);
  g_clear_pointer (&self->data_dir, g_free);
  g_clear_pointer (&self->model_dir, g_free);
  g_clear_pointer (&self->dataset_error, g_free);
  g_clear_pointer (&self->category, g_free);
  g_clear_pointer (&self->category_model_stamp, g_free);
  g_clear_pointer (&self->last_toast, g_free);
  g_clear_pointer (&self->training_category, g_free);

  G_OBJECT_CLASS (cp_window_parent_class)->dispose (object);
}

static gboolean
cp_window_close_request (GtkWindow *window)
{
  CpWindow *self = CP_WINDOW (window);

  if (!cp_window_inspect_may_leave (self, CP_WINDOW_STEP_CLOSE, NULL))
    return TRUE;
  return GTK_WINDOW_CLASS (cp_window_parent_class)->close_request != NULL
         && GTK_WINDOW_CLASS (cp_window_parent_class)->close_request (window);
}

static void
cp_window_class_init (CpWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = cp_window_dispose;
  window_class->close_request = cp_window_close_request;

  g_type_ensure (CP_TYPE_PLOT_VIEW);
  g_type_ensure (CP_TYPE_TRAINING_SETTINGS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-window.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, CpWindow, name)
  BIND (toast_overlay);
  BIND (stack);
  BIND (switcher_title);
  BIND (category_dropdown);
  BIND (category_names);
  BIND (dataset_stack);
  BIND (empty_page);
  BIND (sample_button);
  BIND (dataset_label);
  BIND (category_list);
  BIND (models_label);
  BIND (training_settings);
  BIND (train_progress);
  BIND (train_status);
  BIND (loss_view);
  BIND (augment_seed_label);
  BIND (augment_grid);
  BIND (inspect_box);
  BIND (threshold_scale);
  BIND (threshold_adjustment);
  BIND (threshold_reset_button);
  BIND (threshold_save_button);
  BIND (threshold_origin);
  BIND (threshold_stats);
  BIND (inspect_list);
  BIND (inspect_picture);
  BIND (inspect_caption);
  BIND (heatmap_toggle);
  BIND (heatmap_opacity_scale);
  BIND (heatmap_opacity);
  BIND (heatmap_status);
  BIND (eval_label);
  BIND (roc_view);
  BIND (hist_view);
  BIND (tsne_view);
#undef BIND

  gtk_widget_class_install_action (widget_class, "win.open-dataset", NULL, action_open_dataset);
  gtk_widget_class_install_action (widget_class, "win.create-sample", NULL, action_create_sample);
  gtk_widget_class_install_action (widget_class, "win.train", NULL, action_train);
  gtk_widget_class_install_action (widget_class, "win.train-all", NULL, action_train_all);
  gtk_widget_class_install_action (widget_class, "win.cancel", NULL, action_cancel);
  gtk_widget_class_install_action (widget_class, "win.inspect-open", NULL, action_inspect_open);
  gtk_widget_class_install_action (widget_class, "win.inspect-clear", NULL, action_inspect_clear);
  gtk_widget_class_install_action (widget_class, "win.threshold-save", NULL, action_threshold_save);
  gtk_widget_class_install_action (widget_class, "win.threshold-reset", NULL, action_threshold_reset);
  gtk_widget_class_install_action (widget_class, "win.evaluate", NULL, action_evaluate);
  gtk_widget_class_install_action (widget_class, "win.export-plots", NULL, action_export_plots);
  gtk_widget_class_install_action (widget_class, "win.export-csv", NULL, action_export_csv);
  gtk_widget_class_install_action (widget_class, "win.new-samples", NULL, action_new_samples);
}

static void
cp_window_init (CpWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->categories = g_ptr_array_new_with_free_func (cp_category_info_free);
  self->losses = g_array_new (FALSE, FALSE, sizeof (float));
  self->model_threshold = NAN;
  g_signal_connect (self->category_dropdown, "notify::selected",
                    G_CALLBACK (on_dropdown_selected), self);
  g_signal_connect (self->category_list, "row-selected",
                    G_CALLBACK (on_category_row_selected), self);
}

CpWindow *
cp_window_new (CpApplication *app)
{
  CpWindow *self = g_object_new (CP_TYPE_WINDOW, "application", app, NULL);

  self->settings = g_object_ref (cp_application_get_settings (app));
  self->worker = g_object_ref (cp_application_get_worker (app));

  cp_training_settings_set_settings (self->training_settings, self->settings);
  g_signal_connect_object (self->settings, "changed::profile",
                           G_CALLBACK (on_profile_changed), self, 0);
  apply_profile (self);

  cp_window_train_init (self);
  cp_window_augment_init (self);
  cp_window_inspect_init (self);
  cp_window_eval_init (self);
  cp_window_dataset_init (self);
  cp_window_update_actions (self);
  return self;
}
