/* serve-http.c: requests in, answers out, on libsoup's server. */
#include "config.h"

#include "serve-http.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <libsoup/soup.h>

#include "core/tsan.h"
#include "serve-json.h"
#include "serve-metrics.h"
#include "serve-pool.h"
#include "serve-route.h"
#include "serve-score.h"
#include "serve-token.h"

/* After an early answer on a stolen connection, what the client still
 * sends is read and dropped for at most this long and this much, so that
 * closing does not reset the connection before the answer is read. */
#define LINGER_MS     2000
#define LINGER_BYTES  (1 << 20)

struct _CpServeHttp
{
  SoupServer      *server;
  GMainContext    *context;
  CpServeRegistry *registry;
  CpServePool     *pool;
  CpServeMetrics  *metrics;
  CpServeToken     token;
  gboolean         has_token;
  gsize            max_body;
  guint            timeout_ms;
  gboolean         loopback;

  gboolean         draining;
  int              outstanding;   /* score requests accepted whose answer is not out yet:
                                   * from the pool push to the answer written (or the
                                   * client gone) */
  GSourceFunc      drained;
  gpointer         drained_data;
};

/* What the service knows of one request, kept on its SoupServerMessage. */
typedef struct
{
  CpServeHttp *http;
  GSource     *deadline;
  gboolean     got_head;
  gint64       head_at;
  gint64       received;      /* body bytes so far */
  CpServeRoute route;
  const char  *verdict;
  gboolean     wrote;         /* the answer went out whole */
  gboolean     counted;       /* counted in http->outstanding */
} Request;

/* A score job and the request it answers. */
typedef struct
{
  CpServeHttp       *http;
  SoupServerMessage *msg;      /* referenced while the job is out */
  CpServeScoreJob   *score;
} Job;

#define REQUEST_KEY "cp-serve-request"

static Request *
request_get (SoupServerMessage *msg)
{
  return g_object_get_data (G_OBJECT (msg), REQUEST_KEY);
}

static void request_done (CpServeHttp *http);

static void
request_free (gpointer data)
{
  Request *req = data;

  /* A message dropped without a finished or aborted signal (the server
   * going away) still ends its request. */
  if (req->counted)
    request_done (req->http);

  if (req->deadline)
    {
      g_source_destroy (req->deadline);
      g_source_unref (req->deadline);
    }
  cp_serve_route_clear (&req->route);
  g_free (req);
}

static void
disarm_deadline (Request *req)
{
  if (req->deadline)
    {
      g_source_destroy (req->deadline);
      g_clear_pointer (&req->deadline, g_source_unref);
    }
}

/* ---- answers ------------------------------------------------------------ */

/* Replaces the response body (set_response appends to what is there,
 * and every request starts with the unparsed-request body below). */
static void
set_body (SoupServerMessage *msg, guint status, const char *content_type, char *text)
{
  soup_message_body_truncate (soup_server_message_get_response_body (msg));
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE, text, strlen (text));
}

static void
set_json (SoupServerMessage *msg, guint status, char *json)
{
  set_body (msg, status, "application/json", json);
}

/* Whether a score request may be accepted now: the requests accepted and
 * not yet answered (waiting, running, or with their answer on its way
 * back to this thread) stay within the workers plus the queue.  Counted
 * here rather than in the pool, whose count drops a moment before the
 * answer is out, which let a client's next request find the queue full. */
static gboolean
has_room (CpServeHttp *http)
{
  return http->outstanding < cp_serve_pool_workers (http->pool) + cp_serve_pool_capacity (http->pool);
}

static guint
retry_after_seconds (CpServeHttp *http)
{
  double wait = cp_serve_pool_expected_wait (http->pool);

  return (guint) CLAMP (ceil (wait), 1, 3600);
}

/* An error answered the ordinary way: the body, if any, is still read
 * (and dropped, not kept) and the connection may carry on. */
