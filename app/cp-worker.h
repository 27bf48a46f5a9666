/* cp-worker.h: the one engine thread of the application.
 *
 * Every call into the engine (training, scoring, evaluation, previews)
 * runs as a job on a single thread that owns the compute backend, so the
 * device is never shared and the window never blocks.  Jobs travel through
 * a GAsyncQueue; their progress and results come back to the main loop
 * through g_main_context_invoke ().  A job belongs to a "slot" (train,
 * score, ...): submitting a new job in a slot supersedes the previous one,
 * whose results are then dropped, as are those of a cancelled job.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define CP_TYPE_WORKER (cp_worker_get_type ())
G_DECLARE_FINAL_TYPE (CpWorker, cp_worker, CP, WORKER, GObject)

typedef struct _CpWorkerJob CpWorkerJob;

/* Runs on the engine thread.  Returns the result (or NULL with @error
 * set); @cancel is raised by cp_worker_job_cancel () and is what the
 * engine's cancel flags point at.  The main thread raises it while the job
 * runs: read it with g_atomic_int_get (), never as a plain int. */
typedef gpointer (*CpWorkerRunFunc)  (CpWorkerJob        *job,
                                      const volatile int *cancel,
                                      gpointer            job_data,
                                      GError            **error);

/* Runs on the main thread when the job ends.  @result is NULL when the job
 * failed (@error set), was cancelled or was superseded (@dropped TRUE):
 * a dropped job's results never reach the caller. */
typedef void     (*CpWorkerDoneFunc) (gpointer            result,
                                      const GError       *error,
                                      gboolean            dropped,
                                      gpointer            user_data);

/* Runs on the main thread for each cp_worker_job_progress () call of a
 * job that is still current. */
typedef void     (*CpWorkerProgressFunc) (gpointer        progress,
                                          gpointer        user_data);

CpWorker    *cp_worker_new            (void);

/* Queues a job and returns it (borrowed; valid until its done callback
 * has run).  @job_data is freed with @job_data_free on the main thread
 * after @done; @result_free frees a result that is dropped or delivered.
 * Callbacks receive @owner as user data; the worker holds only a weak
 * reference, and a job whose owner is gone delivers nothing. */
CpWorkerJob *cp_worker_submit         (CpWorker             *self,
                                       const char           *slot,
                                       CpWorkerRunFunc       run,
                                       gpointer              job_data,
                                       GDestroyNotify        job_data_free,
                                       CpWorkerProgressFunc  progress,
                                       CpWorkerDoneFunc      done,
                                       GDestroyNotify        result_free,
                                       GObject              *owner);

/* Cancels the current job of @slot, if any (queued or running). */
void         cp_worker_cancel_slot    (CpWorker             *self,
                                       const char           *slot);
gboolean     cp_worker_slot_busy      (CpWorker             *self,
                                       const char           *slot);

/* Blocks the main thread until every queued job has run and delivered:
 * for tests and for shutdown only. */
void         cp_worker_wait_idle      (CpWorker             *self);

/* Cancels every job, stops the thread and waits for it. */
void         cp_worker_shutdown       (CpWorker             *self);

/* Engine-thread side: posts @progress (freed with @free_func, main thread)
 * to the job's progress callback. */
void         cp_worker_job_progress   (CpWorkerJob          *job,
                                       gpointer              progress,
                                       GDestroyNotify        free_func);
void         cp_worker_job_cancel     (CpWorkerJob          *job);
gboolean     cp_worker_job_is_cancelled (CpWorkerJob        *job);

G_END_DECLS
