/* test-serve.c: `cutpaste serve` on 127.0.0.1 against what clients do
 * wrong and what happens to its model files.
 *
 * Tiny models are trained first (synthetic weave and washer, S = 32, a
 * few steps; a patch model at S = 64 for heatmaps).  Each case then sends
 * its requests and checks the status and the JSON error, and that the
 * service still answers /healthz afterwards.  Scores are checked against
 * `cutpaste predict` on the same image, both run with one thread per
 * worker (CP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1): OpenBLAS's results
 * differ in the last float bits with its thread count.
 *
 * Usage: test-serve PATH/TO/cutpaste.  Every wait is bounded; the whole
 * test takes about a minute on a loaded 2-core machine.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "core/io/json.h"
#include "data/png-write.h"
#include "http-client.h"
#include "test-support.h"

#define TOKEN "s3cret-token-for-tests"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"
#define TIMEOUT_S 2.5
#define WAIT_MS 180000

static const char *cutpaste;
static char *work;        /* scratch folder */
static char *models;      /* the folder the service serves */

typedef struct
{
  GSubprocess *proc;
  char         host[64];
  int          port;
} Server;

static Server server;     /* 2 workers, queue 2 */

/* ---- helpers ------------------------------------------------------------- */

static char *
run (const char *const *argv, gboolean must_succeed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                        | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr (GSubprocess) proc = NULL;
  char *out = NULL;

  g_subprocess_launcher_set_cwd (launcher, work);
  g_subprocess_launcher_setenv (launcher, "CP_NUM_THREADS", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "OPENBLAS_NUM_THREADS", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "CP_DETERMINISTIC_DATE", "2026-01-01T00:00:00Z", TRUE);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  if (must_succeed && !g_subprocess_get_successful (proc))
    g_error ("%s failed:\n%s", argv[1], out);
  return out;
}

static void
train (const char *category, const char *model_dir, const char *seed, gboolean localize)
{
  const char *argv[] = { cutpaste, "train", "--data-dir", "data", "--type", category, "--steps", "3",
                         "--batch-size", "2", "--image-size", localize ? "64" : "32", "--device", "cpu",
                         "--model-dir", model_dir, "--seed", seed, localize ? "--localize" : NULL, NULL };
  g_free (run (argv, TRUE));
}

