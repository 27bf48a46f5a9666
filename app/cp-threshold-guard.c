/* cp-threshold-guard.c: asking before a moved threshold is dropped. */
#include "config.h"

#include <glib/gi18n.h>

#include <adwaita.h>

#include "cp-threshold-guard.h"

/* The state of one session's question, kept on the session. */
typedef struct
{
  CpSession *session;       /* borrowed: the guard lives as long as it */
  GTask     *task;          /* the step that waits: the latest asked for */
  GtkWidget *dialog;        /* weak: the question while it is shown */
  gulong     saved_handler;
} Guard;

static void
guard_free (gpointer data)
{
  Guard *guard = data;

  /* Only once the session is finalized: no task (it would hold the
   * session) and no handler remain. */
  if (guard->dialog != NULL)
    {
      g_object_remove_weak_pointer (G_OBJECT (guard->dialog), (gpointer *) &guard->dialog);
      gtk_window_destroy (GTK_WINDOW (guard->dialog));
    }
  g_free (guard);
}

static void on_threshold_saved (CpSession *session, gboolean stored, Guard *guard);

static Guard *
guard_get (CpSession *session)
{
  Guard *guard = g_object_get_data (G_OBJECT (session), "cp-threshold-guard");

  if (guard == NULL)
    {
      guard = g_new0 (Guard, 1);
      guard->session = session;
      g_object_set_data_full (G_OBJECT (session), "cp-threshold-guard", guard, guard_free);
      guard->saved_handler = g_signal_connect (session, "threshold-saved",
                                               G_CALLBACK (on_threshold_saved), guard);
    }
  return guard;
}

static gboolean
threshold_moved (CpSession *session)
{
  CpCategoryItem *item = cp_session_get_selected (session);

  return item != NULL && cp_category_item_get_moved (item);
}

gboolean
cp_threshold_guard_is_clear (CpSession *session)
{
  Guard *guard = g_object_get_data (G_OBJECT (session), "cp-threshold-guard");

  return (guard == NULL || (guard->dialog == NULL && guard->task == NULL))
         && !cp_session_get_saving (session) && !threshold_moved (session);
}

/* Ends the step that waits, if any. */
static void
finish (Guard    *guard,
        gboolean  go_on)
{
  g_autoptr(GTask) task = g_steal_pointer (&guard->task);

  if (task != NULL)
    g_task_return_boolean (task, go_on);
}

static gboolean
finish_idle (gpointer data)
{
  g_task_return_boolean (G_TASK (data), TRUE);
  return G_SOURCE_REMOVE;
}

static void ask (Guard *guard, GtkWindow *parent, CpThresholdGuardReason reason);

/* After a save, the step goes on if the file holds the threshold in use;
 * asks again if the slider moved once more meanwhile. */
static void
on_threshold_saved (CpSession *session,
                    gboolean   stored,
                    Guard     *guard)
{
  if (guard->task == NULL || guard->dialog != NULL)
    return;
  if (!stored)
    finish (guard, FALSE);
  else if (threshold_moved (session))
    ask (guard, g_task_get_task_data (guard->task),
         GPOINTER_TO_INT (g_object_get_data (G_OBJECT (guard->task), "cp-reason")));
  else
    finish (guard, TRUE);
}

static void
on_response (AdwMessageDialog *dialog,
             const char       *response,
             Guard            *guard)
{
  g_object_remove_weak_pointer (G_OBJECT (dialog), (gpointer *) &guard->dialog);
  guard->dialog = NULL;
  if (g_strcmp0 (response, "save") == 0)
    {
      /* on_threshold_saved () goes on once the file holds the value, or
       * stays (and the session says why). */
      if (!cp_session_save_threshold (guard->session))
        finish (guard, FALSE);
    }
  else if (g_strcmp0 (response, "discard") == 0)
    {
      CpCategoryItem *item = cp_session_get_selected (guard->session);

      /* Back to the stored value, so that nothing later asks again about
       * a value the user gave up. */
      if (item != NULL)
        cp_category_item_reset_threshold (item);
      /* From the main loop: the step may close the window, and the
       * dialog is still inside its own signal here. */
      if (guard->task != NULL)
        g_idle_add_full (G_PRIORITY_DEFAULT, finish_idle, g_steal_pointer (&guard->task),
                         g_object_unref);
    }
  else
    finish (guard, FALSE);
}

