/* test-nn-gradcheck.c: the analytic gradient of the mean cross-entropy
 * through the WHOLE network (ResNet-18 + head + classifier, the real
 * architecture) against central finite differences.
 *
 * Three 64x64 images, three classes, BN in training mode (batch
 * statistics, so the loss is a smooth function of every parameter away
 * from ReLU and max-pool switches).  64x64 rather than 32x32 because at
 * 32x32 the last stage is 1x1 and its BNs normalise three values per
 * channel, which makes the loss so curved that float32 differences cannot
 * resolve it.
 *
 * Every trained tensor is checked (all 20 convolutions, every BN gamma
 * and beta, the head's linears and the classifier) and so is the input:
 * once along the analytic gradient's direction and once at its largest
 * entry (see check_tensor).  Each step is sized so that the loss moves by
 * about 1e-3, and we compare the measured loss change with the change
 * the analytic gradient predicts: |measured - predicted| <= 2e-6 + 3e-2
 * |predicted|.  The absolute part covers float32 rounding of a loss near
 * 1 (and checks that the head's pre-BN biases, whose true gradient is
 * zero, get none); the relative part the curvature left at that step
 * (measured errors are mostly below 1 %).  A wrong backward (missing
 * branch, wrong scale, misplaced entries) is off by tens of percent.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "core/nn/network.h"

#define N_IMAGES 3
static int SIZE = 64;
#define CLASSES  3

static CpBackend *be;
static CpNetwork *net;
static float *images_dev;
static int32_t *labels_dev;
/* Loss change each check aims at, largest step, and the tolerance on the
 * loss change (absolute: float32 rounding of a loss near 1; relative: the
 * curvature left at that step). */
static double DELTA = 1e-3;
#define MAX_STEP 1e-2
#define ATOL     2e-6
#define RTOL     3e-2

static float
loss_now (void)
{
  CpError error = { 0 };
  float loss = NAN;

  if (cp_network_forward (net, images_dev, N_IMAGES, SIZE, SIZE, 1, &error) != CP_OK
      || cp_network_loss_backward (net, labels_dev, 0, 0, &loss, &error) != CP_OK)
    fprintf (stderr, "forward failed: %s\n", error.message);
  return loss;
}

/* Moves the tensor at @dev (backend memory, @count floats) by +-@step
 * @dir, evaluates the loss at both points and restores it.  Returns the
 * loss difference L(+) - L(-) and in *predicted the first-order change
 * the analytic gradient @g predicts for the perturbations actually made
 * (after rounding to float, which matters when the steps are tiny). */
static double
loss_difference (float *dev, const float *dir, double step, size_t count, const float *g,
                 double *predicted)
{
  float *original = malloc (count * sizeof (float));
  float *plus_x = malloc (count * sizeof (float));
  float *minus_x = malloc (count * sizeof (float));
  double plus, minus, dot = 0.0;

  be->download (be, original, dev, count * sizeof (float), NULL);
  for (size_t i = 0; i < count; i++)
    {
      plus_x[i] = (float) (original[i] + step * dir[i]);
      minus_x[i] = (float) (original[i] - step * dir[i]);
      dot += (double) g[i] * ((double) plus_x[i] - (double) minus_x[i]);
    }
  be->upload (be, dev, plus_x, count * sizeof (float), NULL);
  plus = loss_now ();
  be->upload (be, dev, minus_x, count * sizeof (float), NULL);
  minus = loss_now ();
  be->upload (be, dev, original, count * sizeof (float), NULL);
  free (original);
  free (plus_x);
  free (minus_x);
  *predicted = dot;
  return plus - minus;
}

/* Two checks per tensor.
 *
 * 1. Along the analytic gradient's own direction u = g / |g|: the true
 *    change is g_true . u * 2 step, which matches the prediction |g| 2
 *    step only when g = g_true (a wrong scale, a missing term or
 *    misplaced entries all break it).  It moves every entry at once, so
 *    the signal is large next to float32 rounding.
 * 2. The single entry with the largest |g| alone checks the indexing.
 *
 * Steps are sized so that the loss moves by about DELTA: the network is
 * curved enough (BN over few values, ReLU and max-pool switches) that a
 * fixed step is either too coarse for the large gradients of the early
 * convolutions or lost in rounding for the small ones. */
