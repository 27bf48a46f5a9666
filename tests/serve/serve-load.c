/* serve-load.c: load benchmark and correctness check of `cutpaste serve`.
 *
 *   serve-load --url URL --category CAT --expect FILE [--clients N] [--requests M]
 *   serve-load --direct MODEL --expect FILE [--requests M]
 *
 * FILE holds what `cutpaste predict` printed for the images: one
 * "PATH<TAB>SCORE<TAB>VERDICT" line each.  The first form sends M score
 * requests from N concurrent clients (one keep-alive connection each; a
 * 503 is retried after a short pause and counted), checks every answer
 * against FILE (status 200, the score printed as predict prints it, the
 * verdict) and prints requests/s and latency percentiles.  The second
 * form scores the same images in this process, one image per call of
 * cp_model_score_images () as the service does, and prints the rate: what
 * the service is measured against.  Exit status 1 when any answer was
 * wrong or lost.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "core/io/json.h"
#include "data/image.h"
#include "http-client.h"
#include "pipeline/model.h"

typedef struct
{
  char   *path;
  GBytes *bytes;
  char   *score_text;   /* as predict printed it */
  char   *verdict;
} Expected;

typedef struct
{
  char        host[64];
  int         port;
  char       *target;     /* "/v1/score/CAT" */
  GPtrArray  *images;     /* Expected * */
  int         requests;
  gint        next;       /* atomic: next request index */
  double     *latency_ms; /* [requests] */
  gint        ok, wrong, lost, rejected;
  pthread_mutex_t report_lock;
  int         reported;
} Load;

static GPtrArray *
read_expected (const char *file)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *images = g_ptr_array_new ();

  if (!g_file_get_contents (file, &text, NULL, &error))
    g_error ("%s", error->message);
  lines = g_strsplit (text, "\n", -1);
  for (int i = 0; lines[i]; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], "\t", -1);
      Expected *e;
      char *contents = NULL;
      gsize length = 0;

      if (g_strv_length (fields) != 3)
        continue;
      e = g_new0 (Expected, 1);
      e->path = g_strdup (fields[0]);
      e->score_text = g_strdup (fields[1]);
      e->verdict = g_strdup (fields[2]);
      if (!g_file_get_contents (e->path, &contents, &length, &error))
        g_error ("%s", error->message);
      e->bytes = g_bytes_new_take (contents, length);
      g_ptr_array_add (images, e);
    }
  if (images->len == 0)
    g_error ("%s: no 'PATH<TAB>SCORE<TAB>VERDICT' lines", file);
  return images;
}

/* Whether @body is the right answer for @e; @why says what is not. */
static gboolean
answer_is_right (const Expected *e, const char *body, gsize length, char **why)
{
  CpError err = { 0 };
  CpJsonDoc *doc = cp_json_parse (body, length, NULL, NULL, &err);
  const CpJson *root, *score, *verdict;
  char text[64];
  gboolean right;

  if (doc == NULL)
    {
      *why = g_strdup_printf ("not JSON: %s", err.message);
      return FALSE;
    }
  root = cp_json_doc_root (doc);
  score = cp_json_object_get (root, "score");
  verdict = cp_json_object_get (root, "verdict");
  if (score == NULL || (score->type != CP_JSON_DOUBLE && score->type != CP_JSON_INT)
      || verdict == NULL || verdict->type != CP_JSON_STRING)
    {
      *why = g_strdup ("no score or verdict");
      cp_json_doc_free (doc);
      return FALSE;
    }
  g_snprintf (text, sizeof text, "%.6f", score->number);
  right = strcmp (text, e->score_text) == 0 && strcmp (verdict->string, e->verdict) == 0;
  if (!right)
    *why = g_strdup_printf ("%s: got %s %s, predict gave %s %s", e->path, text, verdict->string,
                            e->score_text, e->verdict);
  cp_json_doc_free (doc);
  return right;
}

