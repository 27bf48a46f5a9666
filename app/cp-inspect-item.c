/* cp-inspect-item.c: one inspected file and its result. */
#include "config.h"

#include <math.h>

#include "cp-inspect-item.h"

struct _CpInspectItem
{
  GObject     parent_instance;

  char       *path;
  double      score;
  char       *error;
  GdkTexture *thumbnail;
  char       *model;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_SCORE,
  PROP_ERROR,
  PROP_THUMBNAIL,
  PROP_MODEL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CpInspectItem, cp_inspect_item, G_TYPE_OBJECT)

static void
cp_inspect_item_finalize (GObject *object)
{
  CpInspectItem *self = CP_INSPECT_ITEM (object);

  g_free (self->path);
  g_free (self->error);
  g_free (self->model);
  g_clear_object (&self->thumbnail);
  G_OBJECT_CLASS (cp_inspect_item_parent_class)->finalize (object);
}

static void
cp_inspect_item_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CpInspectItem *self = CP_INSPECT_ITEM (object);

  switch (prop_id)
    {
    case PROP_PATH: g_value_set_string (value, self->path); break;
    case PROP_SCORE: g_value_set_double (value, self->score); break;
    case PROP_ERROR: g_value_set_string (value, self->error); break;
    case PROP_THUMBNAIL: g_value_set_object (value, self->thumbnail); break;
    case PROP_MODEL: g_value_set_string (value, self->model); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_inspect_item_class_init (CpInspectItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = cp_inspect_item_finalize;
  object_class->get_property = cp_inspect_item_get_property;
  properties[PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL, ro);
  properties[PROP_SCORE] = g_param_spec_double ("score", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0, ro);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, ro);
  properties[PROP_THUMBNAIL] = g_param_spec_object ("thumbnail", NULL, NULL, GDK_TYPE_TEXTURE, ro);
  properties[PROP_MODEL] = g_param_spec_string ("model", NULL, NULL, NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
cp_inspect_item_init (CpInspectItem *self)
{
  self->score = NAN;
}

CpInspectItem *
cp_inspect_item_new (const char *path,
                     const char *error)
{
  CpInspectItem *self = g_object_new (CP_TYPE_INSPECT_ITEM, NULL);

  self->path = g_strdup (path);
  self->error = g_strdup (error);
  return self;
}

const char *
cp_inspect_item_get_path (CpInspectItem *self)
{
  return self->path;
}

double
cp_inspect_item_get_score (CpInspectItem *self)
{
  return self->score;
}

const char *
cp_inspect_item_get_error (CpInspectItem *self)
{
  return self->error;
}

GdkTexture *
cp_inspect_item_get_thumbnail (CpInspectItem *self)
{
  return self->thumbnail;
}

void
cp_inspect_item_set_result (CpInspectItem *self,
                            double         score,
                            const char    *error)
{
  g_object_freeze_notify (G_OBJECT (self));
  self->score = score;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCORE]);
  if (g_strcmp0 (self->error, error) != 0)
    {
      g_free (self->error);
      self->error = g_strdup (error);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
cp_inspect_item_set_thumbnail (CpInspectItem *self,
                               GdkTexture    *thumbnail)
{
  if (g_set_object (&self->thumbnail, thumbnail))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THUMBNAIL]);
}

void
cp_inspect_item_forget_score (CpInspectItem *self)
{
  if (self->error != NULL || isnan (self->score))
    return;
  self->score = NAN;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCORE]);
  cp_inspect_item_set_model (self, NULL);
}

const char *
cp_inspect_item_get_model (CpInspectItem *self)
{
  return self->model;
}

void
cp_inspect_item_set_model (CpInspectItem *self,
                           const char    *model)
{
  if (g_strcmp0 (self->model, model) == 0)
    return;
  g_free (self->model);
  self->model = g_strdup (model);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
}
