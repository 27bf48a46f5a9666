/* cp-model-folder-group.c: the model folder of the open dataset, and the
 * buttons that change it. */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-model-folder.h"
#include "cp-model-folder-group.h"

struct _CpModelFolderGroup
{
  AdwPreferencesGroup parent_instance;

  CpSession    *session;
  GSignalGroup *session_signals;

  /* template widgets */
  GtkLabel     *folder_label;
  GtkLabel     *origin_label;
};

G_DEFINE_FINAL_TYPE (CpModelFolderGroup, cp_model_folder_group, ADW_TYPE_PREFERENCES_GROUP)

static void
update (CpModelFolderGroup *self)
{
  CpSession *session = self->session;
  gboolean open = session != NULL && cp_session_get_data_dir (session) != NULL &&
                  cp_session_get_dataset_error (session) == NULL;
  const char *dir = open ? cp_session_get_model_dir (session) : NULL;
  const char *origin = "";

  if (self->folder_label == NULL)
    return;   /* disposed */
  /* A long path is cut in the middle; the tooltip has all of it. */
  gtk_label_set_text (self->folder_label, dir != NULL ? dir : _("No dataset is open"));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->folder_label), dir);
  if (dir != NULL)
    switch (cp_session_get_model_dir_origin (session))
      {
      case CP_MODEL_DIR_CHOSEN:
        origin = _("Chosen for this dataset.");
        break;
      case CP_MODEL_DIR_DATASET:
        origin = _("The dataset’s own models folder, which the command line shares "
                   "(cutpaste train --model-dir DATASET/models).");
        break;
      case CP_MODEL_DIR_APP:
      default:
        origin = _("The application’s folder for this dataset. Models trained elsewhere: "
                   "use their folder, or import them.");
        break;
      }
  gtk_label_set_text (self->origin_label, origin);
  gtk_widget_set_visible (GTK_WIDGET (self->origin_label), dir != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "model-folder.use", dir != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "model-folder.import", dir != NULL);
}

static GtkWindow *
parent_window (CpModelFolderGroup *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static void
action_use (GtkWidget  *widget,
            const char *name,
            GVariant   *param)
{
  CpModelFolderGroup *self = CP_MODEL_FOLDER_GROUP (widget);

  if (self->session != NULL)
    cp_model_folder_choose_folder (self->session, parent_window (self));
}

static void
action_import (GtkWidget  *widget,
               const char *name,
               GVariant   *param)
{
  CpModelFolderGroup *self = CP_MODEL_FOLDER_GROUP (widget);

  if (self->session != NULL)
    cp_model_folder_choose_model (self->session, parent_window (self));
}

void
cp_model_folder_group_set_session (CpModelFolderGroup *self,
                                   CpSession          *session)
{
  g_return_if_fail (CP_IS_MODEL_FOLDER_GROUP (self));

  if (!g_set_object (&self->session, session))
    return;
  g_signal_group_set_target (self->session_signals, session);
  update (self);
}

static void
cp_model_folder_group_dispose (GObject *object)
{
  CpModelFolderGroup *self = CP_MODEL_FOLDER_GROUP (object);

  if (self->session_signals != NULL)
    g_signal_group_set_target (self->session_signals, NULL);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_MODEL_FOLDER_GROUP);
  G_OBJECT_CLASS (cp_model_folder_group_parent_class)->dispose (object);
}

static void
cp_model_folder_group_class_init (CpModelFolderGroupClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cp_model_folder_group_dispose;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-model-folder-group.ui");
  gtk_widget_class_bind_template_child (widget_class, CpModelFolderGroup, folder_label);
  gtk_widget_class_bind_template_child (widget_class, CpModelFolderGroup, origin_label);
  gtk_widget_class_bind_template_child_full (widget_class, "use_folder_button", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "import_button", FALSE, 0);
  /* Actions of the group, not the window: the Preferences window shows
   * one too, and the choosers open over the window the group is in. */
  gtk_widget_class_install_action (widget_class, "model-folder.use", NULL, action_use);
  gtk_widget_class_install_action (widget_class, "model-folder.import", NULL, action_import);
}

static void
cp_model_folder_group_init (CpModelFolderGroup *self)
{
  static const char *const follows[] = {
    "notify::data-dir", "notify::dataset-error", "notify::model-dir", "notify::model-dir-origin",
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  for (guint i = 0; i < G_N_ELEMENTS (follows); i++)
    g_signal_group_connect_swapped (self->session_signals, follows[i], G_CALLBACK (update), self);
  update (self);
}
