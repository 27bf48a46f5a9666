/* cp-weights-state.c: the ImageNet weights the application trains from,
 * and the download or import under way (see cp-weights-state.h). */
#include "config.h"

#include <glib/gi18n.h>

#include "pipeline/weights.h"
#include "cp-weights-state.h"

struct _CpWeightsState
{
  GObject            parent_instance;

  gboolean           checked;
  char              *path;
  char              *sha256;
  CpWeightsActivity  transfer;       /* IDLE, DOWNLOADING or IMPORTING */
  guint64            received;
  guint64            total;
  char              *error;
  CpWeightsActivity  error_activity;   /* what failed with it */

  GCancellable      *check_cancellable;     /* the look under way, or NULL */
  GCancellable      *transfer_cancellable;  /* the download or import under way, or NULL */
};

enum
{
  PROP_0,
  PROP_CHECKED,
  PROP_PATH,
  PROP_SHA256,
  PROP_ACTIVITY,
  PROP_RECEIVED,
  PROP_TOTAL,
  PROP_ERROR,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CpWeightsState, cp_weights_state, G_TYPE_OBJECT)

static void
set_string (CpWeightsState *self,
            char          **field,
            const char     *value,
            guint           prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

static void
set_transfer (CpWeightsState    *self,
              CpWeightsActivity  transfer)
{
  if (self->transfer == transfer)
    return;
  self->transfer = transfer;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVITY]);
}

static void
set_progress (CpWeightsState *self,
              guint64         received,
              guint64         total)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->received != received)
    {
      self->received = received;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECEIVED]);
    }
  if (self->total != total)
    {
      self->total = total;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOTAL]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

/* ---- looking through the caches ------------------------------------------ */

static void
on_status (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(CpWeightsState) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) status = cp_weights_status_finish (result, &error);
  const CpWeightsInfo *in_use;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* a newer look, or the state went */
  g_clear_object (&self->check_cancellable);
  in_use = status != NULL ? cp_weights_status_in_use (status) : NULL;
  g_object_freeze_notify (G_OBJECT (self));
  set_string (self, &self->path, in_use != NULL ? in_use->path : NULL, PROP_PATH);
  set_string (self, &self->sha256, in_use != NULL ? in_use->sha256 : NULL, PROP_SHA256);
  if (!self->checked)
    {
      self->checked = TRUE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHECKED]);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVITY]);
  g_object_thaw_notify (G_OBJECT (self));
}

void
cp_weights_state_refresh (CpWeightsState *self)
{
  g_return_if_fail (CP_IS_WEIGHTS_STATE (self));

  if (self->check_cancellable != NULL)
    g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  self->check_cancellable = g_cancellable_new ();
  cp_weights_status_async (self->check_cancellable, on_status, g_object_ref (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACTIVITY]);
}

/* ---- downloading and importing ------------------------------------------- */

/* Main context: the engine marshals it here, never after the end. */
static void
on_fetch_progress (guint64  received,
                   guint64  total,
                   gpointer user_data)
{
  set_progress (CP_WEIGHTS_STATE (user_data), received, total);
}

static void
transfer_done (CpWeightsState *self,
               char           *dest,
               GError         *error,
               const char     *failure)
{
  CpWeightsActivity transfer = self->transfer;

  g_clear_object (&self->transfer_cancellable);
  g_object_freeze_notify (G_OBJECT (self));
  set_transfer (self, CP_WEIGHTS_ACTIVITY_IDLE);
  set_progress (self, 0, 0);
  if (dest != NULL)
    {
      /* The new file is the newest in our cache: the first choice.  A
       * look through the caches says so and hashes it again, which is
       * quick next to the transfer. */
      set_string (self, &self->error, NULL, PROP_ERROR);
      cp_weights_state_refresh (self);
    }
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *message = g_strdup_printf (failure, error->message);

      /* Set before the notification, which tells whoever shows it. */
      self->error_activity = transfer;
      set_string (self, &self->error, message, PROP_ERROR);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static void
on_fetched (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(CpWeightsState) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *dest = cp_weights_fetch_finish (result, &error);

  /* Translators: why a download failed, as the engine says it (in English). */
  transfer_done (self, dest, error, _("Could not download the ImageNet weights: %s"));
}

static void
on_imported (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(CpWeightsState) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *dest = cp_weights_import_finish (result, &error);

  /* Translators: the engine's message names the file and its problem. */
  transfer_done (self, dest, error, _("Could not use the weights file: %s"));
}

static gboolean
start_transfer (CpWeightsState    *self,
                CpWeightsActivity  transfer)
{
  if (self->transfer != CP_WEIGHTS_ACTIVITY_IDLE)
    return FALSE;
  self->transfer_cancellable = g_cancellable_new ();
  g_object_freeze_notify (G_OBJECT (self));
  set_string (self, &self->error, NULL, PROP_ERROR);
  set_progress (self, 0, 0);
  set_transfer (self, transfer);
  g_object_thaw_notify (G_OBJECT (self));
  return TRUE;
}

void
cp_weights_state_download (CpWeightsState *self)
{
  g_return_if_fail (CP_IS_WEIGHTS_STATE (self));

  if (!start_transfer (self, CP_WEIGHTS_ACTIVITY_DOWNLOADING))
    return;
  cp_weights_fetch_async (NULL, on_fetch_progress, g_object_ref (self), g_object_unref,
                          self->transfer_cancellable, on_fetched, g_object_ref (self));
}

void
cp_weights_state_import (CpWeightsState *self,
                         const char     *path)
{
  g_return_if_fail (CP_IS_WEIGHTS_STATE (self));
  g_return_if_fail (path != NULL);

  if (!start_transfer (self, CP_WEIGHTS_ACTIVITY_IMPORTING))
    return;
  cp_weights_import_async (path, self->transfer_cancellable, on_imported, g_object_ref (self));
}

void
cp_weights_state_cancel (CpWeightsState *self)
{
  g_return_if_fail (CP_IS_WEIGHTS_STATE (self));

  /* The engine removes its temporary file before it reports the cancel,
   * and the state stays busy until then. */
  if (self->transfer_cancellable != NULL)
    g_cancellable_cancel (self->transfer_cancellable);
}

void
cp_weights_state_shutdown (CpWeightsState *self)
{
  g_return_if_fail (CP_IS_WEIGHTS_STATE (self));

  cp_weights_state_cancel (self);
  /* The thread stops at its next read and removes its temporary file;
   * a process that exits first would leave it in the cache. */
  while (self->transfer_cancellable != NULL)
    g_main_context_iteration (NULL, TRUE);
}

/* ---- getters -------------------------------------------------------------- */

gboolean
cp_weights_state_get_checked (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), FALSE);
  return self->checked;
}

