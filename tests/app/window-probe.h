/* window-probe.h: how the window tests and the screenshot driver reach
 * into the real window: through its session, its pages' properties and
 * actions, and the template children of the pages (GTK's own lookup).
 * Nothing here is a getter the application exports for tests. */
#pragma once

#include <gtk/gtk.h>

#include "cp-category-item.h"
#include "cp-model-folder-group.h"
#include "cp-session.h"
#include "cp-window.h"

static inline CpSession *
probe_session (CpWindow *w)
{
  CpSession *session = NULL;

  g_object_get (w, "session", &session, NULL);
  g_object_unref (session);   /* the window holds it */
  return session;
}

/* "dataset", "train", "augment", "inspect" or "eval". */
static inline GtkWidget *
probe_page (CpWindow   *w,
            const char *name)
{
  g_autofree char *id = g_strdup_printf ("%s_page", name);
  GObject *page = gtk_widget_get_template_child (GTK_WIDGET (w), CP_TYPE_WINDOW, id);

  g_assert_nonnull (page);
  return GTK_WIDGET (page);
}

/* Template child @id of page @page. */
static inline GtkWidget *
probe_child (CpWindow   *w,
             const char *page,
             const char *id)
{
  GtkWidget *widget = probe_page (w, page);
  GObject *child = gtk_widget_get_template_child (widget, G_OBJECT_TYPE (widget), id);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

/* Template child @id of the Dataset page's model folder group:
 * "folder_label", "origin_label", "use_folder_button", "import_button". */
static inline GtkWidget *
probe_model_folder (CpWindow   *w,
                    const char *id)
{
  GtkWidget *group = probe_child (w, "dataset", "model_folder_group");
  GObject *child = gtk_widget_get_template_child (group, CP_TYPE_MODEL_FOLDER_GROUP, id);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

static inline void
probe_show_page (CpWindow   *w,
                 const char *name)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), "win.page", "s", name));
}

/* As the Open Dataset dialog would: asks first about a moved threshold. */
static inline void
probe_open_dataset (CpWindow   *w,
                    const char *path)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), "win.open-folder", "s", path));
}

static inline CpCategoryState
probe_category_state (CpWindow   *w,
                      const char *name)
{
  CpCategoryItem *item = cp_session_find (probe_session (w), name);

  return item != NULL ? cp_category_item_get_state (item) : CP_CATEGORY_STATE_NOT_TRAINED;
}

/* Files dropped on the window: what its drop target hands to the
 * Inspection page. */
static inline void
probe_drop (CpWindow *w,
            GSList   *files)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) uris = NULL;

  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *uri = g_file_get_uri (l->data);

      g_strv_builder_add (builder, uri);
    }
  uris = g_strv_builder_end (builder);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), "win.inspect-files", "^as", uris));
}

static inline GListModel *
probe_inspect_items (CpWindow *w)
{
  GListModel *items = NULL;

  g_object_get (probe_page (w, "inspect"), "items", &items, NULL);
  g_object_unref (items);   /* the page holds it */
  return items;
}

static inline void
probe_select_inspect_row (CpWindow *w,
                          guint     index)
{
  g_object_set (probe_page (w, "inspect"), "selected", index, NULL);
}

/* The threshold controls of the Inspection page: "scale" (the slider),
 * "save" and "reset" (its buttons), "origin" (what the file holds). */
static inline GtkWidget *
probe_threshold (CpWindow   *w,
                 const char *name)
{
  const char *id = g_str_equal (name, "scale") ? "threshold_scale"
                   : g_str_equal (name, "save") ? "threshold_save_button"
                   : g_str_equal (name, "reset") ? "threshold_reset_button"
                   : "threshold_origin";

  return probe_child (w, "inspect", id);
}
