/* cp-page.h: the base of the window's pages.
 *
 * A page is a widget with its own template that works on the window's
 * CpSession (the "session" property, bound in cp-window.ui) and never on
 * another page.  Its actions are window actions ("win.NAME", so that the
 * accelerators, the header bar and the tests reach them) that the page
 * adds to its window's action map while it is in one.
 */
#pragma once

#include <gtk/gtk.h>

#include "cp-session.h"

G_BEGIN_DECLS

#define CP_TYPE_PAGE (cp_page_get_type ())
G_DECLARE_DERIVABLE_TYPE (CpPage, cp_page, CP, PAGE, GtkWidget)

struct _CpPageClass
{
  GtkWidgetClass parent_class;

  /* The session changed from @previous (either may be NULL): follow the
   * new one and show what it holds. */
  void (*session_changed) (CpPage    *self,
                           CpSession *previous);
};

CpSession *cp_page_get_session        (CpPage             *self);
void       cp_page_set_session        (CpPage             *self,
                                       CpSession          *session);

/* Adds "win.NAME" actions run with the page as user data (call from the
 * page's init). */
void       cp_page_add_actions        (CpPage             *self,
                                       const GActionEntry *entries,
                                       guint               n_entries);
void       cp_page_set_action_enabled (CpPage             *self,
                                       const char         *name,
                                       gboolean            enabled);

/* Shows the page in its window's view stack. */
void       cp_page_present            (CpPage             *self);
/* The window the page is in, or NULL. */
GtkWindow *cp_page_get_window         (CpPage             *self);

G_END_DECLS
