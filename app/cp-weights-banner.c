/* cp-weights-banner.c: the window's offer of ImageNet weights (see
 * cp-weights-banner.h). */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-session.h"
#include "cp-weights-banner.h"

struct _CpWeightsBanner
{
  GtkWidget       parent_instance;

  CpSession      *session;
  GSignalGroup   *weights_signals;
  GSignalGroup   *settings_signals;
  gboolean        downloading;    /* a download this banner started: say when it is done */

  /* template widgets */
  GtkRevealer    *revealer;
  GtkLabel       *message_label;
  GtkProgressBar *progress_bar;
  GtkWidget      *not_now_button;
  GtkWidget      *download_button;
  GtkWidget      *cancel_button;
};

G_DEFINE_FINAL_TYPE (CpWeightsBanner, cp_weights_banner, GTK_TYPE_WIDGET)

static CpWeightsState *
weights_of (CpWeightsBanner *self)
{
  return self->session != NULL ? cp_session_get_weights (self->session) : NULL;
}

static void
show_progress (CpWeightsBanner *self,
               CpWeightsState  *weights)
{
  g_autofree char *received = g_format_size (cp_weights_state_get_received (weights));
  g_autofree char *text = NULL;
  double fraction = cp_weights_state_get_fraction (weights);

  if (cp_weights_state_get_total (weights) > 0)
    {
      g_autofree char *total = g_format_size (cp_weights_state_get_total (weights));

      /* Translators: bytes received so far, then in all ("12.0 MB of 46.8 MB"). */
      text = g_strdup_printf (_("Downloading ImageNet weights… %s of %s"), received, total);
    }
  else
    /* Translators: bytes received so far. */
    text = g_strdup_printf (_("Downloading ImageNet weights… %s"), received);
  gtk_label_set_text (self->message_label, text);
  if (fraction >= 0)
    gtk_progress_bar_set_fraction (self->progress_bar, fraction);
  else
    gtk_progress_bar_pulse (self->progress_bar);
}

static void
update (CpWeightsBanner *self)
{
  CpWeightsState *weights = weights_of (self);
  GSettings *settings = self->session != NULL ? cp_session_get_settings (self->session) : NULL;
  CpWeightsActivity activity;
  gboolean downloading, offer, busy;
  const char *error;

  if (weights == NULL || settings == NULL)
    {
      gtk_revealer_set_reveal_child (self->revealer, FALSE);
      return;
    }
  activity = cp_weights_state_get_activity (weights);
  downloading = activity == CP_WEIGHTS_ACTIVITY_DOWNLOADING;
  busy = downloading || activity == CP_WEIGHTS_ACTIVITY_IMPORTING;
  /* Its own business: a file Preferences could not use is said there. */
  error = cp_weights_state_get_error_activity (weights) == CP_WEIGHTS_ACTIVITY_DOWNLOADING
          ? cp_weights_state_get_error (weights) : NULL;
  offer = g_settings_get_boolean (settings, "offer-weights");

  if (self->downloading && !busy)
    {
      if (error != NULL)
        self->downloading = FALSE;
      else if (cp_weights_state_has_weights (weights))
        {
          self->downloading = FALSE;
          cp_session_toast (self->session, _("ImageNet weights are ready: training starts from them."));
        }
    }

  gtk_revealer_set_reveal_child (self->revealer,
                                 downloading
                                 || (cp_weights_state_get_checked (weights)
                                     && !cp_weights_state_has_weights (weights) && offer));
  gtk_widget_set_visible (GTK_WIDGET (self->progress_bar), downloading);
  gtk_widget_set_visible (self->cancel_button, downloading);
  gtk_widget_set_visible (self->download_button, !downloading);
  gtk_widget_set_visible (self->not_now_button, !downloading);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "banner.download", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "banner.cancel", downloading);
  if (downloading)
    gtk_widget_remove_css_class (GTK_WIDGET (self->message_label), "error");
  else if (error != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->message_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->message_label), "error");

  if (downloading)
    show_progress (self, weights);
  else if (error != NULL)
    {
      gtk_label_set_text (self->message_label, error);
      gtk_button_set_label (GTK_BUTTON (self->download_button), _("_Try Again"));
    }
  else
    {
      gtk_label_set_text (self->message_label,
                          _("Start from ImageNet weights (45 MB)? Training learns faster from "
                            "them, and the instant profile needs them."));
      gtk_button_set_label (GTK_BUTTON (self->download_button), _("_Download"));
    }
}

