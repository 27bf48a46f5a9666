/* serve-metrics.h: what GET /metrics reports, in the Prometheus text
 * exposition format (version 0.0.4).
 *
 * Requests answered, by endpoint and HTTP status; requests whose client
 * went away before an answer; images scored, by category and verdict;
 * the latency of score requests (request head read to response written)
 * as a histogram; and gauges read when scraped: queue depth and capacity,
 * jobs running, models loaded, model loads and failures.
 */
#pragma once

#include <glib.h>

#include "serve-pool.h"
#include "serve-registry.h"

G_BEGIN_DECLS

typedef struct _CpServeMetrics CpServeMetrics;

CpServeMetrics *cp_serve_metrics_new     (void);
void            cp_serve_metrics_free    (CpServeMetrics *metrics);

/* One answered request.  @endpoint is one of "score", "models", "healthz",
 * "metrics", "other"; @seconds < 0 leaves the histogram alone (only score
 * requests are timed). */
void            cp_serve_metrics_request (CpServeMetrics *metrics,
                                          const char     *endpoint,
                                          guint           status,
                                          double          seconds);
/* A request whose client went away before it was answered. */
void            cp_serve_metrics_aborted (CpServeMetrics *metrics,
                                          const char     *endpoint);
void            cp_serve_metrics_verdict (CpServeMetrics *metrics,
                                          const char     *category,
                                          const char     *verdict);

/* The exposition text, newly allocated. */
char           *cp_serve_metrics_render  (CpServeMetrics  *metrics,
                                          CpServePool     *pool,
                                          CpServeRegistry *registry);

G_END_DECLS
