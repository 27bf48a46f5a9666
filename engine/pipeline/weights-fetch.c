/* weights-fetch.c: downloading ImageNet weights with libsoup (see
 * weights.h).
 *
 * The body goes to a hidden temporary file in the cache folder
 * (".resnet18-download-XXXXXX", which discovery never lists) and to memory
 * at once; only when it is complete, fsynced, hashed and checked is the
 * file renamed to its name in the cache.  Every failure removes the
 * temporary file.
 */
#include "config.h"

#include "weights.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#ifdef HAVE_LIBSOUP
#include <libsoup/soup.h>
#endif

#include "core/tsan.h"
#include "weights-private.h"

#define DEFAULT_URL "https://download.pytorch.org/models/resnet18-f37072fd.pth"
/* See MAX_WEIGHTS_BYTES in weights.c. */
#define MAX_DOWNLOAD ((guint64) 512 << 20)
/* Seconds without a byte before the download gives up. */
#define IO_TIMEOUT 60

const char *
cp_weights_default_url (void)
{
  const char *url = g_getenv ("CUTPASTE_WEIGHTS_URL");

  return url != NULL && url[0] != '\0' ? url : DEFAULT_URL;
}

#ifdef HAVE_LIBSOUP

static gboolean
write_all (int fd, const guint8 *data, gsize size, const char *path, GError **error)
{
  while (size > 0)
    {
      ssize_t n = write (fd, data, size);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot write %s: %s", path,
                       g_strerror (e));
          return FALSE;
        }
      data += n;
      size -= (gsize) n;
    }
  return TRUE;
}

/* The file name the URL's path ends with, decoded, or NULL. */
static char *
url_file_name (GUri *uri)
{
  const char *path = g_uri_get_path (uri);
  const char *slash = strrchr (path, '/');
  g_autofree char *name = g_uri_unescape_string (slash ? slash + 1 : path, "/");

  if (name == NULL || name[0] == '\0')
    return NULL;
  return g_steal_pointer (&name);
}

char *
cp_weights_fetch (const char *url, CpWeightsProgressFunc progress, gpointer progress_data,
                  GCancellable *cancellable, GError **error)
{
  g_autoptr (GUri) uri = NULL;
  g_autoptr (SoupSession) session = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) in = NULL;
  g_autoptr (GByteArray) body = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *dir = NULL, *temp = NULL, *name = NULL, *dest = NULL, *sha = NULL;
  g_autofree guint8 *buffer = NULL;
  guint64 total = 0;
  gint64 last_report = 0;
  int fd = -1;
  gboolean ok = FALSE;

  if (url == NULL)
    url = cp_weights_default_url ();
  uri = g_uri_parse (url, SOUP_HTTP_URI_FLAGS, &local);
  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0
                      && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                   "%s is not an http or https URL%s%s", url, local ? ": " : "",
                   local ? local->message : "");
      return NULL;
    }
  if (!cp_weights_ensure_cache_dir (&dir, error))
    return NULL;

  session = soup_session_new_with_options ("user-agent", "cutpaste-inspector/" PACKAGE_VERSION,
                                           "timeout", IO_TIMEOUT, NULL);
  msg = soup_message_new_from_uri (SOUP_METHOD_GET, uri);
  in = soup_session_send (session, msg, cancellable, &local);
  if (in == NULL)
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, local->domain, local->code, "cannot download %s: %s", url,
                     local->message);
      return NULL;
    }
  if (soup_message_get_status (msg) != SOUP_STATUS_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot download %s: HTTP %u %s",
                   url, soup_message_get_status (msg), soup_message_get_reason_phrase (msg));
      return NULL;
    }
  if (soup_message_headers_get_encoding (soup_message_get_response_headers (msg))
      == SOUP_ENCODING_CONTENT_LENGTH)
    total = (guint64) soup_message_headers_get_content_length (soup_message_get_response_headers (msg));
  if (total > MAX_DOWNLOAD)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s is %" G_GUINT64_FORMAT " bytes, far more than ResNet-18 weights (45 MB)",
                   url, total);
      return NULL;
    }

  temp = g_build_filename (dir, ".resnet18-download-XXXXXX", NULL);
  fd = g_mkstemp_full (temp, O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot create a file in %s: %s",
                   dir, g_strerror (e));
      return NULL;
    }
  body = g_byte_array_sized_new ((guint) MIN (total, MAX_DOWNLOAD));
  buffer = g_malloc (1 << 16);
  for (;;)
    {
      gssize n = g_input_stream_read (in, buffer, 1 << 16, cancellable, &local);
      gint64 now;

      if (n < 0)
        {
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_propagate_error (error, g_steal_pointer (&local));
          else
            g_set_error (error, local->domain, local->code,
                         "download of %s broke off after %u bytes: %s", url, body->len,
                         local->message);
          goto out;
        }
      if (n == 0)
        break;
      if (body->len + (guint64) n > MAX_DOWNLOAD)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                       "%s sends more than %" G_GUINT64_FORMAT " bytes, far more than ResNet-18 "
                       "weights (45 MB)", url, MAX_DOWNLOAD);
          goto out;
        }
      if (!write_all (fd, buffer, (gsize) n, temp, error))
        goto out;
      g_byte_array_append (body, buffer, (guint) n);
      now = g_get_monotonic_time ();
      if (progress != NULL && now - last_report >= G_USEC_PER_SEC / 10)
        {
          progress (body->len, total, progress_data);
          last_report = now;
        }
    }
  if (progress != NULL)
    progress (body->len, total, progress_data);
  if (total > 0 && body->len != total)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO,
                   "download of %s broke off after %u of %" G_GUINT64_FORMAT " bytes", url,
                   body->len, total);
      goto out;
    }
  if (fsync (fd) != 0 || close (fd) != 0)
    {
      int e = errno;
      fd = -1;
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot write %s: %s", temp,
                   g_strerror (e));
      goto out;
    }
  fd = -1;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    goto out;

  name = url_file_name (uri);
  sha = cp_weights_sha256_hex (body->data, body->len);
  if (!cp_weights_check_bytes (url, body->data, body->len, sha, name, &local))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s; the download was not kept", local->message);
      goto out;
    }
  if (name == NULL || !cp_weights_is_candidate_name (name) || strchr (name, '/') != NULL)
    {
      g_free (name);
      name = cp_weights_cache_name (sha, body->data, body->len);
    }
  dest = g_build_filename (dir, name, NULL);
  if (g_rename (temp, dest) != 0)
    {
      int e = errno;
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot rename %s to %s: %s",
                   temp, dest, g_strerror (e));
      goto out;
    }
  ok = TRUE;