static void
check_tensor (const char *what, const float *analytic, float *dev, size_t count, double *worst)
{
  float *dir = malloc (count * sizeof (float));
  double norm = 0.0, diff, predicted, err, step;
  size_t top = 0;

  for (size_t i = 0; i < count; i++)
    {
      norm += (double) analytic[i] * analytic[i];
      if (fabs (analytic[i]) > fabs (analytic[top]))
        top = i;
    }
  norm = sqrt (norm);
  for (size_t i = 0; i < count; i++)
    dir[i] = norm > 0.0 ? (float) (analytic[i] / norm) : 1.0f / (float) sqrt ((double) count);

  step = fmin (DELTA / fmax (norm, 1e-30), MAX_STEP);
  diff = loss_difference (dev, dir, step, count, analytic, &predicted);
  err = fabs (diff - predicted);
  CHECK_MSG (err <= ATOL + RTOL * fabs (predicted),
             "%s: along g: loss change %.6g, predicted %.6g (|g| %.6g, step %.3g)", what, diff,
             predicted, norm, step);
  if (fabs (predicted) > 100 * ATOL && err / fabs (predicted) > *worst)
    *worst = err / fabs (predicted);
  if (getenv ("CP_GRADCHECK_VERBOSE"))
    printf ("# %-38s |g| %.3e dL %.3e err %5.2f%%", what, norm, predicted,
            100.0 * err / (fabs (predicted) + 1e-30));

  for (size_t i = 0; i < count; i++)
    dir[i] = i == top ? 1.0f : 0.0f;
  step = fmin (DELTA / fmax (fabs (analytic[top]), 1e-30), MAX_STEP);
  diff = loss_difference (dev, dir, step, count, analytic, &predicted);
  err = fabs (diff - predicted);
  CHECK_MSG (err <= ATOL + RTOL * fabs (predicted),
             "%s[%zu]: loss change %.6g, predicted %.6g (g %.6g, step %.3g)", what, top, diff,
             predicted, (double) analytic[top], step);
  if (fabs (predicted) > 100 * ATOL && err / fabs (predicted) > *worst)
    *worst = err / fabs (predicted);
  if (getenv ("CP_GRADCHECK_VERBOSE"))
    printf ("  top[%zu] g %.3e dL %.3e err %5.2f%%\n", top, (double) analytic[top], predicted,
            100.0 * err / (fabs (predicted) + 1e-30));
  free (dir);
}

static void
test_whole_network_gradient (void)
{
  CpError error = { 0 };
  CpRng rng;
  float loss;
  double worst = 0.0;
  int checked = 0;
  size_t image_count = (size_t) N_IMAGES * 3 * SIZE * SIZE;
  float *host_images = malloc (image_count * sizeof (float));
  float *input_grad = malloc (image_count * sizeof (float));
  int32_t labels[N_IMAGES] = { 0, 1, 2 };

  cp_rng_seed (&rng, 1234);
  for (size_t i = 0; i < image_count; i++)
    host_images[i] = (float) cp_rng_normal (&rng);
  images_dev = be->alloc (be, image_count * sizeof (float), &error);
  labels_dev = be->alloc (be, sizeof labels, &error);
  CHECK (images_dev != NULL && labels_dev != NULL);
  be->upload (be, images_dev, host_images, image_count * sizeof (float), &error);
  be->upload (be, labels_dev, labels, sizeof labels, &error);

  cp_network_set_input_grad (net, 1);
  CHECK (cp_network_forward (net, images_dev, N_IMAGES, SIZE, SIZE, 1, &error) == CP_OK);
  CHECK (cp_network_loss_backward (net, labels_dev, 1, 0, &loss, &error) == CP_OK);
  CHECK_MSG (isfinite (loss) && loss > 0.0f, "loss %g (%s)", (double) loss, error.message);
  CHECK (cp_network_input_grad (net) != NULL);
  be->download (be, input_grad, cp_network_input_grad (net), image_count * sizeof (float), NULL);

  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      float *g;
      if (p->kind != CP_PARAM_WEIGHT)
        continue;
      g = malloc (p->count * sizeof (float));
      be->download (be, g, p->grad, p->count * sizeof (float), NULL);
      check_tensor (p->name, g, p->data, p->count, &worst);
      free (g);
      checked++;
    }
  /* 20 convolutions, 20 + 2 BNs (gamma, beta), 3 linears (weight, bias). */
  CHECK (checked == 20 + 2 * 22 + 2 * 3);
  check_tensor ("input", input_grad, images_dev, image_count, &worst);
  printf ("# %d tensors + input, loss change %g, worst relative error %.3g\n", checked, DELTA, worst);

  free (host_images);
  free (input_grad);
}

