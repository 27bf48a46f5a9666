/* cp-dataset-page.c: the Dataset page: the categories of the open dataset
 * with their state, or, without one, how to open one or make a sample.
 *
 * Actions: win.open-dataset (a folder chooser), win.open-folder (s: a
 * path), win.create-sample, win.use-model-folder (s: a folder the models
 * come from) and win.import-model (s: a model file), as their choosers
 * in the model folder group do.  Opening asks first about a moved
 * threshold, as does picking another category in the list.
 */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include <adwaita.h>

#include "data/synth.h"
#include "cp-dataset-page.h"
#include "cp-model-folder.h"
#include "cp-model-folder-group.h"
#include "cp-threshold-guard.h"

struct _CpDatasetPage
{
  CpPage              parent_instance;

  GSignalGroup       *session_signals;
  GSignalGroup       *categories_signals;
  gulong              size_handler;     /* on the session's settings */
  GSettings          *settings;         /* of the size handler */
  gboolean            syncing;          /* the list follows the session */

  /* template widgets */
  GtkStack           *dataset_stack;
  AdwStatusPage      *empty_page;
  GtkWidget          *sample_button;
  GtkLabel           *dataset_label;
  GtkListBox         *category_list;
  CpModelFolderGroup *model_folder_group;
};

G_DEFINE_FINAL_TYPE (CpDatasetPage, cp_dataset_page, CP_TYPE_PAGE)

/* ---- the list ---------------------------------------------------------- */

static char *
format_created (const char *iso)
{
  g_autoptr(GDateTime) utc = NULL;
  g_autoptr(GDateTime) local = NULL;

  if (iso == NULL || *iso == '\0')
    return NULL;
  utc = g_date_time_new_from_iso8601 (iso, NULL);
  if (utc == NULL)
    return g_strdup (iso);
  local = g_date_time_to_local (utc);
  /* ISO 8601, local time: "%x" gives 12/06/26 in the C and US locales,
   * which reads differently across the world. */
  return g_date_time_format (local, "%Y-%m-%d %H:%M");
}

/* What the model's backbone started from ("backbone_init"), or NULL
 * when it does not say. */
static char *
format_started_from (const char *backbone_init)
{
  if (backbone_init == NULL || g_str_equal (backbone_init, "unknown"))
    return NULL;
  if (g_str_equal (backbone_init, "scratch"))
    return g_strdup (_("Started from: nothing (trained from scratch)"));
  /* Translators: %s is the start of the weights file's SHA-256, as
   * Preferences shows it: enough to tell two files apart. */
  return g_strdup_printf (_("Started from: ImageNet weights (%.12s…)"), backbone_init);
}

static char *
category_subtitle (CpCategoryItem *item,
                   int             settings_size)
{
  const CpModelInfo *info = cp_category_item_get_model_info (item);
  int n_train = cp_category_item_get_n_train (item);
  int n_test = cp_category_item_get_n_test (item);
  g_autofree char *counts = NULL;
  g_autofree char *date = NULL;
  g_autofree char *train = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d training image",
                                                          "%d training images", n_train),
                                             n_train);
  g_autofree char *test = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%d test image",
                                                         "%d test images", n_test),
                                            n_test);

  /* Translators: the two counts of a category, "20 training images, 26 test images". */
  counts = g_strdup_printf (_("%s, %s"), train, test);
  switch (info->state)
    {
    case CP_CATEGORY_STATE_TRAINING:
      return g_strdup_printf (_("%s · training…"), counts);
    case CP_CATEGORY_STATE_MODEL_ERROR:
      return g_strdup_printf (_("%s · model unusable: %s"), counts, info->problem);
    case CP_CATEGORY_STATE_TRAINED:
      {
        g_autofree char *auroc = isnan (info->auroc)
          ? g_strdup (_("AUROC unknown")) : g_strdup_printf (_("AUROC %.3f"), info->auroc);
        g_autofree char *size_note = info->image_size > 0 && info->image_size != settings_size
          ? g_strdup_printf (_(" · trained at %d px, settings say %d px"), info->image_size, settings_size)
          : g_strdup ("");
        g_autofree char *started = format_started_from (info->backbone_init);
        g_autofree char *details = NULL;

        date = format_created (info->created);
        details = g_strdup_printf (_("%s · trained %s · %s%s"), counts, date != NULL ? date : "",
                                   auroc, size_note);
        /* On a line of its own: the first one is long enough. */
        return started != NULL ? g_strconcat (details, "\n", started, NULL) : g_steal_pointer (&details);
      }
    case CP_CATEGORY_STATE_NOT_TRAINED:
    default:
      return g_strdup_printf (_("%s · not trained"), counts);
    }
}

