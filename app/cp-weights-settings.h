/* cp-weights-settings.h: the Preferences group of the ImageNet weights:
 * which file training starts from (path and short SHA-256, or none),
 * "Download…" and "Use Weights File…" with their progress, Cancel and
 * errors, and the "use-imagenet-weights" switch.
 *
 * Actions: weights.download, weights.cancel, weights.choose-file (the
 * file chooser), weights.use-file (s: a path, what the chooser hands on).
 */
#pragma once

#include <adwaita.h>

#include "cp-weights-state.h"

G_BEGIN_DECLS

#define CP_TYPE_WEIGHTS_SETTINGS (cp_weights_settings_get_type ())
G_DECLARE_FINAL_TYPE (CpWeightsSettings, cp_weights_settings, CP, WEIGHTS_SETTINGS,
                      AdwPreferencesGroup)

/* Once: the group shows @weights and binds @settings. */
void cp_weights_settings_set (CpWeightsSettings *self,
                              GSettings         *settings,
                              CpWeightsState    *weights);

G_END_DECLS