/* A frozen backbone: the head's gradients are those of a full backward,
 * the backbone's are zero, and BN statistics still update. */
static void
test_frozen_backbone (void)
{
  CpError error = { 0 };
  size_t nw = cp_network_weight_count (net);
  size_t nb = cp_network_backbone_weight_count (net);
  const CpParam *first = cp_network_param (net, 0);
  const CpParam *mean = cp_network_find_param (net, "resnet18.layer1.0.bn1.running_mean");
  float *full = malloc (nw * sizeof (float));
  float *frozen = malloc (nw * sizeof (float));
  float *mean_before = malloc (64 * sizeof (float));
  float *mean_after = malloc (64 * sizeof (float));
  float loss;
  double max_head = 0.0, max_diff = 0.0, max_backbone = 0.0, moved = 0.0;
  int64_t tracked_before;

  CHECK (nb > 0 && nb < nw && mean != NULL);
  CHECK (cp_network_forward (net, images_dev, N_IMAGES, SIZE, SIZE, 1, &error) == CP_OK);
  CHECK (cp_network_loss_backward (net, labels_dev, 1, 0, &loss, &error) == CP_OK);
  be->download (be, full, first->grad, nw * sizeof (float), NULL);

  be->download (be, mean_before, mean->data, 64 * sizeof (float), NULL);
  tracked_before = cp_network_batches_tracked (net);
  CHECK (cp_network_forward (net, images_dev, N_IMAGES, SIZE, SIZE, 1, &error) == CP_OK);
  be->download (be, mean_after, mean->data, 64 * sizeof (float), NULL);
  CHECK (cp_network_loss_backward (net, labels_dev, 1, 1, &loss, &error) == CP_OK);
  be->download (be, frozen, first->grad, nw * sizeof (float), NULL);

  for (size_t i = 0; i < nb; i++)
    max_backbone = fmax (max_backbone, fabs (frozen[i]));
  for (size_t i = nb; i < nw; i++)
    {
      max_head = fmax (max_head, fabs (full[i]));
      max_diff = fmax (max_diff, fabs (full[i] - frozen[i]));
    }
  for (int i = 0; i < 64; i++)
    moved = fmax (moved, fabs (mean_after[i] - mean_before[i]));
  CHECK_MSG (max_backbone == 0.0, "backbone gradient %g with a frozen backbone", max_backbone);
  CHECK_MSG (max_head > 0.0 && max_diff <= 1e-6 * max_head, "head gradients differ by %g (max %g)",
             max_diff, max_head);
  /* After the hundreds of forwards of the gradient check on the same
   * batch the running mean has converged to the batch mean, so it barely
   * moves; the counter shows the training-mode statistics update ran. */
  CHECK_MSG (moved < 1e-3, "running mean moved by %g", moved);
  CHECK (cp_network_batches_tracked (net) == tracked_before + 1);
  free (full);
  free (frozen);
  free (mean_before);
  free (mean_after);
}

int
main (void)
{
  CpError error = { 0 };
  CpNetworkConfig config = { 1, CLASSES };
  CpRng rng;

  if (getenv ("CP_GRADCHECK_SIZE"))
    SIZE = atoi (getenv ("CP_GRADCHECK_SIZE"));
  if (getenv ("CP_GRADCHECK_EPS"))
    DELTA = atof (getenv ("CP_GRADCHECK_EPS"));
  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  net = cp_network_new (be, &config, &error);
  if (net == NULL)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  cp_rng_seed (&rng, 42);
  CHECK (cp_network_init_checked (net, &rng, &error) == CP_OK);

  RUN_TEST (test_whole_network_gradient);
  RUN_TEST (test_frozen_backbone);

  be->free (be, images_dev);
  be->free (be, labels_dev);
  cp_network_free (net);
  cp_backend_free (be);
  return harness_exit ();
}
