/* cp-window-private.h: the window's state, shared by its per-page files
 * (cp-window-dataset.c, -train.c, -augment.c, -inspect.c, -eval.c). */
#pragma once

#include <adwaita.h>

#include "pipeline/evaluate.h"
#include "pipeline/model.h"
#include "cp-plot-view.h"
#include "cp-training-settings.h"
#include "cp-window.h"
#include "cp-worker.h"

G_BEGIN_DECLS

typedef struct
{
  char           *name;
  CpCategoryState state;
  int             n_train;
  int             n_test;
  double          auroc;        /* NaN when unknown */
  double          threshold;    /* NaN when there is no model */
  CpThresholdSource threshold_source;
  double          false_reject_rate;  /* training's target; NaN when unknown */
  double          cv_threshold; /* the threshold training chose for it; NaN when unknown */
  int             image_size;   /* of the model, 0 when none */
  char           *created;      /* ISO 8601 from the model, or NULL */
  char           *problem;      /* why the model cannot be used, or NULL */
} CpCategoryInfo;

void  cp_category_info_free        (gpointer data);
/* Changes when the category's model file is replaced. */
char *cp_category_info_model_stamp (const CpCategoryInfo *info);

/* A step that would drop a moved, unsaved threshold: it waits for the
 * user's answer (and for the save, when that is the answer). */
typedef enum
{
  CP_WINDOW_STEP_NONE,
  CP_WINDOW_STEP_CATEGORY,   /* select the category named by the target */
  CP_WINDOW_STEP_DATASET,    /* open the folder named by the target */
  CP_WINDOW_STEP_CLOSE,
  CP_WINDOW_STEP_TRAIN,      /* train the selected category, or all of them when the target is "all":
                              * the new model brings its own threshold */
} CpWindowStep;

typedef struct
{
  char      *path;
  GdkTexture *thumbnail;  /* owned, may be NULL */
  double     score;       /* NaN until scored */
  char      *error;       /* NULL when fine */
  GtkWidget *row;         /* borrowed: lives in inspect_list */
} CpInspectItem;

struct _CpWindow
{
  AdwApplicationWindow parent_instance;

  /* owned references */
  GSettings        *settings;
  CpWorker         *worker;

  /* template widgets */
  AdwToastOverlay  *toast_overlay;
  AdwViewStack     *stack;
  AdwViewSwitcherTitle *switcher_title;
  GtkDropDown      *category_dropdown;
  GtkStringList    *category_names;
  GtkStack         *dataset_stack;
  AdwStatusPage    *empty_page;
  GtkWidget        *sample_button;
  GtkLabel         *dataset_label;
  GtkListBox       *category_list;
  GtkLabel         *models_label;
  CpTrainingSettings *training_settings;
  GtkProgressBar   *train_progress;
  GtkLabel         *train_status;
  CpPlotView       *loss_view;
  GtkLabel         *augment_seed_label;
  GtkGrid          *augment_grid;
  GtkWidget        *inspect_box;
  GtkScale         *threshold_scale;
  GtkAdjustment    *threshold_adjustment;
  GtkWidget        *threshold_reset_button;
  GtkWidget        *threshold_save_button;
  GtkLabel         *threshold_origin;
  GtkLabel         *threshold_stats;
  GtkListBox       *inspect_list;
  GtkPicture       *inspect_picture;
  GtkLabel         *inspect_caption;
  GtkCheckButton   *heatmap_toggle;
  GtkScale         *heatmap_opacity_scale;
  GtkAdjustment    *heatmap_opacity;
  GtkLabel         *heatmap_status;
  GtkLabel         *eval_label;
  CpPlotView       *roc_view;
  CpPlotView       *hist_view;
  CpPlotView       *tsne_view;