static void
update_row (CpDatasetPage *self,
            GtkWidget     *row)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpCategoryItem *item = g_object_get_data (G_OBJECT (row), "cp-item");
  GtkImage *image = g_object_get_data (G_OBJECT (row), "cp-icon");
  int size = session != NULL ? g_settings_get_int (cp_session_get_settings (session), "image-size") : 0;
  g_autofree char *subtitle = category_subtitle (item, size);
  GtkWidget *badge = g_object_get_data (G_OBJECT (row), "cp-badge");
  static const char *const classes[] = { "success", "accent", "error", "dim-label" };
  const char *icon, *text, *css;

  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  /* An icon and a word: an empty circle read as a radio button. */
  switch (cp_category_item_get_state (item))
    {
    case CP_CATEGORY_STATE_TRAINED:
      icon = "emblem-ok-symbolic";
      text = _("Trained");
      css = "success";
      break;
    case CP_CATEGORY_STATE_TRAINING:
      icon = "emblem-synchronizing-symbolic";
      text = _("Training…");
      css = "accent";
      break;
    case CP_CATEGORY_STATE_MODEL_ERROR:
      icon = "dialog-warning-symbolic";
      text = _("Model unusable");
      css = "error";
      break;
    case CP_CATEGORY_STATE_NOT_TRAINED:
    default:
      icon = "action-unavailable-symbolic";
      text = _("Not trained");
      css = "dim-label";
      break;
    }
  gtk_image_set_from_icon_name (image, icon);
  gtk_label_set_text (GTK_LABEL (badge), text);
  for (gsize i = 0; i < G_N_ELEMENTS (classes); i++)
    gtk_widget_remove_css_class (badge, classes[i]);
  gtk_widget_add_css_class (badge, css);
}

static void
on_item_notify (CpCategoryItem *item,
                GParamSpec     *pspec,
                GtkWidget      *row)
{
  GtkWidget *page = gtk_widget_get_ancestor (row, CP_TYPE_DATASET_PAGE);

  if (page != NULL)
    update_row (CP_DATASET_PAGE (page), row);
}

static GtkWidget *
create_row (gpointer object,
            gpointer user_data)
{
  CpDatasetPage *self = CP_DATASET_PAGE (user_data);
  CpCategoryItem *item = CP_CATEGORY_ITEM (object);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *icon = gtk_image_new ();
  GtkWidget *badge = gtk_label_new (NULL);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), cp_category_item_get_name (item));
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
  gtk_widget_set_valign (badge, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (badge, "caption-heading");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), badge);
  g_object_set_data_full (G_OBJECT (row), "cp-item", g_object_ref (item), g_object_unref);
  g_object_set_data (G_OBJECT (row), "cp-icon", icon);
  g_object_set_data (G_OBJECT (row), "cp-badge", badge);
  update_row (self, row);
  /* The row lives no longer than the list shows the item. */
  g_signal_connect_object (item, "notify", G_CALLBACK (on_item_notify), row, 0);
  return row;
}

static void
update_all_rows (CpDatasetPage *self)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->category_list));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (g_object_get_data (G_OBJECT (child), "cp-item") != NULL)
      update_row (self, child);
}