/* A test that fails aborts; its servers go with it. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
server_start (Server *s, const char *const *extra)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  g_autofree char *token_file = g_build_filename (work, "token", NULL);
  g_autofree char *url = NULL;

  g_ptr_array_add (argv, (gpointer) cutpaste);
  g_ptr_array_add (argv, "serve");
  g_ptr_array_add (argv, "--model-dir");
  g_ptr_array_add (argv, models);
  g_ptr_array_add (argv, "--listen");
  g_ptr_array_add (argv, "127.0.0.1:0");
  g_ptr_array_add (argv, "--token-file");
  g_ptr_array_add (argv, token_file);
  g_ptr_array_add (argv, "--request-timeout");
  g_ptr_array_add (argv, G_STRINGIFY (TIMEOUT_S));
  g_ptr_array_add (argv, "--reload-interval");
  g_ptr_array_add (argv, "0.2");
  g_ptr_array_add (argv, "--max-body");
  g_ptr_array_add (argv, "300k");
  for (int i = 0; extra && extra[i]; i++)
    g_ptr_array_add (argv, (gpointer) extra[i]);
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_setenv (launcher, "CP_NUM_THREADS", "1", TRUE);
  g_subprocess_launcher_setenv (launcher, "OPENBLAS_NUM_THREADS", "1", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  s->proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (s->proc));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_test_message ("%s", line);
  url = g_strdup (strstr (line, "http://"));
  g_assert_nonnull (url);
  *strchr (url, ' ') = '\0';
  g_assert_true (cp_http_parse_url (url, s->host, sizeof s->host, &s->port));
}

/* SIGTERM: the service answers what it accepted and exits 0. */
static void
server_stop (Server *s)
{
  g_autoptr (GError) error = NULL;

  g_subprocess_send_signal (s->proc, SIGTERM);
  g_assert_true (g_subprocess_wait (s->proc, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (s->proc));
  g_assert_cmpint (g_subprocess_get_exit_status (s->proc), ==, 0);
  g_clear_object (&s->proc);
}

static void
conn_open (CpHttpConn *conn, const Server *s)
{
  g_assert_true (cp_http_connect (conn, s->host, s->port));
}

/* One request on a fresh connection. */
static void
request (const Server *s, const char *method, const char *path, const char *headers, const void *body,
         gsize length, CpHttpResponse *response)
{
  CpHttpConn conn;

  conn_open (&conn, s);
  g_assert_true (cp_http_request (&conn, method, path, headers, body, length, WAIT_MS, response));
  cp_http_close (&conn);
}

static CpJsonDoc *
parse_json (const CpHttpResponse *response)
{
  CpError err = { 0 };
  CpJsonDoc *doc = cp_json_parse (response->body, response->body_length, NULL, NULL, &err);
  g_autofree char *type = cp_http_response_header (response, "Content-Type");

  if (doc == NULL)
    g_error ("not JSON (%s): %s", err.message, response->body);
  g_assert_cmpstr (type, ==, "application/json");
  return doc;
}

/* The answer is @status with the JSON error @code. */
static void
assert_error (const CpHttpResponse *response, int status, const char *code)
{
  CpJsonDoc *doc;
  const CpJson *error, *c, *m, *st;

  g_test_message ("%d %s", response->status, response->body);
  g_assert_cmpint (response->status, ==, status);
  doc = parse_json (response);
  error = cp_json_object_get (cp_json_doc_root (doc), "error");
  g_assert_nonnull (error);
  c = cp_json_object_get (error, "code");
  m = cp_json_object_get (error, "message");
  st = cp_json_object_get (error, "status");
  g_assert_true (c != NULL && c->type == CP_JSON_STRING);
  g_assert_cmpstr (c->string, ==, code);
  g_assert_true (m != NULL && m->type == CP_JSON_STRING && m->length > 10);
  g_assert_true (st != NULL && st->type == CP_JSON_INT);
  g_assert_cmpint (st->integer, ==, status);
  cp_json_doc_free (doc);
}

static void
assert_still_serving (const Server *s)
{
  CpHttpResponse response;

  request (s, "GET", "/healthz", NULL, NULL, 0, &response);
  g_assert_cmpint (response.status, ==, 200);
  g_assert_nonnull (strstr (response.body, "\"status\":\"ok\""));
  cp_http_response_clear (&response);
}

static GBytes *
read_bytes (const char *relative)
{
  g_autofree char *path = g_build_filename (work, relative, NULL);
  char *data = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &data, &length, NULL));
  return g_bytes_new_take (data, length);
}

/* What `cutpaste predict` prints as the score of @image with @model. */
static char *
predict_score (const char *model, const char *image)
{
  const char *argv[] = { cutpaste, "predict", "--model", model, image, NULL };
  g_autofree char *out = run (argv, TRUE);
  g_auto (GStrv) fields = g_strsplit (out, "\t", -1);

  g_assert_cmpuint (g_strv_length (fields), >=, 3);
  return g_strdup (fields[1]);
}

static const CpJson *
member (const CpJson *node, const char *key, CpJsonType type)
{
  const CpJson *v = cp_json_object_get (node, key);

  g_assert_nonnull (v);
  if (!(v->type == type || (type == CP_JSON_DOUBLE && v->type == CP_JSON_INT)))
    g_error ("%s is a %s", key, cp_json_type_name (v->type));
  return v;
}

/* ---- cases ------------------------------------------------------------------ */

