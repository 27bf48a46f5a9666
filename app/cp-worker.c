/* cp-worker.c: one engine thread, a queue of jobs, results via the main loop. */
#include "config.h"

#include "cp-worker.h"

#include "core/tsan.h"

struct _CpWorkerJob
{
  gint                 ref_count;
  CpWorker            *worker;        /* owned */
  char                *slot;
  volatile int         cancel;        /* the engine's cancel flags point here;
                                       * g_atomic_int_get/set only */

  CpWorkerRunFunc      run;
  gpointer             job_data;
  GDestroyNotify       job_data_free;
  CpWorkerProgressFunc progress;
  CpWorkerDoneFunc     done;
  GDestroyNotify       result_free;
  GWeakRef             owner;

  gpointer             result;        /* set by the engine thread */
  GError              *error;
};

struct _CpWorker
{
  GObject       parent_instance;

  GThread      *thread;
  GAsyncQueue  *queue;       /* CpWorkerJob *, or the stop marker */
  GMainContext *context;     /* where results are delivered */
  GHashTable   *current;     /* slot -> CpWorkerJob * (main thread only) */
  guint         pending;     /* submitted, not yet delivered */
};

G_DEFINE_FINAL_TYPE (CpWorker, cp_worker, G_TYPE_OBJECT)

/* Pushed once to end the thread. */
static CpWorkerJob stop_marker;

static CpWorkerJob *
job_ref (CpWorkerJob *job)
{
  g_atomic_int_inc (&job->ref_count);
  return job;
}

static void
job_unref (gpointer data)
{
  CpWorkerJob *job = data;

  if (!g_atomic_int_dec_and_test (&job->ref_count))
    return;
  /* The last reference is dropped on the main thread (the engine thread
   * hands its reference to the delivery source), so freeing the job data
   * and any undelivered result here is safe for GTK objects. */
  if (job->result != NULL && job->result_free != NULL)
    job->result_free (job->result);
  if (job->job_data != NULL && job->job_data_free != NULL)
    job->job_data_free (job->job_data);
  g_clear_error (&job->error);
  g_weak_ref_clear (&job->owner);
  g_free (job->slot);
  g_object_unref (job->worker);
  g_free (job);
}

typedef struct
{
  CpWorkerJob   *job;
  gpointer       payload;
  GDestroyNotify free_func;
} ProgressMessage;

static void
progress_message_free (gpointer data)
{
  ProgressMessage *msg = data;

  CP_TSAN_ACQUIRE (msg);  /* also freed undelivered */
  if (msg->payload != NULL && msg->free_func != NULL)
    msg->free_func (msg->payload);
  job_unref (msg->job);
  g_free (msg);
}

static gboolean
deliver_progress (gpointer data)
{
  ProgressMessage *msg = data;
  CpWorkerJob *job;
  g_autoptr(GObject) owner = NULL;

  CP_TSAN_ACQUIRE (msg);  /* from cp_worker_job_progress() */
  job = msg->job;
  owner = g_weak_ref_get (&job->owner);
  if (owner != NULL && !g_atomic_int_get (&job->cancel) && job->progress != NULL &&
      g_hash_table_lookup (job->worker->current, job->slot) == job)
    job->progress (msg->payload, owner);
  return G_SOURCE_REMOVE;
}

static gboolean
deliver_result (gpointer data)
{
  CpWorkerJob *job = data;
  CpWorker *self;
  g_autoptr(GObject) owner = NULL;
  gboolean current, dropped;

  CP_TSAN_ACQUIRE (job);  /* from worker_thread(): the result and error */
  self = job->worker;
  owner = g_weak_ref_get (&job->owner);
  current = g_hash_table_lookup (self->current, job->slot) == job;
  dropped = g_atomic_int_get (&job->cancel) || !current;

  /* Leave the slot first so that the callback sees it free. */
  if (current)
    g_hash_table_remove (self->current, job->slot);

  if (owner != NULL && job->done != NULL)
    {
      if (dropped)
        job->done (NULL, NULL, TRUE, owner);
      else
        {
          gpointer result = g_steal_pointer (&job->result);

          job->done (result, job->error, FALSE, owner);
          if (result != NULL && job->result_free != NULL)
            job->result_free (result);
        }
    }
  self->pending--;
  return G_SOURCE_REMOVE;
}

/* Queues @func (@data) on @context, the main thread's.  Not
 * g_main_context_invoke_full(): when no thread owns @context at that
 * moment (the main thread between two iterations, or blocked in
 * cp_worker_shutdown()), it acquires the context and calls @func right
 * here on the engine thread, racing the main thread for self->current and
 * calling GTK from the wrong thread.  An idle source is always dispatched
 * by the thread that iterates @context.  It is also made before the TSan
 * release, since GLib frees it on the main thread. */
