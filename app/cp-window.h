/* cp-window.h: the main window: a header bar with the category drop-down,
 * and the Dataset, Training, Augmentations, Inspection and Evaluation
 * pages (cp-*-page.c), each bound to the window's CpSession.
 *
 * Properties: "session", "visible-page" (the name of the page shown; also
 * the action win.page), "last-toast" (the latest message shown as a
 * toast: a toast waits while another is shown, so it may not be on
 * screen yet).
 */
#pragma once

#include <adwaita.h>

#include "cp-application.h"
#include "cp-session.h"

G_BEGIN_DECLS

#define CP_TYPE_WINDOW (cp_window_get_type ())
G_DECLARE_FINAL_TYPE (CpWindow, cp_window, CP, WINDOW, AdwApplicationWindow)

/* A window on a new session, which opens the dataset opened last. */
CpWindow *cp_window_new (CpApplication *app);

G_END_DECLS
