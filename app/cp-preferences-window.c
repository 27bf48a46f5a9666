/* cp-preferences-window.c: training and device settings, the ImageNet
 * weights training starts from, and the open dataset's model folder. */
#include "config.h"

#include "cp-model-folder-group.h"
#include "cp-preferences-window.h"
#include "cp-training-settings.h"
#include "cp-weights-settings.h"

struct _CpPreferencesWindow
{
  AdwPreferencesWindow parent_instance;

  /* template widgets */
  CpTrainingSettings *training_settings;
  CpWeightsSettings  *weights_settings;
  CpModelFolderGroup *model_folder_group;
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
  g_type_ensure (CP_TYPE_MODEL_FOLDER_GROUP);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, training_settings);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, weights_settings);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, model_folder_group);
}

static void
cp_preferences_window_init (CpPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
cp_preferences_window_new (GSettings      *settings,
                           CpSession      *session,
                           CpWeightsState *weights)
{
  CpPreferencesWindow *self = g_object_new (CP_TYPE_PREFERENCES_WINDOW, NULL);

  cp_training_settings_set_settings (self->training_settings, settings);
  cp_training_settings_set_weights (self->training_settings, weights);
  cp_weights_settings_set (self->weights_settings, settings, weights);
  /* Without a window (and its session) there is no dataset to show. */
  cp_model_folder_group_set_session (self->model_folder_group, session);
  gtk_widget_set_visible (GTK_WIDGET (self->model_folder_group), session != NULL);
  return GTK_WIDGET (self);
}
