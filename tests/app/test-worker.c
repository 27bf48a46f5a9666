/* test-worker.c: the engine thread's job queue: results come back on the
 * main thread (even when it is not iterating its main context as the job
 * ends), cancelled and superseded jobs deliver nothing, and a job whose
 * owner is gone calls nothing. */
#include "config.h"

#include <gio/gio.h>

#include "cp-worker.h"

typedef struct
{
  int      delivered;
  int      dropped;
  int      failed;
  int      progress;
  int      last_result;
  GThread *done_thread;
} Record;

/* A plain GObject stands in for the window. */
static GObject *
owner_new (void)
{
  return g_object_new (G_TYPE_OBJECT, NULL);
}

static Record *
record_of (gpointer owner)
{
  return g_object_get_data (owner, "record");
}

static gpointer
run_value (CpWorkerJob *job, const volatile int *cancel, gpointer data, GError **error)
{
  int *value = g_new (int, 1);

  cp_worker_job_progress (job, g_new0 (int, 1), g_free);
  *value = GPOINTER_TO_INT (data);
  return value;
}

/* Waits for its cancel flag (or 5 s), like a training run. */
static gpointer
run_until_cancelled (CpWorkerJob *job, const volatile int *cancel, gpointer data, GError **error)
{
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (!g_atomic_int_get (cancel) && g_get_monotonic_time () < end)
    g_usleep (1000);
  if (g_atomic_int_get (cancel))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled");
      return NULL;
    }
  return g_new0 (int, 1);
}

static gpointer
run_fail (CpWorkerJob *job, const volatile int *cancel, gpointer data, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "failed on purpose");
  return NULL;
}

static void
on_progress (gpointer progress, gpointer user_data)
{
  record_of (user_data)->progress++;
}

static void
on_done (gpointer result, const GError *error, gboolean dropped, gpointer user_data)
{
  Record *r = record_of (user_data);

  r->done_thread = g_thread_self ();
  if (dropped)
    r->dropped++;
  else if (result == NULL)
    {
      g_assert_nonnull (error);
      r->failed++;
    }
  else
    {
      r->delivered++;
      r->last_result = *(int *) result;
    }
}

static GObject *
recorded_owner (Record *r)
{
  GObject *owner = owner_new ();

  g_object_set_data (owner, "record", r);
  return owner;
}

static void
test_deliver (void)
{
  g_autoptr(CpWorker) worker = cp_worker_new ();
  Record r = { 0 };
  g_autoptr(GObject) owner = recorded_owner (&r);

  cp_worker_submit (worker, "a", run_value, GINT_TO_POINTER (42), NULL, on_progress, on_done, g_free, owner);
  g_assert_true (cp_worker_slot_busy (worker, "a"));
  cp_worker_wait_idle (worker);
  g_assert_cmpint (r.delivered, ==, 1);
  g_assert_cmpint (r.last_result, ==, 42);
  g_assert_cmpint (r.progress, ==, 1);
  g_assert_true (r.done_thread == g_thread_self ());
  g_assert_false (cp_worker_slot_busy (worker, "a"));
  cp_worker_shutdown (worker);
}

static void
test_supersede (void)
{
  g_autoptr(CpWorker) worker = cp_worker_new ();
  Record r = { 0 };
  g_autoptr(GObject) owner = recorded_owner (&r);

  /* The first job blocks until it is superseded by the second. */
  cp_worker_submit (worker, "a", run_until_cancelled, NULL, NULL, NULL, on_done, g_free, owner);
  cp_worker_submit (worker, "a", run_value, GINT_TO_POINTER (7), NULL, NULL, on_done, g_free, owner);
  cp_worker_wait_idle (worker);
  g_assert_cmpint (r.dropped, ==, 1);
  g_assert_cmpint (r.delivered, ==, 1);
  g_assert_cmpint (r.last_result, ==, 7);
  cp_worker_shutdown (worker);
}

static void
test_cancel_and_fail (void)
{
  g_autoptr(CpWorker) worker = cp_worker_new ();
  Record r = { 0 };
  g_autoptr(GObject) owner = recorded_owner (&r);

  cp_worker_submit (worker, "a", run_until_cancelled, NULL, NULL, NULL, on_done, g_free, owner);
  cp_worker_submit (worker, "b", run_fail, NULL, NULL, NULL, on_done, g_free, owner);
  g_usleep (20000);
  cp_worker_cancel_slot (worker, "a");
  cp_worker_wait_idle (worker);
  g_assert_cmpint (r.dropped, ==, 1);
  g_assert_cmpint (r.failed, ==, 1);
  g_assert_cmpint (r.delivered, ==, 0);
  cp_worker_shutdown (worker);
}

static void
test_owner_gone (void)
{
  g_autoptr(CpWorker) worker = cp_worker_new ();
  Record r = { 0 };
  GObject *owner = recorded_owner (&r);

  cp_worker_submit (worker, "a", run_value, GINT_TO_POINTER (1), NULL, on_progress, on_done, g_free, owner);
  g_object_unref (owner);
  cp_worker_wait_idle (worker);
  g_assert_cmpint (r.delivered + r.dropped + r.failed + r.progress, ==, 0);
  cp_worker_shutdown (worker);
}

/* The job ends while the main thread is not iterating its context, so no
 * thread owns it: g_main_context_invoke_full() would then have run the
 * delivery on the engine thread at once.  Nothing may be delivered until
 * the main thread iterates, and then on the main thread. */
static void
test_deliver_while_main_busy (void)
{
  g_autoptr(CpWorker) worker = cp_worker_new ();
  Record r = { 0 };
  g_autoptr(GObject) owner = recorded_owner (&r);

  cp_worker_submit (worker, "a", run_value, GINT_TO_POINTER (7), NULL, on_progress, on_done, g_free, owner);
  g_usleep (300000);  /* the job takes microseconds */
  g_assert_true (cp_worker_slot_busy (worker, "a"));
  g_assert_cmpint (r.delivered + r.progress, ==, 0);
  cp_worker_wait_idle (worker);
  g_assert_cmpint (r.delivered, ==, 1);
  g_assert_cmpint (r.progress, ==, 1);
  g_assert_true (r.done_thread == g_thread_self ());
  cp_worker_shutdown (worker);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/worker/deliver", test_deliver);
  g_test_add_func ("/app/worker/deliver-while-main-busy", test_deliver_while_main_busy);
  g_test_add_func ("/app/worker/supersede", test_supersede);
  g_test_add_func ("/app/worker/cancel-and-fail", test_cancel_and_fail);
  g_test_add_func ("/app/worker/owner-gone", test_owner_gone);
  return g_test_run ();
}
