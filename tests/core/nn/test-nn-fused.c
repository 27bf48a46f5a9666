/* test-nn-fused.c: the network's inference fast path (batch norms folded
 * into the convolutions, conv2d_bias_act_forward) against the unfused
 * ops, and the folded copy following the parameters when they change.
 *
 * Two networks with the same parameters: one on the CPU backend, one on a
 * copy of it whose conv2d_bias_act_forward is NULL (the fallback every
 * backend without the op takes).  Their embeddings and logits must agree
 * to a normalised error (max |fast - plain| / max |plain|) of 1e-5: the
 * fast path multiplies the BN scale into the weights before summing and
 * sums in another order, which costs a few float ulps per layer.
 */
#include "harness.h"
#include "core/backend.h"
#include "core/nn/network.h"
#include "core/rng.h"

#include <unistd.h>

#define FUSED_TOL 1e-5

static CpBackend *be;
static CpBackend plain;     /* be without the fused op */

static CpNetwork *
make_net (CpBackend *backend, uint64_t seed)
{
  CpError error = { 0 };
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net = cp_network_new (backend, &config, &error);
  CpRng rng;

  CHECK_MSG (net != NULL, "%s", error.message);
  if (net == NULL)
    exit (1);
  cp_rng_seed (&rng, seed);
  CHECK (cp_network_init_checked (net, &rng, &error) == CP_OK);
  return net;
}

/* BN statistics away from 0 / 1 and affine parameters away from 1 / 0,
 * written straight into the parameters (as the ONNX tests do). */
static void
randomise_bn (CpNetwork *net, uint64_t seed)
{
  CpRng rng;

  cp_rng_seed (&rng, seed);
  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      const char *dot = strrchr (p->name, '.');
      int bn = strstr (p->name, "bn") != NULL || strstr (p->name, "downsample.1") != NULL
               || strstr (p->name, "head.1") != NULL;
      float *v;

      if (!bn || p->ndim != 1)
        continue;
      v = malloc (p->count * sizeof (float));
      for (size_t k = 0; k < p->count; k++)
        {
          if (strcmp (dot, ".weight") == 0)
            v[k] = (float) cp_rng_uniform_range (&rng, 0.5, 1.5);
          else if (strcmp (dot, ".bias") == 0)
            v[k] = (float) cp_rng_uniform_range (&rng, -0.3, 0.3);
          else if (strcmp (dot, ".running_mean") == 0)
            v[k] = (float) cp_rng_uniform_range (&rng, -0.3, 0.3);
          else
            v[k] = (float) cp_rng_uniform_range (&rng, 0.5, 2.0);
        }
      be->upload (be, p->data, v, p->count * sizeof (float), NULL);
      free (v);
    }
  cp_network_params_changed (net);
}

static float *
make_images (int n, int h, int w, uint64_t seed)
{
  CpRng rng;
  size_t count = (size_t) n * 3 * h * w;
  float *host = malloc (count * sizeof (float));
  float *dev = be->alloc (be, count * sizeof (float), NULL);

  cp_rng_seed (&rng, seed);
  for (size_t i = 0; i < count; i++)
    host[i] = (float) cp_rng_normal (&rng);
  be->upload (be, dev, host, count * sizeof (float), NULL);
  free (host);
  return dev;
}

/* Forward both in inference; returns the worse of the two errors. */
static double
compare (CpNetwork *fast, CpNetwork *slow, const float *images, int n, int h, int w)
{
  CpError error = { 0 };
  size_t ne = (size_t) n * 512, nl = (size_t) n * 3;
  float *ea = malloc (ne * sizeof (float)), *eb = malloc (ne * sizeof (float));
  float *la = malloc (nl * sizeof (float)), *lb = malloc (nl * sizeof (float));
  double e1, e2;

  CHECK_MSG (cp_network_forward (fast, images, n, h, w, 0, &error) == CP_OK, "%s", error.message);
  be->download (be, ea, cp_network_embedding (fast), ne * sizeof (float), NULL);
  be->download (be, la, cp_network_logits (fast), nl * sizeof (float), NULL);
  CHECK_MSG (cp_network_forward (slow, images, n, h, w, 0, &error) == CP_OK, "%s", error.message);
  be->download (be, eb, cp_network_embedding (slow), ne * sizeof (float), NULL);
  be->download (be, lb, cp_network_logits (slow), nl * sizeof (float), NULL);
  e1 = harness_normalised_error (ea, eb, ne);
  e2 = harness_normalised_error (la, lb, nl);
  printf ("# %d x %dx%d: embedding error %.3g, logits error %.3g\n", n, w, h, e1, e2);
  free (ea);
  free (eb);
  free (la);
  free (lb);
  return e1 > e2 ? e1 : e2;
}