static void
test_health_models_metrics (void)
{
  CpHttpResponse response;
  CpJsonDoc *doc;
  const CpJson *list;

  /* /healthz needs no token: load balancers probe it. */
  request (&server, "GET", "/healthz", NULL, NULL, 0, &response);
  g_assert_cmpint (response.status, ==, 200);
  g_assert_nonnull (strstr (response.body, "\"models\":2"));
  cp_http_response_clear (&response);

  request (&server, "GET", "/v1/models", AUTH, NULL, 0, &response);
  g_assert_cmpint (response.status, ==, 200);
  doc = parse_json (&response);
  list = member (cp_json_doc_root (doc), "models", CP_JSON_ARRAY);
  g_assert_cmpuint (list->length, ==, 2);
  g_assert_cmpstr (member (list->items[0], "category", CP_JSON_STRING)->string, ==, "washer");
  g_assert_cmpstr (member (list->items[1], "category", CP_JSON_STRING)->string, ==, "weave");
  g_assert_cmpuint (member (list->items[1], "sha256", CP_JSON_STRING)->length, ==, 64);
  g_assert_cmpstr (member (list->items[1], "threshold_source", CP_JSON_STRING)->string, ==, "cross-validation");
  g_assert_cmpstr (member (member (list->items[1], "metadata", CP_JSON_OBJECT), "format", CP_JSON_STRING)->string,
                   ==, "cutpaste-inspector");
  g_assert_cmpint (member (list->items[1], "instances", CP_JSON_INT)->integer, ==, 2);
  g_assert_nonnull (cp_json_object_get (list->items[1], "patch_model"));
  cp_json_doc_free (doc);
  cp_http_response_clear (&response);

  request (&server, "GET", "/metrics", AUTH, NULL, 0, &response);
  g_assert_cmpint (response.status, ==, 200);
  g_assert_nonnull (strstr (response.body, "# TYPE cutpaste_score_request_seconds histogram"));
  g_assert_nonnull (strstr (response.body, "cutpaste_queue_capacity 2\n"));
  g_assert_nonnull (strstr (response.body, "cutpaste_models_loaded 2\n"));
  cp_http_response_clear (&response);
}

static void
test_token (void)
{
  g_autoptr (GBytes) image = read_bytes ("data/weave/test/good/000.png");
  CpHttpResponse response;
  g_autofree char *challenge = NULL;

  request (&server, "POST", "/v1/score/weave", NULL, g_bytes_get_data (image, NULL), g_bytes_get_size (image),
           &response);
  assert_error (&response, 401, "missing_token");
  challenge = cp_http_response_header (&response, "WWW-Authenticate");
  g_assert_nonnull (challenge);
  g_assert_true (g_str_has_prefix (challenge, "Bearer"));
  cp_http_response_clear (&response);

  /* Wrong, a prefix of the right one, the right one plus a byte, another scheme. */
  {
    const char *const wrong[] = {
      "Authorization: Bearer nope\r\n",
      "Authorization: Bearer s3cret\r\n",
      "Authorization: Bearer " TOKEN "x\r\n",
      "Authorization: Basic " TOKEN "\r\n",
    };
    for (gsize i = 0; i < G_N_ELEMENTS (wrong); i++)
      {
        request (&server, "GET", "/v1/models", wrong[i], NULL, 0, &response);
        assert_error (&response, 401, "invalid_token");
        cp_http_response_clear (&response);
      }
  }
  /* Nothing about the URL space without the token. */
  request (&server, "GET", "/no/such/thing", NULL, NULL, 0, &response);
  assert_error (&response, 401, "missing_token");
  cp_http_response_clear (&response);
  assert_still_serving (&server);
}

static void
test_score_matches_predict (void)
{
  const char *images[] = { "data/weave/test/good/000.png", "data/weave/test/hole/000.png",
                           "data/weave/test/stain/001.png" };
  g_autofree char *model = g_build_filename (models, "weave.safetensors", NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (images); i++)
    {
      g_autoptr (GBytes) image = read_bytes (images[i]);
      g_autofree char *expected = predict_score (model, images[i]);
      CpHttpResponse response;
      CpJsonDoc *doc;
      const CpJson *root;
      char text[64];
      double score, threshold;

      request (&server, "POST", "/v1/score/weave", AUTH, g_bytes_get_data (image, NULL),
               g_bytes_get_size (image), &response);
      g_assert_cmpint (response.status, ==, 200);
      doc = parse_json (&response);
      root = cp_json_doc_root (doc);
      score = member (root, "score", CP_JSON_DOUBLE)->number;
      threshold = member (root, "threshold", CP_JSON_DOUBLE)->number;
      g_snprintf (text, sizeof text, "%.6f", score);
      g_test_message ("%s: service %s, predict %s", images[i], text, expected);
      g_assert_cmpstr (text, ==, expected);
      g_assert_cmpstr (member (root, "verdict", CP_JSON_STRING)->string, ==,
                       score > threshold ? "anomalous" : "good");
      g_assert_cmpuint (member (member (root, "model", CP_JSON_OBJECT), "sha256", CP_JSON_STRING)->length, ==, 64);
      g_assert_cmpint (member (member (root, "image", CP_JSON_OBJECT), "width", CP_JSON_INT)->integer, ==, 48);
      g_assert_nonnull (cp_json_object_get (member (root, "timing_ms", CP_JSON_OBJECT), "score"));
      g_assert_null (cp_json_object_get (root, "heatmap"));
      cp_json_doc_free (doc);
      cp_http_response_clear (&response);
    }
}

