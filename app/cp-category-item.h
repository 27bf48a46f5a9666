/* cp-category-item.h: one category of the open dataset, as the pages see
 * it: its image counts, what its model file says, the threshold the user
 * works with (which may be moved away from the stored one) and its latest
 * evaluation.  Every field is a property: pages follow them with notify::.
 *
 * Named CpCategoryItem, not CpCategory: engine/data/dataset.h has a
 * CpCategory already (the scanned file lists of a category).
 */
#pragma once

#include <glib-object.h>

#include "pipeline/model.h"
#include "cp-evaluation.h"

G_BEGIN_DECLS

typedef enum
{
  CP_CATEGORY_STATE_NOT_TRAINED,
  CP_CATEGORY_STATE_TRAINING,
  CP_CATEGORY_STATE_TRAINED,
  CP_CATEGORY_STATE_MODEL_ERROR,   /* a model file exists but cannot be used */
} CpCategoryState;

#define CP_TYPE_CATEGORY_STATE (cp_category_state_get_type ())
GType cp_category_state_get_type (void);

/* What the model file of a category says (or that there is none). */
typedef struct
{
  CpCategoryState   state;
  double            auroc;              /* NaN when unknown */
  double            threshold;          /* stored; NaN when there is no model */
  CpThresholdSource threshold_source;
  double            false_reject_rate;  /* training's target; NaN when unknown */
  double            cv_threshold;       /* the threshold training chose; NaN when unknown */
  int               image_size;         /* of the model, 0 when none */
  char             *created;            /* ISO 8601 from the model, or NULL */
  char             *problem;            /* why the model cannot be used, or NULL */
  char             *refits;             /* the model's "refit_added" list, or NULL: a refit
                                         * ("Mark as good") changes the scores, not "created" */
  gboolean          has_regions;        /* scores regions too (score_parts global+local):
                                         * its region map is a heatmap */
  char             *backbone_init;      /* the weights its backbone started from: their
                                         * SHA-256, "scratch", "unknown", or NULL (the
                                         * model does not say) */
} CpModelInfo;

void cp_model_info_init  (CpModelInfo       *info);
void cp_model_info_clear (CpModelInfo       *info);
void cp_model_info_copy  (CpModelInfo       *dest,
                          const CpModelInfo *src);

#define CP_TYPE_CATEGORY_ITEM (cp_category_item_get_type ())
G_DECLARE_FINAL_TYPE (CpCategoryItem, cp_category_item, CP, CATEGORY_ITEM, GObject)

CpCategoryItem    *cp_category_item_new                 (const char        *name);

const char        *cp_category_item_get_name            (CpCategoryItem    *self);
int                cp_category_item_get_n_train         (CpCategoryItem    *self);
int                cp_category_item_get_n_test          (CpCategoryItem    *self);
void               cp_category_item_set_counts          (CpCategoryItem    *self,
                                                         int                n_train,
                                                         int                n_test);

CpCategoryState    cp_category_item_get_state           (CpCategoryItem    *self);
gboolean           cp_category_item_is_trained          (CpCategoryItem    *self);
/* Only the state: training starts or ends without a new model file. */
void               cp_category_item_set_state           (CpCategoryItem    *self,
                                                         CpCategoryState    state);
const CpModelInfo *cp_category_item_get_model_info      (CpCategoryItem    *self);
/* A new reading of the model file.  When it names another model (see
 * "model-stamp"), the working threshold goes back to the stored one and
 * the evaluation, made with the old model, is dropped. */
void               cp_category_item_set_model_info      (CpCategoryItem    *self,
                                                         const CpModelInfo *info);
/* Changes when the model file is replaced (by training, or elsewhere). */
const char        *cp_category_item_get_model_stamp     (CpCategoryItem    *self);

/* The stored threshold changed (saved, or found changed when saving);
 * the working threshold stays where it is. */
void               cp_category_item_set_stored_threshold (CpCategoryItem   *self,
                                                          double            threshold,
                                                          CpThresholdSource source,
                                                          double            false_reject_rate,
                                                          double            cv_threshold);
double             cp_category_item_get_stored_threshold (CpCategoryItem   *self);

/* The threshold in use: the stored one unless the user moved it. */
double             cp_category_item_get_threshold       (CpCategoryItem    *self);
void               cp_category_item_set_threshold       (CpCategoryItem    *self,
                                                         double             threshold);
void               cp_category_item_reset_threshold     (CpCategoryItem    *self);
/* TRUE when the threshold in use is not the stored one. */
gboolean           cp_category_item_get_moved           (CpCategoryItem    *self);

/* The latest evaluation with the current model, or NULL. */
CpEvaluation      *cp_category_item_get_evaluation      (CpCategoryItem    *self);
void               cp_category_item_set_evaluation      (CpCategoryItem    *self,
                                                         CpEvaluation      *evaluation);
gboolean           cp_category_item_get_evaluating      (CpCategoryItem    *self);
void               cp_category_item_set_evaluating      (CpCategoryItem    *self,
                                                         gboolean           evaluating);
/* Why the latest evaluation failed, or NULL. */
const char        *cp_category_item_get_eval_error      (CpCategoryItem    *self);
void               cp_category_item_set_eval_error      (CpCategoryItem    *self,
                                                         const char        *message);

G_END_DECLS
