/* cpu-threads.c: the CPU backend's own small thread pool.
 *
 * Why not OpenMP: the convolutions alternate between our loops (im2col,
 * col2im) and OpenBLAS's sgemm, which has a pthread pool of its own.
 * libgomp's idle threads busy-wait after every parallel region, and that
 * spinning steals the cores from OpenBLAS's threads: measured on 2 cores,
 * the convolutions ran at 12 GFLOP/s with OpenMP's default wait policy and
 * 62 GFLOP/s with OMP_WAIT_POLICY=passive, which a library cannot set.
 * These workers sleep on a condition variable instead, so between our
 * parallel loops the cores belong to whoever needs them.
 *
 * The pool has one thread per core this process may use, or
 * CP_NUM_THREADS when that is set (read when the backend is created).
 * Work is split statically: thread t of T gets [count*t/T, count*(t+1)/T).
 * The calling thread takes share 0.  A pool already busy (a second thread
 * using the same backend) runs the loop serially instead of waiting.
 */
#include "cpu-private.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

struct CpCpuPool
{
  int              n_threads;    /* including the caller */
  int              n_started;    /* workers actually running */
  pthread_t        workers[CP_CPU_MAX_THREADS];

  pthread_mutex_t  submit;       /* held for the whole of one job */
  pthread_mutex_t  lock;         /* guards everything below */
  pthread_cond_t   wake;
  pthread_cond_t   done;
  unsigned long    generation;
  int              pending;
  int              stop;

  CpCpuRangeFn     fn;
  void            *arg;
  size_t           count;
};

typedef struct
{
  CpCpuPool *pool;
  int        index;
} WorkerStart;

static void
run_share (CpCpuPool *pool, int t, CpCpuRangeFn fn, void *arg, size_t count)
{
  size_t begin = count * (size_t) t / (size_t) pool->n_threads;
  size_t end = count * (size_t) (t + 1) / (size_t) pool->n_threads;

  if (begin < end)
    fn (arg, begin, end);
}

static void *
worker_main (void *data)
{
  CpCpuPool *pool = ((WorkerStart *) data)->pool;
  int index = ((WorkerStart *) data)->index;
  /* Jobs are numbered from 1: a job submitted before this thread got
   * here is still seen as new. */
  unsigned long seen = 0;

  free (data);

  pthread_mutex_lock (&pool->lock);
  for (;;)
    {
      CpCpuRangeFn fn;
      void *arg;
      size_t count;

      while (pool->generation == seen && !pool->stop)
        pthread_cond_wait (&pool->wake, &pool->lock);
      if (pool->stop)
        break;
      seen = pool->generation;
      fn = pool->fn;
      arg = pool->arg;
      count = pool->count;
      pthread_mutex_unlock (&pool->lock);

      run_share (pool, index, fn, arg, count);

      pthread_mutex_lock (&pool->lock);
      if (--pool->pending == 0)
        pthread_cond_signal (&pool->done);
    }
  pthread_mutex_unlock (&pool->lock);
  return NULL;
}

static int
default_thread_count (void)
{
  const char *env = getenv ("CP_NUM_THREADS");
  int n = 0;
#ifdef CPU_COUNT
  cpu_set_t set;
#endif

  if (env != NULL && atoi (env) > 0)
    n = atoi (env);
#ifdef CPU_COUNT
  /* The cores this process may run on (containers, taskset), not the
   * machine's. */
  if (n == 0 && sched_getaffinity (0, sizeof set, &set) == 0)
    n = CPU_COUNT (&set);
#endif
  if (n == 0)
    n = (int) sysconf (_SC_NPROCESSORS_ONLN);
  if (n < 1)
    n = 1;
  if (n > CP_CPU_MAX_THREADS)
    n = CP_CPU_MAX_THREADS;
  return n;
}

CpCpuPool *
cp_cpu_pool_new (void)
{
  CpCpuPool *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  pool->n_threads = default_thread_count ();
  pthread_mutex_init (&pool->submit, NULL);
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->wake, NULL);
  pthread_cond_init (&pool->done, NULL);

  for (int t = 1; t < pool->n_threads; t++)
    {
      /* The worker frees its start record once it has read it. */
      WorkerStart *start = malloc (sizeof *start);

      if (start == NULL)
        break;
      start->pool = pool;
      start->index = t;
      if (pthread_create (&pool->workers[t], NULL, worker_main, start) != 0)
        {
          free (start);
          break;
        }
      pool->n_started++;
    }
  /* Fewer workers than planned (thread limits): share among those. */
  pool->n_threads = pool->n_started + 1;
  return pool;
}

void
cp_cpu_pool_free (CpCpuPool *pool)
{
  if (pool == NULL)
    return;
  pthread_mutex_lock (&pool->lock);
  pool->stop = 1;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);
  for (int t = 1; t <= pool->n_started; t++)
    pthread_join (pool->workers[t], NULL);
  pthread_cond_destroy (&pool->wake);
  pthread_cond_destroy (&pool->done);
  pthread_mutex_destroy (&pool->lock);
  pthread_mutex_destroy (&pool->submit);
  free (pool);
}

int
cp_cpu_pool_threads (const CpCpuPool *pool)
{
  return pool != NULL ? pool->n_threads : 1;
}

void
cp_cpu_parallel_for (CpBackend *be, size_t count, int parallel, CpCpuRangeFn fn, void *arg)
{
  CpCpuPool *pool = be != NULL ? ((CpCpuContext *) be->ctx)->pool : NULL;

  if (count == 0)
    return;
  if (!parallel || pool == NULL || pool->n_threads < 2 || count < 2
      || pthread_mutex_trylock (&pool->submit) != 0)
    {
      fn (arg, 0, count);
      return;
    }

  pthread_mutex_lock (&pool->lock);
  pool->fn = fn;
  pool->arg = arg;
  pool->count = count;
  pool->pending = pool->n_threads - 1;
  pool->generation++;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);

  run_share (pool, 0, fn, arg, count);

  pthread_mutex_lock (&pool->lock);
  while (pool->pending > 0)
    pthread_cond_wait (&pool->done, &pool->lock);
  pthread_mutex_unlock (&pool->lock);
  pthread_mutex_unlock (&pool->submit);
}