/* Shows the session's selected category as selected, without taking it
 * for the user's choice. */
static void
sync_selection (CpDatasetPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpCategoryItem *selected = session != NULL ? cp_session_get_selected (session) : NULL;

  if (self->category_list == NULL)
    return;   /* disposed: a question's answer came late */
  self->syncing = TRUE;
  gtk_list_box_unselect_all (self->category_list);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->category_list));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (selected != NULL && g_object_get_data (G_OBJECT (child), "cp-item") == selected)
      gtk_list_box_select_row (self->category_list, GTK_LIST_BOX_ROW (child));
  self->syncing = FALSE;
}

static void
update_stack (CpDatasetPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  guint n = session != NULL ? g_list_model_get_n_items (cp_session_get_categories (session)) : 0;

  gtk_stack_set_visible_child_name (self->dataset_stack, n > 0 ? "list" : "empty");
  sync_selection (self);
}

static void
update_labels (CpDatasetPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  const char *data_dir = session != NULL ? cp_session_get_data_dir (session) : NULL;
  const char *error = session != NULL ? cp_session_get_dataset_error (session) : NULL;

  if (data_dir != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Dataset: %s"), data_dir);

      gtk_label_set_text (self->dataset_label, text);
    }
  if (error != NULL)
    {
      /* The description is markup; paths and messages are not. */
      g_autofree char *escaped = g_markup_escape_text (error, -1);

      adw_status_page_set_title (self->empty_page, _("Not a Dataset"));
      adw_status_page_set_description (self->empty_page, escaped);
    }
}

/* ---- choosing a category ------------------------------------------------ */

typedef struct
{
  CpDatasetPage  *page;
  CpCategoryItem *item;
} Choice;

static void
choice_free (Choice *choice)
{
  g_object_unref (choice->page);
  g_object_unref (choice->item);
  g_free (choice);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Choice, choice_free)

static void
on_category_confirmed (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(Choice) choice = user_data;
  CpSession *session = CP_SESSION (source);

  /* The dataset may have been scanned again meanwhile: only a category
   * still listed is selected. */
  if (cp_threshold_guard_confirm_finish (session, result, NULL) &&
      cp_session_find (session, cp_category_item_get_name (choice->item)) == choice->item)
    cp_session_set_selected (session, choice->item);
  else
    /* Stays: the list goes back to the category still selected. */
    sync_selection (choice->page);
}

static void
on_row_selected (GtkListBox    *box,
                 GtkListBoxRow *row,
                 CpDatasetPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpCategoryItem *item;

  if (self->syncing || row == NULL || session == NULL)
    return;
  item = g_object_get_data (G_OBJECT (row), "cp-item");
  if (item == NULL || item == cp_session_get_selected (session))
    return;
  /* At once when nothing needs asking: a GTask would finish only from the
   * main loop, and the list would show a choice not yet taken. */
  if (cp_threshold_guard_is_clear (session))
    {
      cp_session_set_selected (session, item);
      return;
    }
  {
    Choice *choice = g_new0 (Choice, 1);

    choice->page = g_object_ref (self);
    choice->item = g_object_ref (item);
    cp_threshold_guard_confirm_async (session, cp_page_get_window (CP_PAGE (self)),
                                      CP_THRESHOLD_GUARD_LEAVE, NULL, on_category_confirmed, choice);
  }
}

/* ---- opening ------------------------------------------------------------ */

static void
on_open_confirmed (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autofree char *path = user_data;

  if (cp_threshold_guard_confirm_finish (CP_SESSION (source), result, NULL))
    cp_session_open (CP_SESSION (source), path);
}

/* Unless a moved threshold makes it wait (or not happen). */
static void
open_folder (CpDatasetPage *self,
             const char    *path)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  if (session == NULL)
    return;
  if (cp_threshold_guard_is_clear (session))
    cp_session_open (session, path);
  else
    cp_threshold_guard_confirm_async (session, cp_page_get_window (CP_PAGE (self)),
                                      CP_THRESHOLD_GUARD_LEAVE, NULL, on_open_confirmed,
                                      g_strdup (path));
}

