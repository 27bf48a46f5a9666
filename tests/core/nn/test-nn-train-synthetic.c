/* test-nn-train-synthetic.c: the network learns.  A short training run on
 * a synthetic three-class problem of 32x32 images drawn from CpRng:
 * class 0 plain noise, class 1 noise with a bright square, class 2 noise
 * with a thin bright line.  SGD as SPEC section 4 (lr 0.03, momentum 0.9,
 * weight decay 3e-5, cosine decay to 0), from scratch.
 *
 * Pass: the mean loss of the last 10 steps is below 0.3 (ln 3 = 1.0986 is
 * chance), the embeddings are finite in training and inference mode, the
 * network classifies a fresh batch in inference mode (running BN
 * statistics) far better than chance, and the schedule is cosine.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "core/nn/network.h"
#include "core/nn/schedule.h"

#define SIZE      32
#define PER_CLASS 8
#define BATCH     (3 * PER_CLASS)
#define STEPS     40
#define TAIL      10

static CpBackend *be;

/* Normalised-looking noise (mean 0, std 0.5) plus the class's pattern. */
static void
draw_image (CpRng *rng, int label, float *img)
{
  const size_t plane = SIZE * SIZE;

  for (size_t i = 0; i < 3 * plane; i++)
    img[i] = (float) (0.5 * cp_rng_normal (rng));
  if (label == 1)
    {
      int side = (int) cp_rng_int_range (rng, 6, 10);
      int x0 = (int) cp_rng_int_range (rng, 0, SIZE - side);
      int y0 = (int) cp_rng_int_range (rng, 0, SIZE - side);
      for (int c = 0; c < 3; c++)
        for (int y = y0; y < y0 + side; y++)
          for (int x = x0; x < x0 + side; x++)
            img[c * plane + (size_t) y * SIZE + x] = 2.0f;
    }
  else if (label == 2)
    {
      int length = (int) cp_rng_int_range (rng, 16, 28);
      int vertical = (int) cp_rng_int_range (rng, 0, 1);
      int along = (int) cp_rng_int_range (rng, 0, SIZE - length);
      int across = (int) cp_rng_int_range (rng, 0, SIZE - 1);
      for (int c = 0; c < 3; c++)
        for (int t = along; t < along + length; t++)
          {
            int x = vertical ? across : t, y = vertical ? t : across;
            img[c * plane + (size_t) y * SIZE + x] = 2.0f;
          }
    }
}

static void
draw_batch (CpRng *rng, float *host, int32_t *labels)
{
  for (int i = 0; i < BATCH; i++)
    {
      labels[i] = i / PER_CLASS;
      draw_image (rng, labels[i], host + (size_t) i * 3 * SIZE * SIZE);
    }
}

static int
all_finite (const float *dev, size_t count)
{
  float *host = malloc (count * sizeof (float));
  int ok = 1;

  be->download (be, host, dev, count * sizeof (float), NULL);
  for (size_t i = 0; i < count; i++)
    ok &= isfinite (host[i]) != 0;
  free (host);
  return ok;
}

static void
test_cosine_schedule (void)
{
  const long total = 1000;

  CHECK (cp_lr_cosine (0.03, 0, total) == 0.03);
  CHECK_CLOSE (cp_lr_cosine (0.03, total / 2, total), 0.015, 1e-12, 0);
  CHECK_CLOSE (cp_lr_cosine (0.03, total, total), 0.0, 1e-12, 0);
  CHECK_CLOSE (cp_lr_cosine (0.03, 250, total), 0.015 * (1.0 + sqrt (0.5)), 1e-12, 0);
  /* Monotone decreasing, symmetric about the middle: lr(t) + lr(T-t) = base. */
  for (long t = 1; t <= total; t++)
    {
      CHECK (cp_lr_cosine (0.03, t, total) < cp_lr_cosine (0.03, t - 1, total));
      CHECK_CLOSE (cp_lr_cosine (0.03, t, total) + cp_lr_cosine (0.03, total - t, total), 0.03,
                   1e-12, 0);
    }
}

