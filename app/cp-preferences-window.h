/* cp-preferences-window.h: the preferences, bound to GSettings, and the
 * model folder of the dataset open in @session (may be NULL). */
#pragma once

#include <adwaita.h>

#include "cp-session.h"
#include "cp-weights-state.h"

G_BEGIN_DECLS

#define CP_TYPE_PREFERENCES_WINDOW (cp_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (CpPreferencesWindow, cp_preferences_window, CP, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

GtkWidget *cp_preferences_window_new (GSettings      *settings,
                                      CpSession      *session,
                                      CpWeightsState *weights);

G_END_DECLS
