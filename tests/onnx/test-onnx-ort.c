/* test-onnx-ort.c: an exported model runs in ONNX Runtime and gives our
 * engine's numbers.
 *
 *   test-onnx-ort CUTPASTE ORT_RUN_JS NODE_MODULES WORKDIR
 *
 * Builds a real model (random-init ResNet-18 + head with random batch-norm
 * statistics, a Gaussian fitted on the embeddings of real pcb train images
 * from CP_SHARED_DIR, or of synthetic images when the dataset is absent),
 * saves it with the pipeline's model writer, exports it with `cutpaste
 * export`, runs the ONNX file with onnxruntime-node (ort-run.js) on test
 * images and compares embeddings, logits and scores with our forward pass
 * and with cp_model_score_images on the model file.  run-ort-test.sh
 * installs onnxruntime-node and skips when node is missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "harness.h"

#include "core/io/json.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/image.h"
#include "pipeline/pipeline-private.h"
#include "pipeline/pipeline.h"

#define SIZE    128
#define N_TRAIN 16
#define N_TEST  8
#define TOL     1e-4

static const char *cutpaste_exe, *ort_run_js, *node_modules, *workdir;

/* Real images when the shared dataset is there, else deterministic
 * synthetic ones (smooth colour fields with bright spots). */
static GPtrArray *
load_images (const char *sub, int want, gboolean *real)
{
  GPtrArray *images = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_image_free);
  const char *shared = g_getenv ("CP_SHARED_DIR");
  g_autofree char *root = shared ? g_build_filename (shared, "datasets", NULL) : NULL;
  g_autofree char *pcb = root ? g_build_filename (root, "pcb", NULL) : NULL;

  *real = FALSE;
  if (pcb && g_file_test (pcb, G_FILE_TEST_IS_DIR))
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CpCategory) cat = cp_dataset_scan_category (root, "pcb", &error);
      /* One list of paths per folder: train/good alone, or every test
       * folder (good first, then the defects, as the scan orders them). */
      g_autoptr (GPtrArray) folders = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
      gboolean train = strcmp (sub, "train") == 0;
      const CpSample *samples = cat == NULL ? NULL : train ? cat->train : cat->test;
      size_t n_samples = cat == NULL ? 0 : train ? cat->n_train : cat->n_test;

      for (size_t i = 0; i < n_samples; i++)
        {
          if (i == 0 || strcmp (samples[i].defect, samples[i - 1].defect) != 0)
            g_ptr_array_add (folders, g_ptr_array_new ());
          g_ptr_array_add (folders->pdata[folders->len - 1], samples[i].path);
        }
      /* The first images of every folder, taken in turn. */
      for (int round = 0; (int) images->len < want && round < 64; round++)
        for (guint d = 0; d < folders->len && (int) images->len < want; d++)
          {
            GPtrArray *files = folders->pdata[d];
            CpImage *image = NULL;

            if (round >= (int) files->len)
              continue;
            if (!cp_image_load_resized (files->pdata[round], SIZE, &image, &error))
              {
                fprintf (stderr, "%s\n", error->message);
                g_clear_error (&error);
                continue;
              }
            g_ptr_array_add (images, image);
          }
      if ((int) images->len == want)
        {
          *real = TRUE;
          return images;
        }
      g_ptr_array_set_size (images, 0);
    }

  {
    CpRng rng;

    cp_rng_seed (&rng, strcmp (sub, "train") == 0 ? 11 : 12);
    for (int i = 0; i < want; i++)
      {
        CpImage *image = cp_image_new (SIZE, SIZE);
        double f[3], ph[3];
        int sx = (int) cp_rng_int_range (&rng, 10, SIZE - 10), sy = (int) cp_rng_int_range (&rng, 10, SIZE - 10);

        for (int c = 0; c < 3; c++)
          {
            f[c] = cp_rng_uniform_range (&rng, 0.02, 0.2);
            ph[c] = cp_rng_uniform_range (&rng, 0, 6.28);
          }
        for (int y = 0; y < SIZE; y++)
          for (int x = 0; x < SIZE; x++)
            for (int c = 0; c < 3; c++)
              {
                double v = 128 + 80 * sin (f[c] * x + ph[c]) * cos (f[c] * y);
                if (abs (x - sx) < 5 && abs (y - sy) < 5)
                  v = 250;
                v += cp_rng_uniform_range (&rng, -10, 10);
                image->pixels[y * image->stride + x * 3 + c] = (uint8_t) CLAMP (v, 0, 255);
              }
        g_ptr_array_add (images, image);
      }
  }
  return images;
}

