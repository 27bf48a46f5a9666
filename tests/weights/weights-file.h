/* weights-file.h: writing a valid ImageNet-style ResNet-18 weights file
 * for the weights tests: a freshly initialised backbone (random BN running
 * statistics, so that they matter) under torchvision's names, with the
 * counters and the classifier fc.* as torchvision's file has them, in the
 * safetensors format.  45 MB, as the real thing. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/safetensors.h"
#include "core/nn/network.h"

static inline CpStatus
cp_test_write_resnet18_weights (const char *path, unsigned long long seed, CpError *error)
{
  CpBackend *be = cp_backend_cpu_new (error);
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net = be ? cp_network_new (be, &config, error) : NULL;
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  int64_t fc_w[2] = { 1000, 512 }, fc_b[1] = { 1000 }, scalar[1] = { 0 };
  float *fc = calloc (1000 * 512, sizeof (float));
  int64_t tracked = 100;
  CpStatus st = net ? CP_OK : CP_ERR_NOMEM;
  CpRng rng;

  if (net != NULL)
    {
      cp_rng_seed (&rng, seed);
      cp_network_init (net, &rng);
    }
  for (int i = 0; net != NULL && i < cp_network_param_count (net) && st == CP_OK; i++)
    {
      const CpParam *p = cp_network_param (net, i);
      const char *name = p->name + strlen ("resnet18.");
      float *v;

      if (!p->in_backbone)
        continue;
      v = malloc (p->count * sizeof (float));
      be->download (be, v, p->data, p->count * sizeof (float), NULL);
      if (strstr (name, "running_mean"))
        for (size_t j = 0; j < p->count; j++)
          v[j] = (float) (0.2 * cp_rng_normal (&rng));
      else if (strstr (name, "running_var"))
        for (size_t j = 0; j < p->count; j++)
          v[j] = (float) (0.5 + cp_rng_uniform (&rng));
      else if (strstr (name, "bn") || strstr (name, "downsample.1"))
        for (size_t j = 0; j < p->count; j++)
          v[j] += (float) (0.1 * cp_rng_normal (&rng));
      st = cp_safetensors_writer_add (w, name, CP_DTYPE_F32, p->shape, p->ndim, v, error);
      free (v);
      if (st == CP_OK && strstr (name, "running_var"))
        {
          char counter[128];
          snprintf (counter, sizeof counter, "%.*s.num_batches_tracked",
                    (int) (strlen (name) - strlen (".running_var")), name);
          st = cp_safetensors_writer_add (w, counter, CP_DTYPE_I64, scalar, 0, &tracked, error);
        }
    }
  if (st == CP_OK)
    st = cp_safetensors_writer_add (w, "fc.weight", CP_DTYPE_F32, fc_w, 2, fc, error);
  if (st == CP_OK)
    st = cp_safetensors_writer_add (w, "fc.bias", CP_DTYPE_F32, fc_b, 1, fc, error);
  if (st == CP_OK)
    st = cp_safetensors_writer_save (w, path, error);
  cp_safetensors_writer_free (w);
  free (fc);
  cp_network_free (net);
  if (be)
    cp_backend_free (be);
  return st;
}
