/* cp-preferences-window.h: the preferences, bound to GSettings. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CP_TYPE_PREFERENCES_WINDOW (cp_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (CpPreferencesWindow, cp_preferences_window, CP, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

GtkWidget *cp_preferences_window_new (GSettings *settings);

/* Makes the steps, batch size and image size widgets editable only with
 * the "custom" profile; shared with the training page. */
void       cp_preferences_bind_training (GSettings *settings,
                                         GObject   *profile_row,
                                         GObject   *steps_spin,
                                         GObject   *batch_spin,
                                         GObject   *size_spin,
                                         GObject   *heatmaps_switch,
                                         GObject   *device_row);

G_END_DECLS
