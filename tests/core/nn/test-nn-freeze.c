/* test-nn-freeze.c: the backbone freeze of the first steps from ImageNet
 * weights (SPEC section 4, as the reference: requires_grad off for the
 * backbone, the model still in training mode).
 *
 * While frozen: no backbone weight moves by a single bit (no gradient, no
 * weight decay, no momentum), the backbone's gradients and momentum stay
 * zero, yet its batch-norm running statistics and counters still update
 * from the batches; the head and classifier train.  The first step after
 * the freeze moves the backbone, and its momentum buffer then holds
 * exactly that step's gradient, as PyTorch's SGD starts a buffer.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/nn/network.h"

#define SIZE  32
#define BATCH 6

static CpBackend *be;

static float *
download (const float *dev, size_t count)
{
  float *host = malloc (count * sizeof (float));
  be->download (be, host, dev, count * sizeof (float), NULL);
  return host;
}

static float *
param_copy (CpNetwork *net, const char *name)
{
  const CpParam *p = cp_network_find_param (net, name);
  return download (p->data, p->count);
}

static int
same (CpNetwork *net, const char *name, const float *before)
{
  const CpParam *p = cp_network_find_param (net, name);
  float *now = download (p->data, p->count);
  int equal = memcmp (now, before, p->count * sizeof (float)) == 0;

  free (now);
  return equal;
}

static int
all_zero (const float *dev, size_t count)
{
  float *host = download (dev, count);
  int zero = 1;

  for (size_t i = 0; i < count && zero; i++)
    zero = host[i] == 0.0f;
  free (host);
  return zero;
}

static void
step (CpNetwork *net, const float *images, const int32_t *labels, int freeze)
{
  CpError error = { 0 };
  float loss;

  CHECK (cp_network_forward (net, images, BATCH, SIZE, SIZE, 1, &error) == CP_OK);
  CHECK (cp_network_loss_backward (net, labels, 1, freeze, &loss, &error) == CP_OK);
  CHECK (isfinite (loss));
  CHECK (cp_network_sgd_step (net, 0.03f, 0.9f, 3e-5f, freeze, &error) == CP_OK);
}

static void
test_freeze (void)
{
  static const char *const backbone[] = {
    "resnet18.conv1.weight", "resnet18.bn1.weight", "resnet18.layer2.0.downsample.0.weight",
    "resnet18.layer4.1.bn2.bias",
  };
  CpError error = { 0 };
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net = cp_network_new (be, &config, &error);
  size_t n_back = cp_network_backbone_weight_count (net), n_all = cp_network_weight_count (net);
  size_t px = (size_t) BATCH * 3 * SIZE * SIZE;
  float *host = malloc (px * sizeof (float)), *images, *before[4], *mean0, *var0, *head0;
  int32_t host_labels[BATCH], *labels;
  int64_t tracked0;
  CpRng rng;

  CHECK (net != NULL);
  if (net == NULL)
    return;
  cp_rng_seed (&rng, 5);
  CHECK (cp_network_init_checked (net, &rng, &error) == CP_OK);
  for (size_t i = 0; i < px; i++)
    host[i] = (float) cp_rng_normal (&rng) + 0.3f;
  for (int i = 0; i < BATCH; i++)
    host_labels[i] = i % 3;
  images = be->alloc (be, px * sizeof (float), &error);
  labels = be->alloc (be, sizeof host_labels, &error);
  be->upload (be, images, host, px * sizeof (float), &error);
  be->upload (be, labels, host_labels, sizeof host_labels, &error);

  for (int i = 0; i < 4; i++)
    before[i] = param_copy (net, backbone[i]);
  mean0 = param_copy (net, "resnet18.bn1.running_mean");
  var0 = param_copy (net, "resnet18.layer4.1.bn2.running_var");
  head0 = param_copy (net, "head.0.weight");
  tracked0 = cp_network_batches_tracked (net);

  /* Two frozen steps. */
  step (net, images, labels, 1);
  step (net, images, labels, 1);
  for (int i = 0; i < 4; i++)
    CHECK_MSG (same (net, backbone[i], before[i]), "%s moved while frozen", backbone[i]);
  CHECK_MSG (all_zero (cp_network_momentum (net), n_back), "backbone momentum is not zero");
  CHECK (!same (net, "resnet18.bn1.running_mean", mean0));
  CHECK (!same (net, "resnet18.layer4.1.bn2.running_var", var0));
  CHECK (cp_network_batches_tracked (net) == tracked0 + 2);
  CHECK (!same (net, "head.0.weight", head0));
  CHECK (!all_zero (cp_network_momentum (net) + n_back, n_all - n_back));

  /* Unfrozen: the backbone moves, and its momentum is that step's grad. */
  step (net, images, labels, 0);
  CHECK (!same (net, "resnet18.conv1.weight", before[0]));
  {
    const CpParam *p = cp_network_find_param (net, "resnet18.conv1.weight");
    float *m = download (cp_network_momentum (net), p->count);
    float *g = download (p->grad, p->count);
    double worst = 0;

    /* conv1.weight is the first trained tensor: its momentum comes first.
     * buf = 0.9 * 0 + (grad + wd * w_before). */
    for (size_t j = 0; j < p->count; j++)
      worst = fmax (worst, fabs (m[j] - (g[j] + 3e-5 * before[0][j])));
    CHECK_MSG (worst < 1e-6, "momentum differs from the first gradient by %g", worst);
    free (m);
    free (g);
  }
  for (int i = 0; i < 4; i++)
    free (before[i]);
  free (mean0);
  free (var0);
  free (head0);
  free (host);
  be->free (be, images);
  be->free (be, labels);
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
  RUN_TEST (test_freeze);
  cp_backend_free (be);
  return harness_exit ();
}