static void
answer_error (SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  Request *req = request_get (msg);

  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  if (status == 401)
    soup_message_headers_replace (headers, "WWW-Authenticate",
                                  strcmp (code, "missing_token") == 0
                                  ? "Bearer realm=\"cutpaste\""
                                  : "Bearer realm=\"cutpaste\", error=\"invalid_token\"");
  if (status == 503 && req != NULL)
    {
      g_autofree char *seconds = g_strdup_printf ("%u", retry_after_seconds (req->http));
      soup_message_headers_replace (headers, "Retry-After", seconds);
    }
  if (status == 405 && req != NULL && req->route.allow != NULL)
    soup_message_headers_replace (headers, "Allow", req->route.allow);
  set_json (msg, status, cp_serve_json_error (status, code, message));
}

/* ---- answering on a stolen connection ------------------------------------ */

typedef struct
{
  GIOStream    *stream;
  GSocket      *socket;
  GCancellable *cancel;
  GSource      *timer;
  char         *text;
  gsize         length;
  gsize         drained;
  guint8        buffer[16384];
} Closer;

static void
closer_finish (Closer *c)
{
  if (c->timer)
    {
      g_source_destroy (c->timer);
      g_source_unref (c->timer);
    }
  g_io_stream_close (c->stream, NULL, NULL);
  g_socket_close (c->socket, NULL);
  g_object_unref (c->stream);
  g_object_unref (c->socket);
  g_object_unref (c->cancel);
  g_free (c->text);
  g_free (c);
}

static void on_drained (GObject *source, GAsyncResult *result, gpointer data);

static void
drain_next (Closer *c)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (c->stream), c->buffer, sizeof c->buffer,
                             G_PRIORITY_DEFAULT, c->cancel, on_drained, c);
}

static void
on_drained (GObject *source, GAsyncResult *result, gpointer data)
{
  Closer *c = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n > 0 && !g_cancellable_is_cancelled (c->cancel) && (c->drained += (gsize) n) < LINGER_BYTES)
    {
      drain_next (c);
      return;
    }
  closer_finish (c);
}

static gboolean
on_linger_over (gpointer data)
{
  Closer *c = data;

  /* The pending read completes (cancelled) and finishes the closer. */
  g_clear_pointer (&c->timer, g_source_unref);
  g_cancellable_cancel (c->cancel);
  return G_SOURCE_REMOVE;
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Closer *c = data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      closer_finish (c);
      return;
    }
  /* Our side is done; the client sees the end of the answer and stops. */
  g_socket_shutdown (c->socket, FALSE, TRUE, NULL);
  c->timer = g_timeout_source_new (LINGER_MS);
  g_source_set_callback (c->timer, on_linger_over, c, NULL);
  g_source_attach (c->timer, g_main_context_get_thread_default ());
  drain_next (c);
}

/* Takes @msg's connection from libsoup and answers @status on it at once
 * (with Connection: close), without reading the rest of the request; or,
 * with @status 0, just closes it.  @msg and its Request may be gone
 * afterwards. */
static void
answer_and_close (SoupServerMessage *msg, guint status, const char *code, const char *message)
{
  Request *req = request_get (msg);
  GSocket *socket = soup_server_message_get_socket (msg);
  GIOStream *stream;
  Closer *c;

  if (socket == NULL)
    return;
  if (req != NULL && status != 0)
    cp_serve_metrics_request (req->http->metrics, cp_serve_route_endpoint (&req->route), status, -1);
  g_object_ref (socket);
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    {
      g_object_unref (socket);
      return;
    }
  c = g_new0 (Closer, 1);
  c->stream = stream;
  c->socket = socket;
  c->cancel = g_cancellable_new ();
  if (status == 0)
    {
      closer_finish (c);
      return;
    }
  {
    g_autofree char *json = cp_serve_json_error (status, code, message);

    c->text = g_strdup_printf ("HTTP/1.1 %u %s\r\n"
                               "Server: cutpaste/" PACKAGE_VERSION "\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: %zu\r\n"
                               "Connection: close\r\n"
                               "\r\n%s",
                               status, soup_status_get_phrase (status), strlen (json), json);
    c->length = strlen (c->text);
  }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream), c->text, c->length,
                                   G_PRIORITY_DEFAULT, c->cancel, on_written, c);
}

