/* cp-window.c: the main window: lays the pages out, binds its session into
 * each (cp-window.ui), and keeps what belongs to no page: the category
 * drop-down of the header bar, toasts, dropped files, closing.  The offer
 * of ImageNet weights is its own widget (cp-weights-banner.c). */
#include "config.h"

#include "cp-augment-page.h"
#include "cp-dataset-page.h"
#include "cp-eval-page.h"
#include "cp-inspect-page.h"
#include "cp-line-page.h"
#include "cp-mark-good.h"
#include "cp-threshold-guard.h"
#include "cp-train-page.h"
#include "cp-weights-banner.h"
#include "cp-window.h"

struct _CpWindow
{
  AdwApplicationWindow  parent_instance;

  CpSession            *session;
  GSignalGroup         *session_signals;
  GSignalGroup         *categories_signals;
  char                 *last_toast;
  gboolean              syncing;          /* the drop-down follows the session */
  gboolean              close_confirmed;  /* the question about the threshold was answered */

  /* template widgets */
  AdwToastOverlay      *toast_overlay;
  AdwViewStack         *stack;
  AdwViewSwitcherTitle *switcher_title;
  GtkDropDown          *category_dropdown;
  CpWeightsBanner      *weights_banner;
};

enum
{
  PROP_0,
  PROP_SESSION,
  PROP_VISIBLE_PAGE,
  PROP_LAST_TOAST,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CpWindow, cp_window, ADW_TYPE_APPLICATION_WINDOW)

static void
on_toast (CpWindow   *self,
          const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
  g_free (self->last_toast);
  self->last_toast = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_TOAST]);
}

/* A message with a button ("Undo"), which runs a window action. */
static void
on_toast_action (CpWindow   *self,
                 const char *message,
                 const char *button_label,
                 const char *action_name,
                 GVariant   *target)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 10);
  adw_toast_set_button_label (toast, button_label);
  adw_toast_set_action_name (toast, action_name);
  if (target != NULL)
    adw_toast_set_action_target_value (toast, target);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
  g_free (self->last_toast);
  self->last_toast = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_TOAST]);
}

/* The Undo of "Mark as good", which both the Inspection and the Line
 * page offer: it belongs to neither. */
static void
action_undo_mark_good (GSimpleAction *action,
                       GVariant      *param,
                       gpointer       user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  const char *category, *db_path;

  if (self->session == NULL)
    return;
  g_variant_get (param, "(&s&s)", &category, &db_path);
  cp_mark_good_undo (self->session, category, db_path);
}

/* ---- the category drop-down --------------------------------------------- */

/* Shows the session's selected category, without taking it for the
 * user's choice. */
static void
sync_category (CpWindow *self)
{
  CpCategoryItem *selected = self->session != NULL ? cp_session_get_selected (self->session) : NULL;
  GListModel *categories = self->session != NULL ? cp_session_get_categories (self->session) : NULL;
  guint n = categories != NULL ? g_list_model_get_n_items (categories) : 0;
  guint position = GTK_INVALID_LIST_POSITION;

  if (self->category_dropdown == NULL)
    return;   /* disposed: a question's answer came late */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(CpCategoryItem) item = g_list_model_get_item (categories, i);

      if (item == selected)
        position = i;
    }
  self->syncing = TRUE;
  gtk_drop_down_set_selected (self->category_dropdown, position);
  gtk_widget_set_visible (GTK_WIDGET (self->category_dropdown), n > 0);
  adw_view_switcher_title_set_subtitle (self->switcher_title,
                                        selected != NULL ? cp_category_item_get_name (selected) : "");
  self->syncing = FALSE;
}

/* The list changes: the drop-down moves its selection by itself, which
 * is not the user's choice (this handler runs before the drop-down's, the
 * one below after it). */
static void
categories_changing (CpWindow *self)
{
  self->syncing = TRUE;
}

static void
categories_changed (CpWindow *self)
{
  self->syncing = FALSE;
  sync_category (self);
}

typedef struct
{
  CpWindow       *window;
  CpCategoryItem *item;
} Choice;

static void
choice_free (Choice *choice)
{
  g_object_unref (choice->window);
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

  /* Only a category still listed (the dataset may have been scanned
   * again meanwhile); otherwise the drop-down goes back. */
  if (cp_threshold_guard_confirm_finish (session, result, NULL) &&
      cp_session_find (session, cp_category_item_get_name (choice->item)) == choice->item)
    cp_session_set_selected (session, choice->item);
  else
    sync_category (choice->window);
}

