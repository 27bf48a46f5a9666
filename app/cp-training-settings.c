/* cp-training-settings.c: one group of rows for the training settings. */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-settings-bind.h"
#include "cp-training-settings.h"

struct _CpTrainingSettings
{
  AdwPreferencesGroup parent_instance;

  GSettings      *settings;     /* owned; NULL until set */
  CpWeightsState *weights;      /* owned; NULL until set */
  GSignalGroup   *weights_signals;
  GSignalGroup   *settings_signals;
  GPtrArray      *instant_items; /* GtkListItem: the instant choice as the list shows it */

  /* template widgets */
  AdwComboRow *profile_row;
  GtkWidget   *steps_row;
  GtkWidget   *batch_row;
  GtkWidget   *heatmaps_row;
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

/* TRUE for every profile that trains: the instant one has no steps, no
 * batches and no patch model. */
static gboolean
trains_mapping (GValue   *value,
                GVariant *variant,
                gpointer  user_data)
{
  g_value_set_boolean (value, g_strcmp0 (g_variant_get_string (variant, NULL), "instant") != 0);
  return TRUE;
}

static const char *
profile_description (const char *profile)
{
  /* Times: docs/results.md's training speed on a 2-core CPU (paper: 960000
   * images at 19.2 images/s, `cutpaste bench` at S 256). */
  if (g_strcmp0 (profile, "quick") == 0)
    return _("800 steps of 8 images at 64 px, with region scores for small defects: about 6 "
             "minutes a category on a laptop CPU");
  if (g_strcmp0 (profile, "paper") == 0)
    return _("The paper’s setting: 10000 steps of 32 images at 256 px. About 14 hours a category "
             "on a 2-core CPU: meant for an NVIDIA GPU");
  if (g_strcmp0 (profile, "instant") == 0)
    return _("Fits in seconds from ImageNet weights; no training");
  return _("Your own steps, batch size and image size, below");
}

/* Why the instant profile cannot be chosen now, or NULL when it can. */
static const char *
instant_unavailable (CpTrainingSettings *self)
{
  if (self->weights == NULL)
    return NULL;   /* not told: the engine says so if it must */
  if (!cp_weights_state_get_checked (self->weights))
    return _("Needs ImageNet weights: still looking for them");
  if (!cp_weights_state_has_weights (self->weights))
    return _("Needs ImageNet weights, and none were found: download them from the banner or in "
             "Preferences");
  if (self->settings != NULL && !g_settings_get_boolean (self->settings, "use-imagenet-weights"))
    return _("Needs ImageNet weights, and “Start from ImageNet weights” is off in Preferences");
  return NULL;
}

static void
show_instant_item (CpTrainingSettings *self,
                   GtkListItem        *item)
{
  const char *why = instant_unavailable (self);
  GtkWidget *child = gtk_list_item_get_child (item);

  gtk_widget_set_sensitive (child, why == NULL);
  gtk_widget_set_tooltip_text (child, why);
  gtk_list_item_set_activatable (item, why == NULL);
  gtk_list_item_set_selectable (item, why == NULL);
}

/* The row's subtitle explains the profile chosen, and why the instant
 * one would not run now. */
static void
update_profile (CpTrainingSettings *self)
{
  g_autofree char *profile = NULL;
  const char *why;

  for (guint i = 0; i < self->instant_items->len; i++)
    show_instant_item (self, self->instant_items->pdata[i]);
  if (self->settings == NULL)
    return;
  profile = g_settings_get_string (self->settings, "profile");
  why = g_str_equal (profile, "instant") ? instant_unavailable (self) : NULL;
  if (why != NULL)
    {
      g_autofree char *text = g_strdup_printf ("%s. %s.", profile_description (profile), why);

      adw_action_row_set_subtitle (ADW_ACTION_ROW (self->profile_row), text);
    }
  else
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->profile_row), profile_description (profile));
}

/* ---- the profile list: each choice with what it means ---- */

static void
profile_item_setup (GtkSignalListItemFactory *factory,
                    GtkListItem              *item,
                    gpointer                  user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *title = gtk_label_new (NULL);
  GtkWidget *subtitle = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_xalign (GTK_LABEL (subtitle), 0);
  gtk_label_set_wrap (GTK_LABEL (subtitle), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (subtitle), 40);
  gtk_widget_add_css_class (subtitle, "dim-label");
  gtk_widget_add_css_class (subtitle, "caption");
  gtk_box_append (GTK_BOX (box), title);
  gtk_box_append (GTK_BOX (box), subtitle);
  gtk_list_item_set_child (item, box);
}

