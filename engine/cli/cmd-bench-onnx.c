/* cmd-bench-onnx.c: `cutpaste bench-onnx`: our CPU inference (embedding +
 * score) against ONNX Runtime (Node.js) running the exported model.
 *
 * Both sides see the same batches of pseudo-random normalised images at
 * the model's image size and use the same number of threads (our CPU
 * pool via CP_NUM_THREADS, ORT's intraOpNumThreads).  ORT runs in a node
 * child process with onnxruntime-node taken from --node-modules, so the
 * engine itself never depends on it.
 *
 * On a shared machine the two sides would see different loads if each
 * ran once, so the measurement is repeated in --rounds rounds, ours then
 * ORT in each, and each side's best round is reported.  Besides
 * throughput, each round times 200 single-image calls (model loaded,
 * one warm-up call) for the latency a production line sees: median and
 * 99th percentile.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

#include "cli-common.h"
#include "commands.h"
#include "core/backend.h"
#include "core/density/gde.h"
#include "core/io/json.h"
#include "core/io/safetensors.h"
#include "core/nn/network.h"
#include "core/onnx/onnx-export.h"

/* The ORT side: argv model, size, comma-separated batches, seconds,
 * threads, latency calls; prints a JSON array of {batch, runs, seconds,
 * images_per_s}, then the single-image call times, as one more element
 * {latency_ms: [...]}. */
static const char ort_bench_js[] =
  "'use strict';\n"
  "const ort = require('onnxruntime-node');\n"
  "const [model, sizeArg, batchesArg, secondsArg, threadsArg, callsArg] = process.argv.slice(2);\n"
  "function fill(data, seed) {\n"
  "  let s = seed >>> 0;\n"
  "  for (let i = 0; i < data.length; i++) {\n"
  "    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;\n"
  "    data[i] = (s / 4294967296) * 4 - 2;\n"
  "  }\n"
  "}\n"
  "async function main() {\n"
  "  const size = parseInt(sizeArg, 10), seconds = parseFloat(secondsArg);\n"
  "  const threads = parseInt(threadsArg, 10);\n"
  "  const session = await ort.InferenceSession.create(model, {\n"
  "    intraOpNumThreads: threads, interOpNumThreads: 1,\n"
  "    executionMode: 'sequential', graphOptimizationLevel: 'all' });\n"
  "  const results = [];\n"
  "  for (const batch of batchesArg.split(',').map(Number)) {\n"
  "    const data = new Float32Array(batch * 3 * size * size);\n"
  "    fill(data, 1234 + batch);\n"
  "    const feeds = { image: new ort.Tensor('float32', data, [batch, 3, size, size]) };\n"
  "    await session.run(feeds, ['embedding', 'score']);\n"
  "    let runs = 0, elapsed = 0;\n"
  "    const t0 = process.hrtime.bigint();\n"
  "    do {\n"
  "      await session.run(feeds, ['embedding', 'score']);\n"
  "      runs++;\n"
  "      elapsed = Number(process.hrtime.bigint() - t0) / 1e9;\n"
  "    } while (elapsed < seconds || runs < 2);\n"
  "    results.push({ batch, runs, seconds: elapsed, images_per_s: runs * batch / elapsed });\n"
  "  }\n"
  "  const one = new Float32Array(3 * size * size);\n"
  "  fill(one, 1235);\n"
  "  const feeds1 = { image: new ort.Tensor('float32', one, [1, 3, size, size]) };\n"
  "  await session.run(feeds1, ['embedding', 'score']);\n"
  "  const latency = [];\n"
  "  for (let i = 0; i < parseInt(callsArg, 10); i++) {\n"
  "    const t = process.hrtime.bigint();\n"
  "    await session.run(feeds1, ['embedding', 'score']);\n"
  "    latency.push(Number(process.hrtime.bigint() - t) / 1e6);\n"
  "  }\n"
  "  results.push({ latency_ms: latency });\n"
  "  console.log(JSON.stringify(results));\n"
  "}\n"
  "main().catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });\n";

