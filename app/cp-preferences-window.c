/* cp-preferences-window.c: training and device settings, and the ImageNet
 * weights training starts from. */
#include "config.h"

#include "cp-preferences-window.h"
#include "cp-training-settings.h"
#include "cp-weights-settings.h"

struct _CpPreferencesWindow
{
  AdwPreferencesWindow parent_instance;

  /* template widgets */
  CpTrainingSettings *training_settings;
  CpWeightsSettings  *weights_settings;
};

G_DEFINE_FINAL_TYPE (CpPreferencesWindow, cp_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
cp_preferences_window_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), CP_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS (cp_preferences_window_parent_class)->dispose (object);
}

static void
cp_preferences_window_class_init (CpPreferencesWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_preferences_window_dispose;
  g_type_ensure (CP_TYPE_TRAINING_SETTINGS);
  g_type_ensure (CP_TYPE_WEIGHTS_SETTINGS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, training_settings);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, weights_settings);
}

static void
cp_preferences_window_init (CpPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
cp_preferences_window_new (GSettings      *settings,
                           CpWeightsState *weights)
{
  CpPreferencesWindow *self = g_object_new (CP_TYPE_PREFERENCES_WINDOW, NULL);

  cp_training_settings_set_settings (self->training_settings, settings);
  cp_training_settings_set_weights (self->training_settings, weights);
  cp_weights_settings_set (self->weights_settings, settings, weights);
  return GTK_WIDGET (self);
}