static void
profile_item_bind (GtkSignalListItemFactory *factory,
                   GtkListItem              *item,
                   CpTrainingSettings       *self)
{
  GtkWidget *box = gtk_list_item_get_child (item);
  GtkWidget *title = gtk_widget_get_first_child (box);
  GtkWidget *subtitle = gtk_widget_get_next_sibling (title);
  guint position = gtk_list_item_get_position (item);
  const char *profile = position < g_strv_length ((char **) cp_profile_choices)
                        ? cp_profile_choices[position] : NULL;

  gtk_label_set_text (GTK_LABEL (title),
                      gtk_string_object_get_string (gtk_list_item_get_item (item)));
  gtk_label_set_text (GTK_LABEL (subtitle), profile_description (profile));
  if (g_strcmp0 (profile, "instant") == 0)
    {
      g_ptr_array_add (self->instant_items, item);
      show_instant_item (self, item);
    }
}

static void
profile_item_unbind (GtkSignalListItemFactory *factory,
                     GtkListItem              *item,
                     CpTrainingSettings       *self)
{
  GtkWidget *box = gtk_list_item_get_child (item);

  if (self->instant_items != NULL && g_ptr_array_remove (self->instant_items, item))
    {
      gtk_widget_set_sensitive (box, TRUE);
      gtk_widget_set_tooltip_text (box, NULL);
      gtk_list_item_set_activatable (item, TRUE);
      gtk_list_item_set_selectable (item, TRUE);
    }
}

/* An item may go without being unbound first (the list goes). */
static void
profile_item_teardown (GtkSignalListItemFactory *factory,
                       GtkListItem              *item,
                       CpTrainingSettings       *self)
{
  if (self->instant_items != NULL)
    g_ptr_array_remove (self->instant_items, item);
}

void
cp_training_settings_set_weights (CpTrainingSettings *self,
                                  CpWeightsState     *weights)
{
  g_return_if_fail (CP_IS_TRAINING_SETTINGS (self));
  if (weights == self->weights || self->weights != NULL)
    return;
  self->weights = g_object_ref (weights);
  g_signal_group_set_target (self->weights_signals, weights);
  update_profile (self);
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
  /* Presets own the numbers: editing them would silently mean "custom". */
  for (gsize i = 0; i < G_N_ELEMENTS (spins); i++)
    g_settings_bind_with_mapping (settings, "profile", spins[i], "sensitive",
                                  G_SETTINGS_BIND_GET, custom_profile_mapping, NULL, NULL, NULL);
  g_settings_bind_with_mapping (settings, "profile", self->steps_row, "visible",
                                G_SETTINGS_BIND_GET, trains_mapping, NULL, NULL, NULL);
  g_settings_bind_with_mapping (settings, "profile", self->batch_row, "visible",
                                G_SETTINGS_BIND_GET, trains_mapping, NULL, NULL, NULL);
  g_settings_bind_with_mapping (settings, "profile", self->heatmaps_row, "sensitive",
                                G_SETTINGS_BIND_GET, trains_mapping, NULL, NULL, NULL);
  g_signal_group_set_target (self->settings_signals, settings);
  update_profile (self);
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

  if (self->weights_signals != NULL)
    g_signal_group_set_target (self->weights_signals, NULL);
  if (self->settings_signals != NULL)
    g_signal_group_set_target (self->settings_signals, NULL);
  g_clear_object (&self->weights_signals);
  g_clear_object (&self->settings_signals);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_TRAINING_SETTINGS);
  g_clear_pointer (&self->instant_items, g_ptr_array_unref);
  g_clear_object (&self->weights);
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
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, steps_row);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, batch_row);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, heatmaps_row);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, size_spin);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, heatmaps_switch);
  gtk_widget_class_bind_template_child (widget_class, CpTrainingSettings, device_row);
}

static void
cp_training_settings_init (CpTrainingSettings *self)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  self->instant_items = g_ptr_array_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (profile_item_setup), self);
  g_signal_connect (factory, "bind", G_CALLBACK (profile_item_bind), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (profile_item_unbind), self);
  g_signal_connect (factory, "teardown", G_CALLBACK (profile_item_teardown), self);
  adw_combo_row_set_list_factory (self->profile_row, factory);
  g_object_unref (factory);

  self->weights_signals = g_signal_group_new (CP_TYPE_WEIGHTS_STATE);
  g_signal_group_connect_swapped (self->weights_signals, "notify", G_CALLBACK (update_profile), self);
  self->settings_signals = g_signal_group_new (G_TYPE_SETTINGS);
  g_signal_group_connect_swapped (self->settings_signals, "changed::profile",
                                  G_CALLBACK (update_profile), self);
  g_signal_group_connect_swapped (self->settings_signals, "changed::use-imagenet-weights",
                                  G_CALLBACK (update_profile), self);
}

GtkWidget *
cp_training_settings_new (GSettings *settings)
{
  return g_object_new (CP_TYPE_TRAINING_SETTINGS, "settings", settings, NULL);
}