/* Same generator as the script, so both sides see the same numbers. */
static void
fill_images (float *data, size_t count, guint32 seed)
{
  guint32 s = seed;

  for (size_t i = 0; i < count; i++)
    {
      s = s * 1664525u + 1013904223u;
      data[i] = (float) ((double) s / 4294967296.0 * 4.0 - 2.0);
    }
}

typedef struct
{
  CpBackend *be;
  CpNetwork *net;
  CpGde     *gde;
} Ours;

static gboolean
ours_open (Ours *ours, const char *model_path, CpError *err)
{
  CpSafetensors *st = cp_safetensors_open (model_path, err);
  const CpTensorInfo *out_w;
  CpNetworkConfig config = { 0, 3 };
  int64_t s1[1] = { CP_EMBEDDING_DIM }, s2[2] = { CP_EMBEDDING_DIM, CP_EMBEDDING_DIM };
  g_autofree float *mean = g_new (float, CP_EMBEDDING_DIM);
  g_autofree float *precision = g_new (float, CP_EMBEDDING_DIM * CP_EMBEDDING_DIM);
  gboolean ok = FALSE;

  memset (ours, 0, sizeof *ours);
  if (st == NULL)
    return FALSE;
  for (;;)
    {
      g_autofree char *name = g_strdup_printf ("head.%d.weight", 3 * (config.head_layers + 1));
      if (cp_safetensors_find (st, name) == NULL)
        break;
      config.head_layers++;
    }
  out_w = cp_safetensors_find (st, "out.weight");
  if (out_w != NULL && out_w->ndim == 2)
    config.num_classes = (int) out_w->shape[0];
  if (cp_safetensors_read_f32 (st, "gde.mean", s1, 1, mean, err) != CP_OK
      || cp_safetensors_read_f32 (st, "gde.precision", s2, 2, precision, err) != CP_OK
      || (ours->gde = cp_gde_new_from_f32 (mean, precision, CP_EMBEDDING_DIM, err)) == NULL
      || (ours->be = cp_backend_cpu_new (err)) == NULL
      || (ours->net = cp_network_new (ours->be, &config, err)) == NULL
      || cp_network_load (ours->net, st, CP_LOAD_ALL, err) != CP_OK)
    goto out;
  ok = TRUE;
out:
  cp_safetensors_close (st);
  return ok;
}

static void
ours_close (Ours *ours)
{
  cp_network_free (ours->net);
  cp_gde_free (ours->gde);
  if (ours->be)
    cp_backend_free (ours->be);
}

/* One inference as the pipeline does it: upload, forward, download the
 * embeddings, Mahalanobis scores. */
static gboolean
ours_run (Ours *ours, float *device_images, const float *images, int batch, int size,
          float *embeddings, double *scores, CpError *err)
{
  return ours->be->upload (ours->be, device_images, images,
                           (size_t) batch * 3 * size * size * sizeof (float), err) == CP_OK
         && cp_network_forward (ours->net, device_images, batch, size, size, FALSE, err) == CP_OK
         && ours->be->download (ours->be, embeddings, cp_network_embedding (ours->net),
                                (size_t) batch * CP_EMBEDDING_DIM * sizeof (float), err) == CP_OK
         && cp_gde_score (ours->gde, embeddings, batch, scores, err) == CP_OK;
}

static double
ours_measure (Ours *ours, int batch, int size, double seconds, int *runs_out, CpError *err)
{
  size_t count = (size_t) batch * 3 * size * size;
  g_autofree float *images = g_new (float, count);
  g_autofree float *embeddings = g_new (float, (gsize) batch * CP_EMBEDDING_DIM);
  g_autofree double *scores = g_new (double, batch);
  float *device_images = ours->be->alloc (ours->be, count * sizeof (float), err);
  gint64 t0;
  double elapsed = 0.0;
  int runs = 0;

  if (device_images == NULL)
    return -1.0;
  fill_images (images, count, 1234u + (guint32) batch);
  /* Warm-up: allocates the activations for this batch size. */
  if (!ours_run (ours, device_images, images, batch, size, embeddings, scores, err))
    goto fail;
  t0 = g_get_monotonic_time ();
  do
    {
      if (!ours_run (ours, device_images, images, batch, size, embeddings, scores, err))
        goto fail;
      runs++;
      elapsed = (double) (g_get_monotonic_time () - t0) / 1e6;
    }
  while (elapsed < seconds || runs < 2);
  ours->be->free (ours->be, device_images);
  *runs_out = runs;
  return runs * batch / elapsed;

fail:
  ours->be->free (ours->be, device_images);
  return -1.0;
}