/* ---- request life ----------------------------------------------------------- */

static gboolean
on_deadline (gpointer data)
{
  SoupServerMessage *msg = data;
  Request *req = request_get (msg);

  g_clear_pointer (&req->deadline, g_source_unref);
  if (!req->got_head)
    {
      /* Nothing (or not enough) arrived: an idle keep-alive connection or
       * a client that stalls in its headers.  Closed without an answer. */
      answer_and_close (msg, 0, NULL, NULL);
      return G_SOURCE_REMOVE;
    }
  {
    g_autofree char *message =
      g_strdup_printf ("the request body did not arrive within %.3g s (%" G_GINT64_FORMAT " bytes received)",
                       req->http->timeout_ms / 1000.0, req->received);
    answer_and_close (msg, 408, "request_timeout", message);
  }
  return G_SOURCE_REMOVE;
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
  Request *req = request_get (msg);

  if (req == NULL)
    return;
  req->received += (gint64) g_bytes_get_size (chunk);
  if ((gsize) req->received > req->http->max_body)
    {
      g_autofree char *message = g_strdup_printf ("the request body is over the limit of %zu bytes",
                                                  req->http->max_body);
      answer_and_close (msg, 413, "body_too_large", message);
    }
}

/* The body libsoup answers a request it cannot parse with (malformed
 * request line, URL or headers): set on every request before it is read,
 * replaced by every answer of ours. */
static const char unparsed_body[] =
  "{\"error\":{\"status\":400,\"code\":\"bad_request\",\"message\":"
  "\"the request could not be parsed: malformed request line, URL or headers\"}}";

static void
on_wrote_body (SoupServerMessage *msg, gpointer data)
{
  Request *req = request_get (msg);

  if (req != NULL)
    req->wrote = TRUE;
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  CpServeHttp *http = data;
  Request *req = g_new0 (Request, 1);

  req->http = http;
  g_object_set_data_full (G_OBJECT (msg), REQUEST_KEY, req, request_free);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
  g_signal_connect (msg, "wrote-body", G_CALLBACK (on_wrote_body), NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, unparsed_body,
                                    strlen (unparsed_body));
  req->deadline = g_timeout_source_new (http->timeout_ms);
  g_source_set_callback (req->deadline, on_deadline, msg, NULL);
  g_source_attach (req->deadline, http->context);
}

/* A score request accepted earlier is answered (or its client is gone):
 * once the last one is, a drain is over. */
static void
request_done (CpServeHttp *http)
{
  http->outstanding--;
  if (http->draining && http->outstanding == 0 && http->drained != NULL)
    {
      GSourceFunc done = http->drained;

      http->drained = NULL;
      done (http->drained_data);
    }
}

static void
uncount (CpServeHttp *http, Request *req)
{
  if (req != NULL && req->counted)
    {
      req->counted = FALSE;
      request_done (http);
    }
}

static void
count_answered (CpServeHttp *http, SoupServerMessage *msg)
{
  Request *req = request_get (msg);
  guint status = soup_server_message_get_status (msg);
  double seconds = -1;

  if (req != NULL && req->got_head && req->route.kind == CP_SERVE_ROUTE_SCORE)
    seconds = (g_get_monotonic_time () - req->head_at) / 1e6;
  cp_serve_metrics_request (http->metrics, req ? cp_serve_route_endpoint (&req->route) : "other",
                            status, seconds);
  if (req != NULL && req->verdict != NULL)
    cp_serve_metrics_verdict (http->metrics, req->route.category, req->verdict);
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  count_answered (data, msg);
  uncount (data, request_get (msg));
}