static void
test_learns_three_classes (void)
{
  CpError error = { 0 };
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net;
  CpRng rng;
  size_t image_floats = (size_t) BATCH * 3 * SIZE * SIZE;
  float *host = malloc (image_floats * sizeof (float));
  float *images = be->alloc (be, image_floats * sizeof (float), &error);
  int32_t labels[BATCH];
  int32_t *labels_dev = be->alloc (be, sizeof labels, &error);
  double tail_loss = 0.0, first_loss = 0.0;
  float logits[BATCH * 3];
  int correct = 0;
  struct timespec t0, t1;

  net = cp_network_new (be, &config, &error);
  CHECK_MSG (net != NULL, "%s", error.message);
  if (net == NULL || images == NULL || labels_dev == NULL)
    return;
  cp_rng_seed (&rng, 2021);
  CHECK (cp_network_init_checked (net, &rng, &error) == CP_OK);

  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (int step = 0; step < STEPS; step++)
    {
      float loss = NAN;
      float lr = (float) cp_lr_cosine (0.03, step, STEPS);

      draw_batch (&rng, host, labels);
      be->upload (be, images, host, image_floats * sizeof (float), NULL);
      be->upload (be, labels_dev, labels, sizeof labels, NULL);
      if (cp_network_forward (net, images, BATCH, SIZE, SIZE, 1, &error) != CP_OK
          || cp_network_loss_backward (net, labels_dev, 1, 0, &loss, &error) != CP_OK
          || cp_network_sgd_step (net, lr, 0.9f, 3e-5f, 0, &error) != CP_OK)
        {
          CHECK_MSG (0, "step %d: %s", step, error.message);
          break;
        }
      if (step == 0)
        {
          first_loss = loss;
          CHECK (all_finite (cp_network_embedding (net), (size_t) BATCH * CP_EMBEDDING_DIM));
        }
      if (step >= STEPS - TAIL)
        tail_loss += loss / TAIL;
      if (getenv ("CP_TRAIN_VERBOSE"))
        printf ("# step %2d lr %.5f loss %.4f\n", step, lr, loss);
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  printf ("# %d steps of %d images in %.1f s: first loss %.3f, mean of the last %d %.4f\n",
          STEPS, BATCH, (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), first_loss,
          TAIL, tail_loss);
  /* Chance is ln 3; a fresh network starts near it. */
  CHECK_MSG (fabs (first_loss - log (3.0)) < 0.5, "first loss %g", first_loss);
  CHECK_MSG (tail_loss < 0.3, "mean loss of the last %d steps %g (ln 3 = 1.0986)", TAIL,
             tail_loss);

  /* A fresh batch in inference mode, running BN statistics. */
  draw_batch (&rng, host, labels);
  be->upload (be, images, host, image_floats * sizeof (float), NULL);
  CHECK (cp_network_forward (net, images, BATCH, SIZE, SIZE, 0, &error) == CP_OK);
  CHECK (all_finite (cp_network_embedding (net), (size_t) BATCH * CP_EMBEDDING_DIM));
  be->download (be, logits, cp_network_logits (net), sizeof logits, NULL);
  for (int i = 0; i < BATCH; i++)
    {
      int best = 0;
      for (int c = 1; c < 3; c++)
        if (logits[i * 3 + c] > logits[i * 3 + best])
          best = c;
      correct += best == labels[i];
    }
  printf ("# inference accuracy on a fresh batch: %d / %d\n", correct, BATCH);
  CHECK_MSG (correct >= BATCH * 3 / 4, "%d of %d correct", correct, BATCH);
  /* An inference forward has nothing for backward to use. */
  CHECK (cp_network_loss_backward (net, labels_dev, 1, 0, NULL, &error) == CP_ERR_INVALID);

  be->free (be, images);
  be->free (be, labels_dev);
  free (host);
  cp_network_free (net);
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
  RUN_TEST (test_cosine_schedule);
  RUN_TEST (test_learns_three_classes);
  cp_backend_free (be);
  return harness_exit ();
}