/* The user picked a category in the drop-down, which shows it already: a
 * moved threshold may make it wait (or not happen). */
static void
on_dropdown_selected (CpWindow *self)
{
  CpCategoryItem *item = gtk_drop_down_get_selected_item (self->category_dropdown);
  Choice *choice;

  if (self->syncing || item == NULL || self->session == NULL)
    return;
  if (item == cp_session_get_selected (self->session))
    return;
  /* At once when nothing needs asking (see cp-threshold-guard.h). */
  if (cp_threshold_guard_is_clear (self->session))
    {
      cp_session_set_selected (self->session, item);
      return;
    }
  choice = g_new0 (Choice, 1);
  choice->window = g_object_ref (self);
  choice->item = g_object_ref (item);
  cp_threshold_guard_confirm_async (self->session, GTK_WINDOW (self), CP_THRESHOLD_GUARD_LEAVE,
                                    NULL, on_category_confirmed, choice);
}

/* ---- dropped files -------------------------------------------------------- */

/* Anywhere on the pages: the files go to the Inspection page's action. */
static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         CpWindow      *self)
{
  GSList *files;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) uris = NULL;

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = gdk_file_list_get_files (g_value_get_boxed (value));
  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *uri = g_file_get_uri (l->data);

      g_strv_builder_add (builder, uri);
    }
  g_slist_free (files);
  uris = g_strv_builder_end (builder);
  return gtk_widget_activate_action (GTK_WIDGET (self), "win.inspect-files", "^as", uris);
}

/* ---- closing ------------------------------------------------------------------ */

static void
on_close_confirmed (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(CpWindow) self = user_data;

  if (!cp_threshold_guard_confirm_finish (CP_SESSION (source), result, NULL))
    return;
  /* Asks close-request again, which now lets it through. */
  self->close_confirmed = TRUE;
  gtk_window_close (GTK_WINDOW (self));
}

/* close-request must answer at once: a moved threshold (or a save still
 * running) keeps the window until the question is answered. */
static gboolean
cp_window_close_request (GtkWindow *window)
{
  CpWindow *self = CP_WINDOW (window);

  if (!self->close_confirmed && self->session != NULL &&
      !cp_threshold_guard_is_clear (self->session))
    {
      cp_threshold_guard_confirm_async (self->session, window, CP_THRESHOLD_GUARD_LEAVE, NULL,
                                        on_close_confirmed, g_object_ref (self));
      return TRUE;
    }
  return GTK_WINDOW_CLASS (cp_window_parent_class)->close_request != NULL
         && GTK_WINDOW_CLASS (cp_window_parent_class)->close_request (window);
}

/* ---- the session ------------------------------------------------------------- */

static void
set_session (CpWindow  *self,
             CpSession *session)
{
  if (self->session == session)
    return;
  g_clear_object (&self->session);
  self->session = session != NULL ? g_object_ref (session) : NULL;
  g_signal_group_set_target (self->session_signals, session);
  /* Before the drop-down connects to the list: see categories_changing (). */
  g_signal_group_set_target (self->categories_signals,
                             session != NULL ? cp_session_get_categories (session) : NULL);
  self->syncing = TRUE;
  gtk_drop_down_set_model (self->category_dropdown,
                           session != NULL ? cp_session_get_categories (session) : NULL);
  self->syncing = FALSE;
  sync_category (self);
  /* The pages follow through their bindings (cp-window.ui); the banner,
   * no page, is handed it. */
  cp_weights_banner_set_session (self->weights_banner, session);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SESSION]);
}

static void
stop_jobs (CpWindow *self)
{
  CpWorker *worker = cp_session_get_worker (self->session);

  /* Our jobs may be running: stop them; their results are dropped since
   * the worker only holds weak references to their owners. */
  cp_worker_cancel_slot (worker, "train");
  cp_worker_cancel_slot (worker, "score");
  cp_worker_cancel_slot (worker, "heatmap");
  cp_worker_cancel_slot (worker, "eval");
  cp_worker_cancel_slot (worker, "augment");
  cp_worker_cancel_slot (worker, "scan");
  cp_worker_cancel_slot (worker, "line-report");
  /* Not "threshold": a save the user asked for still runs (it replaces
   * the file atomically); only its report is dropped. */
}