static void
test_heatmap (void)
{
  const char *image_path = "data/weave/test/hole/000.png";
  g_autoptr (GBytes) image = read_bytes (image_path);
  g_autofree char *model = g_build_filename (models, "weave.safetensors", NULL);
  g_autofree char *out_dir = g_build_filename (work, "heatmaps", NULL);
  g_autofree char *expected_png = g_build_filename (out_dir, "000.heatmap.png", NULL);
  const char *argv[] = { cutpaste, "predict", "--model", model, "--heatmap", out_dir, image_path, NULL };
  g_autofree char *expected = NULL;
  g_autofree guchar *png = NULL;
  gsize expected_length = 0, png_length = 0;
  CpHttpResponse response;
  CpJsonDoc *doc;
  const CpJson *heatmap;

  g_free (run (argv, TRUE));
  g_assert_true (g_file_get_contents (expected_png, &expected, &expected_length, NULL));

  request (&server, "POST", "/v1/score/weave?heatmap=1", AUTH, g_bytes_get_data (image, NULL),
           g_bytes_get_size (image), &response);
  g_assert_cmpint (response.status, ==, 200);
  doc = parse_json (&response);
  heatmap = member (cp_json_doc_root (doc), "heatmap", CP_JSON_OBJECT);
  png = g_base64_decode (member (heatmap, "png_base64", CP_JSON_STRING)->string, &png_length);
  /* The same overlay `predict --heatmap` writes, byte for byte. */
  g_assert_cmpmem (png, png_length, expected, expected_length);
  cp_json_doc_free (doc);
  cp_http_response_clear (&response);

  /* A category without a patch model: the score, and a note instead. */
  {
    g_autoptr (GBytes) washer = read_bytes ("data/washer/test/good/000.png");
    const CpJson *root;

    request (&server, "POST", "/v1/score/washer?heatmap=1", AUTH, g_bytes_get_data (washer, NULL),
             g_bytes_get_size (washer), &response);
    g_assert_cmpint (response.status, ==, 200);
    doc = parse_json (&response);
    root = cp_json_doc_root (doc);
    g_assert_cmpint (member (root, "heatmap", CP_JSON_NULL)->type, ==, CP_JSON_NULL);
    g_assert_nonnull (strstr (member (root, "heatmap_note", CP_JSON_STRING)->string, "--localize"));
    member (root, "score", CP_JSON_DOUBLE);
    cp_json_doc_free (doc);
    cp_http_response_clear (&response);
  }
}

static void
test_bad_bodies (void)
{
  g_autoptr (GBytes) image = read_bytes ("data/weave/test/good/000.png");
  const char *text = "this is not an image, it is a sentence";
  CpHttpResponse response;

  request (&server, "POST", "/v1/score/weave", AUTH, text, strlen (text), &response);
  assert_error (&response, 415, "not_an_image");
  cp_http_response_clear (&response);

  /* A PNG cut in half, sent whole (its Content-Length says so). */
  request (&server, "POST", "/v1/score/weave", AUTH, g_bytes_get_data (image, NULL),
           g_bytes_get_size (image) / 2, &response);
  assert_error (&response, 400, "corrupt_image");
  cp_http_response_clear (&response);

  request (&server, "POST", "/v1/score/weave", AUTH, "", 0, &response);
  assert_error (&response, 400, "empty_body");
  cp_http_response_clear (&response);

  request (&server, "POST", "/v1/score/no-such-category", AUTH, g_bytes_get_data (image, NULL),
           g_bytes_get_size (image), &response);
  assert_error (&response, 404, "unknown_category");
  cp_http_response_clear (&response);
  assert_still_serving (&server);
}

