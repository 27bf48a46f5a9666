/* cp-application.h: the AdwApplication of CutPaste Inspector.
 *
 * Owns the settings, the one engine thread shared by all windows, what
 * is known of the ImageNet weights (cp-weights-state.h), and the
 * application-wide actions (preferences, about, shortcuts, quit).
 */
#pragma once

#include <adwaita.h>

#include "cp-weights-state.h"
#include "cp-worker.h"

G_BEGIN_DECLS

#define CP_TYPE_APPLICATION (cp_application_get_type ())
G_DECLARE_FINAL_TYPE (CpApplication, cp_application, CP, APPLICATION, AdwApplication)

CpApplication *cp_application_new          (void);
GSettings     *cp_application_get_settings (CpApplication *self);
CpWorker      *cp_application_get_worker   (CpApplication *self);
CpWeightsState *cp_application_get_weights_state (CpApplication *self);

G_END_DECLS
