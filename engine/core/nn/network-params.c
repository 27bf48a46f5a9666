/* network-params.c: the named parameter table of ResNet-18 + head, in the
 * reference's state-dict order, and its layout in the three backend
 * allocations (parameters, gradients, momentum).
 */
#include "network-private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
add_param (CpNetwork *net, CpParamKind kind, int in_backbone, int ndim, const int64_t *shape,
           const char *format, ...)
{
  CpParam *p;
  char name[128];
  va_list ap;

  if (net->n_params == net->n_params_alloc)
    {
      int alloc = net->n_params_alloc ? 2 * net->n_params_alloc : 128;
      CpParam *grown = realloc (net->params, (size_t) alloc * sizeof *grown);
      if (grown == NULL)
        return -1;
      net->params = grown;
      net->n_params_alloc = alloc;
    }
  va_start (ap, format);
  vsnprintf (name, sizeof name, format, ap);
  va_end (ap);

  p = &net->params[net->n_params];
  memset (p, 0, sizeof *p);
  p->name = strdup (name);
  if (p->name == NULL)
    return -1;
  p->kind = kind;
  p->ndim = ndim;
  p->count = 1;
  for (int i = 0; i < ndim; i++)
    {
      p->shape[i] = shape[i];
      p->count *= (size_t) shape[i];
    }
  p->in_backbone = in_backbone;
  return net->n_params++;
}

static int
add_conv (CpNetwork *net, CpNetConv *conv, const char *prefix, int c_in, int c_out, int k,
          int stride, int pad)
{
  int64_t shape[4] = { c_out, c_in, k, k };

  conv->c_in = c_in;
  conv->c_out = c_out;
  conv->k = k;
  conv->stride = stride;
  conv->pad = pad;
  conv->weight = add_param (net, CP_PARAM_WEIGHT, 1, 4, shape, "%s.weight", prefix);
  return conv->weight < 0 ? -1 : 0;
}

static int
add_bn (CpNetwork *net, CpNetBn *bn, const char *prefix, int c, int in_backbone)
{
  int64_t shape[1] = { c };
  char tracked[128];

  bn->c = c;
  bn->weight = add_param (net, CP_PARAM_WEIGHT, in_backbone, 1, shape, "%s.weight", prefix);
  bn->bias = add_param (net, CP_PARAM_WEIGHT, in_backbone, 1, shape, "%s.bias", prefix);
  bn->running_mean = add_param (net, CP_PARAM_RUNNING_STAT, in_backbone, 1, shape,
                                "%s.running_mean", prefix);
  bn->running_var = add_param (net, CP_PARAM_RUNNING_STAT, in_backbone, 1, shape,
                               "%s.running_var", prefix);
  if (bn->weight < 0 || bn->bias < 0 || bn->running_mean < 0 || bn->running_var < 0)
    return -1;
  if (net->n_bn >= (int) (sizeof net->batches_tracked / sizeof net->batches_tracked[0]))
    return -1;
  bn->index = net->n_bn++;
  snprintf (tracked, sizeof tracked, "%s.num_batches_tracked", prefix);
  bn->tracked_name = strdup (tracked);
  return bn->tracked_name == NULL ? -1 : 0;
}

static int
add_linear (CpNetwork *net, CpNetLinear *lin, const char *prefix, int in, int out)
{
  int64_t wshape[2] = { out, in };
  int64_t bshape[1] = { out };

  lin->in = in;
  lin->out = out;
  lin->weight = add_param (net, CP_PARAM_WEIGHT, 0, 2, wshape, "%s.weight", prefix);
  lin->bias = add_param (net, CP_PARAM_WEIGHT, 0, 1, bshape, "%s.bias", prefix);
  return lin->weight < 0 || lin->bias < 0 ? -1 : 0;
}

static int
build_table (CpNetwork *net)
{
  static const int widths[4] = { 64, 128, 256, 512 };
  int c_in = 64;
  char prefix[96];
  int fail = 0;

  fail |= add_conv (net, &net->conv1, "resnet18.conv1", 3, 64, 7, 2, 3);
  fail |= add_bn (net, &net->bn1, "resnet18.bn1", 64, 1);
  for (int stage = 0; stage < 4; stage++)
    for (int i = 0; i < 2; i++)
      {
        CpNetBlock *b = &net->blocks[stage * 2 + i];
        int c_out = widths[stage];
        int stride = (stage > 0 && i == 0) ? 2 : 1;

        /* BasicBlock registers conv1, bn1, conv2, bn2, then downsample. */
        snprintf (prefix, sizeof prefix, "resnet18.layer%d.%d.conv1", stage + 1, i);
        fail |= add_conv (net, &b->conv1, prefix, c_in, c_out, 3, stride, 1);
        snprintf (prefix, sizeof prefix, "resnet18.layer%d.%d.bn1", stage + 1, i);
        fail |= add_bn (net, &b->bn1, prefix, c_out, 1);
        snprintf (prefix, sizeof prefix, "resnet18.layer%d.%d.conv2", stage + 1, i);
        fail |= add_conv (net, &b->conv2, prefix, c_out, c_out, 3, 1, 1);
        snprintf (prefix, sizeof prefix, "resnet18.layer%d.%d.bn2", stage + 1, i);
        fail |= add_bn (net, &b->bn2, prefix, c_out, 1);
        b->has_down = stride != 1 || c_in != c_out;
        if (b->has_down)
          {
            snprintf (prefix, sizeof prefix, "resnet18.layer%d.%d.downsample.0", stage + 1, i);
            fail |= add_conv (net, &b->down, prefix, c_in, c_out, 1, stride, 0);
            snprintf (prefix, sizeof prefix, "resnet18.layer%d.%d.downsample.1", stage + 1, i);
            fail |= add_bn (net, &b->down_bn, prefix, c_out, 1);
          }
        c_in = c_out;
      }

  /* Head: nn.Sequential of (Linear, BatchNorm1d, ReLU) triples, so the
   * Linear of triple i is head.<3i> and its BN head.<3i+1>. */
  c_in = CP_EMBEDDING_DIM;
  for (int i = 0; i < net->n_head; i++)
    {
      int width = i < net->config.head_layers ? 512 : 128;
      CpNetHeadLayer *hl = &net->head[i];

      snprintf (prefix, sizeof prefix, "head.%d", 3 * i);
      fail |= add_linear (net, &hl->linear, prefix, c_in, width);
      snprintf (prefix, sizeof prefix, "head.%d", 3 * i + 1);
      fail |= add_bn (net, &hl->bn, prefix, width, 0);
      c_in = width;
    }
  fail |= add_linear (net, &net->out, "out", c_in, net->config.num_classes);
  return fail ? -1 : 0;
}

