/* cp-settings-bind.h: binding GSettings string choices to combo rows. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The choices of the "profile" and "device" keys, in the order the combo
 * rows list them. */
extern const char *const cp_profile_choices[];
extern const char *const cp_device_choices[];

/* Binds the string key @key of @settings (one of @choices, a
 * NULL-terminated array that must outlive the binding) to the guint
 * property @property of @object (an AdwComboRow's "selected"), the n-th
 * choice being the n-th item. */
void cp_settings_bind_choice (GSettings          *settings,
                              const char         *key,
                              gpointer            object,
                              const char         *property,
                              const char *const  *choices);

G_END_DECLS