static void
test_bad_urls (void)
{
  const struct { const char *method, *path; int status; const char *code; } cases[] = {
    { "POST", "/v1/score/", 400, "bad_url" },
    { "POST", "/v1/score/a/b", 400, "bad_url" },
    { "POST", "/v1/score/a%2Fb", 400, "bad_url" },
    { "POST", "/v1/score/.hidden", 400, "bad_url" },
    { "POST", "/v1/score/weave?heatmaps=1", 400, "bad_query" },
    { "POST", "/v1/score/weave?heatmap=maybe", 400, "bad_query" },
    { "GET", "/v1/score/weave", 405, "method_not_allowed" },
    { "DELETE", "/v1/models", 405, "method_not_allowed" },
    { "GET", "/v2/everything", 404, "not_found" },
    /* Percent-encoding that does not decode, or decodes to a NUL: libsoup
     * refuses the URL itself, with our JSON body. */
    { "POST", "/v1/score/%zz", 400, "bad_request" },
    { "POST", "/v1/score/we%00ave", 400, "bad_request" },
  };
  CpHttpResponse response;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s %s", cases[i].method, cases[i].path);
      request (&server, cases[i].method, cases[i].path, AUTH, "x", 1, &response);
      assert_error (&response, cases[i].status, cases[i].code);
      if (cases[i].status == 405)
        {
          g_autofree char *allow = cp_http_response_header (&response, "Allow");
          g_assert_nonnull (allow);
        }
      cp_http_response_clear (&response);
    }

  /* Not HTTP at all. */
  {
    CpHttpConn conn;
    const char *garbage = "THIS IS NOT HTTP\r\n\r\n";

    conn_open (&conn, &server);
    g_assert_true (cp_http_send_raw (&conn, garbage, strlen (garbage)));
    g_assert_true (cp_http_read_response (&conn, WAIT_MS, &response));
    assert_error (&response, 400, "bad_request");
    cp_http_response_clear (&response);
    cp_http_close (&conn);
  }
  assert_still_serving (&server);
}

static void
test_oversized (void)
{
  CpHttpConn conn;
  CpHttpResponse response;
  const char *head = "POST /v1/score/weave HTTP/1.1\r\nHost: x\r\n" AUTH
                     "Content-Length: 1000000000\r\n\r\n";
  g_autofree char *big = g_malloc0 (400 * 1024);
  gint64 start = g_get_monotonic_time ();

  /* Announced: answered from the head, before a byte of the body. */
  conn_open (&conn, &server);
  g_assert_true (cp_http_send_raw (&conn, head, strlen (head)));
  g_assert_true (cp_http_read_response (&conn, WAIT_MS, &response));
  assert_error (&response, 413, "body_too_large");
  g_assert_true (response.closed);
  g_assert_cmpint (g_get_monotonic_time () - start, <, WAIT_MS * 1000);
  cp_http_response_clear (&response);
  cp_http_close (&conn);

  /* Announced and sent anyway. */
  request (&server, "POST", "/v1/score/weave", AUTH, big, 400 * 1024, &response);
  assert_error (&response, 413, "body_too_large");
  cp_http_response_clear (&response);

  /* Chunked, with no size announced: stopped once it passes the limit. */
  {
    const char *chunked_head = "POST /v1/score/weave HTTP/1.1\r\nHost: x\r\n" AUTH
                               "Transfer-Encoding: chunked\r\n\r\n";
    g_autofree char *chunk_head = g_strdup_printf ("%x\r\n", 64 * 1024);
    gboolean answered = FALSE;

    conn_open (&conn, &server);
    g_assert_true (cp_http_send_raw (&conn, chunked_head, strlen (chunked_head)));
    for (int i = 0; i < 8; i++)
      if (!cp_http_send_raw (&conn, chunk_head, strlen (chunk_head))
          || !cp_http_send_raw (&conn, big, 64 * 1024) || !cp_http_send_raw (&conn, "\r\n", 2))
        break;
    answered = cp_http_read_response (&conn, WAIT_MS, &response);
    g_assert_true (answered);
    assert_error (&response, 413, "body_too_large");
    cp_http_response_clear (&response);
    cp_http_close (&conn);
  }
  assert_still_serving (&server);
}