static void
action_download (GtkWidget  *widget,
                 const char *name,
                 GVariant   *param)
{
  CpWeightsBanner *self = CP_WEIGHTS_BANNER (widget);
  CpWeightsState *weights = weights_of (self);

  if (weights == NULL)
    return;
  self->downloading = TRUE;
  cp_weights_state_download (weights);
}

static void
action_not_now (GtkWidget  *widget,
                const char *name,
                GVariant   *param)
{
  CpWeightsBanner *self = CP_WEIGHTS_BANNER (widget);

  /* Remembered: the banner does not come back; Preferences downloads. */
  if (self->session != NULL)
    g_settings_set_boolean (cp_session_get_settings (self->session), "offer-weights", FALSE);
}

static void
action_cancel (GtkWidget  *widget,
               const char *name,
               GVariant   *param)
{
  CpWeightsState *weights = weights_of (CP_WEIGHTS_BANNER (widget));

  if (weights != NULL)
    cp_weights_state_cancel (weights);
}

void
cp_weights_banner_set_session (CpWeightsBanner *self,
                               CpSession       *session)
{
  g_return_if_fail (CP_IS_WEIGHTS_BANNER (self));

  if (self->session == session)
    return;
  g_set_object (&self->session, session);
  self->downloading = FALSE;
  g_signal_group_set_target (self->weights_signals,
                             session != NULL ? cp_session_get_weights (session) : NULL);
  g_signal_group_set_target (self->settings_signals,
                             session != NULL ? cp_session_get_settings (session) : NULL);
  update (self);
}

static void
cp_weights_banner_dispose (GObject *object)
{
  CpWeightsBanner *self = CP_WEIGHTS_BANNER (object);

  if (self->weights_signals != NULL)
    g_signal_group_set_target (self->weights_signals, NULL);
  if (self->settings_signals != NULL)
    g_signal_group_set_target (self->settings_signals, NULL);
  g_clear_object (&self->weights_signals);
  g_clear_object (&self->settings_signals);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_WEIGHTS_BANNER);
  G_OBJECT_CLASS (cp_weights_banner_parent_class)->dispose (object);
}

static void
cp_weights_banner_class_init (CpWeightsBannerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cp_weights_banner_dispose;

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-weights-banner.ui");
  gtk_widget_class_bind_template_child (widget_class, CpWeightsBanner, revealer);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsBanner, message_label);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsBanner, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsBanner, not_now_button);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsBanner, download_button);
  gtk_widget_class_bind_template_child (widget_class, CpWeightsBanner, cancel_button);
  gtk_widget_class_install_action (widget_class, "banner.download", NULL, action_download);
  gtk_widget_class_install_action (widget_class, "banner.not-now", NULL, action_not_now);
  gtk_widget_class_install_action (widget_class, "banner.cancel", NULL, action_cancel);
}

static void
cp_weights_banner_init (CpWeightsBanner *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->weights_signals = g_signal_group_new (CP_TYPE_WEIGHTS_STATE);
  g_signal_group_connect_swapped (self->weights_signals, "notify", G_CALLBACK (update), self);
  self->settings_signals = g_signal_group_new (G_TYPE_SETTINGS);
  g_signal_group_connect_swapped (self->settings_signals, "changed::offer-weights",
                                  G_CALLBACK (update), self);
  update (self);
}
