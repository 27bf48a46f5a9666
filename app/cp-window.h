/* cp-window.h: the main window: dataset, training, augmentations,
 * inspection and evaluation pages.
 *
 * The functions below beyond cp_window_new () exist so that tests (and the
 * screenshot script) can drive the real window without a pointer.
 */
#pragma once

#include <adwaita.h>

#include "cp-application.h"

G_BEGIN_DECLS

#define CP_TYPE_WINDOW (cp_window_get_type ())
G_DECLARE_FINAL_TYPE (CpWindow, cp_window, CP, WINDOW, AdwApplicationWindow)

typedef enum
{
  CP_CATEGORY_STATE_NOT_TRAINED,
  CP_CATEGORY_STATE_TRAINING,
  CP_CATEGORY_STATE_TRAINED,
  CP_CATEGORY_STATE_MODEL_ERROR,   /* a model file exists but cannot be used */
} CpCategoryState;

CpWindow        *cp_window_new                 (CpApplication *app);

/* Opens @path as the dataset (and remembers it); the scan runs on the
 * engine thread.  A threshold moved and not saved is asked about first:
 * then the folder opens only after Discard or a successful Save. */
void             cp_window_open_data_dir       (CpWindow      *self,
                                                const char    *path);
const char      *cp_window_get_model_dir       (CpWindow      *self);
/* Selects @name without asking; the category drop-down and list ask first
 * when a moved threshold would be dropped. */
void             cp_window_select_category     (CpWindow      *self,
                                                const char    *name);
CpCategoryState  cp_window_get_category_state  (CpWindow      *self,
                                                const char    *name);
/* Why the category's model file cannot be used, or NULL. */
const char      *cp_window_get_category_problem (CpWindow     *self,
                                                const char    *name);
/* The message shown for the dataset (layout errors), or NULL. */
const char      *cp_window_get_dataset_error   (CpWindow      *self);

/* The drop handler of the inspection page: @value holds a GdkFileList. */
gboolean         cp_window_handle_drop         (CpWindow      *self,
                                                const GValue  *value);
guint            cp_window_get_inspect_count   (CpWindow      *self);
/* Row @index: its file, its score (NaN until scored or on error) and its
 * error message (NULL when it was scored). */
gboolean         cp_window_get_inspect_row     (CpWindow      *self,
                                                guint          index,
                                                const char   **path,
                                                double        *score,
                                                const char   **error);

/* TRUE once the defect heatmap of the selected inspection row is shown
 * (its category has a patch model and the heatmap was computed). */
gboolean         cp_window_get_heatmap_available (CpWindow    *self,
                                                  gboolean    *has_outline);
/* The line under the large view about the heatmap (why there is none, ...). */
const char      *cp_window_get_heatmap_status  (CpWindow      *self);
/* The "Show heatmap" toggle of the large view. */
void             cp_window_set_heatmap_shown   (CpWindow      *self,
                                                gboolean       shown);
/* The large view of the inspection page (image, heatmap, outline). */
GtkWidget       *cp_window_get_inspect_view    (CpWindow      *self);
/* Selects row @index of the inspection list (shows it in the large view). */
void             cp_window_select_inspect_row  (CpWindow      *self,
                                                guint          index);

/* The threshold controls of the inspection page: "scale" (the slider),
 * "save" and "reset" (its buttons) and "origin" (the line saying what the
 * model file holds). */
GtkWidget       *cp_window_get_threshold_control (CpWindow    *self,
                                                  const char  *name);

/* The latest message shown as a toast, or NULL (a toast waits while
 * another is shown, so it may not be on screen yet). */
const char      *cp_window_get_last_toast      (CpWindow      *self);

/* "loss", "roc", "hist" or "tsne". */
GtkWidget       *cp_window_get_plot            (CpWindow      *self,
                                                const char    *name);
void             cp_window_show_page           (CpWindow      *self,
                                                const char    *name);

G_END_DECLS
