/* cp-category-item.c: one category of the open dataset. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "cp-category-item.h"

struct _CpCategoryItem
{
  GObject       parent_instance;

  char         *name;
  int           n_train;
  int           n_test;
  CpModelInfo   info;
  char         *model_stamp;
  double        threshold;      /* in use; NaN without a model */
  CpEvaluation *evaluation;
  gboolean      evaluating;
  char         *eval_error;
};

enum
{
  PROP_0,
  PROP_NAME,
  PROP_N_TRAIN,
  PROP_N_TEST,
  PROP_STATE,
  PROP_MODEL_STAMP,
  PROP_STORED_THRESHOLD,
  PROP_THRESHOLD,
  PROP_MOVED,
  PROP_EVALUATION,
  PROP_EVALUATING,
  PROP_EVAL_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_ENUM_TYPE (CpCategoryState, cp_category_state,
                    G_DEFINE_ENUM_VALUE (CP_CATEGORY_STATE_NOT_TRAINED, "not-trained"),
                    G_DEFINE_ENUM_VALUE (CP_CATEGORY_STATE_TRAINING, "training"),
                    G_DEFINE_ENUM_VALUE (CP_CATEGORY_STATE_TRAINED, "trained"),
                    G_DEFINE_ENUM_VALUE (CP_CATEGORY_STATE_MODEL_ERROR, "model-error"))

G_DEFINE_FINAL_TYPE (CpCategoryItem, cp_category_item, G_TYPE_OBJECT)

void
cp_model_info_init (CpModelInfo *info)
{
  memset (info, 0, sizeof *info);
  info->state = CP_CATEGORY_STATE_NOT_TRAINED;
  info->auroc = NAN;
  info->threshold = NAN;
  info->threshold_source = CP_THRESHOLD_SOURCE_NONE;
  info->false_reject_rate = NAN;
  info->cv_threshold = NAN;
}

void
cp_model_info_clear (CpModelInfo *info)
{
  g_clear_pointer (&info->created, g_free);
  g_clear_pointer (&info->problem, g_free);
  g_clear_pointer (&info->refits, g_free);
  g_clear_pointer (&info->backbone_init, g_free);
}

void
cp_model_info_copy (CpModelInfo       *dest,
                    const CpModelInfo *src)
{
  if (dest == src)
    return;
  cp_model_info_clear (dest);
  *dest = *src;
  dest->created = g_strdup (src->created);
  dest->problem = g_strdup (src->problem);
  dest->refits = g_strdup (src->refits);
  dest->backbone_init = g_strdup (src->backbone_init);
}

/* The creation time names a model file's content well enough: a new
 * training run writes a new one; a refit changes the list of images it
 * added. */
static char *
model_stamp (const CpModelInfo *info)
{
  g_autofree char *refits = info->refits != NULL
    ? g_compute_checksum_for_string (G_CHECKSUM_SHA256, info->refits, -1) : NULL;

  return g_strdup_printf ("%s|%d|%s", info->created != NULL ? info->created : "",
                          info->state == CP_CATEGORY_STATE_MODEL_ERROR, refits != NULL ? refits : "");
}

/* NaN equals NaN here: a property "changes" only when its value does. */
static gboolean
same_double (double a,
             double b)
{
  return (isnan (a) && isnan (b)) || a == b;
}

static void
cp_category_item_finalize (GObject *object)
{
  CpCategoryItem *self = CP_CATEGORY_ITEM (object);

  g_free (self->name);
  cp_model_info_clear (&self->info);
  g_free (self->model_stamp);
  g_clear_pointer (&self->evaluation, cp_evaluation_unref);
  g_free (self->eval_error);
  G_OBJECT_CLASS (cp_category_item_parent_class)->finalize (object);
}

static void
cp_category_item_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  CpCategoryItem *self = CP_CATEGORY_ITEM (object);

