/* serve-pool.c: worker threads pulling jobs from a bounded FIFO queue. */
#include "serve-pool.h"

#include <pthread.h>

#include "core/tsan.h"

/* pthread locks rather than GMutex: ThreadSanitizer sees these (Debian's
 * GLib is not instrumented, see core/tsan.h). */
struct _CpServePool
{
  pthread_mutex_t lock;
  pthread_cond_t  wake;
  GQueue          jobs;
  int             capacity;
  int             running;
  gboolean        stop;
  double          mean_seconds;  /* exponential moving mean of job times */

  int             n_workers;
  GThread       **threads;
  CpServeJobFunc  func;
  gpointer        user_data;
};

typedef struct
{
  CpServePool *pool;
  int          index;
} WorkerStart;

static gpointer
worker_main (gpointer data)
{
  WorkerStart *start = data;
  CpServePool *pool = start->pool;
  int index = start->index;

  g_free (start);
  pthread_mutex_lock (&pool->lock);
  for (;;)
    {
      gpointer job;
      gint64 began;
      double seconds;

      while (g_queue_is_empty (&pool->jobs) && !pool->stop)
        pthread_cond_wait (&pool->wake, &pool->lock);
      if (g_queue_is_empty (&pool->jobs))
        break;   /* stopping, and nothing is left */
      job = g_queue_pop_head (&pool->jobs);
      pool->running++;
      pthread_mutex_unlock (&pool->lock);

      CP_TSAN_ACQUIRE (job);
      began = g_get_monotonic_time ();
      pool->func (job, index, pool->user_data);
      seconds = (g_get_monotonic_time () - began) / 1e6;

      pthread_mutex_lock (&pool->lock);
      pool->running--;
      pool->mean_seconds = pool->mean_seconds == 0 ? seconds : 0.9 * pool->mean_seconds + 0.1 * seconds;
    }
  pthread_mutex_unlock (&pool->lock);
  return NULL;
}

CpServePool *
cp_serve_pool_new (int n_workers, int capacity, CpServeJobFunc func, gpointer user_data)
{
  CpServePool *pool = g_new0 (CpServePool, 1);

  g_return_val_if_fail (n_workers >= 1 && capacity >= 0, NULL);
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->wake, NULL);
  g_queue_init (&pool->jobs);
  pool->capacity = capacity;
  pool->n_workers = n_workers;
  pool->func = func;
  pool->user_data = user_data;
  pool->threads = g_new0 (GThread *, n_workers);
  for (int i = 0; i < n_workers; i++)
    {
      WorkerStart *start = g_new (WorkerStart, 1);
      g_autofree char *name = g_strdup_printf ("cp-serve-%d", i);

      start->pool = pool;
      start->index = i;
      pool->threads[i] = g_thread_new (name, worker_main, start);
    }
  return pool;
}

void
cp_serve_pool_free (CpServePool *pool)
{
  if (pool == NULL)
    return;
  pthread_mutex_lock (&pool->lock);
  pool->stop = TRUE;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);
  for (int i = 0; i < pool->n_workers; i++)
    g_thread_join (pool->threads[i]);
  g_free (pool->threads);
  g_queue_clear (&pool->jobs);
  pthread_mutex_destroy (&pool->lock);
  pthread_cond_destroy (&pool->wake);
  g_free (pool);
}

gboolean
cp_serve_pool_push (CpServePool *pool, gpointer job)
{
  gboolean queued = FALSE;

  pthread_mutex_lock (&pool->lock);
  /* A backstop: the caller admits requests against the same bound,
   * counted until their answers are out (a worker's running count drops
   * only after its answer is on its way, so it would refuse a client's
   * next request for a moment). */
  if (!pool->stop && (int) pool->jobs.length < pool->capacity + pool->n_workers)
    {
      CP_TSAN_RELEASE (job);
      g_queue_push_tail (&pool->jobs, job);
      pthread_cond_signal (&pool->wake);
      queued = TRUE;
    }
  pthread_mutex_unlock (&pool->lock);
  return queued;
}

int
cp_serve_pool_workers (CpServePool *pool)
{
  return pool->n_workers;
}

int
cp_serve_pool_capacity (CpServePool *pool)
{
  return pool->capacity;
}

int
cp_serve_pool_waiting (CpServePool *pool)
{
  int n;

  pthread_mutex_lock (&pool->lock);
  n = (int) pool->jobs.length;
  pthread_mutex_unlock (&pool->lock);
  return n;
}

int
cp_serve_pool_running (CpServePool *pool)
{
  int n;

  pthread_mutex_lock (&pool->lock);
  n = pool->running;
  pthread_mutex_unlock (&pool->lock);
  return n;
}

double
cp_serve_pool_expected_wait (CpServePool *pool)
{
  double wait;

  pthread_mutex_lock (&pool->lock);
  wait = pool->mean_seconds * (pool->jobs.length + pool->running) / pool->n_workers;
  pthread_mutex_unlock (&pool->lock);
  return wait;
}