out:
  if (fd >= 0)
    close (fd);
  if (!ok)
    g_unlink (temp);
  return ok ? g_steal_pointer (&dest) : NULL;
}

#else /* !HAVE_LIBSOUP */

char *
cp_weights_fetch (const char *url, CpWeightsProgressFunc progress, gpointer progress_data,
                  GCancellable *cancellable, GError **error)
{
  g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
               "this build has no libsoup 3 to download with: download %s with a browser and "
               "run 'cutpaste weights import FILE'", url ? url : cp_weights_default_url ());
  return NULL;
}

#endif

/* ---- asynchronous form --------------------------------------------------- */

typedef struct
{
  char                 *url;
  CpWeightsProgressFunc progress;
  gpointer              progress_data;
  GDestroyNotify        progress_data_free;
  GMainContext         *context;       /* the caller's, where progress is called */
} FetchData;

static void
fetch_data_free (FetchData *d)
{
  if (d->progress_data_free != NULL)
    d->progress_data_free (d->progress_data);
  g_main_context_unref (d->context);
  g_free (d->url);
  g_free (d);
}

typedef struct
{
  GTask   *task;
  guint64  received, total;
} ProgressCall;

static gboolean
progress_in_context (gpointer user_data)
{
  ProgressCall *call = user_data;
  FetchData *d;

  CP_TSAN_ACQUIRE (call);   /* from progress_from_thread () */
  d = g_task_get_task_data (call->task);

  /* Queued before the result but run after it: dropped, as promised. */
  if (!g_task_get_completed (call->task))
    d->progress (call->received, call->total, d->progress_data);
  return G_SOURCE_REMOVE;
}

static void
progress_call_free (gpointer user_data)
{
  ProgressCall *call = user_data;

  g_object_unref (call->task);
  g_free (call);
}

/* On the worker thread: hands the figures to the caller's context. */
static void
progress_from_thread (guint64 received, guint64 total, gpointer user_data)
{
  GTask *task = user_data;
  FetchData *d = g_task_get_task_data (task);
  ProgressCall *call = g_new (ProgressCall, 1);
  GSource *source = g_idle_source_new ();

  call->task = g_object_ref (task);
  call->received = received;
  call->total = total;

  /* Not g_main_context_invoke_full (): when no thread owns the caller's
   * context at this moment (its thread between two iterations), it would
   * run the progress callback here, on the download thread, and a window
   * would be touched from the wrong thread.  An idle source is dispatched
   * by the thread that iterates the context, in the order posted. */
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, progress_in_context, call, progress_call_free);
  g_source_set_static_name (source, "[cp-weights] progress");
  CP_TSAN_RELEASE (call);
  g_source_attach (source, d->context);
  g_source_unref (source);
}

static void
fetch_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  FetchData *d = data;
  GError *error = NULL;
  char *dest;

  CP_TSAN_ACQUIRE (d);      /* from cp_weights_fetch_async () */
  dest = cp_weights_fetch (d->url, d->progress ? progress_from_thread : NULL, task, cancellable,
                           &error);
  CP_TSAN_RELEASE (task);   /* to cp_weights_fetch_finish () */
  if (dest == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, dest, g_free);
}

void
cp_weights_fetch_async (const char *url, CpWeightsProgressFunc progress, gpointer progress_data,
                        GDestroyNotify progress_data_free, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  FetchData *d = g_new0 (FetchData, 1);

  d->url = g_strdup (url);
  d->progress = progress;
  d->progress_data = progress_data;
  d->progress_data_free = progress_data_free;
  d->context = g_main_context_ref_thread_default ();
  g_task_set_source_tag (task, cp_weights_fetch_async);
  g_task_set_task_data (task, d, (GDestroyNotify) fetch_data_free);
  /* The GTask's own cancellable handling would return before the worker
   * has removed its temporary file; the worker reports the cancel. */
  g_task_set_return_on_cancel (task, FALSE);
  CP_TSAN_RELEASE (d);
  g_task_run_in_thread (task, fetch_thread);
}

char *
cp_weights_fetch_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  CP_TSAN_ACQUIRE (result);
  return g_task_propagate_pointer (G_TASK (result), error);
}