static void
test_slow_and_cut_clients (void)
{
  g_autoptr (GBytes) image = read_bytes ("data/weave/test/good/000.png");
  g_autofree char *head = g_strdup_printf ("POST /v1/score/weave HTTP/1.1\r\nHost: x\r\n" AUTH
                                           "Content-Length: %zu\r\n\r\n", g_bytes_get_size (image));
  CpHttpConn conn;
  CpHttpResponse response;
  gint64 start;
  double waited;

  /* Stops sending in the middle of the body: 408 after the timeout. */
  conn_open (&conn, &server);
  start = g_get_monotonic_time ();
  g_assert_true (cp_http_send_raw (&conn, head, strlen (head)));
  g_assert_true (cp_http_send_raw (&conn, g_bytes_get_data (image, NULL), 100));
  g_assert_true (cp_http_read_response (&conn, WAIT_MS, &response));
  waited = (g_get_monotonic_time () - start) / 1e6;
  g_test_message ("408 after %.2f s", waited);
  assert_error (&response, 408, "request_timeout");
  g_assert_cmpfloat (waited, >=, TIMEOUT_S * 0.9);
  g_assert_true (response.closed);
  cp_http_response_clear (&response);
  cp_http_close (&conn);

  /* Stops in the middle of its headers: the connection is closed. */
  conn_open (&conn, &server);
  g_assert_true (cp_http_send_raw (&conn, "POST /v1/sco", 12));
  g_assert_false (cp_http_read_response (&conn, WAIT_MS, &response));
  g_assert_true (response.closed);
  g_assert_false (response.timed_out);
  cp_http_response_clear (&response);
  cp_http_close (&conn);

  /* Sends part of the body, then closes its side (a truncated body). */
  conn_open (&conn, &server);
  g_assert_true (cp_http_send_raw (&conn, head, strlen (head)));
  g_assert_true (cp_http_send_raw (&conn, g_bytes_get_data (image, NULL), 100));
  cp_http_shutdown_write (&conn);
  g_assert_true (cp_http_read_response (&conn, WAIT_MS, &response));
  assert_error (&response, 400, "truncated_body");
  cp_http_response_clear (&response);
  cp_http_close (&conn);

  /* Goes away in the middle of the body. */
  conn_open (&conn, &server);
  g_assert_true (cp_http_send_raw (&conn, head, strlen (head)));
  g_assert_true (cp_http_send_raw (&conn, g_bytes_get_data (image, NULL), 100));
  cp_http_close (&conn);

  assert_still_serving (&server);
}

/* ---- the model file replaced while requests run ---------------------------- */

typedef struct
{
  const Server *server;
  GBytes       *image;
  gint          stop;
  pthread_mutex_t lock;   /* not GMutex: ThreadSanitizer sees this one */
  GHashTable   *score_of;    /* sha256 -> score text: one score per model, always */
  int           answers, rejected, failures;
} Replace;

static gpointer
replace_client (gpointer data)
{
  Replace *r = data;
  CpHttpConn conn = { -1 };

  while (!g_atomic_int_get (&r->stop))
    {
      CpHttpResponse response;
      CpJsonDoc *doc;
      const CpJson *root;
      char score[64];
      const char *hash, *seen;

      if (conn.fd < 0)
        g_assert_true (cp_http_connect (&conn, r->server->host, r->server->port));
      if (!cp_http_request (&conn, "POST", "/v1/score/weave", AUTH, g_bytes_get_data (r->image, NULL),
                            g_bytes_get_size (r->image), WAIT_MS, &response))
        g_error ("a request during the replacement got no answer");
      if (response.closed)
        cp_http_close (&conn);
      if (response.status == 503)
        {
          pthread_mutex_lock (&r->lock);
          r->rejected++;
          pthread_mutex_unlock (&r->lock);
          cp_http_response_clear (&response);
          g_usleep (5000);
          continue;
        }
      if (response.status != 200)
        g_error ("status %d during the replacement: %s", response.status, response.body);
      doc = parse_json (&response);
      root = cp_json_doc_root (doc);
      g_snprintf (score, sizeof score, "%.6f", member (root, "score", CP_JSON_DOUBLE)->number);
      hash = member (member (root, "model", CP_JSON_OBJECT), "sha256", CP_JSON_STRING)->string;
      pthread_mutex_lock (&r->lock);
      r->answers++;
      seen = g_hash_table_lookup (r->score_of, hash);
      if (seen == NULL)
        g_hash_table_insert (r->score_of, g_strdup (hash), g_strdup (score));
      else if (strcmp (seen, score) != 0)
        r->failures++;
      pthread_mutex_unlock (&r->lock);
      cp_json_doc_free (doc);
      cp_http_response_clear (&response);
    }
  cp_http_close (&conn);
  return NULL;
}

/* Replaces @target with @source's bytes as training does: a hidden
 * temporary file in the same folder, renamed over it. */
static void
replace_file (const char *source, const char *target)
{
  g_autofree char *data = NULL;
  g_autofree char *dir = g_path_get_dirname (target);
  g_autofree char *temp = g_build_filename (dir, ".replace.tmp", NULL);
  gsize length = 0;

  g_assert_true (g_file_get_contents (source, &data, &length, NULL));
  g_assert_true (g_file_set_contents (temp, data, (gssize) length, NULL));
  g_assert_cmpint (g_rename (temp, target), ==, 0);
}

