/* http-client.c: blocking HTTP/1.1 over TCP for tests and benchmarks. */
#include "http-client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

gboolean
cp_http_parse_url (const char *url, char *host, gsize host_size, int *port)
{
  const char *p, *colon, *end;

  if (!g_str_has_prefix (url, "http://"))
    return FALSE;
  p = url + 7;
  colon = strchr (p, ':');
  if (colon == NULL || (gsize) (colon - p) >= host_size)
    return FALSE;
  memcpy (host, p, colon - p);
  host[colon - p] = '\0';
  *port = (int) strtol (colon + 1, (char **) &end, 10);
  return *port > 0;
}

gboolean
cp_http_connect (CpHttpConn *conn, const char *host, int port)
{
  struct sockaddr_in addr = { 0 };
  int one = 1;

  conn->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (conn->fd < 0)
    return FALSE;
  g_strlcpy (conn->host, host, sizeof conn->host);
  conn->port = port;
  addr.sin_family = AF_INET;
  addr.sin_port = htons ((uint16_t) port);
  if (inet_pton (AF_INET, host, &addr.sin_addr) != 1
      || connect (conn->fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      close (conn->fd);
      conn->fd = -1;
      return FALSE;
    }
  /* Requests are small and answered at once: no Nagle delay. */
  setsockopt (conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return TRUE;
}

void
cp_http_close (CpHttpConn *conn)
{
  if (conn->fd >= 0)
    close (conn->fd);
  conn->fd = -1;
}

gboolean
cp_http_send_raw (CpHttpConn *conn, const void *data, gsize length)
{
  const char *p = data;

  while (length > 0)
    {
      ssize_t n = send (conn->fd, p, length, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      length -= (gsize) n;
    }
  return TRUE;
}

void
cp_http_shutdown_write (CpHttpConn *conn)
{
  shutdown (conn->fd, SHUT_WR);
}

/* Reads what is there into @buf, waiting until @deadline (monotonic µs).
 * 0 at end of stream (or a reset connection), -1 on timeout. */
static gssize
read_some (CpHttpConn *conn, GByteArray *buf, gint64 deadline)
{
  guint8 chunk[65536];
  struct pollfd pfd = { conn->fd, POLLIN, 0 };
  gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
  ssize_t n;

  if (left <= 0 || poll (&pfd, 1, (int) left) <= 0)
    return -1;
  n = recv (conn->fd, chunk, sizeof chunk, 0);
  if (n > 0)
    g_byte_array_append (buf, chunk, (guint) n);
  return n < 0 ? 0 : n;
}

static gssize
find_head_end (const GByteArray *buf)
{
  for (guint i = 0; i + 3 < buf->len; i++)
    if (memcmp (buf->data + i, "\r\n\r\n", 4) == 0)
      return i + 4;
  return -1;
}

char *
cp_http_response_header (const CpHttpResponse *response, const char *name)
{
  g_auto (GStrv) lines = NULL;
  gsize name_len = strlen (name);

  if (response->headers == NULL)
    return NULL;
  lines = g_strsplit (response->headers, "\r\n", -1);
  for (int i = 1; lines[i]; i++)
    if (g_ascii_strncasecmp (lines[i], name, name_len) == 0 && lines[i][name_len] == ':')
      return g_strstrip (g_strdup (lines[i] + name_len + 1));
  return NULL;
}

gboolean
cp_http_read_response (CpHttpConn *conn, int timeout_ms, CpHttpResponse *response)
{
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  gssize head_end = -1;
  gint64 length = -1;
  g_autofree char *length_text = NULL, *connection = NULL;
  gboolean eof = FALSE;

  memset (response, 0, sizeof *response);
  while ((head_end = find_head_end (buf)) < 0)
    {
      gssize n = read_some (conn, buf, deadline);

      if (n <= 0)
        {
          response->closed = n == 0;
          response->timed_out = n < 0;
          return FALSE;
        }
    }
  response->headers = g_strndup ((const char *) buf->data, head_end);
  if (sscanf (response->headers, "HTTP/1.%*d %d", &response->status) != 1)
    return FALSE;
  length_text = cp_http_response_header (response, "Content-Length");
  connection = cp_http_response_header (response, "Connection");
  if (length_text)
    length = g_ascii_strtoll (length_text, NULL, 10);
  while (length < 0 ? !eof : (gint64) buf->len - (gint64) head_end < length)
    {
      gssize n = read_some (conn, buf, deadline);

      if (n < 0)
        {
          response->timed_out = TRUE;
          return FALSE;
        }
      if (n == 0)
        {
          eof = TRUE;
          response->closed = TRUE;
          if (length >= 0)
            return FALSE;
        }
    }
  response->body_length = length >= 0 ? (gsize) length : buf->len - (gsize) head_end;
  response->body = g_strndup ((const char *) buf->data + head_end, response->body_length);
  response->closed = eof || (connection != NULL && g_ascii_strcasecmp (connection, "close") == 0);
  return TRUE;
}

gboolean
cp_http_request (CpHttpConn *conn, const char *method, const char *path, const char *headers,
                 const void *body, gsize length, int timeout_ms, CpHttpResponse *response)
{
  g_autofree char *head = g_strdup_printf ("%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s"
                                           "Content-Length: %zu\r\n\r\n",
                                           method, path, conn->host, conn->port,
                                           headers ? headers : "", body ? length : 0);

  memset (response, 0, sizeof *response);
  if (!cp_http_send_raw (conn, head, strlen (head)) || (body && !cp_http_send_raw (conn, body, length)))
    return FALSE;
  return cp_http_read_response (conn, timeout_ms, response);
}

void
cp_http_response_clear (CpHttpResponse *response)
{
  g_clear_pointer (&response->headers, g_free);
  g_clear_pointer (&response->body, g_free);
}