static void
on_request_aborted (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  CpServeHttp *http = data;
  Request *req = request_get (msg);
  gint64 declared;

  uncount (http, req);
  /* libsoup reports an answered 500 as aborted too. */
  if (req != NULL && req->wrote)
    {
      count_answered (http, msg);
      return;
    }
  cp_serve_metrics_aborted (http->metrics, req ? cp_serve_route_endpoint (&req->route) : "other");
  if (req == NULL || !req->got_head)
    return;
  /* A body cut short by the client closing its side: libsoup gives up on
   * the request without an answer.  The client may still be reading, so
   * it is told, best effort, before libsoup closes the connection. */
  declared = soup_message_headers_get_content_length (soup_server_message_get_request_headers (msg));
  if (soup_message_headers_get_encoding (soup_server_message_get_request_headers (msg)) == SOUP_ENCODING_CONTENT_LENGTH
      && req->received < declared && soup_server_message_get_socket (msg) != NULL)
    {
      g_autofree char *message =
        g_strdup_printf ("the request body ended after %" G_GINT64_FORMAT " of the %" G_GINT64_FORMAT
                         " bytes its Content-Length announced", req->received, declared);
      g_autofree char *json = cp_serve_json_error (400, "truncated_body", message);
      g_autofree char *text =
        g_strdup_printf ("HTTP/1.1 400 Bad Request\r\nServer: cutpaste/" PACKAGE_VERSION "\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s", strlen (json), json);

      g_socket_send (soup_server_message_get_socket (msg), text, strlen (text), NULL, NULL);
    }
}

/* ---- endpoints ------------------------------------------------------------------- */

static gboolean
authorised (CpServeHttp *http, SoupServerMessage *msg, const CpServeRoute *route)
{
  const char *auth;

  /* Load balancers probe /healthz without credentials. */
  if (!http->has_token || route->kind == CP_SERVE_ROUTE_HEALTHZ)
    return TRUE;
  auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
  if (auth == NULL)
    {
      answer_error (msg, 401, "missing_token", "this service needs 'Authorization: Bearer TOKEN'");
      return FALSE;
    }
  if (!cp_serve_token_check (&http->token, auth))
    {
      answer_error (msg, 401, "invalid_token", "the bearer token is not the one this service was given");
      return FALSE;
    }
  return TRUE;
}

/* Checks that need only the request head, before any body is read. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer data)
{
  CpServeHttp *http = data;
  Request *req = request_get (msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  goffset declared;

  if (req == NULL)
    return;
  req->got_head = TRUE;
  req->head_at = g_get_monotonic_time ();
  cp_serve_route_parse (soup_server_message_get_method (msg), path, query, &req->route);

  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
      && (declared = soup_message_headers_get_content_length (headers)) > (goffset) http->max_body)
    {
      g_autofree char *message =
        g_strdup_printf ("the request body is %" G_GOFFSET_FORMAT " bytes, over the limit of %zu bytes",
                         declared, http->max_body);
      answer_and_close (msg, 413, "body_too_large", message);
      return;
    }
  /* The token first: without it, nothing about the URL space is told. */
  if (!authorised (http, msg, &req->route))
    return;
  if (req->route.kind == CP_SERVE_ROUTE_ERROR)
    {
      answer_error (msg, req->route.status, req->route.code, req->route.message);
      return;
    }
  if (req->route.kind != CP_SERVE_ROUTE_SCORE)
    {
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
      return;
    }
  if (http->draining)
    {
      answer_error (msg, 503, "shutting_down", "the service is shutting down");
      return;
    }
  {
    CpServeModel *model = cp_serve_registry_acquire (http->registry, req->route.category);

    if (model == NULL)
      {
        g_autofree char *message = g_strdup_printf ("no model for category '%s' (GET /v1/models lists them)",
                                                    req->route.category);
        answer_error (msg, 404, "unknown_category", message);
        return;
      }
    cp_serve_model_unref (model);
  }
  if (!has_room (http))
    answer_error (msg, 503, "queue_full", "every worker is busy and the queue is full; retry later");
}