#define MAX_BATCHES 8
#define LATENCY_CALLS 200

/* Times LATENCY_CALLS single-image inferences (after one warm-up) into
 * @ms, milliseconds each. */
static gboolean
ours_latency (Ours *ours, int size, double *ms, CpError *err)
{
  size_t count = (size_t) 3 * size * size;
  g_autofree float *image = g_new (float, count);
  float embedding[CP_EMBEDDING_DIM];
  double score;
  float *device_image = ours->be->alloc (ours->be, count * sizeof (float), err);
  gboolean ok;

  if (device_image == NULL)
    return FALSE;
  fill_images (image, count, 1235u);
  ok = ours_run (ours, device_image, image, 1, size, embedding, &score, err);
  for (int i = 0; i < LATENCY_CALLS && ok; i++)
    {
      gint64 t0 = g_get_monotonic_time ();

      ok = ours_run (ours, device_image, image, 1, size, embedding, &score, err);
      ms[i] = (double) (g_get_monotonic_time () - t0) / 1e3;
    }
  ours->be->free (ours->be, device_image);
  return ok;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

/* Prints the median and 99th percentile (nearest rank) of @count call
 * times and keeps them in best[0..1] when the median is the lowest yet
 * (best[0] <= 0: none yet). */
static void
keep_latency (const char *who, int round, double *ms, int count, double best[2])
{
  double median, p99;
  int rank;

  if (count < 1)
    return;
  qsort (ms, (size_t) count, sizeof *ms, compare_doubles);
  median = count % 2 ? ms[count / 2] : 0.5 * (ms[count / 2 - 1] + ms[count / 2]);
  rank = (int) ceil (0.99 * count);
  p99 = ms[(rank < 1 ? 1 : rank) - 1];
  printf ("round %d %s batch  1 latency: median %.2f ms, p99 %.2f ms (%d calls)\n", round + 1,
          who, median, p99, count);
  if (best[0] <= 0.0 || median < best[0])
    {
      best[0] = median;
      best[1] = p99;
    }
}

/* One run of the ORT script: images/s and runs per batch into @ips and
 * @runs, the single-image call times into @lat (*n_lat of them). */
static gboolean
ort_round (const char *node, const char *script, const char *onnx_path, const char *size_text,
           const char *batches_text, const char *seconds_text, const char *threads_text,
           const char *calls_text, char **envp, int n_batches, double *ips, int *runs,
           double *lat, int *n_lat)
{
  const char *node_argv[9];
  g_autofree char *ort_out = NULL, *ort_err = NULL;
  g_autoptr (GError) gerror = NULL;
  CpJsonDoc *doc = NULL;
  const CpJson *root;
  CpError err = { 0 };
  gboolean parsed = FALSE;
  int status = 0;

  node_argv[0] = node ? node : "node";
  node_argv[1] = script;
  node_argv[2] = onnx_path;
  node_argv[3] = size_text;
  node_argv[4] = batches_text;
  node_argv[5] = seconds_text;
  node_argv[6] = threads_text;
  node_argv[7] = calls_text;
  node_argv[8] = NULL;
  if (!g_spawn_sync (NULL, (char **) node_argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &ort_out,
                     &ort_err, &status, &gerror))
    {
      cp_cli_error ("bench-onnx", "cannot run %s: %s", node_argv[0], gerror->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      cp_cli_error ("bench-onnx", "ONNX Runtime failed: %s", ort_err ? ort_err : "");
      return FALSE;
    }
  doc = cp_json_parse (ort_out, strlen (ort_out), NULL, NULL, &err);
  root = doc ? cp_json_doc_root (doc) : NULL;
  if (root != NULL && root->type == CP_JSON_ARRAY && root->length == (size_t) n_batches + 1)
    {
      const CpJson *l = cp_json_object_get (root->items[n_batches], "latency_ms");

      parsed = l != NULL && l->type == CP_JSON_ARRAY && l->length <= LATENCY_CALLS;
      for (int i = 0; i < n_batches && parsed; i++)
        {
          const CpJson *v = cp_json_object_get (root->items[i], "images_per_s");
          const CpJson *r = cp_json_object_get (root->items[i], "runs");

          if (v == NULL || r == NULL)
            parsed = FALSE;
          else
            {
              ips[i] = v->number;
              runs[i] = (int) r->number;
            }
        }
      if (parsed)
        {
          *n_lat = (int) l->length;
          for (size_t i = 0; i < l->length; i++)
            lat[i] = l->items[i]->number;
        }
    }
  cp_json_doc_free (doc);
  if (!parsed)
    cp_cli_error ("bench-onnx", "unexpected output from the ORT script: %s", ort_out);
  return parsed;
}

/* "1,32" -> {1, 32}; FALSE on anything but 1 to MAX_BATCHES sizes in
 * [1, 256]. */
static gboolean
parse_batches (const char *text, int *batches, int *count)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);

  *count = 0;
  for (int i = 0; parts[i] != NULL; i++)
    {
      int b;

      if (*count == MAX_BATCHES || !cp_cli_parse_int (parts[i], &b) || b < 1 || b > 256)
        return FALSE;
      batches[(*count)++] = b;
    }
  return *count > 0;
}