static void
invoke_on_main (GMainContext   *context,
                GSourceFunc     func,
                gpointer        data,
                GDestroyNotify  notify)
{
  GSource *source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, func, data, notify);
  g_source_set_static_name (source, "[cp-worker] deliver");
  /* GLib's futex hand-offs are invisible to TSan (see core/tsan.h). */
  CP_TSAN_RELEASE (data);
  g_source_attach (source, context);
  g_source_unref (source);
}

static gpointer
worker_thread (gpointer data)
{
  CpWorker *self = data;

  for (;;)
    {
      CpWorkerJob *job = g_async_queue_pop (self->queue);

      /* The job was filled in on the main thread before the push. */
      CP_TSAN_ACQUIRE (job);
      if (job == &stop_marker)
        break;
      if (!g_atomic_int_get (&job->cancel))
        job->result = job->run (job, &job->cancel, job->job_data, &job->error);
      /* Hands this thread's reference to the delivery source; the main
       * thread reads the result and error in deliver_result(). */
      invoke_on_main (self->context, deliver_result, job, job_unref);
    }
  return NULL;
}

static void
cp_worker_finalize (GObject *object)
{
  CpWorker *self = CP_WORKER (object);

  g_assert (self->thread == NULL);
  g_async_queue_unref (self->queue);
  g_hash_table_unref (self->current);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (cp_worker_parent_class)->finalize (object);
}

static void
cp_worker_class_init (CpWorkerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = cp_worker_finalize;
}

static void
cp_worker_init (CpWorker *self)
{
  self->queue = g_async_queue_new ();
  self->context = g_main_context_ref_thread_default ();
  self->current = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, job_unref);
  self->thread = g_thread_new ("cp-engine", worker_thread, self);
}

CpWorker *
cp_worker_new (void)
{
  return g_object_new (CP_TYPE_WORKER, NULL);
}

CpWorkerJob *
cp_worker_submit (CpWorker             *self,
                  const char           *slot,
                  CpWorkerRunFunc       run,
                  gpointer              job_data,
                  GDestroyNotify        job_data_free,
                  CpWorkerProgressFunc  progress,
                  CpWorkerDoneFunc      done,
                  GDestroyNotify        result_free,
                  GObject              *owner)
{
  CpWorkerJob *job;
  CpWorkerJob *previous;

  g_return_val_if_fail (CP_IS_WORKER (self), NULL);
  g_return_val_if_fail (self->thread != NULL, NULL);

  job = g_new0 (CpWorkerJob, 1);
  job->ref_count = 1;
  job->worker = g_object_ref (self);
  job->slot = g_strdup (slot);
  job->run = run;
  job->job_data = job_data;
  job->job_data_free = job_data_free;
  job->progress = progress;
  job->done = done;
  job->result_free = result_free;
  g_weak_ref_init (&job->owner, owner);

  /* Superseding: the old job stops as soon as the engine looks at its flag,
   * and its result will not be delivered since it is no longer current. */
  previous = g_hash_table_lookup (self->current, slot);
  if (previous != NULL)
    g_atomic_int_set (&previous->cancel, 1);
  g_hash_table_replace (self->current, g_strdup (slot), job_ref (job));

  self->pending++;
  /* GLib's futex hand-offs are invisible to TSan (see core/tsan.h). */
  CP_TSAN_RELEASE (job);
  g_async_queue_push (self->queue, job);   /* the thread's reference */
  return job;
}

void
cp_worker_cancel_slot (CpWorker   *self,
                       const char *slot)
{
  CpWorkerJob *job = g_hash_table_lookup (self->current, slot);

  if (job != NULL)
    g_atomic_int_set (&job->cancel, 1);
}

gboolean
cp_worker_slot_busy (CpWorker   *self,
                     const char *slot)
{
  return g_hash_table_lookup (self->current, slot) != NULL;
}

void
cp_worker_wait_idle (CpWorker *self)
{
  while (self->pending > 0)
    g_main_context_iteration (self->context, TRUE);
}

void
cp_worker_shutdown (CpWorker *self)
{
  GHashTableIter iter;
  gpointer value;

  if (self->thread == NULL)
    return;
  g_hash_table_iter_init (&iter, self->current);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_atomic_int_set (&((CpWorkerJob *) value)->cancel, 1);
  g_async_queue_push (self->queue, &stop_marker);
  g_thread_join (self->thread);
  self->thread = NULL;
  /* Deliver (as dropped) whatever finished meanwhile. */
  while (g_main_context_iteration (self->context, FALSE))
    ;
}

void
cp_worker_job_progress (CpWorkerJob   *job,
                        gpointer       progress,
                        GDestroyNotify free_func)
{
  ProgressMessage *msg = g_new0 (ProgressMessage, 1);

  msg->job = job_ref (job);
  msg->payload = progress;
  msg->free_func = free_func;
  invoke_on_main (job->worker->context, deliver_progress, msg, progress_message_free);
}

void
cp_worker_job_cancel (CpWorkerJob *job)
{
  g_atomic_int_set (&job->cancel, 1);
}

gboolean
cp_worker_job_is_cancelled (CpWorkerJob *job)
{
  return g_atomic_int_get (&job->cancel) != 0;
}
