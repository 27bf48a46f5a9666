/* cmd-serve.c: `cutpaste serve`: score images sent over HTTP. */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>
#ifdef CP_SERVE_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "cli-common.h"
#include "commands.h"
#include "serve/serve-http.h"
#include "serve/serve-registry.h"
#include "serve/serve-token.h"

typedef struct
{
  GMainLoop   *loop;
  CpServeHttp *http;
  gboolean     stopping;
} ServeState;

static gboolean
on_drained (gpointer data)
{
  ServeState *state = data;

  g_main_loop_quit (state->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer data)
{
  ServeState *state = data;

  if (state->stopping)
    {
      /* A second signal: stop without waiting for the answers. */
      g_main_loop_quit (state->loop);
      return G_SOURCE_CONTINUE;
    }
  state->stopping = TRUE;
  fprintf (stderr, "cutpaste serve: stopping: answering the requests already accepted\n");
  cp_serve_http_drain (state->http, on_drained, state);
  return G_SOURCE_CONTINUE;
}

/* "64M", "100k", "1048576": bytes, with an optional binary suffix. */
static gboolean
parse_size (const char *text, gsize *value)
{
  char *end = NULL;
  guint64 v, scale = 1;

  if (text[0] == '-')
    return FALSE;
  v = g_ascii_strtoull (text, &end, 10);
  if (end == text)
    return FALSE;
  if (*end == 'k' || *end == 'K')
    scale = 1024, end++;
  else if (*end == 'm' || *end == 'M')
    scale = 1024 * 1024, end++;
  else if (*end == 'g' || *end == 'G')
    scale = 1024 * 1024 * 1024, end++;
  if (*end != '\0' || v == 0 || v > G_MAXSIZE / scale)
    return FALSE;
  *value = (gsize) (v * scale);
  return TRUE;
}

int
cp_cmd_serve (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *listen = NULL, *threads_text = NULL, *queue_text = NULL;
  g_autofree char *token_file = NULL, *max_body_text = NULL, *timeout_text = NULL;
  g_autofree char *reload_text = NULL, *device = NULL;
  GOptionEntry entries[] = {
    { "model-dir", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "Folder of <category>.safetensors models (from 'cutpaste train')", "DIR" },
    { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, "Address to listen on (default 127.0.0.1:8080; port 0 picks a free one)", "HOST:PORT" },
    { "threads", 0, 0, G_OPTION_ARG_STRING, &threads_text, "Worker threads scoring requests (default: one per core)", "N" },
    { "queue", 0, 0, G_OPTION_ARG_STRING, &queue_text, "Requests that may wait for a worker; more get 503 (default 2 per worker)", "N" },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file, "Require 'Authorization: Bearer TOKEN' with the token in this file", "FILE" },
    { "max-body", 0, 0, G_OPTION_ARG_STRING, &max_body_text, "Largest request body (default 64M; k, M, G suffixes)", "BYTES" },
    { "request-timeout", 0, 0, G_OPTION_ARG_STRING, &timeout_text, "Seconds a client has to send a whole request (default 30)", "S" },
    { "reload-interval", 0, 0, G_OPTION_ARG_STRING, &reload_text, "Seconds between checks for changed model files (default 2; 0 = never)", "S" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- score images sent over HTTP");
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *url = NULL;
  CpServeToken token;
  CpServeRegistry *registry;
  CpServeHttpOptions options = { 0 };
  ServeState state = { 0 };
  int threads = 0, queue = -1, cores = (int) g_get_num_processors ();
  double timeout = 30, reload = 2;
  gsize max_body = 64u * 1024 * 1024;

  /* Usage lines read "cutpaste serve", not the bare argv[0] "serve". */
  g_set_prgname ("cutpaste serve");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Endpoints:\n"
    "  POST /v1/score/CATEGORY[?heatmap=1]  body: a PNG, JPEG, BMP or TIFF image\n"
    "  GET  /v1/models   GET /healthz   GET /metrics (Prometheus)\n"
    "Scores are those of 'cutpaste predict'.  Models are reloaded when their files\n"
    "change; requests in flight finish on the model they started with.  Without\n"
    "--listen only this machine can connect.  SIGINT or SIGTERM stops taking new\n"
    "requests, answers those accepted, and exits.\n"
    "Exit status: 0 stopped by a signal, 1 failed, 2 usage.");
  if (!cp_cli_parse (context, "serve", &argc, &argv))
    return CP_EXIT_USAGE;
#define USAGE(...) do { cp_cli_error ("serve", __VA_ARGS__); return CP_EXIT_USAGE; } while (0)
  if (argc > 1)
    USAGE ("unexpected argument '%s'", argv[1]);
  if (model_dir == NULL)
    USAGE ("--model-dir is required (see 'cutpaste serve --help')");
  if (threads_text && (!cp_cli_parse_int (threads_text, &threads) || threads < 1 || threads > 256))
    USAGE ("--threads must be between 1 and 256 (got '%s')", threads_text);
  if (queue_text && (!cp_cli_parse_int (queue_text, &queue) || queue < 0 || queue > 100000))
    USAGE ("--queue must be between 0 and 100000 (got '%s')", queue_text);
  if (max_body_text && !parse_size (max_body_text, &max_body))
    USAGE ("--max-body must be a positive size such as 1048576, 512k or 64M (got '%s')", max_body_text);
  if (timeout_text && (!cp_cli_parse_double (timeout_text, &timeout) || timeout <= 0 || timeout > 86400))
    USAGE ("--request-timeout must be a number of seconds above 0 (got '%s')", timeout_text);
  if (reload_text && (!cp_cli_parse_double (reload_text, &reload) || reload < 0 || reload > 86400))
    USAGE ("--reload-interval must be a number of seconds, 0 or more (got '%s')", reload_text);
  if (device && strcmp (device, "auto") != 0 && strcmp (device, "cpu") != 0 && strcmp (device, "cuda") != 0)
    USAGE ("unknown --device '%s' (expected auto, cpu or cuda)", device);
#undef USAGE
  if (token_file && !cp_serve_token_load (&token, token_file, &error))
    {
      cp_cli_error ("serve", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  if (threads == 0)
    threads = MAX (cores, 1);
  if (queue < 0)
    queue = 2 * threads;

  /* Each worker runs its own model instances: the cores are shared out
   * between them (CP_NUM_THREADS, read when a backend is made, and
   * OpenBLAS's own threads) rather than every worker spreading over every
   * core and all of them fighting for the cores. */
  if (g_getenv ("CP_NUM_THREADS") == NULL)
    {
      g_autofree char *per_worker = g_strdup_printf ("%d", MAX (1, cores / threads));
      g_setenv ("CP_NUM_THREADS", per_worker, TRUE);
    }
#ifdef CP_SERVE_HAVE_OPENBLAS
  if (threads > 1 && g_getenv ("OPENBLAS_NUM_THREADS") == NULL)
    openblas_set_num_threads (MAX (1, cores / threads));
#endif
  signal (SIGPIPE, SIG_IGN);

  registry = cp_serve_registry_new (model_dir, threads, device ? device : "auto", &error);
  if (registry == NULL)
    {
      cp_cli_error ("serve", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  if (cp_serve_registry_count (registry) == 0)
    cp_cli_error ("serve", "no model in %s yet: /healthz answers 503 until one is written there", model_dir);

  options.listen = listen ? listen : "127.0.0.1:8080";
  options.workers = threads;
  options.queue = queue;
  options.max_body = max_body;
  options.request_timeout_ms = (guint) ceil (timeout * 1000);
  options.token = token_file ? &token : NULL;
  state.http = cp_serve_http_new (registry, &options, &error);
  if (state.http == NULL)
    {
      cp_cli_error ("serve", "%s", error->message);
      cp_serve_registry_free (registry);
      return CP_EXIT_FAILED;
    }
  if (!cp_serve_http_is_loopback (state.http) && token_file == NULL)
    cp_cli_error ("serve", "warning: listening on %s without --token-file: anyone who can reach it may use it",
                  options.listen);
  if (reload > 0)
    cp_serve_registry_watch (registry, (guint) ceil (reload * 1000));

  url = cp_serve_http_get_url (state.http);
  printf ("cutpaste serve: listening on %s (%d models, %d workers, queue %d)\n", url,
          cp_serve_registry_count (registry), threads, queue);
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  state.loop = loop;
  g_unix_signal_add (SIGINT, on_signal, &state);
  g_unix_signal_add (SIGTERM, on_signal, &state);
  g_main_loop_run (loop);

  cp_serve_http_free (state.http);
  cp_serve_registry_free (registry);
  fprintf (stderr, "cutpaste serve: stopped\n");
  return CP_EXIT_OK;
}