CpStatus
cp_network_build_params (CpNetwork *net, CpError *error)
{
  CpBackend *be = net->be;
  size_t weight_cursor = 0, stat_cursor;
  size_t total;

  if (build_table (net) < 0)
    return cp_error_set (error, CP_ERR_NOMEM, "network: out of memory building the parameter table");

  net->n_backbone_weights = net->n_weights = net->n_stats = 0;
  for (int i = 0; i < net->n_params; i++)
    {
      const CpParam *p = &net->params[i];
      if (p->kind == CP_PARAM_RUNNING_STAT)
        net->n_stats += p->count;
      else
        {
          net->n_weights += p->count;
          if (p->in_backbone)
            net->n_backbone_weights += p->count;
        }
    }

  total = net->n_weights + net->n_stats;
  net->param_mem = be->alloc (be, total * sizeof (float), error);
  if (net->param_mem == NULL)
    return cp_error_prefix (error, "network parameters (%zu floats)", total);
  net->grad_mem = be->alloc (be, net->n_weights * sizeof (float), error);
  if (net->grad_mem == NULL)
    return cp_error_prefix (error, "network gradients (%zu floats)", net->n_weights);
  net->momentum_mem = be->alloc (be, net->n_weights * sizeof (float), error);
  if (net->momentum_mem == NULL)
    return cp_error_prefix (error, "network momentum (%zu floats)", net->n_weights);

  /* The table lists every backbone parameter before the head's, so one
   * cursor in table order puts backbone weights first. */
  stat_cursor = net->n_weights;
  for (int i = 0; i < net->n_params; i++)
    {
      CpParam *p = &net->params[i];
      if (p->kind == CP_PARAM_RUNNING_STAT)
        {
          p->data = net->param_mem + stat_cursor;
          p->grad = NULL;
          stat_cursor += p->count;
        }
      else
        {
          p->data = net->param_mem + weight_cursor;
          p->grad = net->grad_mem + weight_cursor;
          weight_cursor += p->count;
        }
    }

  if (be->zero (be, net->grad_mem, net->n_weights * sizeof (float), error) != CP_OK
      || be->zero (be, net->momentum_mem, net->n_weights * sizeof (float), error) != CP_OK)
    return cp_error_prefix (error, "network");
  return CP_OK;
}

void
cp_network_free_params (CpNetwork *net)
{
  CpBackend *be = net->be;

  if (net->param_mem != NULL)
    be->free (be, net->param_mem);
  if (net->grad_mem != NULL)
    be->free (be, net->grad_mem);
  if (net->momentum_mem != NULL)
    be->free (be, net->momentum_mem);
  net->param_mem = net->grad_mem = net->momentum_mem = NULL;
  for (int i = 0; i < net->n_params; i++)
    free ((char *) net->params[i].name);
  free (net->params);
  net->params = NULL;
  net->n_params = 0;

  free (net->bn1.tracked_name);
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      free (net->blocks[i].bn1.tracked_name);
      free (net->blocks[i].bn2.tracked_name);
      free (net->blocks[i].down_bn.tracked_name);
    }
  for (int i = 0; net->head != NULL && i < net->n_head; i++)
    free (net->head[i].bn.tracked_name);
}

size_t
cp_network_param_offset (const CpNetwork *net, const CpParam *p)
{
  return (size_t) (p->data - net->param_mem);
}

CpStatus
cp_network_check_backend (const CpBackend *be, CpError *error)
{
  /* Every op of the list, not just the ones a forward pass calls today:
   * a backend is either whole or refused when it is opened, not halfway
   * through a training run. */
#define CP_CHECK_OP(op) \
  if (be->op == NULL) \
    return cp_error_set (error, CP_ERR_UNSUPPORTED, \
                         "the %s backend lacks the '%s' op the network needs", \
                         be->name ? be->name : "(unnamed)", #op);
  CP_BACKEND_OPS (CP_CHECK_OP)
#undef CP_CHECK_OP
  return CP_OK;
}