  /* dataset */
  char             *data_dir;
  char             *model_dir;
  char             *dataset_error;
  char             *last_toast;      /* the latest message shown as a toast (toasts queue) */
  GPtrArray        *categories;      /* CpCategoryInfo * */
  char             *category;        /* selected category name */
  char             *category_model_stamp; /* its model when it was selected */
  gboolean          syncing_dropdown;

  /* training */
  char             *training_category;
  gboolean          training_patch;   /* the progress shown is of its heatmap model */
  GArray           *losses;          /* float, of the category training now */
  int               loss_total_steps;

  /* augmentations */
  guint64           augment_seed;

  /* inspection */
  GPtrArray        *inspect_items;   /* CpInspectItem * */
  double            model_threshold; /* stored in the model file; NaN without a model */
  GdkTexture       *inspect_texture; /* the selected image as decoded, or NULL */
  char             *heatmap_path;    /* image the heatmap below belongs to */
  struct _CpInspectHeatmap *heatmap; /* of the selected image, or NULL */
  gpointer          patch_cache;     /* the loaded patch model (engine thread only) */
  CpWindowStep      pending_step;    /* waits on the unsaved threshold question */
  char             *pending_target;  /* its category or folder */
  GtkWidget        *unsaved_dialog;  /* borrowed: the question while it is shown */

  /* evaluation of the selected category (also feeds the threshold stats) */
  CpEvalResult     *eval;
  char             *eval_category;
  float            *tsne_xy;         /* (n_points, 2) */
  int              *tsne_kind;       /* (n_points) see cp-window-eval.c */
  int               tsne_points;
};

CpCategoryInfo *cp_window_find_category      (CpWindow *self, const char *name);
void            cp_window_sync_category_widgets (CpWindow *self, const char *name);
void            cp_window_toast              (CpWindow *self, const char *message);
char           *cp_window_model_path         (CpWindow *self, const char *category);
void            cp_window_update_actions     (CpWindow *self);
/* Takes @step at once, without asking. */
void            cp_window_run_step           (CpWindow *self, CpWindowStep step, const char *target);

/* cp-window-dataset.c */
void cp_window_dataset_init        (CpWindow *self);
void cp_window_dataset_refresh     (CpWindow *self);
void cp_window_dataset_open_dialog (CpWindow *self);
void cp_window_dataset_open_now    (CpWindow *self, const char *path);
void cp_window_dataset_create_sample (CpWindow *self);
void cp_window_dataset_rebuild_list (CpWindow *self);

/* cp-window-train.c */
void cp_window_train_init          (CpWindow *self);
void cp_window_train_start         (CpWindow *self, gboolean all);
void cp_window_train_cancel        (CpWindow *self);

/* cp-window-augment.c */
void cp_window_augment_init        (CpWindow *self);
void cp_window_augment_refresh     (CpWindow *self, gboolean new_seed);

/* cp-window-inspect.c */
void cp_window_inspect_init        (CpWindow *self);
void cp_window_inspect_open_dialog (CpWindow *self);
void cp_window_inspect_clear       (CpWindow *self);
void cp_window_inspect_category_changed (CpWindow *self);
void cp_window_inspect_update_threshold (CpWindow *self);
gboolean cp_window_inspect_threshold_moved (CpWindow *self);
gboolean cp_window_inspect_save_threshold (CpWindow *self);
gboolean cp_window_inspect_may_leave (CpWindow *self, CpWindowStep step, const char *target);
void cp_window_inspect_reset_threshold (CpWindow *self);
void cp_window_inspect_update_controls (CpWindow *self);
void cp_window_inspect_free        (CpWindow *self);

/* cp-window-eval.c */
void cp_window_eval_init           (CpWindow *self);
void cp_window_eval_run            (CpWindow *self);
void cp_window_eval_clear          (CpWindow *self);
void cp_window_eval_export_plots   (CpWindow *self);
void cp_window_eval_export_csv     (CpWindow *self);
void cp_window_eval_set_threshold  (CpWindow *self, double threshold);

G_END_DECLS
