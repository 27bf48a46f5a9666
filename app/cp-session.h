/* cp-session.h: what one window works on: the open dataset, its
 * categories and the selected one, the training run's loss curve, and
 * the jobs that change categories (scanning, storing a threshold,
 * evaluating).
 *
 * Pages hold the session (CpPage:session) and follow it through
 * properties and signals; they never call each other.  Everything here
 * runs on the main thread; the engine work is queued on the CpWorker.
 *
 * Properties: "settings", "worker", "weights" (the application's
 * CpWeightsState; construct-only), "data-dir", "model-dir",
 * "model-dir-origin" (CpModelDirOrigin), "dataset-error", "categories" (GListModel of
 * CpCategoryItem), "selected" (CpCategoryItem or NULL, writable),
 * "training-category", "saving" (a threshold is being stored).
 * Signals: "toast" (a message for the user), "toast-action" (one with a
 * button: message, label, action name, target), "losses-changed",
 * "threshold-saved" (gboolean: the file holds the threshold in use).
 */
#pragma once

#include <gio/gio.h>

#include "cp-category-item.h"
#include "cp-weights-state.h"
#include "cp-worker.h"

G_BEGIN_DECLS

/* Where the model folder of the open dataset comes from. */
typedef enum
{
  CP_MODEL_DIR_APP,       /* the application's own folder for the dataset */
  CP_MODEL_DIR_DATASET,   /* DATASET/models, which holds models */
  CP_MODEL_DIR_CHOSEN,    /* the one the user chose for the dataset */
} CpModelDirOrigin;

#define CP_TYPE_SESSION (cp_session_get_type ())
G_DECLARE_FINAL_TYPE (CpSession, cp_session, CP, SESSION, GObject)

CpSession      *cp_session_new               (GSettings      *settings,
                                              CpWorker       *worker,
                                              CpWeightsState *weights);
GSettings      *cp_session_get_settings      (CpSession      *self);
CpWorker       *cp_session_get_worker        (CpSession      *self);
CpWeightsState *cp_session_get_weights       (CpSession      *self);

/* ---- dataset ---- */
const char     *cp_session_get_data_dir      (CpSession      *self);
const char     *cp_session_get_model_dir     (CpSession      *self);
/* Opening a dataset picks its model folder: the one the user chose for it
 * (GSettings "model-folders"), else DATASET/models when that holds
 * models (the command line's layout: <category>.safetensors), else the
 * application's own folder for the dataset. */
CpModelDirOrigin cp_session_get_model_dir_origin (CpSession  *self);
/* The open dataset's models come from @path, an existing folder, from now
 * on (and whenever the dataset is opened again): its categories are read
 * again.  FALSE with @error (a message for the user) without a dataset,
 * while a category trains, or when @path is not a folder.  Callers that
 * could drop a moved threshold ask cp_threshold_guard_confirm_async ()
 * first. */
gboolean        cp_session_set_model_dir     (CpSession      *self,
                                              const char     *path,
                                              GError        **error);
/* The message about a folder that is not a dataset, or NULL. */
const char     *cp_session_get_dataset_error (CpSession      *self);
/* Opens @path at once (and remembers it): callers that could drop a moved
 * threshold ask cp_threshold_guard_confirm_async () first. */
void            cp_session_open              (CpSession      *self,
                                              const char     *path);
/* Opens the folder remembered in the settings, if any. */
void            cp_session_restore           (CpSession      *self);
/* Reads the dataset and the model files again (engine thread). */
void            cp_session_refresh           (CpSession      *self);
/* The model file of @category, or NULL without a dataset. */
char           *cp_session_model_path        (CpSession      *self,
                                              const char     *category);

/* ---- categories ---- */
GListModel     *cp_session_get_categories    (CpSession      *self);
CpCategoryItem *cp_session_find              (CpSession      *self,
                                              const char     *name);
CpCategoryItem *cp_session_get_selected      (CpSession      *self);
/* Selects without asking; a threshold moved on the category selected
 * before goes back to its stored value. */
void            cp_session_set_selected      (CpSession      *self,
                                              CpCategoryItem *item);
/* Selects the category named @name (NULL: none); FALSE if there is none. */
gboolean        cp_session_select_name       (CpSession      *self,
                                              const char     *name);
/* A new reading of @item's model file (the one a training run just
 * wrote, say): says so when it drops a moved threshold of the selected
 * category. */
void            cp_session_update_model      (CpSession      *self,
                                              CpCategoryItem *item,
                                              const CpModelInfo *info);

/* ---- training ---- */
/* The category being trained now, or NULL: a scan keeps its state. */
const char     *cp_session_get_training_category (CpSession  *self);
void            cp_session_set_training_category (CpSession  *self,
                                                  const char *name);
/* The loss of every step of the model being trained (float), and the
 * steps it will take. */
GArray         *cp_session_get_losses        (CpSession      *self);
const int      *cp_session_get_loss_total_steps (CpSession   *self);
void            cp_session_reset_losses      (CpSession      *self,
                                              int             total_steps);
/* Records @loss up to @step (steps not heard of repeat it). */
void            cp_session_add_loss          (CpSession      *self,
                                              int             step,
                                              int             total_steps,
                                              double          loss);

/* ---- threshold ---- */
/* Stores the selected category's threshold in use in its model file
 * (engine thread); "threshold-saved" tells the outcome.  FALSE when there
 * is nothing to store. */
gboolean        cp_session_save_threshold    (CpSession      *self);
gboolean        cp_session_get_saving        (CpSession      *self);

/* ---- evaluation ---- */
/* Evaluates the selected category on its test images unless it has an
 * evaluation (or one is running) already; @again: even then. */
void            cp_session_evaluate          (CpSession      *self,
                                              gboolean        again);

/* ---- messages ---- */
void            cp_session_toast             (CpSession      *self,
                                              const char     *message);
/* A message with a button that activates @action_name ("win.NAME") with
 * @target (may be NULL; a floating reference is taken): "Undo". */
void            cp_session_toast_action      (CpSession      *self,
                                              const char     *message,
                                              const char     *button_label,
                                              const char     *action_name,
                                              GVariant       *target);

G_END_DECLS
