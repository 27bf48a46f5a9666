/* cp-preferences-window.c: training and device settings. */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-preferences-window.h"
#include "cp-settings-bind.h"

struct _CpPreferencesWindow
{
  AdwPreferencesWindow parent_instance;

  GSettings   *settings;     /* owned */

  /* template widgets */
  AdwComboRow *profile_row;
  GtkWidget   *steps_spin;
  GtkWidget   *batch_spin;
  GtkWidget   *size_spin;
  GtkWidget   *heatmaps_switch;
  AdwComboRow *device_row;
};

G_DEFINE_FINAL_TYPE (CpPreferencesWindow, cp_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static gboolean
custom_profile_mapping (GValue   *value,
                        GVariant *variant,
                        gpointer  user_data)
{
  g_value_set_boolean (value, g_strcmp0 (g_variant_get_string (variant, NULL), "custom") == 0);
  return TRUE;
}

void
cp_preferences_bind_training (GSettings *settings,
                              GObject   *profile_row,
                              GObject   *steps_spin,
                              GObject   *batch_spin,
                              GObject   *size_spin,
                              GObject   *heatmaps_switch,
                              GObject   *device_row)
{
  GObject *spins[] = { steps_spin, batch_spin, size_spin };

  cp_settings_bind_choice (settings, "profile", profile_row, "selected", cp_profile_choices);
  cp_settings_bind_choice (settings, "device", device_row, "selected", cp_device_choices);
  g_settings_bind (settings, "steps", steps_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "batch-size", batch_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "image-size", size_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "heatmaps", heatmaps_switch, "active", G_SETTINGS_BIND_DEFAULT);
  /* Presets own the numbers: editing them would silently mean "custom". */
  for (gsize i = 0; i < G_N_ELEMENTS (spins); i++)
    g_settings_bind_with_mapping (settings, "profile", spins[i], "sensitive",
                                  G_SETTINGS_BIND_GET, custom_profile_mapping, NULL, NULL, NULL);
}

static void
cp_preferences_window_dispose (GObject *object)
{
  CpPreferencesWindow *self = CP_PREFERENCES_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_PREFERENCES_WINDOW);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (cp_preferences_window_parent_class)->dispose (object);
}

static void
cp_preferences_window_class_init (CpPreferencesWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_preferences_window_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, profile_row);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, size_spin);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, heatmaps_switch);
  gtk_widget_class_bind_template_child (widget_class, CpPreferencesWindow, device_row);
}

static void
cp_preferences_window_init (CpPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
cp_preferences_window_new (GSettings *settings)
{
  CpPreferencesWindow *self = g_object_new (CP_TYPE_PREFERENCES_WINDOW, NULL);

  self->settings = g_object_ref (settings);
  cp_preferences_bind_training (settings, G_OBJECT (self->profile_row),
                                G_OBJECT (self->steps_spin), G_OBJECT (self->batch_spin),
                                G_OBJECT (self->size_spin), G_OBJECT (self->heatmaps_switch),
                                G_OBJECT (self->device_row));
  return GTK_WIDGET (self);
}