  switch (prop_id)
    {
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_N_TRAIN: g_value_set_int (value, self->n_train); break;
    case PROP_N_TEST: g_value_set_int (value, self->n_test); break;
    case PROP_STATE: g_value_set_enum (value, self->info.state); break;
    case PROP_MODEL_STAMP: g_value_set_string (value, self->model_stamp); break;
    case PROP_STORED_THRESHOLD: g_value_set_double (value, self->info.threshold); break;
    case PROP_THRESHOLD: g_value_set_double (value, self->threshold); break;
    case PROP_MOVED: g_value_set_boolean (value, cp_category_item_get_moved (self)); break;
    case PROP_EVALUATION: g_value_set_boxed (value, self->evaluation); break;
    case PROP_EVALUATING: g_value_set_boolean (value, self->evaluating); break;
    case PROP_EVAL_ERROR: g_value_set_string (value, self->eval_error); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_category_item_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  CpCategoryItem *self = CP_CATEGORY_ITEM (object);

  switch (prop_id)
    {
    case PROP_NAME:
      self->name = g_value_dup_string (value);
      break;
    case PROP_THRESHOLD:
      cp_category_item_set_threshold (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_category_item_class_init (CpCategoryItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = cp_category_item_finalize;
  object_class->get_property = cp_category_item_get_property;
  object_class->set_property = cp_category_item_set_property;

  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_TRAIN] = g_param_spec_int ("n-train", NULL, NULL, 0, G_MAXINT, 0, ro);
  properties[PROP_N_TEST] = g_param_spec_int ("n-test", NULL, NULL, 0, G_MAXINT, 0, ro);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, CP_TYPE_CATEGORY_STATE, CP_CATEGORY_STATE_NOT_TRAINED, ro);
  properties[PROP_MODEL_STAMP] = g_param_spec_string ("model-stamp", NULL, NULL, NULL, ro);
  properties[PROP_STORED_THRESHOLD] =
    g_param_spec_double ("stored-threshold", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, ro);
  properties[PROP_THRESHOLD] =
    g_param_spec_double ("threshold", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MOVED] = g_param_spec_boolean ("moved", NULL, NULL, FALSE, ro);
  properties[PROP_EVALUATION] = g_param_spec_boxed ("evaluation", NULL, NULL, CP_TYPE_EVALUATION, ro);
  properties[PROP_EVALUATING] = g_param_spec_boolean ("evaluating", NULL, NULL, FALSE, ro);
  properties[PROP_EVAL_ERROR] = g_param_spec_string ("eval-error", NULL, NULL, NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
cp_category_item_init (CpCategoryItem *self)
{
  cp_model_info_init (&self->info);
  self->model_stamp = model_stamp (&self->info);
  self->threshold = NAN;
}

CpCategoryItem *
cp_category_item_new (const char *name)
{
  return g_object_new (CP_TYPE_CATEGORY_ITEM, "name", name, NULL);
}

const char *
cp_category_item_get_name (CpCategoryItem *self)
{
  g_return_val_if_fail (CP_IS_CATEGORY_ITEM (self), NULL);
  return self->name;
}

int
cp_category_item_get_n_train (CpCategoryItem *self)
{
  return self->n_train;
}

int
cp_category_item_get_n_test (CpCategoryItem *self)
{
  return self->n_test;
}

void
cp_category_item_set_counts (CpCategoryItem *self,
                             int             n_train,
                             int             n_test)
{
  if (self->n_train != n_train)
    {
      self->n_train = n_train;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_TRAIN]);
    }
  if (self->n_test != n_test)
    {
      self->n_test = n_test;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_TEST]);
    }
}

CpCategoryState
cp_category_item_get_state (CpCategoryItem *self)
{
  g_return_val_if_fail (CP_IS_CATEGORY_ITEM (self), CP_CATEGORY_STATE_NOT_TRAINED);
  return self->info.state;
}

gboolean
cp_category_item_is_trained (CpCategoryItem *self)
{
  return self != NULL && self->info.state == CP_CATEGORY_STATE_TRAINED;
}