static void
ask (Guard                  *guard,
     GtkWindow              *parent,
     CpThresholdGuardReason  reason)
{
  CpCategoryItem *item = cp_session_get_selected (guard->session);
  const char *name = cp_category_item_get_name (item);
  double stored = cp_category_item_get_stored_threshold (item);
  double moved = cp_category_item_get_threshold (item);
  /* Not while the category trains: Save Threshold is off then too. */
  gboolean can_save = cp_category_item_is_trained (item);
  AdwMessageDialog *dialog =
    ADW_MESSAGE_DIALOG (adw_message_dialog_new (parent, _("Save the moved threshold?"), NULL));

  if (reason == CP_THRESHOLD_GUARD_RETRAIN)
    /* Translators: a category name, then two thresholds: the one in the
     * model file and the one the slider was moved to. */
    adw_message_dialog_format_body (dialog,
                                    _("Training replaces the model of “%s”, and its threshold of %.2f "
                                      "with the one the new model sets; the slider was moved to %.2f. "
                                      "Saved, the moved value stays in the current model if training "
                                      "is cancelled or fails."),
                                    name, stored, moved);
  else
    /* Translators: a category name, then two thresholds, as above. */
    adw_message_dialog_format_body (dialog,
                                    _("The threshold of “%s” is stored as %.2f in its model; "
                                      "the slider was moved to %.2f. Unless you save it, "
                                      "the moved value is lost."),
                                    name, stored, moved);
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "discard", _("_Discard"),
                                    "save", _("_Save"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "discard", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "save", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_response_enabled (dialog, "save", can_save);
  adw_message_dialog_set_default_response (dialog, can_save ? "save" : "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  gtk_window_set_modal (GTK_WINDOW (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), guard);
  guard->dialog = GTK_WIDGET (dialog);
  g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *) &guard->dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
cp_threshold_guard_confirm_async (CpSession              *session,
                                  GtkWindow              *parent,
                                  CpThresholdGuardReason  reason,
                                  GCancellable           *cancellable,
                                  GAsyncReadyCallback     callback,
                                  gpointer                user_data)
{
  GTask *task;
  Guard *guard;

  g_return_if_fail (CP_IS_SESSION (session));
  task = g_task_new (session, cancellable, callback, user_data);
  g_task_set_source_tag (task, cp_threshold_guard_confirm_async);
  if (cp_threshold_guard_is_clear (session))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  guard = guard_get (session);
  /* The latest step asked for is the one that waits. */
  finish (guard, FALSE);
  g_task_set_task_data (task, parent, NULL);
  g_object_set_data (G_OBJECT (task), "cp-reason", GINT_TO_POINTER (reason));
  guard->task = task;
  if (guard->dialog != NULL)
    gtk_window_present (GTK_WINDOW (guard->dialog));
  else if (!cp_session_get_saving (session))
    ask (guard, parent, reason);
}

gboolean
cp_threshold_guard_confirm_finish (CpSession     *session,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, session), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
cp_threshold_guard_dismiss (CpSession *session)
{
  Guard *guard = g_object_get_data (G_OBJECT (session), "cp-threshold-guard");

  if (guard == NULL)
    return;
  if (guard->dialog != NULL)
    {
      GtkWidget *dialog = guard->dialog;

      g_object_remove_weak_pointer (G_OBJECT (dialog), (gpointer *) &guard->dialog);
      guard->dialog = NULL;
      gtk_window_destroy (GTK_WINDOW (dialog));
    }
  finish (guard, FALSE);
  g_clear_signal_handler (&guard->saved_handler, session);
  g_object_set_data (G_OBJECT (session), "cp-threshold-guard", NULL);
}