static void
on_folder_chosen (GtkNativeDialog *dialog,
                  int              response,
                  CpDatasetPage   *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;

      if (path != NULL)
        open_folder (self, path);
      else if (cp_page_get_session (CP_PAGE (self)) != NULL)
        cp_session_toast (cp_page_get_session (CP_PAGE (self)), _("Only local folders can be opened"));
    }
  g_object_unref (dialog);
  g_object_unref (self);
}

static void
action_open_dataset (GSimpleAction *action,
                     GVariant      *param,
                     gpointer       user_data)
{
  CpDatasetPage *self = CP_DATASET_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Open Dataset"), cp_page_get_window (CP_PAGE (self)),
                                 GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Open"), _("_Cancel"));

  if (session != NULL && cp_session_get_data_dir (session) != NULL)
    {
      g_autoptr(GFile) current = g_file_new_for_path (cp_session_get_data_dir (session));

      gtk_file_chooser_set_file (GTK_FILE_CHOOSER (dialog), current, NULL);
    }
  g_signal_connect (dialog, "response", G_CALLBACK (on_folder_chosen), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
action_open_folder (GSimpleAction *action,
                    GVariant      *param,
                    gpointer       user_data)
{
  open_folder (CP_DATASET_PAGE (user_data), g_variant_get_string (param, NULL));
}

/* ---- the model folder ----------------------------------------------------- */

static void
action_use_model_folder (GSimpleAction *action,
                         GVariant      *param,
                         gpointer       user_data)
{
  CpDatasetPage *self = CP_DATASET_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  if (session != NULL)
    cp_model_folder_use (session, cp_page_get_window (CP_PAGE (self)), g_variant_get_string (param, NULL));
}

static void
action_import_model (GSimpleAction *action,
                     GVariant      *param,
                     gpointer       user_data)
{
  CpDatasetPage *self = CP_DATASET_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  if (session != NULL)
    cp_model_folder_import (session, cp_page_get_window (CP_PAGE (self)), g_variant_get_string (param, NULL));
}

/* ---- sample dataset -------------------------------------------------------- */

static gpointer
sample_run (CpWorkerJob        *worker_job,
            const volatile int *cancel,
            gpointer            data,
            GError            **error)
{
  const char *out_dir = data;
  CpSynthOptions opts;

  cp_synth_options_init (&opts);
  /* Small enough to train on a laptop CPU in minutes, large enough to
   * show every page with meaningful numbers. */
  opts.size = 128;
  opts.n_train = 60;
  opts.n_test_good = 12;
  opts.n_test_defect = 6;
  if (!cp_synth_write (out_dir, &opts, NULL, NULL, error))
    {
      /* A sample made at an earlier start is as good as a new one. */
      if (g_error_matches (*error, CP_DATA_ERROR, CP_DATA_ERROR_EXISTS))
        {
          g_clear_error (error);
          return g_strdup (out_dir);
        }
      return NULL;
    }
  return g_strdup (out_dir);
}

static void
sample_done (gpointer      result,
             const GError *error,
             gboolean      dropped,
             gpointer      user_data)
{
  CpDatasetPage *self = CP_DATASET_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  gtk_widget_set_sensitive (self->sample_button, TRUE);
  cp_page_set_action_enabled (CP_PAGE (self), "create-sample", TRUE);
  if (dropped || session == NULL)
    return;
  if (result == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not create the sample dataset: %s"),
                                              error != NULL ? error->message : "");
      cp_session_toast (session, msg);
      return;
    }
  open_folder (self, result);
}

static void
action_create_sample (GSimpleAction *action,
                      GVariant      *param,
                      gpointer       user_data)
{
  CpDatasetPage *self = CP_DATASET_PAGE (user_data);
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  char *out_dir;

  if (session == NULL)
    return;
  out_dir = g_build_filename (g_get_user_data_dir (), "cutpaste-inspector", "sample", NULL);
  gtk_widget_set_sensitive (self->sample_button, FALSE);
  cp_page_set_action_enabled (CP_PAGE (self), "create-sample", FALSE);
  adw_status_page_set_description (self->empty_page, _("Creating the sample dataset…"));
  cp_worker_submit (cp_session_get_worker (session), "sample", sample_run, out_dir, g_free, NULL,
                    sample_done, g_free, G_OBJECT (self));
}

/* ---- life cycle ---------------------------------------------------------------- */

static void
cp_dataset_page_session_changed (CpPage    *page,
                                 CpSession *previous)
{
  CpDatasetPage *self = CP_DATASET_PAGE (page);
  CpSession *session = cp_page_get_session (page);

  if (self->settings != NULL)
    {
      g_clear_signal_handler (&self->size_handler, self->settings);
      g_clear_object (&self->settings);
    }
  g_signal_group_set_target (self->session_signals, session);
  gtk_list_box_bind_model (self->category_list,
                           session != NULL ? cp_session_get_categories (session) : NULL,
                           create_row, self, NULL);
  /* After the list box's own handler: the rows exist by then. */
  g_signal_group_set_target (self->categories_signals,
                             session != NULL ? cp_session_get_categories (session) : NULL);
  if (session != NULL)
    {
      /* The subtitles compare each model's image size with the settings'. */
      self->settings = g_object_ref (cp_session_get_settings (session));
      self->size_handler = g_signal_connect_swapped (self->settings, "changed::image-size",
                                                     G_CALLBACK (update_all_rows), self);
    }
  cp_model_folder_group_set_session (self->model_folder_group, session);
  update_labels (self);
  update_stack (self);
}

static void
cp_dataset_page_dispose (GObject *object)
{
  CpDatasetPage *self = CP_DATASET_PAGE (object);

  cp_page_set_session (CP_PAGE (self), NULL);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->categories_signals);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_DATASET_PAGE);
  G_OBJECT_CLASS (cp_dataset_page_parent_class)->dispose (object);
}