/* Patch size (maps down to 1x1), image sizes, batch 1 and more. */
static void
test_fast_matches_plain (void)
{
  static const int shapes[][3] = {
    { 1, 32, 32 }, { 7, 32, 32 }, { 1, 64, 64 }, { 3, 64, 96 }, { 2, 128, 128 },
  };
  CpNetwork *fast = make_net (be, 3), *slow = make_net (&plain, 3);

  randomise_bn (fast, 9);
  randomise_bn (slow, 9);
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    {
      int n = shapes[i][0], h = shapes[i][1], w = shapes[i][2];
      float *images = make_images (n, h, w, 100 + i);
      double e = compare (fast, slow, images, n, h, w);

      CHECK_MSG (e <= FUSED_TOL, "%d x %dx%d: error %.3g", n, w, h, e);
      be->free (be, images);
    }
  cp_network_free (fast);
  cp_network_free (slow);
}

/* The folded copy is redone after every kind of change: a training step
 * (running statistics and SGD), a load, and direct writes announced with
 * cp_network_params_changed. */
static void
test_fold_follows_changes (void)
{
  CpError error = { 0 };
  CpNetwork *fast = make_net (be, 5), *slow = make_net (&plain, 5);
  float *images = make_images (4, 32, 32, 7);
  int32_t labels[4] = { 0, 1, 2, 1 };
  int32_t *labels_dev = be->alloc (be, sizeof labels, NULL);
  CpSafetensorsWriter *w;
  CpSafetensors *st;
  char path[] = "/tmp/cp-nn-fused-XXXXXX";
  int fd;
  float loss;

  be->upload (be, labels_dev, labels, sizeof labels, NULL);
  /* Fold once, then change everything. */
  CHECK (compare (fast, slow, images, 4, 32, 32) <= FUSED_TOL);

  for (int step = 0; step < 2; step++)
    {
      CpNetwork *nets[2] = { fast, slow };

      for (int k = 0; k < 2; k++)
        {
          CHECK (cp_network_forward (nets[k], images, 4, 32, 32, 1, &error) == CP_OK);
          CHECK (cp_network_loss_backward (nets[k], labels_dev, 1, 0, &loss, &error) == CP_OK);
          CHECK (cp_network_sgd_step (nets[k], 0.1f, 0.9f, 3e-5f, 0, &error) == CP_OK);
        }
      CHECK_MSG (compare (fast, slow, images, 4, 32, 32) <= FUSED_TOL, "after training step %d",
                 step);
    }

  randomise_bn (fast, 21);
  randomise_bn (slow, 21);
  CHECK_MSG (compare (fast, slow, images, 4, 32, 32) <= FUSED_TOL, "after direct writes");

  /* Load another network's parameters into the fast one (a freshly
   * initialised one, seed 5 again): it must follow the file. */
  {
    CpNetwork *other = make_net (&plain, 77);

    randomise_bn (other, 33);
    w = cp_safetensors_writer_new ();
    CHECK (cp_network_save (other, w, &error) == CP_OK);
    fd = mkstemp (path);
    CHECK (fd >= 0);
    close (fd);
    CHECK_MSG (cp_safetensors_writer_save (w, path, &error) == CP_OK, "%s", error.message);
    cp_safetensors_writer_free (w);
    st = cp_safetensors_open (path, &error);
    CHECK_MSG (st != NULL, "%s", error.message);
    CHECK (cp_network_load (fast, st, CP_LOAD_ALL, &error) == CP_OK);
    cp_safetensors_close (st);
    remove (path);
    CHECK_MSG (compare (fast, other, images, 4, 32, 32) <= FUSED_TOL, "after a load");
    cp_network_free (other);
  }

  be->free (be, labels_dev);
  be->free (be, images);
  cp_network_free (fast);
  cp_network_free (slow);
}

int
main (void)
{
  CpError error = { 0 };

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  if (be->conv2d_bias_act_forward == NULL)
    SKIP_ALL ("the CPU backend has no fused convolution");
  plain = *be;
  plain.conv2d_bias_act_forward = NULL;
  RUN_TEST (test_fast_matches_plain);
  RUN_TEST (test_fold_follows_changes);
  cp_backend_free (be);
  return harness_exit ();
}