int
cp_cmd_bench_onnx (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *onnx_path = NULL, *node_modules = NULL, *node = NULL;
  g_autofree char *batches_option = NULL;
  double seconds = 10.0;
  int threads = 2, rounds = 3;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_path, "Model file written by 'cutpaste train'", "FILE" },
    { "node-modules", 0, 0, G_OPTION_ARG_FILENAME, &node_modules,
      "Folder holding onnxruntime-node (default: $CP_ORT_NODE_MODULES, else tests/onnx/node_modules)", "DIR" },
    { "node", 0, 0, G_OPTION_ARG_FILENAME, &node, "Node.js program (default: node)", "PROG" },
    { "onnx", 0, 0, G_OPTION_ARG_FILENAME, &onnx_path, "Keep the exported model here (default: a temporary file)", "OUT.onnx" },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Minimum timed seconds per measurement (10)", "T" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, "Threads on both sides (2)", "N" },
    { "batches", 0, 0, G_OPTION_ARG_STRING, &batches_option, "Comma-separated batch sizes (1,32)", "LIST" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "Rounds of ours then ORT; the best of each side is reported (3)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- our CPU inference against ONNX Runtime");
  int batches[MAX_BATCHES], n_batches = 0;
  double ours_ips[MAX_BATCHES] = { 0 }, ort_ips[MAX_BATCHES] = { 0 };
  int ours_runs[MAX_BATCHES] = { 0 }, ort_runs[MAX_BATCHES] = { 0 };
  double ours_latency_ms[2] = { 0 }, ort_latency_ms[2] = { 0 };
  GString *ratio = NULL;
  g_autofree char *tmpdir = NULL, *script = NULL;
  g_autofree char *size_text = NULL, *seconds_text = NULL, *threads_text = NULL, *batches_text = NULL;
  g_autofree char *calls_text = NULL;
  g_autoptr (GError) gerror = NULL;
  CpOnnxExportOptions opts = { PACKAGE_VERSION };
  CpOnnxExportInfo info = { 0 };
  CpError err = { 0 };
  Ours ours;
  int size, result = CP_EXIT_FAILED;
  char **envp = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Exports the model to ONNX, then measures images per second at batch 1 and\n"
    "batch 32 (--batches; the model's image size) for our CPU engine (forward + Mahalanobis\n"
    "score) and for ONNX Runtime (onnxruntime-node, intraOpNumThreads = threads)\n"
    "on the same inputs, and the latency of 200 single-image calls (median, 99th\n"
    "percentile).  Ours and ORT alternate for --rounds rounds, so that both see the\n"
    "same machine load; each side's best round counts.  The last line is the ratio\n"
    "ours / ORT of images per second (above 1: ours is faster).\n"
    "onnxruntime-node: (cd tests/onnx && ONNXRUNTIME_NODE_INSTALL=skip npm ci),\n"
    "then --node-modules tests/onnx/node_modules.");
  if (!cp_cli_parse (context, "bench-onnx", &argc, &argv))
    return CP_EXIT_USAGE;
  if (model_path == NULL)
    {
      cp_cli_error ("bench-onnx", "--model is required (see 'cutpaste bench-onnx --help')");
      return CP_EXIT_USAGE;
    }
  if (!(seconds > 0.0 && seconds < 3600.0) || threads < 1 || threads > 64 || rounds < 1
      || rounds > 100)
    {
      cp_cli_error ("bench-onnx",
                    "--seconds must be in (0, 3600), --threads in [1, 64], --rounds in [1, 100]");
      return CP_EXIT_USAGE;
    }
  if (!parse_batches (batches_option ? batches_option : "1,32", batches, &n_batches))
    {
      cp_cli_error ("bench-onnx", "--batches must list 1 to %d batch sizes in [1, 256], e.g. 1,32",
                    MAX_BATCHES);
      return CP_EXIT_USAGE;
    }
  if (node_modules == NULL && g_getenv ("CP_ORT_NODE_MODULES") != NULL)
    node_modules = g_strdup (g_getenv ("CP_ORT_NODE_MODULES"));
  /* Where `npm ci` in tests/onnx puts it, run from the source root. */
  if (node_modules == NULL && g_file_test ("tests/onnx/node_modules/onnxruntime-node", G_FILE_TEST_IS_DIR))
    node_modules = g_strdup ("tests/onnx/node_modules");
  if (node_modules == NULL || !g_file_test (node_modules, G_FILE_TEST_IS_DIR))
    {
      cp_cli_error ("bench-onnx", "no onnxruntime-node: pass --node-modules DIR (see --help)");
      return CP_EXIT_USAGE;
    }

  /* Our CPU pool reads CP_NUM_THREADS when the backend is created. */
  threads_text = g_strdup_printf ("%d", threads);
  g_setenv ("CP_NUM_THREADS", threads_text, TRUE);

  tmpdir = g_dir_make_tmp ("cutpaste-bench-onnx-XXXXXX", &gerror);
  if (tmpdir == NULL)
    {
      cp_cli_error ("bench-onnx", "%s", gerror->message);
      return CP_EXIT_FAILED;
    }
  if (onnx_path == NULL)
    onnx_path = g_build_filename (tmpdir, "model.onnx", NULL);
  script = g_build_filename (tmpdir, "ort-bench.js", NULL);
  if (cp_onnx_export_file (model_path, onnx_path, &opts, &info, &err) != CP_OK)
    {
      cp_cli_error ("bench-onnx", "%s", err.message);
      goto out;
    }
  if (!g_file_set_contents (script, ort_bench_js, -1, &gerror))
    {
      cp_cli_error ("bench-onnx", "%s", gerror->message);
      goto out;
    }
  size = info.image_size;
  printf ("model %s: image %d x %d, %d classes; %d threads; >= %g s per measurement; "
          "%d rounds\n", model_path, size, size, info.num_classes, threads, seconds, rounds);
  fflush (stdout);

  if (!ours_open (&ours, model_path, &err))
    {
      cp_cli_error ("bench-onnx", "%s: %s", model_path, err.message);
      ours_close (&ours);
      goto out;
    }
  size_text = g_strdup_printf ("%d", size);
  seconds_text = g_strdup_printf ("%g", seconds);
  calls_text = g_strdup_printf ("%d", LATENCY_CALLS);
  {
    GString *list = g_string_new (NULL);

    for (int i = 0; i < n_batches; i++)
      g_string_append_printf (list, "%s%d", i ? "," : "", batches[i]);
    batches_text = g_string_free (list, FALSE);
  }
  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "NODE_PATH", node_modules, TRUE);

  for (int round = 0; round < rounds; round++)
    {
      double lat[LATENCY_CALLS], ort_lat[LATENCY_CALLS], ips[MAX_BATCHES];
      int runs[MAX_BATCHES], n_ort_lat = 0;

      for (int i = 0; i < n_batches; i++)
        {
          ips[i] = ours_measure (&ours, batches[i], size, seconds, &runs[i], &err);
          if (ips[i] < 0)
            {
              cp_cli_error ("bench-onnx", "our inference failed: %s", err.message);
              ours_close (&ours);
              goto out;
            }
          printf ("round %d ours  batch %2d: %8.2f images/s (%d runs)\n", round + 1, batches[i],
                  ips[i], runs[i]);
          if (ips[i] > ours_ips[i])
            {
              ours_ips[i] = ips[i];
              ours_runs[i] = runs[i];
            }
        }
      if (!ours_latency (&ours, size, lat, &err))
        {
          cp_cli_error ("bench-onnx", "our inference failed: %s", err.message);
          ours_close (&ours);
          goto out;
        }
      keep_latency ("ours ", round, lat, LATENCY_CALLS, ours_latency_ms);
      fflush (stdout);

      if (!ort_round (node, script, onnx_path, size_text, batches_text, seconds_text,
                      threads_text, calls_text, envp, n_batches, ips, runs, ort_lat, &n_ort_lat))
        {
          ours_close (&ours);
          goto out;
        }
      for (int i = 0; i < n_batches; i++)
        {
          printf ("round %d ORT   batch %2d: %8.2f images/s (%d runs)\n", round + 1, batches[i],
                  ips[i], runs[i]);
          if (ips[i] > ort_ips[i])
            {
              ort_ips[i] = ips[i];
              ort_runs[i] = runs[i];
            }
        }
      keep_latency ("ORT  ", round, ort_lat, n_ort_lat, ort_latency_ms);
      fflush (stdout);
    }
  ours_close (&ours);

  printf ("best of %d round%s:\n", rounds, rounds == 1 ? "" : "s");
  for (int i = 0; i < n_batches; i++)
    printf ("ours  batch %2d: %8.2f images/s (%d runs)\n", batches[i], ours_ips[i], ours_runs[i]);
  for (int i = 0; i < n_batches; i++)
    printf ("ORT   batch %2d: %8.2f images/s (%d runs)\n", batches[i], ort_ips[i], ort_runs[i]);
  printf ("latency, %d single-image calls: ours median %.2f ms, p99 %.2f ms; "
          "ORT median %.2f ms, p99 %.2f ms\n",
          LATENCY_CALLS, ours_latency_ms[0], ours_latency_ms[1], ort_latency_ms[0],
          ort_latency_ms[1]);
  ratio = g_string_new ("ratio ours/ORT (images/s):");
  for (int i = 0; i < n_batches; i++)
    g_string_append_printf (ratio, "%s batch %d %.2f", i ? "," : "", batches[i],
                            ours_ips[i] / ort_ips[i]);
  g_string_append_printf (ratio, "; median latency ORT/ours %.2f",
                          ort_latency_ms[0] / ours_latency_ms[0]);
  printf ("%s\n", ratio->str);
  g_string_free (ratio, TRUE);
  result = CP_EXIT_OK;

out:
  g_strfreev (envp);
  if (script)
    g_remove (script);
  {
    g_autofree char *tmp_onnx = g_build_filename (tmpdir, "model.onnx", NULL);
    g_remove (tmp_onnx);
  }
  g_rmdir (tmpdir);
  return result;
}
