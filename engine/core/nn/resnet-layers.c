/* resnet-layers.c: forward and backward of convolution, batch norm and the
 * BasicBlock of ResNet-18, written against backend ops only so that every
 * backend runs the same network code.
 */
#include "network-private.h"

static CpStatus
op_failed (CpError *error, CpStatus st, const char *op, const char *layer)
{
  return cp_error_set (error, st, "%s: backend op %s failed (%s)", layer, op,
                       cp_status_to_string (st));
}

#define PARAM(net, index) ((net)->params[(index)].data)
#define GRAD(net, index)  ((net)->params[(index)].grad)
#define NAME(net, index)  ((net)->params[(index)].name)

CpStatus
cp_net_conv_forward (CpNetwork *net, const CpNetConv *conv, int n, int h, int w,
                     const float *x, float *y, CpError *error)
{
  CpBackend *be = net->be;
  CpConvDesc d;
  CpStatus st;

  cp_conv_desc_init (&d, n, conv->c_in, h, w, conv->c_out, conv->k, conv->k, conv->stride,
                     conv->pad);
  st = be->conv2d_forward (be, &d, x, PARAM (net, conv->weight), y);
  return st == CP_OK ? CP_OK : op_failed (error, st, "conv2d_forward", NAME (net, conv->weight));
}

/* Weight gradient always; input gradient only when @dx is not NULL (the
 * first convolution needs none unless the caller asks for it). */
CpStatus
cp_net_conv_backward (CpNetwork *net, const CpNetConv *conv, int n, int h, int w,
                      const float *x, const float *dy, float *dx, CpError *error)
{
  CpBackend *be = net->be;
  CpConvDesc d;
  CpStatus st;

  cp_conv_desc_init (&d, n, conv->c_in, h, w, conv->c_out, conv->k, conv->k, conv->stride,
                     conv->pad);
  st = be->conv2d_backward_filter (be, &d, x, dy, GRAD (net, conv->weight));
  if (st != CP_OK)
    return op_failed (error, st, "conv2d_backward_filter", NAME (net, conv->weight));
  if (dx != NULL)
    {
      st = be->conv2d_backward_data (be, &d, dy, PARAM (net, conv->weight), dx);
      if (st != CP_OK)
        return op_failed (error, st, "conv2d_backward_data", NAME (net, conv->weight));
    }
  return CP_OK;
}

CpStatus
cp_net_bn_forward (CpNetwork *net, CpNetBn *bn, int n, int hw, const float *x, float *y,
                   int training, CpError *error)
{
  CpBackend *be = net->be;
  CpStatus st;

  if (training)
    {
      st = be->batchnorm_forward_train (be, n, bn->c, hw, x, PARAM (net, bn->weight),
                                        PARAM (net, bn->bias), PARAM (net, bn->running_mean),
                                        PARAM (net, bn->running_var), CP_BN_MOMENTUM, CP_BN_EPS,
                                        y, bn->save_mean, bn->save_invstd);
      if (st != CP_OK)
        return op_failed (error, st, "batchnorm_forward_train", NAME (net, bn->weight));
      /* PyTorch counts every training-mode forward, momentum or not. */
      net->batches_tracked[bn->index]++;
      return CP_OK;
    }
  st = be->batchnorm_forward_infer (be, n, bn->c, hw, x, PARAM (net, bn->weight),
                                    PARAM (net, bn->bias), PARAM (net, bn->running_mean),
                                    PARAM (net, bn->running_var), CP_BN_EPS, y);
  return st == CP_OK ? CP_OK : op_failed (error, st, "batchnorm_forward_infer",
                                          NAME (net, bn->weight));
}

CpStatus
cp_net_bn_backward (CpNetwork *net, const CpNetBn *bn, int n, int hw, const float *x,
                    const float *dy, float *dx, CpError *error)
{
  CpBackend *be = net->be;
  CpStatus st;

  st = be->batchnorm_backward (be, n, bn->c, hw, x, dy, PARAM (net, bn->weight),
                               bn->save_mean, bn->save_invstd, dx, GRAD (net, bn->weight),
                               GRAD (net, bn->bias));
  return st == CP_OK ? CP_OK : op_failed (error, st, "batchnorm_backward", NAME (net, bn->weight));
}

static CpStatus
relu (CpNetwork *net, size_t count, float *x, const char *layer, CpError *error)
{
  CpStatus st = net->be->relu_forward (net->be, count, x, x);
  return st == CP_OK ? CP_OK : op_failed (error, st, "relu_forward", layer);
}

static CpStatus
relu_back (CpNetwork *net, size_t count, const float *y, float *dy, const char *layer,
           CpError *error)
{
  CpStatus st = net->be->relu_backward (net->be, count, y, dy, dy);
  return st == CP_OK ? CP_OK : op_failed (error, st, "relu_backward", layer);
}

static CpStatus
add (CpNetwork *net, size_t count, const float *a, const float *b, float *y, const char *layer,
     CpError *error)
{
  CpStatus st = net->be->add (net->be, count, a, b, y);
  return st == CP_OK ? CP_OK : op_failed (error, st, "add", layer);
}

/* out = relu (bn2 (conv2 (relu (bn1 (conv1 (x))))) + shortcut (x)).  The
 * bn2 output goes straight into out (backward needs only its input c2),
 * and the downsample BN output, which only feeds the sum, goes wherever
 * the arena plan put down_out. */
