/* serve-http.h: the scoring service's HTTP side (libsoup 3's server).
 *
 * Endpoints:
 *   POST /v1/score/{category}[?heatmap=1]  image body -> score, verdict, ...
 *   GET  /v1/models                        models served, with metadata
 *   GET  /healthz                          200 while models are served
 *   GET  /metrics                          Prometheus text format
 *
 * Every error is JSON: {"error": {"status", "code", "message"}}.
 *
 * The server runs on the thread-default main context of the thread that
 * creates it; scoring runs on the pool's workers (serve-pool.h), and a
 * request waits paused until its worker hands the answer back to that
 * context.  Before a body is read: the bearer token (constant-time
 * comparison of SHA-256 digests), the declared size against the limit (an
 * oversized request is answered 413 at once and its connection closed
 * without reading the body), the route and the category, and whether the
 * queue has room (503 with Retry-After when not).  A request must arrive
 * whole within the request timeout of its connection becoming ready for
 * it: one whose headers stall is dropped, one whose body stalls is
 * answered 408, in both cases without holding a worker.
 */
#pragma once

#include <glib.h>

#include "serve-registry.h"
#include "serve-token.h"

G_BEGIN_DECLS

typedef struct
{
  const char *listen;              /* "HOST:PORT"; port 0 picks a free one */
  int         workers;
  int         queue;               /* jobs that may wait for a worker */
  gsize       max_body;            /* bytes */
  guint       request_timeout_ms;
  const CpServeToken *token;       /* NULL: no authentication */
} CpServeHttpOptions;

typedef struct _CpServeHttp CpServeHttp;

/* Starts the workers and listens.  NULL with @error when the address does
 * not parse or cannot be bound. */
CpServeHttp *cp_serve_http_new     (CpServeRegistry          *registry,
                                    const CpServeHttpOptions *options,
                                    GError                  **error);
/* Stops listening, lets the workers finish and frees everything. */
void         cp_serve_http_free    (CpServeHttp *http);

/* "http://127.0.0.1:8080/", the address actually bound (newly allocated). */
char        *cp_serve_http_get_url (CpServeHttp *http);
/* Whether the address bound is a loopback one. */
gboolean     cp_serve_http_is_loopback (CpServeHttp *http);

/* From now on score requests are refused (503) and /healthz says
 * "draining"; @done runs (on the server's context) once every accepted
 * request has been answered. */
void         cp_serve_http_drain   (CpServeHttp *http,
                                    GSourceFunc  done,
                                    gpointer     user_data);

G_END_DECLS