/* Random batch-norm parameters and statistics, so the folding in the
 * export has real work to do. */
static void
randomize_batchnorm (CpNetwork *net, CpRng *rng)
{
  CpBackend *be = cp_network_backend (net);
  CpError err = { 0 };

  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      const char *dot = strrchr (p->name, '.');
      gboolean bn = strstr (p->name, "bn") != NULL || strstr (p->name, "downsample.1") != NULL
                    || (g_str_has_prefix (p->name, "head.") && (p->name[5] - '0') % 3 == 1);
      g_autofree float *v = NULL;

      if (!bn)
        continue;
      v = g_new (float, p->count);
      for (size_t k = 0; k < p->count; k++)
        {
          if (strcmp (dot, ".weight") == 0)
            v[k] = (float) cp_rng_uniform_range (rng, 0.6, 1.4);
          else if (strcmp (dot, ".bias") == 0)
            v[k] = (float) cp_rng_uniform_range (rng, -0.1, 0.1);
          else if (strcmp (dot, ".running_mean") == 0)
            v[k] = (float) cp_rng_uniform_range (rng, -0.2, 0.2);
          else
            v[k] = (float) cp_rng_uniform_range (rng, 0.6, 1.8);
        }
      CHECK (be->upload (be, p->data, v, p->count * sizeof (float), &err) == CP_OK);
    }
}

/* Our forward pass in inference mode: raw embeddings and logits. */
static void
forward (CpNetwork *net, const float *tensors, int n, float *embeddings, float *logits)
{
  CpBackend *be = cp_network_backend (net);
  size_t per = (size_t) 3 * SIZE * SIZE;
  CpError err = { 0 };
  float *buf = be->alloc (be, (size_t) n * per * sizeof (float), &err);

  g_assert (buf != NULL);
  CHECK (be->upload (be, buf, tensors, (size_t) n * per * sizeof (float), &err) == CP_OK);
  CHECK_MSG (cp_network_forward (net, buf, n, SIZE, SIZE, FALSE, &err) == CP_OK, "%s", err.message);
  CHECK (be->download (be, embeddings, cp_network_embedding (net),
                       (size_t) n * CP_EMBEDDING_DIM * sizeof (float), &err) == CP_OK);
  if (logits)
    CHECK (be->download (be, logits, cp_network_logits (net),
                         (size_t) n * cp_network_config (net)->num_classes * sizeof (float), &err) == CP_OK);
  be->free (be, buf);
}

static float *
tensors_of (GPtrArray *images)
{
  size_t per = (size_t) 3 * SIZE * SIZE;
  float *t = g_new (float, per * images->len);

  for (guint i = 0; i < images->len; i++)
    cp_image_to_tensor (images->pdata[i], t + per * i);
  return t;
}

static gboolean
run (const char *const *argv, const char *node_path, char **out, char **err_text, int *exit_status)
{
  g_auto (GStrv) envp = g_get_environ ();
  g_autoptr (GError) error = NULL;
  int status = 0;

  if (node_path)
    envp = g_environ_setenv (envp, "NODE_PATH", node_path, TRUE);
  if (!g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err_text,
                     &status, &error))
    {
      fprintf (stderr, "cannot run %s: %s\n", argv[0], error->message);
      return FALSE;
    }
  *exit_status = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
  return TRUE;
}

