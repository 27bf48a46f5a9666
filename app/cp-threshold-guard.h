/* cp-threshold-guard.h: the question asked before a threshold that was
 * moved and not saved would be dropped (switching category or dataset,
 * training the category again, closing the window).
 *
 * Save stores it and goes on once the file holds it; Discard puts the
 * threshold back and goes on; Cancel stays.  A save still running is
 * waited for first, so that nothing runs ahead of its outcome.  One
 * question per session: a step asked for while another waits takes its
 * place (the earlier one finishes with FALSE).
 */
#pragma once

#include <gtk/gtk.h>

#include "cp-session.h"

G_BEGIN_DECLS

typedef enum
{
  CP_THRESHOLD_GUARD_LEAVE,     /* another category or dataset, or closing */
  CP_THRESHOLD_GUARD_RETRAIN,   /* training replaces the model and its threshold */
} CpThresholdGuardReason;

/* TRUE when nothing needs asking or waiting for: no moved threshold, no
 * save running, no question shown.  A GTask finishes from the main loop
 * only, never within the call that made it: a step that may go on at once
 * checks this first and goes on (close-request must answer at once, and a
 * drop-down should not show a choice not yet taken), and calls
 * cp_threshold_guard_confirm_async () otherwise. */
gboolean cp_threshold_guard_is_clear        (CpSession              *session);

/* Finishes with TRUE (from the main loop) when cp_threshold_guard_is_clear ();
 * else asks, with a dialog on @parent, and finishes with the answer. */
void     cp_threshold_guard_confirm_async   (CpSession              *session,
                                             GtkWindow              *parent,
                                             CpThresholdGuardReason  reason,
                                             GCancellable           *cancellable,
                                             GAsyncReadyCallback     callback,
                                             gpointer                user_data);
/* TRUE: go on (the moved threshold is saved or given up); FALSE: stay. */
gboolean cp_threshold_guard_confirm_finish  (CpSession              *session,
                                             GAsyncResult           *result,
                                             GError                **error);

/* The window goes: the question goes with it and the waiting step
 * finishes with FALSE. */
void     cp_threshold_guard_dismiss         (CpSession              *session);

G_END_DECLS
