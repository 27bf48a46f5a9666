/* cp-training-settings.c: one group of rows for the training settings. */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-settings-bind.h"
#include "cp-training-settings.h"

struct _CpTrainingSettings
{
  AdwPreferencesGroup parent_instance;

  GSettings   *settings;     /* owned; NULL until set */

  /* template widgets */
  AdwComboRow *profile_row;
  GtkWidget   *steps_spin;
  GtkWidget   *batch_spin;
  GtkWidget   *size_spin;
  GtkWidget   *heatmaps_switch;
  AdwComboRow *device_row;
};

enum
{
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CpTrainingSettings, cp_training_settings, ADW_TYPE_PREFERENCES_GROUP)

static gboolean
custom_profile_mapping (GValue   *value,
                        GVariant *variant,
                        gpointer  user_data)
{
  g_value_set_boolean (value, g_strcmp0 (g_variant_get_string (variant, NULL), "custom") == 0);
  return TRUE;
}

/* The profile row says what the chosen preset does and about how long it
 * takes (issue 19: "Paper" was not explained).  Times: docs/results.md's
 * training speed on a 2-core CPU. */
static void
update_profile_subtitle (CpTrainingSettings *self)
{
  g_autofree char *profile = g_settings_get_string (self->settings, "profile");
  const char *text;

  if (g_str_equal (profile, "paper"))
    text = _("The paper’s setting: 10000 steps of 32 images at 256 px. About two days a category "
             "on a laptop CPU: meant for an NVIDIA GPU");
  else if (g_str_equal (profile, "quick"))
    text = _("800 steps of 8 images at 64 px, with region scores for small defects: about 6 "
             "minutes a category on a laptop CPU");
  else
    text = _("Your own steps, batch size and image size, below");
  adw_action_row_set_subtitle (ADW_ACTION_ROW (self->profile_row), text);
}

void
cp_training_settings_set_settings (CpTrainingSettings *self,
                                   GSettings          *settings)
{
  GObject *spins[] = { G_OBJECT (self->steps_spin), G_OBJECT (self->batch_spin),
                       G_OBJECT (self->size_spin) };

  g_return_if_fail (CP_IS_TRAINING_SETTINGS (self));
  /* The bindings last as long as the rows: one set of them. */
  if (settings == self->settings || self->settings != NULL)
    return;
  self->settings = g_object_ref (settings);
  cp_settings_bind_choice (settings, "profile", self->profile_row, "selected", cp_profile_choices);
  cp_settings_bind_choice (settings, "device", self->device_row, "selected", cp_device_choices);
  g_settings_bind (settings, "steps", self->steps_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "batch-size", self->batch_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "image-size", self->size_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "heatmaps", self->heatmaps_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (settings, "changed::profile", G_CALLBACK (update_profile_subtitle), self,
                           G_CONNECT_SWAPPED);
  update_profile_subtitle (self);
  /* Presets own the numbers: editing them would silently mean "custom". */
  for (gsize i = 0; i < G_N_ELEMENTS (spins); i++)
    g_settings_bind_with_mapping (settings, "profile", spins[i], "sensitive",
                                  G_SETTINGS_BIND_GET, custom_profile_mapping, NULL, NULL, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SETTINGS]);
}

GSettings *
cp_training_settings_get_settings (CpTrainingSettings *self)
{
  g_return_val_if_fail (CP_IS_TRAINING_SETTINGS (self), NULL);
  return self->settings;
}

static void
cp_training_settings_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  CpTrainingSettings *self = CP_TRAINING_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_training_settings_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  CpTrainingSettings *self = CP_TRAINING_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      if (g_value_get_object (value) != NULL)
        cp_training_settings_set_settings (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_training_settings_dispose (GObject *object)
{
  CpTrainingSettings *self = CP_TRAINING_SETTINGS (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_TRAINING_SETTINGS);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (cp_training_settings_parent_class)->dispose (object);
}

static void
cp_training_settings_class_init (CpTrainingSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cp_training_settings_dispose;
  object_class->get_property = cp_training_settings_get_property;
  object_class->set_property = cp_training_settings_set_property;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, G_TYPE_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-training-settings.ui");
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, profile_row);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, size_spin);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, heatmaps_switch);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, device_row);
}

static void
cp_training_settings_init (CpTrainingSettings *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
cp_training_settings_new (GSettings *settings)
{
  return g_object_new (CP_TYPE_TRAINING_SETTINGS, "settings", settings, NULL);
}
