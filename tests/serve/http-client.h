/* http-client.h: a small blocking HTTP/1.1 client for the service's tests
 * and its load benchmark.
 *
 * Written on raw sockets rather than with libsoup's client so that tests
 * can send what no well-behaved client sends (a body cut short, a stall
 * in the middle of one, a request line that is not HTTP) and so that the
 * load benchmark adds as little of its own time as it can.  IPv4 only
 * (the tests bind 127.0.0.1).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  int     fd;       /* -1 when closed */
  char    host[64];
  int     port;
} CpHttpConn;

typedef struct
{
  int      status;         /* 0: no answer (connection closed or timed out) */
  char    *headers;        /* the raw head, lowercase names kept as sent */
  char    *body;           /* NUL terminated */
  gsize    body_length;
  gboolean closed;         /* the server closed (or reset) the connection */
  gboolean timed_out;      /* no complete answer within the time given */
} CpHttpResponse;

/* Parses "http://HOST:PORT/..." into @host and @port. */
gboolean cp_http_parse_url     (const char *url, char *host, gsize host_size, int *port);

gboolean cp_http_connect       (CpHttpConn *conn, const char *host, int port);
void     cp_http_close         (CpHttpConn *conn);
/* Sends all of @data; FALSE when the connection broke. */
gboolean cp_http_send_raw      (CpHttpConn *conn, const void *data, gsize length);
/* Closes the sending side only (the server sees the end of the request). */
void     cp_http_shutdown_write (CpHttpConn *conn);
/* Reads one response, waiting at most @timeout_ms in all. */
gboolean cp_http_read_response (CpHttpConn *conn, int timeout_ms, CpHttpResponse *response);

/* A whole request: @method @path with @body (may be NULL) and the extra
 * header lines in @headers ("Name: value\r\n"..., may be NULL). */
gboolean cp_http_request       (CpHttpConn *conn, const char *method, const char *path,
                                const char *headers, const void *body, gsize length,
                                int timeout_ms, CpHttpResponse *response);

void     cp_http_response_clear (CpHttpResponse *response);
/* A header's value (newly allocated), NULL when absent. */
char    *cp_http_response_header (const CpHttpResponse *response, const char *name);

G_END_DECLS
