/* network-init.c: initialisation from scratch, as torchvision builds
 * ResNet-18 and PyTorch builds Linear and BatchNorm layers.
 */
#include "network-private.h"

#include <math.h>
#include <stdlib.h>

static float *
host_slot (CpNetwork *net, float *host, int index)
{
  return host + cp_network_param_offset (net, &net->params[index]);
}

/* kaiming_normal_(mode="fan_out", nonlinearity="relu"):
 * std = gain / sqrt (fan_out) with gain sqrt (2), fan_out = c_out k k. */
static void
init_conv (CpNetwork *net, float *host, const CpNetConv *conv, CpRng *rng)
{
  const CpParam *p = &net->params[conv->weight];
  float *w = host_slot (net, host, conv->weight);
  double std = sqrt (2.0 / ((double) conv->c_out * conv->k * conv->k));

  for (size_t i = 0; i < p->count; i++)
    w[i] = (float) (std * cp_rng_normal (rng));
}

static void
init_bn (CpNetwork *net, float *host, const CpNetBn *bn)
{
  float *gamma = host_slot (net, host, bn->weight);
  float *beta = host_slot (net, host, bn->bias);
  float *mean = host_slot (net, host, bn->running_mean);
  float *var = host_slot (net, host, bn->running_var);

  for (int i = 0; i < bn->c; i++)
    {
      gamma[i] = 1.0f;
      beta[i] = 0.0f;
      mean[i] = 0.0f;
      var[i] = 1.0f;
    }
  net->batches_tracked[bn->index] = 0;
}

/* nn.Linear.reset_parameters: kaiming_uniform_(a = sqrt (5)) gives a bound
 * of gain * sqrt (3 / fan_in) with gain = sqrt (2 / (1 + 5)), which is
 * 1 / sqrt (fan_in); the bias uses the same bound. */
static void
init_linear (CpNetwork *net, float *host, const CpNetLinear *lin, CpRng *rng)
{
  float *w = host_slot (net, host, lin->weight);
  float *b = host_slot (net, host, lin->bias);
  double bound = 1.0 / sqrt ((double) lin->in);

  for (size_t i = 0; i < (size_t) lin->in * lin->out; i++)
    w[i] = (float) cp_rng_uniform_range (rng, -bound, bound);
  for (int i = 0; i < lin->out; i++)
    b[i] = (float) cp_rng_uniform_range (rng, -bound, bound);
}

CpStatus
cp_network_init_checked (CpNetwork *net, CpRng *rng, CpError *error)
{
  CpBackend *be = net->be;
  size_t total = net->n_weights + net->n_stats;
  float *host = malloc (total * sizeof (float));
  CpStatus st;

  if (host == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "network init: out of memory (%zu floats)", total);

  /* Module order, as torchvision's constructor walks self.modules(). */
  init_conv (net, host, &net->conv1, rng);
  init_bn (net, host, &net->bn1);
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      const CpNetBlock *b = &net->blocks[i];
      init_conv (net, host, &b->conv1, rng);
      init_bn (net, host, &b->bn1);
      init_conv (net, host, &b->conv2, rng);
      init_bn (net, host, &b->bn2);
      if (b->has_down)
        {
          init_conv (net, host, &b->down, rng);
          init_bn (net, host, &b->down_bn);
        }
    }
  for (int i = 0; i < net->n_head; i++)
    {
      init_linear (net, host, &net->head[i].linear, rng);
      init_bn (net, host, &net->head[i].bn);
    }
  init_linear (net, host, &net->out, rng);

  st = be->upload (be, net->param_mem, host, total * sizeof (float), error);
  free (host);
  cp_network_params_changed (net);
  if (st == CP_OK)
    st = be->zero (be, net->momentum_mem, net->n_weights * sizeof (float), error);
  if (st == CP_OK)
    st = be->zero (be, net->grad_mem, net->n_weights * sizeof (float), error);
  return st == CP_OK ? CP_OK : cp_error_prefix (error, "network init");
}

void
cp_network_init (CpNetwork *net, CpRng *rng)
{
  /* The declared interface has no error channel; the checked variant is
   * for callers that must know about allocation or upload failures. */
  (void) cp_network_init_checked (net, rng, NULL);
}
