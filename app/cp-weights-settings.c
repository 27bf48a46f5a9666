/* cp-weights-settings.c: the Preferences group of the ImageNet weights
 * (see cp-weights-settings.h). */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-weights-settings.h"

/* Hex digits of the SHA-256 shown: enough to tell files apart. */
#define SHORT_SHA 12

struct _CpWeightsSettings
{
  AdwPreferencesGroup   parent_instance;

  GSettings            *settings;
  CpWeightsState       *weights;
  GSignalGroup         *weights_signals;
  GSignalGroup         *settings_signals;
  GtkFileChooserNative *chooser;    /* while open */

  /* template widgets */
  AdwActionRow         *weights_row;
  AdwActionRow         *progress_row;
  GtkProgressBar       *progress_bar;
  AdwActionRow         *error_row;
  GtkWidget            *use_switch;
};

G_DEFINE_FINAL_TYPE (CpWeightsSettings, cp_weights_settings, ADW_TYPE_PREFERENCES_GROUP)

static char *
in_use_text (CpWeightsSettings *self)
{
  const char *path = cp_weights_state_get_path (self->weights);

  if (!cp_weights_state_get_checked (self->weights))
    return g_strdup (_("Looking for weights…"));
  if (path == NULL)
    return g_strdup (_("None: training starts from scratch"));
  if (!g_settings_get_boolean (self->settings, "use-imagenet-weights"))
    /* Translators: the weights file found, which the switch below turns off. */
    return g_strdup_printf (_("None: training starts from scratch (%s is not used)"), path);
  if (cp_weights_state_get_sha256 (self->weights) == NULL)
    return g_strdup (path);
  /* Translators: a file, then the first digits of its SHA-256. */
  return g_strdup_printf (_("%s · SHA-256 %.*s"), path, SHORT_SHA,
                          cp_weights_state_get_sha256 (self->weights));
}

static void
update (CpWeightsSettings *self)
{
  CpWeightsActivity activity;
  g_autofree char *text = NULL;
  const char *error;
  gboolean busy;

  if (self->weights == NULL)
    return;
  activity = cp_weights_state_get_activity (self->weights);
  busy = activity == CP_WEIGHTS_ACTIVITY_DOWNLOADING || activity == CP_WEIGHTS_ACTIVITY_IMPORTING;
  error = cp_weights_state_get_error (self->weights);

  text = in_use_text (self);
  adw_action_row_set_subtitle (self->weights_row, text);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "weights.download", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "weights.choose-file", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "weights.use-file", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "weights.cancel", busy);

  gtk_widget_set_visible (GTK_WIDGET (self->progress_row), busy);
  if (activity == CP_WEIGHTS_ACTIVITY_DOWNLOADING)
    {
      g_autofree char *received = g_format_size (cp_weights_state_get_received (self->weights));
      g_autofree char *total = g_format_size (cp_weights_state_get_total (self->weights));
      g_autofree char *figures = cp_weights_state_get_total (self->weights) > 0
        /* Translators: bytes received so far, then in all. */
        ? g_strdup_printf (_("%s of %s"), received, total) : g_strdup (received);
      double fraction = cp_weights_state_get_fraction (self->weights);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->progress_row), _("Downloading"));
      adw_action_row_set_subtitle (self->progress_row, figures);
      if (fraction >= 0)
        gtk_progress_bar_set_fraction (self->progress_bar, fraction);
      else
        gtk_progress_bar_pulse (self->progress_bar);
    }
  else if (activity == CP_WEIGHTS_ACTIVITY_IMPORTING)
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->progress_row),
                                     _("Checking and copying the file"));
      adw_action_row_set_subtitle (self->progress_row, "");
      gtk_progress_bar_pulse (self->progress_bar);
    }

  gtk_widget_set_visible (GTK_WIDGET (self->error_row), error != NULL && !busy);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->error_row), error != NULL ? error : "");
}

/* ---- actions ------------------------------------------------------------------ */

static void
action_download (GtkWidget  *widget,
                 const char *name,
                 GVariant   *param)
{
  CpWeightsSettings *self = CP_WEIGHTS_SETTINGS (widget);

  if (self->weights != NULL)
    cp_weights_state_download (self->weights);
}

static void
action_cancel (GtkWidget  *widget,
               const char *name,
               GVariant   *param)
{
  CpWeightsSettings *self = CP_WEIGHTS_SETTINGS (widget);

  if (self->weights != NULL)
    cp_weights_state_cancel (self->weights);
}

