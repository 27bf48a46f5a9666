/* cp-cuda-parity.c: writes what build-aux/torch-bench.py compares against
 * PyTorch, and times our training step and embedding pass.
 *
 *   cp-cuda-parity --out DIR [--device cuda|cpu] [--tag NAME] [--size 256]
 *                  [--per-class 32] [--seed 1] [--no-tf32] [--write-inputs]
 *                  [--bench-steps N] [--bench-embed N]
 *
 * With --write-inputs: DIR/weights.safetensors (a freshly initialised
 * network, reference state-dict names) and DIR/batch.safetensors (images
 * F32 [3B, 3, S, S], labels I64 [3B]: the 3-way batch of SPEC section 4
 * with B = per-class images per block).  Always: DIR/ours-TAG.safetensors
 * with the network's outputs from those weights on that batch
 * (embedding_eval, logits_eval from an inference-mode forward, then
 * embedding_train, logits_train and loss from a training-mode forward),
 * and DIR/ours-TAG-step1.safetensors, the network after one SGD step (lr
 * 0.03, momentum 0.9, weight decay 3e-5).  With --bench-*:
 * DIR/ours-TAG-bench.json with images per second.
 *
 * Needs only the engine core, so it builds on a GPU machine without GLib.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/backend.h"
#include "core/rng.h"
#include "core/cuda/cuda-backend.h"
#include "core/io/fs.h"
#include "core/io/safetensors.h"
#include "core/nn/network.h"

typedef struct
{
  const char *out;
  const char *device;
  const char *tag;
  int         size;
  int         per_class;
  uint64_t    seed;
  int         no_tf32;
  int         write_inputs;
  int         bench_steps;
  int         bench_embed;
} Options;

static double
now_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int
fail (const char *what, const CpError *error)
{
  fprintf (stderr, "cp-cuda-parity: %s: %s\n", what, error->message);
  return 1;
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: cp-cuda-parity --out DIR [--device cuda|cpu] [--tag NAME] [--size S]\n"
           "                      [--per-class B] [--seed N] [--no-tf32] [--write-inputs]\n"
           "                      [--bench-steps N] [--bench-embed N]\n");
}

static int
parse (int argc, char **argv, Options *o)
{
  o->out = NULL;
  o->device = "cuda";
  o->tag = NULL;
  o->size = 256;
  o->per_class = 32;
  o->seed = 1;
  o->no_tf32 = 0;
  o->write_inputs = 0;
  o->bench_steps = 0;
  o->bench_embed = 0;
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;

      if (strcmp (a, "--no-tf32") == 0)
        o->no_tf32 = 1;
      else if (strcmp (a, "--write-inputs") == 0)
        o->write_inputs = 1;
      else if (v == NULL)
        {
          usage ();
          return 0;
        }
      else if (strcmp (a, "--out") == 0)
        o->out = argv[++i];
      else if (strcmp (a, "--device") == 0)
        o->device = argv[++i];
      else if (strcmp (a, "--tag") == 0)
        o->tag = argv[++i];
      else if (strcmp (a, "--size") == 0)
        o->size = atoi (argv[++i]);
      else if (strcmp (a, "--per-class") == 0)
        o->per_class = atoi (argv[++i]);
      else if (strcmp (a, "--seed") == 0)
        o->seed = strtoull (argv[++i], NULL, 10);
      else if (strcmp (a, "--bench-steps") == 0)
        o->bench_steps = atoi (argv[++i]);
      else if (strcmp (a, "--bench-embed") == 0)
        o->bench_embed = atoi (argv[++i]);
      else
        {
          usage ();
          return 0;
        }
    }
  if (o->out == NULL || o->size < 32 || o->size % 32 != 0 || o->per_class < 1)
    {
      usage ();
      return 0;
    }
  if (o->tag == NULL)
    o->tag = o->device;
  return 1;
}

static CpStatus
save_outputs (const char *path, int n, int classes, const float *emb_eval,
              const float *logits_eval, const float *emb_train, const float *logits_train,
              float loss, CpError *error)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  int64_t emb_shape[2] = { n, CP_EMBEDDING_DIM }, logit_shape[2] = { n, classes };
  int64_t loss_shape[1] = { 1 };
  CpStatus st;

  if (w == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "out of memory");
  if ((st = cp_safetensors_writer_add (w, "embedding_eval", CP_DTYPE_F32, emb_shape, 2, emb_eval,
                                       error)) == CP_OK
      && (st = cp_safetensors_writer_add (w, "logits_eval", CP_DTYPE_F32, logit_shape, 2,
                                          logits_eval, error)) == CP_OK
      && (st = cp_safetensors_writer_add (w, "embedding_train", CP_DTYPE_F32, emb_shape, 2,
                                          emb_train, error)) == CP_OK
      && (st = cp_safetensors_writer_add (w, "logits_train", CP_DTYPE_F32, logit_shape, 2,
                                          logits_train, error)) == CP_OK
      && (st = cp_safetensors_writer_add (w, "loss", CP_DTYPE_F32, loss_shape, 1, &loss, error))
         == CP_OK)
    st = cp_safetensors_writer_save (w, path, error);
  cp_safetensors_writer_free (w);
  return st;
}

static CpStatus
save_network (CpNetwork *net, const char *path, CpError *error)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  CpStatus st;

  if (w == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "out of memory");
  st = cp_network_save (net, w, error);
  if (st == CP_OK)
    st = cp_safetensors_writer_set_metadata (w, "format", "cutpaste-parity", error);
  if (st == CP_OK)
    st = cp_safetensors_writer_save (w, path, error);
  cp_safetensors_writer_free (w);
  return st;
}

static CpStatus
save_batch (const char *path, int n, int size, const float *images, const int32_t *labels,
            CpError *error)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  int64_t image_shape[4] = { n, 3, size, size }, label_shape[1] = { n };
  int64_t *labels64 = malloc ((size_t) n * sizeof *labels64);
  CpStatus st;

  if (w == NULL || labels64 == NULL)
    {
      cp_safetensors_writer_free (w);
      free (labels64);
      return cp_error_set (error, CP_ERR_NOMEM, "out of memory");
    }
  for (int i = 0; i < n; i++)
    labels64[i] = labels[i];
  if ((st = cp_safetensors_writer_add (w, "images", CP_DTYPE_F32, image_shape, 4, images, error))
      == CP_OK
      && (st = cp_safetensors_writer_add (w, "labels", CP_DTYPE_I64, label_shape, 1, labels64,
                                          error)) == CP_OK)
    st = cp_safetensors_writer_save (w, path, error);
  cp_safetensors_writer_free (w);
  free (labels64);
  return st;
}

static float *
download (CpBackend *be, const float *src, size_t count, CpError *error)
{
  float *host = malloc (count * sizeof (float));

  if (host == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "out of memory");
      return NULL;
    }
  if (be->download (be, host, src, count * sizeof (float), error) != CP_OK)
    {
      free (host);
      return NULL;
    }
  return host;
}

static CpStatus
train_step (CpNetwork *net, const float *images, const int32_t *labels, int n, int size,
            float *loss, CpError *error)
{
  CpStatus st;

  if ((st = cp_network_forward (net, images, n, size, size, 1, error)) != CP_OK
      || (st = cp_network_loss_backward (net, labels, 1, 0, loss, error)) != CP_OK)
    return st;
  return cp_network_sgd_step (net, 0.03f, 0.9f, 3e-5f, 0, error);
}

int
main (int argc, char **argv)
{
  Options o;
  CpError error = { CP_OK, "" };
  CpBackend *be;
  CpNetwork *net;
  CpNetworkConfig config = { 1, 3 };
  CpRng init_rng, data_rng;
  int n, rc = 1;
  size_t image_count;
  float *images_host = NULL, *images = NULL;
  int32_t *labels_host = NULL, *labels = NULL;
  float *emb_eval = NULL, *logits_eval = NULL, *emb_train = NULL, *logits_train = NULL;
  float loss = 0.0f;
  char path[4096];

  if (!parse (argc, argv, &o))
    return 2;
  if (mkdir (o.out, 0755) != 0 && errno != EEXIST)
    {
      fprintf (stderr, "cp-cuda-parity: cannot create %s: %s\n", o.out, strerror (errno));
      return 1;
    }
  be = cp_backend_open (o.device, NULL, &error);
  if (be == NULL)
    return fail ("opening the backend", &error);
  if (strcmp (be->name, "cuda") == 0)
    {
      cp_cuda_backend_set_tf32 (be, !o.no_tf32);
      printf ("device: %s\n", cp_cuda_backend_describe (be));
    }
  else
    printf ("device: %s\n", be->name);

  net = cp_network_new (be, &config, &error);
  if (net == NULL)
    {
      fail ("creating the network", &error);
      cp_backend_free (be);
      return 1;
    }
  cp_rng_seed (&init_rng, o.seed);
  cp_rng_seed (&data_rng, o.seed + 1000);
  if (cp_network_init_checked (net, &init_rng, &error) != CP_OK)
    {
      fail ("initialising the network", &error);
      goto out;
    }

  n = 3 * o.per_class;
  image_count = (size_t) n * 3 * o.size * o.size;
  images_host = malloc (image_count * sizeof (float));
  labels_host = malloc ((size_t) n * sizeof (int32_t));
  if (images_host == NULL || labels_host == NULL)
    {
      fprintf (stderr, "cp-cuda-parity: out of memory\n");
      goto out;
    }
  /* Standard-normal pixels (ImageNet-normalised images have about that
   * spread); labels 0, 1, 2 per block as the 3-way batch. */
  for (size_t i = 0; i < image_count; i++)
    images_host[i] = (float) cp_rng_normal (&data_rng);
  for (int i = 0; i < n; i++)
    labels_host[i] = i / o.per_class;

  if (o.write_inputs)
    {
      snprintf (path, sizeof path, "%s/weights.safetensors", o.out);
      if (save_network (net, path, &error) != CP_OK)
        {
          fail ("saving the weights", &error);
          goto out;
        }
      snprintf (path, sizeof path, "%s/batch.safetensors", o.out);
      if (save_batch (path, n, o.size, images_host, labels_host, &error) != CP_OK)
        {
          fail ("saving the batch", &error);
          goto out;
        }
    }

  /* Only the batch goes up. */
  if ((images = be->alloc (be, image_count * sizeof (float), &error)) == NULL
      || (labels = be->alloc (be, (size_t) n * sizeof (int32_t), &error)) == NULL
      || be->upload (be, images, images_host, image_count * sizeof (float), &error) != CP_OK
      || be->upload (be, labels, labels_host, (size_t) n * sizeof (int32_t), &error) != CP_OK)
    {
      fail ("uploading the batch", &error);
      goto out;
    }

  /* Inference mode first: it uses the initial running statistics, which
   * the training-mode forward then updates. */
  if (cp_network_forward (net, images, n, o.size, o.size, 0, &error) != CP_OK
      || (emb_eval = download (be, cp_network_embedding (net), (size_t) n * CP_EMBEDDING_DIM,
                               &error)) == NULL
      || (logits_eval = download (be, cp_network_logits (net), (size_t) n * 3, &error)) == NULL
      || cp_network_forward (net, images, n, o.size, o.size, 1, &error) != CP_OK
      || (emb_train = download (be, cp_network_embedding (net), (size_t) n * CP_EMBEDDING_DIM,
                                &error)) == NULL
      || (logits_train = download (be, cp_network_logits (net), (size_t) n * 3, &error)) == NULL
      || cp_network_loss_backward (net, labels, 1, 0, &loss, &error) != CP_OK
      || cp_network_sgd_step (net, 0.03f, 0.9f, 3e-5f, 0, &error) != CP_OK)
    {
      fail ("the parity pass", &error);
      goto out;
    }
  printf ("loss from the written weights: %.7f\n", loss);
  snprintf (path, sizeof path, "%s/ours-%s.safetensors", o.out, o.tag);
  if (save_outputs (path, n, 3, emb_eval, logits_eval, emb_train, logits_train, loss, &error)
      != CP_OK)
    {
      fail ("saving the outputs", &error);
      goto out;
    }
  snprintf (path, sizeof path, "%s/ours-%s-step1.safetensors", o.out, o.tag);
  if (save_network (net, path, &error) != CP_OK)
    {
      fail ("saving the network after one step", &error);
      goto out;
    }

  if (o.bench_steps > 0 || o.bench_embed > 0)
    {
      double train_ips = 0.0, embed_ips = 0.0, t0, t1;

      /* Warm-up: cuDNN's algorithm search and the allocations happen in
       * the first passes and are not part of the rate. */
      for (int i = 0; i < 3 && o.bench_steps > 0; i++)
        if (train_step (net, images, labels, n, o.size, &loss, &error) != CP_OK)
          {
            fail ("a warm-up step", &error);
            goto out;
          }
      if (be->synchronize (be, &error) != CP_OK)
        {
          fail ("synchronising", &error);
          goto out;
        }
      t0 = now_seconds ();
      for (int i = 0; i < o.bench_steps; i++)
        if (train_step (net, images, labels, n, o.size, &loss, &error) != CP_OK)
          {
            fail ("a timed step", &error);
            goto out;
          }
      if (be->synchronize (be, &error) != CP_OK)
        {
          fail ("synchronising", &error);
          goto out;
        }
      t1 = now_seconds ();
      if (o.bench_steps > 0)
        train_ips = (double) o.bench_steps * n / (t1 - t0);

      /* The embedding pass as the density fit runs it: inference forward
       * and the embeddings down to the host. */
      for (int i = 0; i < 2 + o.bench_embed && o.bench_embed > 0; i++)
        {
          if (i == 2)
            t0 = now_seconds ();
          free (emb_eval);
          emb_eval = NULL;
          if (cp_network_forward (net, images, n, o.size, o.size, 0, &error) != CP_OK
              || (emb_eval = download (be, cp_network_embedding (net),
                                       (size_t) n * CP_EMBEDDING_DIM, &error)) == NULL)
            {
              fail ("an embedding pass", &error);
              goto out;
            }
        }
      t1 = now_seconds ();
      if (o.bench_embed > 0)
        embed_ips = (double) o.bench_embed * n / (t1 - t0);

      printf ("ours (%s): training %.1f images/s, embedding %.1f images/s (batch %d at %dx%d)\n",
              o.tag, train_ips, embed_ips, n, o.size, o.size);
      snprintf (path, sizeof path, "%s/ours-%s-bench.json", o.out, o.tag);
      {
        char json[2048];
        int len = snprintf (json, sizeof json,
                            "{\"tag\": \"%s\", \"device\": \"%s\", \"batch\": %d, "
                            "\"size\": %d, \"tf32\": %d, \"train_steps\": %d, "
                            "\"embed_passes\": %d, \"train_images_per_s\": %.3f, "
                            "\"embed_images_per_s\": %.3f}\n",
                            o.tag,
                            strcmp (be->name, "cuda") == 0 ? cp_cuda_backend_describe (be)
                                                           : be->name,
                            n, o.size, !o.no_tf32, o.bench_steps, o.bench_embed, train_ips,
                            embed_ips);

        if (len < 0 || (size_t) len >= sizeof json
            || cp_write_file_atomic (path, json, (size_t) len, &error) != CP_OK)
          {
            fail ("writing the timing", &error);
            goto out;
          }
      }
    }
  rc = 0;

out:
  if (images != NULL)
    be->free (be, images);
  if (labels != NULL)
    be->free (be, labels);
  free (images_host);
  free (labels_host);
  free (emb_eval);
  free (logits_eval);
  free (emb_train);
  free (logits_train);
  cp_network_free (net);
  cp_backend_free (be);
  return rc;
}