static char *
served_hash (const char *category)
{
  CpHttpResponse response;
  CpJsonDoc *doc;
  const CpJson *list;
  char *hash = NULL;

  request (&server, "GET", "/v1/models", AUTH, NULL, 0, &response);
  g_assert_cmpint (response.status, ==, 200);
  doc = parse_json (&response);
  list = member (cp_json_doc_root (doc), "models", CP_JSON_ARRAY);
  for (gsize i = 0; i < list->length; i++)
    if (strcmp (member (list->items[i], "category", CP_JSON_STRING)->string, category) == 0)
      hash = g_strdup (member (list->items[i], "sha256", CP_JSON_STRING)->string);
  cp_json_doc_free (doc);
  cp_http_response_clear (&response);
  return hash;
}

static char *
file_hash (const char *path)
{
  g_autofree char *data = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &data, &length, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, length);
}

/* Waits until /v1/models reports @hash for @category. */
static void
wait_for_hash (const char *category, const char *hash)
{
  gint64 until = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

  for (;;)
    {
      g_autofree char *now = served_hash (category);

      if (g_strcmp0 (now, hash) == 0)
        return;
      if (g_get_monotonic_time () > until)
        g_error ("the service did not load %s (still %s)", hash, now);
      g_usleep (50000);
    }
}

static void
test_model_replaced (void)
{
  g_autofree char *target = g_build_filename (models, "weave.safetensors", NULL);
  g_autofree char *first = g_build_filename (work, "first-weave.safetensors", NULL);
  g_autofree char *second = g_build_filename (work, "alt", "weave.safetensors", NULL);
  g_autofree char *first_hash = NULL, *second_hash = NULL;
  g_autoptr (GPtrArray) clients = g_ptr_array_new ();
  Replace r = { 0 };

  /* Keep the serving model aside to swap back and forth with. */
  {
    g_autofree char *data = NULL;
    gsize length = 0;

    g_assert_true (g_file_get_contents (target, &data, &length, NULL));
    g_assert_true (g_file_set_contents (first, data, (gssize) length, NULL));
  }
  first_hash = file_hash (first);
  second_hash = file_hash (second);
  g_assert_cmpstr (first_hash, !=, second_hash);

  r.server = &server;
  r.image = read_bytes ("data/weave/test/good/001.png");
  r.score_of = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  pthread_mutex_init (&r.lock, NULL);
  for (int i = 0; i < 3; i++)
    g_ptr_array_add (clients, g_thread_new ("client", replace_client, &r));

  for (int round = 0; round < 2; round++)
    {
      replace_file (second, target);
      wait_for_hash ("weave", second_hash);
      replace_file (first, target);
      wait_for_hash ("weave", first_hash);
    }

  /* A damaged file in its place: refused, the loaded model stays. */
  {
    g_autofree char *junk = g_build_filename (work, "junk.safetensors", NULL);
    CpHttpResponse response;
    gint64 until = g_get_monotonic_time () + (gint64) WAIT_MS * 1000;

    g_assert_true (g_file_set_contents (junk, "definitely not safetensors", -1, NULL));
    replace_file (junk, target);
    for (;;)
      {
        request (&server, "GET", "/v1/models", AUTH, NULL, 0, &response);
        if (strstr (response.body, "\"errors\":[{\"file\":\"weave.safetensors\"") != NULL)
          break;
        g_assert_cmpint (g_get_monotonic_time (), <, until);
        cp_http_response_clear (&response);
        g_usleep (50000);
      }
    cp_http_response_clear (&response);
    {
      g_autofree char *still = served_hash ("weave");
      g_assert_cmpstr (still, ==, first_hash);
    }
    replace_file (first, target);
    g_usleep (500000);
  }

  g_atomic_int_set (&r.stop, 1);
  for (guint i = 0; i < clients->len; i++)
    g_thread_join (clients->pdata[i]);
  g_test_message ("%d answers, %d times 503, %u models seen", r.answers, r.rejected,
                  g_hash_table_size (r.score_of));
  g_assert_cmpint (r.failures, ==, 0);
  g_assert_cmpint (r.answers, >, 0);
  /* Both models answered, each always with its own score. */
  g_assert_cmpuint (g_hash_table_size (r.score_of), ==, 2);
  g_hash_table_unref (r.score_of);
  g_bytes_unref (r.image);
  pthread_mutex_destroy (&r.lock);
  assert_still_serving (&server);
}

