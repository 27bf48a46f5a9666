/* cp-weights-state.h: what the application knows of the ImageNet weights
 * training starts from (engine/pipeline/weights.h): the file in use, if
 * any, and the download or import under way.
 *
 * One per application (the cache it reads is the user's, not a
 * window's): the first-run banner, the Preferences group and the
 * training settings' instant profile all follow it through its
 * properties.  The engine's work runs on GTask threads, never on the
 * engine thread, so a download does not wait for training or hold it
 * up; results and progress come back on the main context.
 *
 * Properties: "checked" (a look through the caches has finished),
 * "path" and "sha256" (the file in use, or NULL), "activity"
 * (CpWeightsActivity), "received" and "total" (bytes of the download;
 * total 0 when the server did not say), "error" (why the last download
 * or import failed, or NULL).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  CP_WEIGHTS_ACTIVITY_IDLE,
  CP_WEIGHTS_ACTIVITY_CHECKING,     /* looking through the caches */
  CP_WEIGHTS_ACTIVITY_DOWNLOADING,
  CP_WEIGHTS_ACTIVITY_IMPORTING,
} CpWeightsActivity;

#define CP_TYPE_WEIGHTS_STATE (cp_weights_state_get_type ())
G_DECLARE_FINAL_TYPE (CpWeightsState, cp_weights_state, CP, WEIGHTS_STATE, GObject)

/* Starts looking through the caches at once. */
CpWeightsState    *cp_weights_state_new          (void);

gboolean           cp_weights_state_get_checked  (CpWeightsState *self);
/* The file training starts from, or NULL (none found, or not checked yet). */
const char        *cp_weights_state_get_path     (CpWeightsState *self);
const char        *cp_weights_state_get_sha256   (CpWeightsState *self);
/* Checked, and a valid file is there. */
gboolean           cp_weights_state_has_weights  (CpWeightsState *self);
CpWeightsActivity  cp_weights_state_get_activity (CpWeightsState *self);
/* Fraction of the download done, or -1 when the size is unknown. */
double             cp_weights_state_get_fraction (CpWeightsState *self);
guint64            cp_weights_state_get_received (CpWeightsState *self);
guint64            cp_weights_state_get_total    (CpWeightsState *self);
const char        *cp_weights_state_get_error    (CpWeightsState *self);
/* What failed with that error: DOWNLOADING or IMPORTING (IDLE without one). */
CpWeightsActivity  cp_weights_state_get_error_activity (CpWeightsState *self);

/* Looks through the caches again (another look under way is dropped). */
void               cp_weights_state_refresh      (CpWeightsState *self);
/* Downloads cp_weights_default_url () into the cache; nothing when a
 * download or import is under way. */
void               cp_weights_state_download     (CpWeightsState *self);
/* Checks @path and copies it into the cache. */
void               cp_weights_state_import       (CpWeightsState *self,
                                                  const char     *path);
/* Stops a download or import: nothing of it stays in the cache. */
void               cp_weights_state_cancel       (CpWeightsState *self);
/* Cancels, and runs the main context until the download or import has
 * ended (its temporary file removed): for quitting. */
void               cp_weights_state_shutdown     (CpWeightsState *self);

G_END_DECLS
