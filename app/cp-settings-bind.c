/* cp-settings-bind.c: string choice <-> list index mapping for GSettings. */
#include "config.h"

#include "cp-settings-bind.h"

const char *const cp_profile_choices[] = { "quick", "paper", "instant", "custom", NULL };
const char *const cp_device_choices[] = { "auto", "cpu", "cuda", NULL };

static gboolean
choice_get_mapping (GValue   *value,
                    GVariant *variant,
                    gpointer  user_data)
{
  const char *const *choices = user_data;
  const char *current = g_variant_get_string (variant, NULL);

  for (guint i = 0; choices[i] != NULL; i++)
    if (g_strcmp0 (choices[i], current) == 0)
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
choice_set_mapping (const GValue       *value,
                    const GVariantType *expected_type,
                    gpointer            user_data)
{
  const char *const *choices = user_data;
  guint index = g_value_get_uint (value);

  if (index >= g_strv_length ((char **) choices))
    return NULL;
  return g_variant_new_string (choices[index]);
}

void
cp_settings_bind_choice (GSettings         *settings,
                         const char        *key,
                         gpointer           object,
                         const char        *property,
                         const char *const *choices)
{
  g_settings_bind_with_mapping (settings, key, object, property, G_SETTINGS_BIND_DEFAULT,
                                choice_get_mapping, choice_set_mapping,
                                (gpointer) choices, NULL);
}