static void
report (Load *load, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
report (Load *load, const char *format, ...)
{
  va_list args;

  pthread_mutex_lock (&load->report_lock);
  if (load->reported++ < 10)
    {
      va_start (args, format);
      vfprintf (stderr, format, args);
      va_end (args);
      fputc ('\n', stderr);
    }
  pthread_mutex_unlock (&load->report_lock);
}

static gpointer
client_main (gpointer data)
{
  Load *load = data;
  CpHttpConn conn = { -1 };

  for (;;)
    {
      int index = g_atomic_int_add (&load->next, 1);
      const Expected *e;
      gsize length = 0;
      const void *body;
      gboolean done = FALSE;

      if (index >= load->requests)
        break;
      e = load->images->pdata[index % load->images->len];
      body = g_bytes_get_data (e->bytes, &length);
      while (!done)
        {
          CpHttpResponse response;
          gint64 start;
          g_autofree char *why = NULL;

          if (conn.fd < 0 && !cp_http_connect (&conn, load->host, load->port))
            {
              report (load, "request %d: cannot connect", index);
              g_atomic_int_inc (&load->lost);
              break;
            }
          start = g_get_monotonic_time ();
          if (!cp_http_request (&conn, "POST", load->target, NULL, body, length, 120000, &response))
            {
              report (load, "request %d (%s): no answer", index, e->path);
              g_atomic_int_inc (&load->lost);
              cp_http_response_clear (&response);
              cp_http_close (&conn);
              break;
            }
          if (response.status == 503)
            {
              /* Shed load: back off briefly and send it again. */
              g_atomic_int_inc (&load->rejected);
              if (response.closed)
                cp_http_close (&conn);
              cp_http_response_clear (&response);
              g_usleep (20000);
              continue;
            }
          load->latency_ms[index] = (g_get_monotonic_time () - start) / 1000.0;
          if (response.status == 200 && answer_is_right (e, response.body, response.body_length, &why))
            g_atomic_int_inc (&load->ok);
          else
            {
              report (load, "request %d: status %d: %s", index, response.status,
                      why ? why : response.body);
              g_atomic_int_inc (&load->wrong);
            }
          if (response.closed)
            cp_http_close (&conn);
          cp_http_response_clear (&response);
          done = TRUE;
        }
    }
  cp_http_close (&conn);
  return NULL;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (const double *sorted, int n, double p)
{
  int k = (int) ceil (p / 100.0 * n) - 1;
  return sorted[CLAMP (k, 0, n - 1)];
}

static int
run_direct (const char *model_path, GPtrArray *images, int requests)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) model = cp_model_load (model_path, "cpu", &error);
  gint64 start;
  double seconds;
  int wrong = 0;

  if (model == NULL)
    g_error ("%s", error->message);
  start = g_get_monotonic_time ();
  for (int i = 0; i < requests; i++)
    {
      const Expected *e = images->pdata[i % images->len];
      g_autoptr (CpImage) image = NULL;
      gsize length = 0;
      const guint8 *data = g_bytes_get_data (e->bytes, &length);
      double score;
      char text[64];

      if (!cp_image_decode (e->path, data, length, &image, &error)
          || !cp_model_score_images (model, (const CpImage *const *) &image, 1, &score, NULL, &error))
        g_error ("%s", error->message);
      g_snprintf (text, sizeof text, "%.6f", score);
      wrong += strcmp (text, e->score_text) != 0;
    }
  seconds = (g_get_monotonic_time () - start) / 1e6;
  printf ("direct: %d images one at a time in %.2f s: %.1f images/s (decode + cp_model_score_images, "
          "as the service; %d scores differ from FILE)\n", requests, seconds, requests / seconds, wrong);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autofree char *url = NULL, *category = NULL, *expect = NULL, *direct = NULL;
  int clients = 4, requests = 200, warmup = 0;
  GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "The service, http://127.0.0.1:PORT/", "URL" },
    { "category", 0, 0, G_OPTION_ARG_STRING, &category, "Category to score", "CAT" },
    { "expect", 0, 0, G_OPTION_ARG_FILENAME, &expect, "predict's output for the images", "FILE" },
    { "clients", 0, 0, G_OPTION_ARG_INT, &clients, "Concurrent clients (default 4)", "N" },
    { "requests", 0, 0, G_OPTION_ARG_INT, &requests, "Requests in all (default 200)", "M" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "Requests sent (and checked) before the timed ones (default 0)", "K" },
    { "direct", 0, 0, G_OPTION_ARG_FILENAME, &direct, "Score in this process with MODEL instead", "MODEL" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- load and check cutpaste serve");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();
  g_autofree double *sorted = NULL;
  Load load = { 0 };
  gint64 start;
  double seconds;
  int answered, warm_wrong = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "serve-load: %s\n", error->message);
      return 2;
    }
  if (expect == NULL || requests < 1 || clients < 1 || (direct == NULL && (url == NULL || category == NULL)))
    {
      fprintf (stderr, "serve-load: --expect with --url and --category, or with --direct\n");
      return 2;
    }
  load.images = read_expected (expect);
  if (direct)
    return run_direct (direct, load.images, requests);

  if (!cp_http_parse_url (url, load.host, sizeof load.host, &load.port))
    {
      fprintf (stderr, "serve-load: cannot read the URL '%s'\n", url);
      return 2;
    }
  load.target = g_strdup_printf ("/v1/score/%s", category);
  pthread_mutex_init (&load.report_lock, NULL);
  if (warmup > 0)
    {
      /* First forward passes allocate the workers' buffers: not timed,
       * but checked all the same. */
      load.requests = warmup;
      load.latency_ms = g_new0 (double, warmup);
      for (int i = 0; i < clients; i++)
        g_ptr_array_add (threads, g_thread_new ("client", client_main, &load));
      for (guint i = 0; i < threads->len; i++)
        g_thread_join (threads->pdata[i]);
      g_ptr_array_set_size (threads, 0);
      g_free (load.latency_ms);
      if (load.wrong || load.lost)
        printf ("warm-up: %d wrong, %d lost\n", load.wrong, load.lost);
      warm_wrong = load.wrong + load.lost;
      load.next = load.ok = load.wrong = load.lost = load.rejected = 0;
    }
  load.requests = requests;
  load.latency_ms = g_new0 (double, requests);

  start = g_get_monotonic_time ();
  for (int i = 0; i < clients; i++)
    g_ptr_array_add (threads, g_thread_new ("client", client_main, &load));
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);
  seconds = (g_get_monotonic_time () - start) / 1e6;

  answered = load.ok + load.wrong;
  sorted = g_new (double, MAX (answered, 1));
  {
    int k = 0;
    for (int i = 0; i < requests; i++)
      if (load.latency_ms[i] > 0)
        sorted[k++] = load.latency_ms[i];
    answered = k;
  }
  qsort (sorted, answered, sizeof *sorted, compare_doubles);
  printf ("serve: %d clients, %d requests in %.2f s: %.1f requests/s\n", clients, requests, seconds,
          load.ok / seconds);
  if (answered > 0)
    printf ("latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (p99/p50 %.2f)\n",
            percentile (sorted, answered, 50), percentile (sorted, answered, 90),
            percentile (sorted, answered, 99), sorted[answered - 1],
            percentile (sorted, answered, 99) / percentile (sorted, answered, 50));
  printf ("answers: %d right, %d wrong, %d lost; %d times 503 (retried)\n", load.ok, load.wrong, load.lost,
          load.rejected);
  g_free (load.target);
  g_free (load.latency_ms);
  return warm_wrong == 0 && load.wrong == 0 && load.lost == 0 && load.ok == requests ? 0 : 1;
}
