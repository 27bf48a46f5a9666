/* fuzz-weights.c: ImageNet weights by torchvision's and timm's names
 * (core/nn/imagenet-weights.h, and cp_network_load's mapping of those
 * names onto the network: no "resnet18." prefix, fc.* ignored,
 * num_batches_tracked optional).
 *
 * The input is a safetensors file.  A file the check accepts must also
 * load into the backbone; a failed load must leave the network as it was
 * (its first parameter is compared).  The network is built once: loading
 * only writes values, which no later input's handling depends on.
 */
#include <string.h>

#include "core/io/safetensors.h"
#include "core/nn/imagenet-weights.h"
#include "core/nn/network.h"
#include "fuzz-common.h"

static CpBackend *be;
static CpNetwork *net;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  CpError error = { 0 };
  CpSafetensors *st;
  CpStatus checked, loaded;
  const CpParam *first;
  float before[8], after[8];

  if (net == NULL)
    {
      CpNetworkConfig config = { 1, 3 };
      CpRng rng;

      be = cp_backend_cpu_new (&error);
      FUZZ_ASSERT (be != NULL);
      net = cp_network_new (be, &config, &error);
      FUZZ_ASSERT (net != NULL);
      cp_rng_seed (&rng, 1);
      cp_network_init (net, &rng);
    }
  st = cp_safetensors_from_memory (data, size, "fuzz.safetensors", &error);
  if (st == NULL)
    return 0;
  checked = cp_imagenet_weights_check (st, &error);
  FUZZ_ASSERT (checked == CP_OK || strstr (error.message, "fuzz.safetensors") != NULL);
  first = cp_network_param (net, 0);
  be->download (be, before, first->data, sizeof before, NULL);
  loaded = cp_network_load (net, st, CP_LOAD_BACKBONE, &error);
  if (checked == CP_OK)
    FUZZ_ASSERT (loaded == CP_OK);
  if (loaded != CP_OK)
    {
      be->download (be, after, first->data, sizeof after, NULL);
      FUZZ_ASSERT (memcmp (before, after, sizeof before) == 0);
    }
  cp_safetensors_close (st);
  return 0;
}
