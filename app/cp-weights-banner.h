/* cp-weights-banner.h: the window's offer of ImageNet weights when none
 * are found ("Start from ImageNet weights (45 MB)?" Download / Not now),
 * with the download's progress, Cancel and what went wrong.
 *
 * It follows the CpWeightsState and settings ("offer-weights": Not now
 * turns it off; Preferences can still download) of the session its
 * window hands it.  Actions: banner.download, banner.not-now,
 * banner.cancel.
 */
#pragma once

#include <gtk/gtk.h>

#include "cp-session.h"

G_BEGIN_DECLS

#define CP_TYPE_WEIGHTS_BANNER (cp_weights_banner_get_type ())
G_DECLARE_FINAL_TYPE (CpWeightsBanner, cp_weights_banner, CP, WEIGHTS_BANNER, GtkWidget)

void cp_weights_banner_set_session (CpWeightsBanner *self,
                                    CpSession       *session);

G_END_DECLS
