/* cp-training-settings.h: the training settings (profile, steps, batch
 * size, image size, defect heatmaps, device) as one preferences group,
 * bound to GSettings.  The Training page and the Preferences window each
 * show one. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define CP_TYPE_TRAINING_SETTINGS (cp_training_settings_get_type ())
G_DECLARE_FINAL_TYPE (CpTrainingSettings, cp_training_settings, CP, TRAINING_SETTINGS,
                      AdwPreferencesGroup)

GtkWidget *cp_training_settings_new          (GSettings          *settings);
GSettings *cp_training_settings_get_settings (CpTrainingSettings *self);
/* Binds the rows to @settings (the application's), once. */
void       cp_training_settings_set_settings (CpTrainingSettings *self,
                                              GSettings          *settings);

G_END_DECLS