CpStatus
cp_net_block_forward (CpNetwork *net, CpNetBlock *b, int n, int training, CpError *error)
{
  size_t out_hw = (size_t) b->h_out * b->w_out;
  size_t out_count = (size_t) n * b->conv1.c_out * out_hw;
  const char *name = NAME (net, b->conv1.weight);
  CpStatus st;

  if ((st = cp_net_conv_forward (net, &b->conv1, n, b->h_in, b->w_in, b->x, b->c1, error))
      || (st = cp_net_bn_forward (net, &b->bn1, n, (int) out_hw, b->c1, b->b1, training, error))
      || (st = relu (net, out_count, b->b1, name, error))
      || (st = cp_net_conv_forward (net, &b->conv2, n, b->h_out, b->w_out, b->b1, b->c2, error))
      || (st = cp_net_bn_forward (net, &b->bn2, n, (int) out_hw, b->c2, b->out, training, error)))
    return st;
  if (b->has_down)
    {
      if ((st = cp_net_conv_forward (net, &b->down, n, b->h_in, b->w_in, b->x, b->cd, error))
          || (st = cp_net_bn_forward (net, &b->down_bn, n, (int) out_hw, b->cd, b->down_out,
                                      training, error))
          || (st = add (net, out_count, b->out, b->down_out, b->out, name, error)))
        return st;
    }
  else if ((st = add (net, out_count, b->out, b->x, b->out, name, error)))
    return st;
  return relu (net, out_count, b->out, name, error);
}

CpStatus
cp_net_conv_fused (CpNetwork *net, const CpNetConv *conv, int n, int h, int w, const float *x,
                   const float *residual, int relu, float *y, CpError *error)
{
  CpBackend *be = net->be;
  CpConvDesc d;
  CpStatus st;

  cp_conv_desc_init (&d, n, conv->c_in, h, w, conv->c_out, conv->k, conv->k, conv->stride,
                     conv->pad);
  if (net->channels_last)
    {
      /* Only the stem reads the images, which are NCHW. */
      st = be->conv2d_bias_act_forward_nhwc (be, &d, x, conv == &net->conv1, conv->fold_w,
                                             conv->fold_b, residual, relu, y);
      return st == CP_OK ? CP_OK : op_failed (error, st, "conv2d_bias_act_forward_nhwc",
                                              NAME (net, conv->weight));
    }
  st = be->conv2d_bias_act_forward (be, &d, x, conv->fold_w, conv->fold_b, residual, relu, y);
  return st == CP_OK ? CP_OK : op_failed (error, st, "conv2d_bias_act_forward",
                                          NAME (net, conv->weight));
}

/* Each convolution writes its layer's final output, so b1, cd and out
 * are all that is written (c1 and c2 are never needed). */
CpStatus
cp_net_block_forward_fused (CpNetwork *net, CpNetBlock *b, int n, CpError *error)
{
  const float *shortcut = b->x;
  CpStatus st;

  if ((st = cp_net_conv_fused (net, &b->conv1, n, b->h_in, b->w_in, b->x, NULL, 1, b->b1,
                               error)))
    return st;
  if (b->has_down)
    {
      if ((st = cp_net_conv_fused (net, &b->down, n, b->h_in, b->w_in, b->x, NULL, 0, b->cd,
                                   error)))
        return st;
      shortcut = b->cd;
    }
  return cp_net_conv_fused (net, &b->conv2, n, b->h_out, b->w_out, b->b1, shortcut, 1, b->out,
                            error);
}

/* Gradient buffers: g[*in] holds d(out) on entry.  The sum's gradient
 * flows unchanged into both branches; the input gradient is the sum of
 * the two branches' input gradients (be->add). */
CpStatus
cp_net_block_backward (CpNetwork *net, const CpNetBlock *b, int n, int *in, CpError *error)
{
  float **g = net->scratch;
  float *g0 = g[*in];
  float *g1 = g[(*in + 1) % 3];
  float *g2 = g[(*in + 2) % 3];
  size_t out_hw = (size_t) b->h_out * b->w_out;
  size_t out_count = (size_t) n * b->conv1.c_out * out_hw;
  size_t in_count = (size_t) n * b->conv1.c_in * b->h_in * b->w_in;
  const char *name = NAME (net, b->conv1.weight);
  CpStatus st;

  /* g0: d(sum); g1: d(c2); g2: d(b1) then d(c1); g1: d(x) main path. */
  if ((st = relu_back (net, out_count, b->out, g0, name, error))
      || (st = cp_net_bn_backward (net, &b->bn2, n, (int) out_hw, b->c2, g0, g1, error))
      || (st = cp_net_conv_backward (net, &b->conv2, n, b->h_out, b->w_out, b->b1, g1, g2,
                                     error))
      || (st = relu_back (net, out_count, b->b1, g2, name, error))
      || (st = cp_net_bn_backward (net, &b->bn1, n, (int) out_hw, b->c1, g2, g2, error))
      || (st = cp_net_conv_backward (net, &b->conv1, n, b->h_in, b->w_in, b->x, g2, g1, error)))
    return st;

  if (b->has_down)
    {
      /* d(sum) is no longer needed after this, so the BN works in place. */
      if ((st = cp_net_bn_backward (net, &b->down_bn, n, (int) out_hw, b->cd, g0, g0, error))
          || (st = cp_net_conv_backward (net, &b->down, n, b->h_in, b->w_in, b->x, g0, g2,
                                         error))
          || (st = add (net, in_count, g1, g2, g1, name, error)))
        return st;
    }
  else if ((st = add (net, in_count, g1, g0, g1, name, error)))
    return st;

  *in = (*in + 1) % 3;
  return CP_OK;
}