/* ---- a full queue ---------------------------------------------------------------- */

static void
test_queue_full (void)
{
  const char *extra[] = { "--threads", "1", "--queue", "0", NULL };
  g_autoptr (GBytes) big = NULL;
  Server small = { 0 };
  CpHttpConn slow, second;
  CpHttpResponse response;
  g_autofree char *retry = NULL;

  /* A large image (small as a file) keeps the one worker busy decoding it
   * for a while. */
  {
    const int side = 3000;
    g_autofree guint8 *pixels = g_malloc0 ((gsize) side * side * 3);
    g_autofree char *path = g_build_filename (work, "big.png", NULL);
    g_autoptr (GError) error = NULL;

    memset (pixels, 128, (gsize) side * side * 3);
    g_assert_true (cp_png_write (path, pixels, side, side, side * 3, 3, &error));
    g_assert_no_error (error);
  }
  big = read_bytes ("big.png");
  server_start (&small, extra);

  conn_open (&slow, &small);
  {
    g_autofree char *head = g_strdup_printf ("POST /v1/score/weave HTTP/1.1\r\nHost: x\r\n" AUTH
                                             "Content-Length: %zu\r\n\r\n", g_bytes_get_size (big));
    g_assert_true (cp_http_send_raw (&slow, head, strlen (head)));
    g_assert_true (cp_http_send_raw (&slow, g_bytes_get_data (big, NULL), g_bytes_get_size (big)));
  }
  g_usleep (20000);
  conn_open (&second, &small);
  g_assert_true (cp_http_request (&second, "POST", "/v1/score/weave", AUTH, g_bytes_get_data (big, NULL),
                                  g_bytes_get_size (big), WAIT_MS, &response));
  assert_error (&response, 503, "queue_full");
  retry = cp_http_response_header (&response, "Retry-After");
  g_assert_nonnull (retry);
  g_assert_cmpint (atoi (retry), >=, 1);
  cp_http_response_clear (&response);
  cp_http_close (&second);

  g_assert_true (cp_http_read_response (&slow, WAIT_MS, &response));
  g_assert_cmpint (response.status, ==, 200);
  cp_http_response_clear (&response);
  cp_http_close (&slow);
  server_stop (&small);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (argc < 2)
    {
      g_printerr ("usage: test-serve PATH/TO/cutpaste\n");
      return 2;
    }
  cutpaste = g_canonicalize_filename (argv[1], NULL);
  work = cp_test_make_tmp_dir ("cp-serve-XXXXXX");
  models = g_build_filename (work, "models", NULL);

  {
    const char *synth[] = { cutpaste, "synth", "--out", "data", "--size", "48", "--train", "10",
                            "--test-good", "4", "--test-defect", "2", NULL };
    g_autofree char *token = g_build_filename (work, "token", NULL);
    g_autofree char *alt = g_build_filename (work, "alt", NULL);

    g_free (run (synth, TRUE));
    train ("weave", models, "0", FALSE);
    train ("washer", models, "0", FALSE);
    train ("weave", models, "0", TRUE);
    train ("weave", alt, "1", FALSE);
    g_assert_true (g_file_set_contents (token, TOKEN "\n", -1, NULL));
  }

  server_start (&server, (const char *const[]) { "--threads", "2", "--queue", "2", NULL });
  g_test_add_func ("/serve/health-models-metrics", test_health_models_metrics);
  g_test_add_func ("/serve/token", test_token);
  g_test_add_func ("/serve/score-matches-predict", test_score_matches_predict);
  g_test_add_func ("/serve/heatmap", test_heatmap);
  g_test_add_func ("/serve/bad-bodies", test_bad_bodies);
  g_test_add_func ("/serve/bad-urls", test_bad_urls);
  g_test_add_func ("/serve/oversized", test_oversized);
  g_test_add_func ("/serve/slow-and-cut-clients", test_slow_and_cut_clients);
  g_test_add_func ("/serve/model-replaced", test_model_replaced);
  g_test_add_func ("/serve/queue-full", test_queue_full);
  status = g_test_run ();
  server_stop (&server);
  cp_test_remove_tree (work);
  g_free (models);
  g_free (work);
  return status;
}