/* Flat float array of output @name of @run ("batch" or "single"), with
 * its dims checked. */
static double *
json_output (const CpJson *root, const char *run_name, const char *name, int d0, int d1)
{
  const CpJson *r = cp_json_object_get (root, run_name);
  const CpJson *o = r ? cp_json_object_get (r, name) : NULL;
  const CpJson *dims = o ? cp_json_object_get (o, "dims") : NULL;
  const CpJson *data = o ? cp_json_object_get (o, "data") : NULL;
  size_t count = (size_t) d0 * (d1 > 0 ? d1 : 1);
  double *v;

  CHECK_MSG (dims && data && data->type == CP_JSON_ARRAY, "%s.%s missing", run_name, name);
  if (!dims || !data || data->type != CP_JSON_ARRAY)
    return NULL;
  CHECK_MSG (dims->length == (d1 > 0 ? 2u : 1u) && dims->items[0]->number == d0
             && (d1 <= 0 || dims->items[1]->number == d1), "%s.%s dims", run_name, name);
  CHECK_MSG (data->length == count, "%s.%s has %zu values, expected %zu", run_name, name,
             data->length, count);
  if (data->length != count)
    return NULL;
  v = g_new (double, count);
  for (size_t i = 0; i < count; i++)
    v[i] = data->items[i]->number;
  return v;
}

/* Largest |a - b| of each row relative to the row's largest |b|. */
static double
rows_error (const double *a, const float *b, int rows, int cols)
{
  double worst = 0.0;

  for (int r = 0; r < rows; r++)
    {
      double num = 0.0, den = 0.0;

      for (int c = 0; c < cols; c++)
        {
          num = MAX (num, fabs (a[r * cols + c] - (double) b[r * cols + c]));
          den = MAX (den, fabs ((double) b[r * cols + c]));
        }
      worst = MAX (worst, den > 0 ? num / den : num);
    }
  return worst;
}

