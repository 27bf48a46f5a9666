/* cp-page.c: what every page shares: the session and its window actions. */
#include "config.h"

#include <adwaita.h>

#include "cp-page.h"

typedef struct
{
  CpSession          *session;
  GSimpleActionGroup *actions;
  GActionMap         *window_map;   /* weak: where the actions were added */
} CpPagePrivate;

enum
{
  PROP_0,
  PROP_SESSION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_TYPE_WITH_PRIVATE (CpPage, cp_page, GTK_TYPE_WIDGET)

CpSession *
cp_page_get_session (CpPage *self)
{
  CpPagePrivate *priv = cp_page_get_instance_private (self);

  g_return_val_if_fail (CP_IS_PAGE (self), NULL);
  return priv->session;
}

void
cp_page_set_session (CpPage    *self,
                     CpSession *session)
{
  CpPagePrivate *priv = cp_page_get_instance_private (self);
  g_autoptr(CpSession) previous = NULL;

  g_return_if_fail (CP_IS_PAGE (self));
  if (priv->session == session)
    return;
  previous = g_steal_pointer (&priv->session);
  priv->session = session != NULL ? g_object_ref (session) : NULL;
  if (CP_PAGE_GET_CLASS (self)->session_changed != NULL)
    CP_PAGE_GET_CLASS (self)->session_changed (self, previous);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SESSION]);
}

void
cp_page_add_actions (CpPage             *self,
                     const GActionEntry *entries,
                     guint               n_entries)
{
  CpPagePrivate *priv = cp_page_get_instance_private (self);

  g_action_map_add_action_entries (G_ACTION_MAP (priv->actions), entries, n_entries, self);
}

void
cp_page_set_action_enabled (CpPage     *self,
                            const char *name,
                            gboolean    enabled)
{
  CpPagePrivate *priv = cp_page_get_instance_private (self);
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (priv->actions), name);

  g_return_if_fail (action != NULL);
  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

void
cp_page_present (CpPage *self)
{
  GtkWidget *stack = gtk_widget_get_ancestor (GTK_WIDGET (self), ADW_TYPE_VIEW_STACK);

  if (stack != NULL)
    adw_view_stack_set_visible_child (ADW_VIEW_STACK (stack), GTK_WIDGET (self));
}

GtkWindow *
cp_page_get_window (CpPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static void
remove_window_actions (CpPage *self)
{
  CpPagePrivate *priv = cp_page_get_instance_private (self);
  g_auto(GStrv) names = NULL;

  if (priv->window_map == NULL)
    return;
  names = g_action_group_list_actions (G_ACTION_GROUP (priv->actions));
  for (guint i = 0; names[i] != NULL; i++)
    if (g_action_map_lookup_action (priv->window_map, names[i]) ==
        g_action_map_lookup_action (G_ACTION_MAP (priv->actions), names[i]))
      g_action_map_remove_action (priv->window_map, names[i]);
  g_object_remove_weak_pointer (G_OBJECT (priv->window_map), (gpointer *) &priv->window_map);
  priv->window_map = NULL;
}

/* The very action objects go into the window's map, so that enabling
 * them here shows there. */
static void
cp_page_root (GtkWidget *widget)
{
  CpPage *self = CP_PAGE (widget);
  CpPagePrivate *priv = cp_page_get_instance_private (self);
  GtkRoot *root;

  GTK_WIDGET_CLASS (cp_page_parent_class)->root (widget);
  root = gtk_widget_get_root (widget);
  remove_window_actions (self);
  if (G_IS_ACTION_MAP (root))
    {
      g_auto(GStrv) names = g_action_group_list_actions (G_ACTION_GROUP (priv->actions));

      priv->window_map = G_ACTION_MAP (root);
      g_object_add_weak_pointer (G_OBJECT (root), (gpointer *) &priv->window_map);
      for (guint i = 0; names[i] != NULL; i++)
        g_action_map_add_action (priv->window_map,
                                 g_action_map_lookup_action (G_ACTION_MAP (priv->actions), names[i]));
    }
}

static void
cp_page_unroot (GtkWidget *widget)
{
  remove_window_actions (CP_PAGE (widget));
  GTK_WIDGET_CLASS (cp_page_parent_class)->unroot (widget);
}

static void
cp_page_dispose (GObject *object)
{
  CpPage *self = CP_PAGE (object);
  CpPagePrivate *priv = cp_page_get_instance_private (self);
  GtkWidget *child;

  remove_window_actions (self);
  cp_page_set_session (self, NULL);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (cp_page_parent_class)->dispose (object);
  g_clear_object (&priv->actions);
}

static void
cp_page_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_SESSION:
      g_value_set_object (value, cp_page_get_session (CP_PAGE (object)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_page_set_property (GObject      *object,
                      guint         prop_id,
                      const GValue *value,
                      GParamSpec   *pspec)
{
  switch (prop_id)
    {
    case PROP_SESSION:
      cp_page_set_session (CP_PAGE (object), g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_page_class_init (CpPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cp_page_dispose;
  object_class->get_property = cp_page_get_property;
  object_class->set_property = cp_page_set_property;
  widget_class->root = cp_page_root;
  widget_class->unroot = cp_page_unroot;

  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, CP_TYPE_SESSION,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
cp_page_init (CpPage *self)
{
  CpPagePrivate *priv = cp_page_get_instance_private (self);

  priv->actions = g_simple_action_group_new ();
}