static void
answer_healthz (CpServeHttp *http, SoupServerMessage *msg)
{
  int models = cp_serve_registry_count (http->registry);
  const char *status = http->draining ? "draining" : models == 0 ? "no_models" : "ok";
  char *json = g_strdup_printf ("{\"status\":\"%s\",\"models\":%d,\"queue_depth\":%d,"
                                "\"queue_capacity\":%d,\"workers\":%d}",
                                status, models, cp_serve_pool_waiting (http->pool),
                                cp_serve_pool_capacity (http->pool), cp_serve_pool_workers (http->pool));

  /* A replica without models, or on its way out, takes no traffic. */
  set_json (msg, strcmp (status, "ok") == 0 ? 200 : 503, json);
}

static gboolean
deliver (gpointer data)
{
  Job *job = data;
  Request *req;

  CP_TSAN_ACQUIRE (job);
  req = request_get (job->msg);
  if (req != NULL)
    req->verdict = job->score->verdict;
  set_json (job->msg, job->score->status, g_steal_pointer (&job->score->json));
  soup_server_message_unpause (job->msg);
  g_object_unref (job->msg);
  cp_serve_score_job_free (job->score);
  g_free (job);

  return G_SOURCE_REMOVE;
}

static void
run_job (gpointer data, int worker, gpointer user_data)
{
  Job *job = data;
  GMainContext *context = job->http->context;
  GSource *source;

  cp_serve_score_run (job->http->registry, job->score, worker);
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver, job, NULL);
  /* From here on the job belongs to the server's thread, which may free
   * it before g_source_attach () returns. */
  CP_TSAN_RELEASE (job);
  g_source_attach (source, context);
  g_source_unref (source);
}

static void
answer_score (CpServeHttp *http, SoupServerMessage *msg, Request *req)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr (GBytes) bytes = soup_message_body_flatten (body);
  Job *job;

  if (g_bytes_get_size (bytes) == 0)
    {
      answer_error (msg, 400, "empty_body", "the request body is empty; send the image file as the body");
      return;
    }
  if (http->draining)
    {
      answer_error (msg, 503, "shutting_down", "the service is shutting down");
      return;
    }
  if (!has_room (http))
    {
      answer_error (msg, 503, "queue_full", "every worker is busy and the queue is full; retry later");
      return;
    }
  job = g_new0 (Job, 1);
  job->http = http;
  job->msg = g_object_ref (msg);
  job->score = cp_serve_score_job_new (req->route.category, bytes, req->route.heatmap);
  /* The body is in the job now; libsoup's copy can go. */
  soup_message_body_truncate (body);
  if (!cp_serve_pool_push (http->pool, job))
    {
      g_object_unref (job->msg);
      cp_serve_score_job_free (job->score);
      g_free (job);
      answer_error (msg, 503, "queue_full", "every worker is busy and the queue is full; retry later");
      return;
    }
  http->outstanding++;
  req->counted = TRUE;
  soup_server_message_pause (msg);
}

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  CpServeHttp *http = data;
  Request *req = request_get (msg);

  if (req == NULL)
    return;
  /* The request is whole: from here on the time is ours, not the client's. */
  disarm_deadline (req);
  switch (req->route.kind)
    {
    case CP_SERVE_ROUTE_HEALTHZ:
      answer_healthz (http, msg);
      break;
    case CP_SERVE_ROUTE_MODELS:
      set_json (msg, 200, cp_serve_registry_list_json (http->registry));
      break;
    case CP_SERVE_ROUTE_METRICS:
      {
        char *text = cp_serve_metrics_render (http->metrics, http->pool, http->registry);

        set_body (msg, 200, "text/plain; version=0.0.4; charset=utf-8", text);
      }
      break;
    case CP_SERVE_ROUTE_SCORE:
      answer_score (http, msg, req);
      break;
    case CP_SERVE_ROUTE_ERROR:
    default:
      answer_error (msg, req->route.status ? req->route.status : 400,
                    req->route.code ? req->route.code : "bad_request",
                    req->route.message ? req->route.message : "bad request");
      break;
    }
}