static void
test_export_matches_engine (void)
{
  gboolean real_train, real_test;
  g_autoptr (GPtrArray) train = load_images ("train", N_TRAIN, &real_train);
  g_autoptr (GPtrArray) test = load_images ("test", N_TEST, &real_test);
  g_autofree float *train_t = tensors_of (train), *test_t = tensors_of (test);
  g_autofree float *train_emb = g_new (float, N_TRAIN * CP_EMBEDDING_DIM);
  g_autofree float *emb = g_new (float, N_TEST * CP_EMBEDDING_DIM);
  g_autofree float *logits = g_new (float, N_TEST * 3);
  g_autofree float *unit = g_new (float, N_TEST * CP_EMBEDDING_DIM);
  double scores[N_TEST], train_scores[N_TRAIN], threshold = 0.0;
  g_autofree char *model_path = g_build_filename (workdir, "pcb.safetensors", NULL);
  g_autofree char *onnx_path = g_build_filename (workdir, "pcb.onnx", NULL);
  g_autofree char *input_path = g_build_filename (workdir, "images.f32", NULL);
  g_autofree char *threshold_text = NULL, *created = NULL;
  CpNetworkConfig config = { 1, 3 };
  CpError err = { 0 };
  g_autoptr (GError) error = NULL;
  CpBackend *be;
  CpNetwork *net;
  CpGde *gde;
  CpRng rng;

  printf ("# images: %s train, %s test, %d x %d\n", real_train ? "pcb" : "synthetic",
          real_test ? "pcb" : "synthetic", SIZE, SIZE);
  be = cp_backend_cpu_new (&err);
  g_assert (be != NULL);
  net = cp_network_new (be, &config, &err);
  g_assert (net != NULL);
  cp_rng_seed (&rng, 2024);
  cp_network_init (net, &rng);
  randomize_batchnorm (net, &rng);

  forward (net, train_t, N_TRAIN, train_emb, NULL);
  gde = cp_gde_fit (train_emb, N_TRAIN, CP_EMBEDDING_DIM, &err);
  CHECK_MSG (gde != NULL, "%s", err.message);
  if (gde == NULL)
    return;
  CHECK (cp_gde_score (gde, train_emb, N_TRAIN, train_scores, &err) == CP_OK);
  for (int i = 0; i < N_TRAIN; i++)
    threshold = MAX (threshold, train_scores[i]);
  threshold_text = cp_pipeline_format_double (threshold * 1.25);
  created = cp_pipeline_now_iso8601 ();
  {
    const char *metadata[] = {
      "format", CP_MODEL_FORMAT, "format_version", "1", "category", "pcb", "variant", "3way",
      "image_size", G_STRINGIFY (SIZE), "head_layers", "1", "steps", "0", "seed", "2024",
      "threshold", threshold_text, "false_reject_rate", "0.01", "auroc", "nan",
      "created", created, NULL, NULL,
    };
    CHECK_MSG (cp_pipeline_save_model (net, gde, metadata, model_path, &error), "%s",
               error ? error->message : "");
  }

  /* Our numbers: the forward pass of this network, and the pipeline's
   * scoring of the saved model file. */
  forward (net, test_t, N_TEST, emb, logits);
  {
    g_autoptr (CpModel) model = cp_model_load (model_path, "cpu", &error);

    CHECK_MSG (model != NULL, "%s", error ? error->message : "");
    if (model == NULL)
      goto out;
    CHECK (cp_model_score_images (model, (const CpImage *const *) test->pdata, N_TEST, scores, unit,
                                  &error));
  }
  CHECK (g_file_set_contents (input_path, (const char *) test_t,
                              (gssize) N_TEST * 3 * SIZE * SIZE * sizeof (float), &error));

  /* Export with the command line. */
  {
    const char *argv[] = { cutpaste_exe, "export", "--model", model_path, "--onnx", onnx_path, NULL };
    g_autofree char *out = NULL, *err_text = NULL;
    int status = -1;

    CHECK (run (argv, NULL, &out, &err_text, &status));
    CHECK_MSG (status == 0, "cutpaste export failed: %s", err_text);
    printf ("# %s", out);
  }

  /* The ONNX project's own checker, where python3-onnx is installed. */
  {
    g_autofree char *dir = g_path_get_dirname (ort_run_js);
    g_autofree char *script = g_build_filename (dir, "onnx-check.py", NULL);
    static const char *const pythons[] = { "python3", "/usr/bin/python3" };
    gboolean checked = FALSE;

    for (size_t i = 0; i < G_N_ELEMENTS (pythons) && !checked; i++)
      {
        const char *argv[] = { pythons[i], script, onnx_path, NULL };
        g_autofree char *out = NULL, *err_text = NULL;
        int status = -1;

        /* 77: no onnx module; other codes but 1 (a Python exception):
         * no usable interpreter under that name. */
        if (!run (argv, NULL, &out, &err_text, &status) || (status != 0 && status != 1))
          continue;
        CHECK_MSG (status == 0, "onnx checker rejects the export: %s%s", out, err_text);
        printf ("# %s", out);
        checked = TRUE;
      }
    if (!checked)
      printf ("# onnx checker not run (no python3 with the onnx module)\n");
  }

  /* ONNX Runtime. */
  {
    g_autofree char *n_text = g_strdup_printf ("%d", N_TEST);
    const char *argv[] = { "node", ort_run_js, onnx_path, input_path, n_text, G_STRINGIFY (SIZE), NULL };
    g_autofree char *out = NULL, *err_text = NULL;
    int status = -1;
    CpJsonLimits limits;
    CpJsonDoc *doc;
    const CpJson *root;
    g_autofree double *o_emb = NULL, *o_logits = NULL, *o_score = NULL;
    g_autofree double *s_emb = NULL, *s_score = NULL;

    CHECK (run (argv, node_modules, &out, &err_text, &status));
    CHECK_MSG (status == 0, "ort-run.js failed: %s", err_text);
    if (status != 0)
      goto out;
    cp_json_limits_init (&limits);
    doc = cp_json_parse (out, strlen (out), &limits, NULL, &err);
    CHECK_MSG (doc != NULL, "ORT output is not JSON: %s", err.message);
    if (doc == NULL)
      goto out;
    root = cp_json_doc_root (doc);
    {
      const CpJson *in = cp_json_object_get (root, "inputNames");
      const CpJson *on = cp_json_object_get (root, "outputNames");

      CHECK (in && in->length == 1 && strcmp (in->items[0]->string, "image") == 0);
      CHECK (on && on->length == 3 && strcmp (on->items[0]->string, "embedding") == 0
             && strcmp (on->items[1]->string, "logits") == 0 && strcmp (on->items[2]->string, "score") == 0);
    }
    o_emb = json_output (root, "batch", "embedding", N_TEST, CP_EMBEDDING_DIM);
    o_logits = json_output (root, "batch", "logits", N_TEST, 3);
    o_score = json_output (root, "batch", "score", N_TEST, 0);
    s_emb = json_output (root, "single", "embedding", 1, CP_EMBEDDING_DIM);
    s_score = json_output (root, "single", "score", 1, 0);
    cp_json_doc_free (doc);
    if (!o_emb || !o_logits || !o_score || !s_emb || !s_score)
      goto out;

    {
      double e_emb = rows_error (o_emb, emb, N_TEST, CP_EMBEDDING_DIM);
      double e_logits = rows_error (o_logits, logits, N_TEST, 3);
      double e_unit, e_score = 0.0, e_single;
      g_autofree double *o_unit = g_new (double, N_TEST * CP_EMBEDDING_DIM);
      g_autofree float *direct_unit = g_memdup2 (emb, N_TEST * CP_EMBEDDING_DIM * sizeof (float));

      /* ORT's raw embedding L2-normalised here, against the pipeline's. */
      for (int i = 0; i < N_TEST; i++)
        {
          double norm = 0.0;

          for (int k = 0; k < CP_EMBEDDING_DIM; k++)
            norm += o_emb[i * CP_EMBEDDING_DIM + k] * o_emb[i * CP_EMBEDDING_DIM + k];
          norm = sqrt (norm);
          for (int k = 0; k < CP_EMBEDDING_DIM; k++)
            o_unit[i * CP_EMBEDDING_DIM + k] = o_emb[i * CP_EMBEDDING_DIM + k] / norm;
        }
      e_unit = rows_error (o_unit, unit, N_TEST, CP_EMBEDDING_DIM);
      for (int i = 0; i < N_TEST; i++)
        {
          double rel = fabs (o_score[i] - scores[i]) / fabs (scores[i]);

          printf ("# image %d: score ours %.7f ORT %.7f (rel %.2e), %s\n", i, scores[i], o_score[i], rel,
                  scores[i] > threshold * 1.25 ? "anomalous" : "good");
          CHECK (isfinite (o_score[i]) && scores[i] > 0.0);
          e_score = MAX (e_score, rel);
        }
      e_single = MAX (rows_error (s_emb, emb, 1, CP_EMBEDDING_DIM),
                      fabs (s_score[0] - scores[0]) / fabs (scores[0]));
      printf ("# max relative error ORT vs ours: embedding %.2e, unit embedding %.2e, logits %.2e, "
              "score %.2e, batch-1 run %.2e (tolerance %.0e)\n",
              e_emb, e_unit, e_logits, e_score, e_single, TOL);
      CHECK (e_emb <= TOL);
      CHECK (e_unit <= TOL);
      CHECK (e_logits <= TOL);
      CHECK (e_score <= TOL);
      CHECK (e_single <= TOL);
      /* The direct forward and the model file agree too (same weights). */
      cp_embeddings_l2_normalize (direct_unit, N_TEST, CP_EMBEDDING_DIM);
      CHECK (harness_normalised_error (direct_unit, unit, N_TEST * CP_EMBEDDING_DIM) < 1e-6);
      /* A random network still separates images: the scores differ. */
      CHECK (fabs (o_score[0] - o_score[N_TEST - 1]) > 1e-3 * fabs (o_score[0]));
    }
  }

out:
  cp_gde_free (gde);
  cp_network_free (net);
  cp_backend_free (be);
}

