/* network-fold.c: the backbone's convolutions with their batch norms
 * folded in, for the inference fast path.
 *
 * In inference a batch norm is y = x * scale + shift per channel with
 * scale = gamma / sqrt (running_var + eps) and shift = beta - running_mean
 * * scale (computed exactly as the backends' batchnorm_forward_infer do),
 * so conv + BN is one convolution with weights w * scale[c_out] and bias
 * shift: one pass over the output instead of three (conv, BN, ReLU; four
 * with the residual add).  The folded weights are stored (c_out, k, k,
 * c_in), the layout conv2d_bias_act_forward takes.
 *
 * Folding reads and writes every backbone weight (about 11 M floats; 41 ms
 * measured on the 2-core CPU, against 6 ms for a whole forward of one
 * 32 x 32 patch), so it is done once per parameter version, not once per
 * forward: a 256 x 256 heatmap runs 13 forwards with the same weights.
 * Staging is on the host (download, fold, upload), so it works for any
 * backend that provides the fused op.
 */
#include "network-private.h"

#include <math.h>
#include <stdlib.h>

typedef struct
{
  CpNetConv     *conv;
  const CpNetBn *bn;
} FoldPair;

/* The conv + BN pairs of the backbone, in parameter order; returns the
 * count (at most 1 + 3 * CP_NET_BLOCKS). */
static int
fold_pairs (CpNetwork *net, FoldPair *pairs)
{
  int n = 0;

  pairs[n++] = (FoldPair) { &net->conv1, &net->bn1 };
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      CpNetBlock *b = &net->blocks[i];

      pairs[n++] = (FoldPair) { &b->conv1, &b->bn1 };
      pairs[n++] = (FoldPair) { &b->conv2, &b->bn2 };
      if (b->has_down)
        pairs[n++] = (FoldPair) { &b->down, &b->down_bn };
    }
  return n;
}

static size_t
align_floats (size_t floats)
{
  const size_t unit = CP_ARENA_ALIGN / sizeof (float);

  return (floats + unit - 1) / unit * unit;
}

static CpStatus
fold_one (CpNetwork *net, const FoldPair *pair, float *w_host, float *out_host, float *bn_host,
          CpError *error)
{
  CpBackend *be = net->be;
  const CpNetConv *conv = pair->conv;
  const CpNetBn *bn = pair->bn;
  const int c_out = conv->c_out, c_in = conv->c_in, k = conv->k;
  const size_t count = (size_t) c_out * c_in * k * k;
  const size_t c = (size_t) bn->c;
  float *gamma = bn_host, *beta = bn_host + c, *mean = bn_host + 2 * c, *var = bn_host + 3 * c;
  float *bias = bn_host + 4 * c;
  CpStatus st;

  if ((st = be->download (be, w_host, net->params[conv->weight].data, count * sizeof (float),
                          error))
      || (st = be->download (be, gamma, net->params[bn->weight].data, c * sizeof (float), error))
      || (st = be->download (be, beta, net->params[bn->bias].data, c * sizeof (float), error))
      || (st = be->download (be, mean, net->params[bn->running_mean].data, c * sizeof (float),
                             error))
      || (st = be->download (be, var, net->params[bn->running_var].data, c * sizeof (float),
                             error)))
    return st;

  for (int co = 0; co < c_out; co++)
    {
      float invstd = (float) (1.0 / sqrt ((double) var[co] + (double) CP_BN_EPS));
      float scale = gamma[co] * invstd;

      bias[co] = beta[co] - mean[co] * scale;
      for (int ci = 0; ci < c_in; ci++)
        for (int i = 0; i < k; i++)
          for (int j = 0; j < k; j++)
            out_host[(((size_t) co * k + i) * k + j) * c_in + ci]
              = w_host[(((size_t) co * c_in + ci) * k + i) * k + j] * scale;
    }
  if ((st = be->upload (be, conv->fold_w, out_host, count * sizeof (float), error))
      || (st = be->upload (be, conv->fold_b, bias, c * sizeof (float), error)))
    return st;
  return CP_OK;
}

CpStatus
cp_network_fold (CpNetwork *net, CpError *error)
{
  CpBackend *be = net->be;
  FoldPair pairs[1 + 3 * CP_NET_BLOCKS];
  int n_pairs = fold_pairs (net, pairs);
  size_t total = 0, largest = 0, widest = 0;
  float *w_host, *out_host, *bn_host;
  CpStatus st = CP_OK;

  if (net->folded != NULL && net->folded_version == net->param_version)
    return CP_OK;

  for (int i = 0; i < n_pairs; i++)
    {
      const CpNetConv *conv = pairs[i].conv;
      size_t count = (size_t) conv->c_out * conv->c_in * conv->k * conv->k;

      total += align_floats (count) + align_floats ((size_t) conv->c_out);
      if (count > largest)
        largest = count;
      if ((size_t) conv->c_out > widest)
        widest = (size_t) conv->c_out;
    }
  if (net->folded == NULL)
    {
      float *at;

      net->folded = be->alloc (be, total * sizeof (float), error);
      if (net->folded == NULL)
        return cp_error_prefix (error, "network: folded inference weights (%.1f MiB)",
                                total * sizeof (float) / 1048576.0);
      net->folded_bytes = total * sizeof (float);
      at = net->folded;
      for (int i = 0; i < n_pairs; i++)
        {
          CpNetConv *conv = pairs[i].conv;
          size_t count = (size_t) conv->c_out * conv->c_in * conv->k * conv->k;

          conv->fold_w = at;
          at += align_floats (count);
          conv->fold_b = at;
          at += align_floats ((size_t) conv->c_out);
        }
    }

  w_host = malloc (largest * sizeof (float));
  out_host = malloc (largest * sizeof (float));
  bn_host = malloc (5 * widest * sizeof (float));
  if (w_host == NULL || out_host == NULL || bn_host == NULL)
    st = cp_error_set (error, CP_ERR_NOMEM, "network: out of memory folding batch norms");
  for (int i = 0; i < n_pairs && st == CP_OK; i++)
    st = fold_one (net, &pairs[i], w_host, out_host, bn_host, error);
  free (w_host);
  free (out_host);
  free (bn_host);
  if (st != CP_OK)
    return cp_error_prefix (error, "network: folding batch norms");
  net->folded_version = net->param_version;
  if (be->pin != NULL)
    be->pin (be, net->folded, net->folded_bytes);
  return CP_OK;
}

void
cp_network_params_changed (CpNetwork *net)
{
  net->param_version++;
}