static void
action_use_file (GtkWidget  *widget,
                 const char *name,
                 GVariant   *param)
{
  CpWeightsSettings *self = CP_WEIGHTS_SETTINGS (widget);

  if (self->weights != NULL)
    cp_weights_state_import (self->weights, g_variant_get_string (param, NULL));
}

static void
on_chooser_response (GtkNativeDialog   *dialog,
                     int                response,
                     CpWeightsSettings *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        gtk_widget_activate_action (GTK_WIDGET (self), "weights.use-file", "s", path);
    }
  gtk_native_dialog_destroy (dialog);
  g_clear_object (&self->chooser);
}

static void
action_choose_file (GtkWidget  *widget,
                    const char *name,
                    GVariant   *param)
{
  CpWeightsSettings *self = CP_WEIGHTS_SETTINGS (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  g_autoptr(GtkFileFilter) weights = gtk_file_filter_new ();
  g_autoptr(GtkFileFilter) all = gtk_file_filter_new ();

  if (self->chooser != NULL)
    return;
  /* GTK 4.8 has no GtkFileDialog; the portal's chooser where there is one. */
  self->chooser = gtk_file_chooser_native_new (_("Use Weights File"),
                                               GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                               GTK_FILE_CHOOSER_ACTION_OPEN, _("_Use"),
                                               _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (self->chooser), TRUE);
  gtk_file_filter_set_name (weights, _("ResNet-18 weights (.pth, .safetensors)"));
  gtk_file_filter_add_pattern (weights, "*.pth");
  gtk_file_filter_add_pattern (weights, "*.safetensors");
  gtk_file_filter_set_name (all, _("All files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), weights);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), all);
  g_signal_connect (self->chooser, "response", G_CALLBACK (on_chooser_response), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (self->chooser));
}

/* ---- setup ------------------------------------------------------------------- */

void
cp_weights_settings_set (CpWeightsSettings *self,
                         GSettings         *settings,
                         CpWeightsState    *weights)
{
  g_return_if_fail (CP_IS_WEIGHTS_SETTINGS (self));
  g_return_if_fail (self->settings == NULL);

  self->settings = g_object_ref (settings);
  self->weights = g_object_ref (weights);
  g_settings_bind (settings, "use-imagenet-weights", self->use_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_signal_group_set_target (self->weights_signals, weights);
  g_signal_group_set_target (self->settings_signals, settings);
  update (self);
}

static void
cp_weights_settings_dispose (GObject *object)
{
  CpWeightsSettings *self = CP_WEIGHTS_SETTINGS (object);

  if (self->chooser != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->chooser, self);
      gtk_native_dialog_destroy (GTK_NATIVE_DIALOG (self->chooser));
      g_clear_object (&self->chooser);
    }
  if (self->weights_signals != NULL)
    g_signal_group_set_target (self->weights_signals, NULL);
  if (self->settings_signals != NULL)
    g_signal_group_set_target (self->settings_signals, NULL);
  g_clear_object (&self->weights_signals);
  g_clear_object (&self->settings_signals);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_WEIGHTS_SETTINGS);
  g_clear_object (&self->weights);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (cp_weights_settings_parent_class)->dispose (object);
}

static void
cp_weights_settings_class_init (CpWeightsSettingsClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_weights_settings_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-weights-settings.ui");
  gtk_widget_class_bind_template_child (widget_class, CpWeightsSettings, weights_row);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsSettings, progress_row);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsSettings, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsSettings, error_row);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsSettings, use_switch);
  /* Named, for gtk_widget_get_template_child () (the tests). */
  gtk_widget_class_bind_template_child_full (widget_class, "download_button", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "import_button", FALSE, 0);
  gtk_widget_class_install_action (widget_class, "weights.download", NULL, action_download);
  gtk_widget_class_install_action (widget_class, "weights.cancel", NULL, action_cancel);
  gtk_widget_class_install_action (widget_class, "weights.choose-file", NULL, action_choose_file);
  gtk_widget_class_install_action (widget_class, "weights.use-file", "s", action_use_file);
}

static void
cp_weights_settings_init (CpWeightsSettings *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->weights_signals = g_signal_group_new (CP_TYPE_WEIGHTS_STATE);
  g_signal_group_connect_swapped (self->weights_signals, "notify", G_CALLBACK (update), self);
  self->settings_signals = g_signal_group_new (G_TYPE_SETTINGS);
  g_signal_group_connect_swapped (self->settings_signals, "changed::use-imagenet-weights",
                                  G_CALLBACK (update), self);
}