static void
cp_window_dispose (GObject *object)
{
  CpWindow *self = CP_WINDOW (object);

  if (self->session != NULL)
    {
      stop_jobs (self);
      cp_threshold_guard_dismiss (self->session);
    }
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_WINDOW);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->categories_signals);
  g_clear_object (&self->session);
  g_clear_pointer (&self->last_toast, g_free);
  G_OBJECT_CLASS (cp_window_parent_class)->dispose (object);
}

static void
cp_window_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  CpWindow *self = CP_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;
    case PROP_VISIBLE_PAGE:
      g_value_set_string (value, adw_view_stack_get_visible_child_name (self->stack));
      break;
    case PROP_LAST_TOAST:
      g_value_set_string (value, self->last_toast);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_window_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  CpWindow *self = CP_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      set_session (self, g_value_get_object (value));
      break;
    case PROP_VISIBLE_PAGE:
      adw_view_stack_set_visible_child_name (self->stack, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
on_visible_page (CpWindow *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VISIBLE_PAGE]);
}

static void
cp_window_class_init (CpWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = cp_window_dispose;
  object_class->get_property = cp_window_get_property;
  object_class->set_property = cp_window_set_property;
  window_class->close_request = cp_window_close_request;

  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, CP_TYPE_SESSION,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_VISIBLE_PAGE] =
    g_param_spec_string ("visible-page", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LAST_TOAST] =
    g_param_spec_string ("last-toast", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (CP_TYPE_CATEGORY_ITEM);
  g_type_ensure (CP_TYPE_DATASET_PAGE);
  g_type_ensure (CP_TYPE_TRAIN_PAGE);
  g_type_ensure (CP_TYPE_AUGMENT_PAGE);
  g_type_ensure (CP_TYPE_INSPECT_PAGE);
  g_type_ensure (CP_TYPE_EVAL_PAGE);
  g_type_ensure (CP_TYPE_WEIGHTS_BANNER);
  g_type_ensure (CP_TYPE_LINE_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-window.ui");
  gtk_widget_class_bind_template_child (widget_class, CpWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, CpWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, CpWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, CpWindow, category_dropdown);
  /* Named, for gtk_widget_get_template_child () (the tests): the window
   * itself never calls a page. */
  gtk_widget_class_bind_template_child_full (widget_class, "dataset_page", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "train_page", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "augment_page", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "inspect_page", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "eval_page", FALSE, 0);
  gtk_widget_class_bind_template_child (widget_class, CpWindow, weights_banner);
  gtk_widget_class_bind_template_child_full (widget_class, "line_page", FALSE, 0);

  gtk_widget_class_install_property_action (widget_class, "win.page", "visible-page");
}

static void
cp_window_init (CpWindow *self)
{
  static const GActionEntry actions[] = {
    { "undo-mark-good", action_undo_mark_good, "(ss)" },
  };
  GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);

  gtk_widget_init_template (GTK_WIDGET (self));
  g_action_map_add_action_entries (G_ACTION_MAP (self), actions, G_N_ELEMENTS (actions), self);
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self->stack), GTK_EVENT_CONTROLLER (target));
  g_signal_connect_swapped (self->stack, "notify::visible-child-name",
                            G_CALLBACK (on_visible_page), self);
  g_signal_connect_swapped (self->category_dropdown, "notify::selected",
                            G_CALLBACK (on_dropdown_selected), self);

  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (sync_category), self);
  g_signal_group_connect_swapped (self->session_signals, "toast", G_CALLBACK (on_toast), self);
  g_signal_group_connect_swapped (self->session_signals, "toast-action", G_CALLBACK (on_toast_action), self);
  self->categories_signals = g_signal_group_new (G_TYPE_LIST_MODEL);
  g_signal_group_connect_swapped (self->categories_signals, "items-changed",
                                  G_CALLBACK (categories_changing), self);
  g_signal_group_connect_data (self->categories_signals, "items-changed",
                               G_CALLBACK (categories_changed), self, NULL,
                               G_CONNECT_SWAPPED | G_CONNECT_AFTER);
  sync_category (self);
}

CpWindow *
cp_window_new (CpApplication *app)
{
  g_autoptr(CpSession) session = cp_session_new (cp_application_get_settings (app),
                                                 cp_application_get_worker (app),
                                                 cp_application_get_weights_state (app));
  CpWindow *self = g_object_new (CP_TYPE_WINDOW, "application", app, NULL);

  set_session (self, session);
  cp_session_restore (session);
  return self;
}
