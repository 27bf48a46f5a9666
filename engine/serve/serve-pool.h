/* serve-pool.h: the scoring service's worker threads and their bounded
 * queue.
 *
 * Each worker has an index (0..n-1) that picks its own model instances
 * (serve-registry.h), so a worker never waits for another.  Admission
 * (503 when workers + @capacity requests are already accepted) is the
 * HTTP side's, which counts a request until its answer is out; the pool
 * refuses a push only beyond @capacity + workers queued, as a backstop.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs @job on worker thread @worker. */
typedef void (*CpServeJobFunc) (gpointer job, int worker, gpointer user_data);

typedef struct _CpServePool CpServePool;

CpServePool *cp_serve_pool_new       (int            n_workers,
                                      int            capacity,
                                      CpServeJobFunc func,
                                      gpointer       user_data);
/* Lets the workers finish the jobs already queued, then joins them. */
void         cp_serve_pool_free      (CpServePool *pool);

/* Queues @job; FALSE (and nothing queued) when @capacity + workers jobs
 * are already waiting. */
gboolean     cp_serve_pool_push      (CpServePool *pool,
                                      gpointer     job);

int          cp_serve_pool_workers   (CpServePool *pool);
int          cp_serve_pool_capacity  (CpServePool *pool);
int          cp_serve_pool_waiting   (CpServePool *pool);  /* queued, not started */
int          cp_serve_pool_running   (CpServePool *pool);  /* on a worker now */

/* Seconds until a job pushed now would likely start: the work ahead of it
 * (waiting and running jobs) spread over the workers, at the recent mean
 * job time.  For Retry-After. */
double       cp_serve_pool_expected_wait (CpServePool *pool);

G_END_DECLS