static void
cp_dataset_page_class_init (CpDatasetPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_dataset_page_dispose;
  g_type_ensure (CP_TYPE_MODEL_FOLDER_GROUP);
  CP_PAGE_CLASS (klass)->session_changed = cp_dataset_page_session_changed;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-dataset-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CpDatasetPage, dataset_stack);
  gtk_widget_class_bind_template_child (widget_class, CpDatasetPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, CpDatasetPage, sample_button);
  gtk_widget_class_bind_template_child (widget_class, CpDatasetPage, dataset_label);
  gtk_widget_class_bind_template_child (widget_class, CpDatasetPage, category_list);
  gtk_widget_class_bind_template_child (widget_class, CpDatasetPage, model_folder_group);
}

static void
cp_dataset_page_init (CpDatasetPage *self)
{
  static const GActionEntry actions[] = {
    { "open-dataset", action_open_dataset },
    { "open-folder", action_open_folder, "s" },
    { "create-sample", action_create_sample },
    { "use-model-folder", action_use_model_folder, "s" },
    { "import-model", action_import_model, "s" },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  cp_page_add_actions (CP_PAGE (self), actions, G_N_ELEMENTS (actions));
  g_signal_connect (self->category_list, "row-selected", G_CALLBACK (on_row_selected), self);

  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (sync_selection), self);
  g_signal_group_connect_swapped (self->session_signals, "notify::data-dir",
                                  G_CALLBACK (update_labels), self);
  g_signal_group_connect_swapped (self->session_signals, "notify::dataset-error",
                                  G_CALLBACK (update_labels), self);
  self->categories_signals = g_signal_group_new (G_TYPE_LIST_MODEL);
  g_signal_group_connect_swapped (self->categories_signals, "items-changed",
                                  G_CALLBACK (update_stack), self);
}