/* The command line refuses what is not a model and writes nothing. */
static void
test_cli_refuses (void)
{
  g_autofree char *bogus = g_build_filename (workdir, "bogus.safetensors", NULL);
  g_autofree char *out_path = g_build_filename (workdir, "bogus.onnx", NULL);
  g_autofree char *out = NULL, *err_text = NULL;
  int status = -1;

  g_remove (out_path);
  CHECK (g_file_set_contents (bogus, "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ", 24, NULL));
  {
    const char *argv[] = { cutpaste_exe, "export", "--model", bogus, "--onnx", out_path, NULL };

    CHECK (run (argv, NULL, &out, &err_text, &status));
    CHECK (status == 1);
    CHECK_MSG (err_text && strstr (err_text, bogus) != NULL, "stderr: %s", err_text);
    CHECK (!g_file_test (out_path, G_FILE_TEST_EXISTS));
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err_text, g_free);
  {
    const char *argv[] = { cutpaste_exe, "export", "--model", bogus, NULL };

    CHECK (run (argv, NULL, &out, &err_text, &status));
    CHECK (status == 2);
  }
}

/* bench-onnx runs both sides and ends with the ratio (tiny batches and
 * times: this checks that it works, not the speed). */
static void
test_bench_onnx (void)
{
  g_autofree char *model_path = g_build_filename (workdir, "pcb.safetensors", NULL);
  const char *argv[] = { cutpaste_exe, "bench-onnx", "--model", model_path, "--node-modules", node_modules,
                         "--seconds", "0.01", "--batches", "1,2", NULL };
  g_autofree char *out = NULL, *err_text = NULL;
  int status = -1;
  const char *last;

  CHECK (run (argv, NULL, &out, &err_text, &status));
  CHECK_MSG (status == 0, "bench-onnx failed: %s", err_text);
  if (out == NULL)
    return;
  printf ("%s", out);
  CHECK (strstr (out, "ours  batch  2:") != NULL && strstr (out, "ORT   batch  2:") != NULL);
  g_strchomp (out);
  last = strrchr (out, '\n');
  last = last ? last + 1 : out;
  /* The latency of single images, ours and ORT's, then the ratios last,
   * as ours / ORT (issue 17's targets are >= 1). */
  CHECK (strstr (out, "latency, 200 single-image calls: ours median ") != NULL);
  CHECK_MSG (g_str_has_prefix (last, "ratio ours/ORT (images/s): batch 1 ")
             && strstr (last, ", batch 2 ") != NULL && strstr (last, "median latency ORT/ours ") != NULL,
             "last line: %s", last);
}

int
main (int argc, char **argv)
{
  if (argc != 5)
    {
      fprintf (stderr, "usage: %s CUTPASTE ORT_RUN_JS NODE_MODULES WORKDIR\n", argv[0]);
      return 2;
    }
  cutpaste_exe = argv[1];
  ort_run_js = argv[2];
  node_modules = argv[3];
  workdir = argv[4];
  if (!g_file_test (node_modules, G_FILE_TEST_IS_DIR))
    SKIP_ALL ("onnxruntime-node is not installed");
  g_setenv ("CP_NUM_THREADS", "2", FALSE);
  RUN_TEST (test_export_matches_engine);
  RUN_TEST (test_cli_refuses);
  RUN_TEST (test_bench_onnx);
  return harness_exit ();
}
