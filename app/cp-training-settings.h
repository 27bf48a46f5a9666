/* cp-training-settings.h: the training settings (profile, steps, batch
 * size, image size, defect heatmaps, device) as one preferences group,
 * bound to GSettings.  The Training page and the Preferences window each
 * show one.
 *
 * The instant profile fits the Gaussian on the ImageNet embedding: its
 * choice is insensitive, with a tooltip saying why, while the
 * CpWeightsState given has no weights (or they are switched off). */
#pragma once

#include <adwaita.h>

#include "cp-weights-state.h"

G_BEGIN_DECLS

#define CP_TYPE_TRAINING_SETTINGS (cp_training_settings_get_type ())
G_DECLARE_FINAL_TYPE (CpTrainingSettings, cp_training_settings, CP, TRAINING_SETTINGS,
                      AdwPreferencesGroup)

GtkWidget *cp_training_settings_new          (GSettings          *settings);
GSettings *cp_training_settings_get_settings (CpTrainingSettings *self);
/* Binds the rows to @settings (the application's), once. */
void       cp_training_settings_set_settings (CpTrainingSettings *self,
                                              GSettings          *settings);
/* What the instant profile needs (the application's), once. */
void       cp_training_settings_set_weights  (CpTrainingSettings *self,
                                              CpWeightsState     *weights);

G_END_DECLS