/* ---- setup ------------------------------------------------------------------------ */

static GInetSocketAddress *
parse_listen (const char *listen, GError **error)
{
  g_autoptr (GSocketConnectable) where = NULL;
  g_autoptr (GInetAddress) address = NULL;
  g_autoptr (GError) local = NULL;
  const char *host;
  guint16 port;

  where = g_network_address_parse (listen, 8080, &local);
  if (where == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "--listen '%s' is not HOST:PORT (%s)", listen, local->message);
      return NULL;
    }
  host = g_network_address_get_hostname (G_NETWORK_ADDRESS (where));
  port = g_network_address_get_port (G_NETWORK_ADDRESS (where));
  address = g_inet_address_new_from_string (host);
  if (address == NULL)
    {
      g_autoptr (GResolver) resolver = g_resolver_get_default ();
      GList *found = g_resolver_lookup_by_name (resolver, host, NULL, &local);

      if (found == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "--listen: cannot resolve '%s': %s", host, local->message);
          return NULL;
        }
      address = g_object_ref (found->data);
      g_resolver_free_addresses (found);
    }
  return G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (address, port));
}

CpServeHttp *
cp_serve_http_new (CpServeRegistry *registry, const CpServeHttpOptions *options, GError **error)
{
  g_autoptr (GInetSocketAddress) address = NULL;
  CpServeHttp *http;

  address = parse_listen (options->listen, error);
  if (address == NULL)
    return NULL;
  http = g_new0 (CpServeHttp, 1);
  http->context = g_main_context_ref_thread_default ();
  http->registry = registry;
  http->metrics = cp_serve_metrics_new ();
  http->max_body = options->max_body;
  http->timeout_ms = options->request_timeout_ms;
  http->loopback = g_inet_address_get_is_loopback (g_inet_socket_address_get_address (address));
  if (options->token != NULL)
    {
      http->token = *options->token;
      http->has_token = TRUE;
    }
  http->server = soup_server_new ("server-header", "cutpaste/" PACKAGE_VERSION, NULL);
  g_signal_connect (http->server, "request-started", G_CALLBACK (on_request_started), http);
  g_signal_connect (http->server, "request-finished", G_CALLBACK (on_request_finished), http);
  g_signal_connect (http->server, "request-aborted", G_CALLBACK (on_request_aborted), http);
  soup_server_add_early_handler (http->server, NULL, early_handler, http, NULL);
  soup_server_add_handler (http->server, NULL, handler, http, NULL);
  if (!soup_server_listen (http->server, G_SOCKET_ADDRESS (address), 0, error))
    {
      g_object_unref (http->server);
      cp_serve_metrics_free (http->metrics);
      g_main_context_unref (http->context);
      g_free (http);
      return NULL;
    }
  http->pool = cp_serve_pool_new (options->workers, options->queue, run_job, http);
  return http;
}

void
cp_serve_http_free (CpServeHttp *http)
{
  if (http == NULL)
    return;
  /* Jobs still out finish on the workers and their answers, queued on
   * the context, are handed over before the connections close. */
  cp_serve_pool_free (http->pool);
  while (g_main_context_iteration (http->context, FALSE))
    ;
  soup_server_disconnect (http->server);
  g_object_unref (http->server);
  cp_serve_metrics_free (http->metrics);
  g_main_context_unref (http->context);
  g_free (http);
}

char *
cp_serve_http_get_url (CpServeHttp *http)
{
  GSList *uris = soup_server_get_uris (http->server);
  char *url = uris ? g_uri_to_string (uris->data) : g_strdup ("");

  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return url;
}

gboolean
cp_serve_http_is_loopback (CpServeHttp *http)
{
  return http->loopback;
}

void
cp_serve_http_drain (CpServeHttp *http, GSourceFunc done, gpointer user_data)
{
  http->draining = TRUE;
  http->drained = done;
  http->drained_data = user_data;
  if (http->outstanding == 0)
    {
      http->drained = NULL;
      done (user_data);
    }
}