const char *
cp_weights_state_get_path (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), NULL);
  return self->path;
}

const char *
cp_weights_state_get_sha256 (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), NULL);
  return self->sha256;
}

gboolean
cp_weights_state_has_weights (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), FALSE);
  return self->checked && self->path != NULL;
}

CpWeightsActivity
cp_weights_state_get_activity (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), CP_WEIGHTS_ACTIVITY_IDLE);
  if (self->transfer != CP_WEIGHTS_ACTIVITY_IDLE)
    return self->transfer;
  return self->check_cancellable != NULL ? CP_WEIGHTS_ACTIVITY_CHECKING : CP_WEIGHTS_ACTIVITY_IDLE;
}

double
cp_weights_state_get_fraction (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), -1);
  if (self->total == 0)
    return -1;
  return CLAMP ((double) self->received / (double) self->total, 0.0, 1.0);
}

guint64
cp_weights_state_get_received (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), 0);
  return self->received;
}

guint64
cp_weights_state_get_total (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), 0);
  return self->total;
}

const char *
cp_weights_state_get_error (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), NULL);
  return self->error;
}

CpWeightsActivity
cp_weights_state_get_error_activity (CpWeightsState *self)
{
  g_return_val_if_fail (CP_IS_WEIGHTS_STATE (self), CP_WEIGHTS_ACTIVITY_IDLE);
  return self->error != NULL ? self->error_activity : CP_WEIGHTS_ACTIVITY_IDLE;
}

/* ---- GObject ---------------------------------------------------------------- */

static void
cp_weights_state_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  CpWeightsState *self = CP_WEIGHTS_STATE (object);

  switch (prop_id)
    {
    case PROP_CHECKED:
      g_value_set_boolean (value, self->checked);
      break;
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_SHA256:
      g_value_set_string (value, self->sha256);
      break;
    case PROP_ACTIVITY:
      g_value_set_int (value, cp_weights_state_get_activity (self));
      break;
    case PROP_RECEIVED:
      g_value_set_uint64 (value, self->received);
      break;
    case PROP_TOTAL:
      g_value_set_uint64 (value, self->total);
      break;
    case PROP_ERROR:
      g_value_set_string (value, self->error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_weights_state_dispose (GObject *object)
{
  CpWeightsState *self = CP_WEIGHTS_STATE (object);

  /* Pending calls hold a reference: this runs only once they are done,
   * unless someone disposes explicitly. */
  if (self->check_cancellable != NULL)
    g_cancellable_cancel (self->check_cancellable);
  if (self->transfer_cancellable != NULL)
    g_cancellable_cancel (self->transfer_cancellable);
  g_clear_object (&self->check_cancellable);
  g_clear_object (&self->transfer_cancellable);
  G_OBJECT_CLASS (cp_weights_state_parent_class)->dispose (object);
}

static void
cp_weights_state_finalize (GObject *object)
{
  CpWeightsState *self = CP_WEIGHTS_STATE (object);

  g_free (self->path);
  g_free (self->sha256);
  g_free (self->error);
  G_OBJECT_CLASS (cp_weights_state_parent_class)->finalize (object);
}

static void
cp_weights_state_class_init (CpWeightsStateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = cp_weights_state_get_property;
  object_class->dispose = cp_weights_state_dispose;
  object_class->finalize = cp_weights_state_finalize;

  properties[PROP_CHECKED] =
    g_param_spec_boolean ("checked", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PATH] =
    g_param_spec_string ("path", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHA256] =
    g_param_spec_string ("sha256", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ACTIVITY] =
    g_param_spec_int ("activity", NULL, NULL, CP_WEIGHTS_ACTIVITY_IDLE,
                      CP_WEIGHTS_ACTIVITY_IMPORTING, CP_WEIGHTS_ACTIVITY_IDLE,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RECEIVED] =
    g_param_spec_uint64 ("received", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOTAL] =
    g_param_spec_uint64 ("total", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_string ("error", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
cp_weights_state_init (CpWeightsState *self)
{
}

CpWeightsState *
cp_weights_state_new (void)
{
  CpWeightsState *self = g_object_new (CP_TYPE_WEIGHTS_STATE, NULL);

  cp_weights_state_refresh (self);
  return self;
}