void
cp_category_item_set_state (CpCategoryItem  *self,
                            CpCategoryState  state)
{
  if (self->info.state == state)
    return;
  self->info.state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

const CpModelInfo *
cp_category_item_get_model_info (CpCategoryItem *self)
{
  return &self->info;
}

const char *
cp_category_item_get_model_stamp (CpCategoryItem *self)
{
  return self->model_stamp;
}

void
cp_category_item_set_model_info (CpCategoryItem    *self,
                                 const CpModelInfo *info)
{
  g_autofree char *stamp = model_stamp (info);
  CpCategoryState old_state = self->info.state;
  double old_stored = self->info.threshold;
  gboolean was_moved = cp_category_item_get_moved (self);
  gboolean new_model = g_strcmp0 (stamp, self->model_stamp) != 0;

  g_object_freeze_notify (G_OBJECT (self));
  cp_model_info_copy (&self->info, info);
  if (old_state != info->state)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  if (!same_double (old_stored, info->threshold))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STORED_THRESHOLD]);
  if (new_model)
    {
      g_free (self->model_stamp);
      self->model_stamp = g_steal_pointer (&stamp);
      /* A threshold moved against the old model's scores means nothing
       * for the new one, nor does its evaluation. */
      cp_category_item_set_evaluation (self, NULL);
      cp_category_item_set_eval_error (self, NULL);
      if (!same_double (self->threshold, info->threshold))
        {
          self->threshold = info->threshold;
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THRESHOLD]);
        }
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL_STAMP]);
    }
  else if (isnan (self->threshold) != isnan (info->threshold))
    {
      self->threshold = info->threshold;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THRESHOLD]);
    }
  if (was_moved != cp_category_item_get_moved (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MOVED]);
  g_object_thaw_notify (G_OBJECT (self));
}

void
cp_category_item_set_stored_threshold (CpCategoryItem    *self,
                                       double             threshold,
                                       CpThresholdSource  source,
                                       double             false_reject_rate,
                                       double             cv_threshold)
{
  gboolean was_moved = cp_category_item_get_moved (self);

  g_object_freeze_notify (G_OBJECT (self));
  self->info.threshold_source = source;
  self->info.false_reject_rate = false_reject_rate;
  self->info.cv_threshold = cv_threshold;
  /* Notified even when equal: the origin line may change with the source. */
  self->info.threshold = threshold;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STORED_THRESHOLD]);
  if (isnan (self->threshold))
    {
      self->threshold = threshold;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THRESHOLD]);
    }
  if (was_moved != cp_category_item_get_moved (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MOVED]);
  g_object_thaw_notify (G_OBJECT (self));
}

double
cp_category_item_get_stored_threshold (CpCategoryItem *self)
{
  return self->info.threshold;
}

double
cp_category_item_get_threshold (CpCategoryItem *self)
{
  return self->threshold;
}

void
cp_category_item_set_threshold (CpCategoryItem *self,
                                double          threshold)
{
  gboolean was_moved = cp_category_item_get_moved (self);

  /* Without a stored threshold there is no model to judge with. */
  if (isnan (self->info.threshold) || same_double (self->threshold, threshold))
    return;
  self->threshold = threshold;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THRESHOLD]);
  if (was_moved != cp_category_item_get_moved (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MOVED]);
}

void
cp_category_item_reset_threshold (CpCategoryItem *self)
{
  cp_category_item_set_threshold (self, self->info.threshold);
}

gboolean
cp_category_item_get_moved (CpCategoryItem *self)
{
  return !isnan (self->info.threshold) && self->threshold != self->info.threshold;
}

CpEvaluation *
cp_category_item_get_evaluation (CpCategoryItem *self)
{
  return self->evaluation;
}

void
cp_category_item_set_evaluation (CpCategoryItem *self,
                                 CpEvaluation   *evaluation)
{
  if (self->evaluation == evaluation)
    return;
  g_clear_pointer (&self->evaluation, cp_evaluation_unref);
  if (evaluation != NULL)
    self->evaluation = cp_evaluation_ref (evaluation);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EVALUATION]);
}

gboolean
cp_category_item_get_evaluating (CpCategoryItem *self)
{
  return self->evaluating;
}

void
cp_category_item_set_evaluating (CpCategoryItem *self,
                                 gboolean        evaluating)
{
  if (self->evaluating == !!evaluating)
    return;
  self->evaluating = !!evaluating;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EVALUATING]);
}

const char *
cp_category_item_get_eval_error (CpCategoryItem *self)
{
  return self->eval_error;
}

void
cp_category_item_set_eval_error (CpCategoryItem *self,
                                 const char     *message)
{
  if (g_strcmp0 (self->eval_error, message) == 0)
    return;
  g_free (self->eval_error);
  self->eval_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EVAL_ERROR]);
}
