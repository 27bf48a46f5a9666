/* network.c: creation of the network, its activation arena, and the
 * forward pass, loss + backward pass and SGD step of ResNet-18 + head.
 */
#include "network-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- creation ---------------------------------------------------------- */

CpNetwork *
cp_network_new (CpBackend *be, const CpNetworkConfig *config, CpError *error)
{
  CpNetwork *net;

  if (be == NULL || config == NULL)
    {
      cp_error_set (error, CP_ERR_INVALID, "cp_network_new: backend and config are required");
      return NULL;
    }
  if (config->num_classes < 2 || config->num_classes > 1024)
    {
      cp_error_set (error, CP_ERR_INVALID, "network: num_classes must be 2 or more (got %d)",
                    config->num_classes);
      return NULL;
    }
  /* The fixed num_batches_tracked table holds 20 backbone BNs + the head's. */
  if (config->head_layers < 0 || config->head_layers > 32)
    {
      cp_error_set (error, CP_ERR_INVALID, "network: head_layers must be in 0..32 (got %d)",
                    config->head_layers);
      return NULL;
    }
  if (cp_network_check_backend (be, error) != CP_OK)
    return NULL;

  net = calloc (1, sizeof *net);
  if (net == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "network: out of memory");
      return NULL;
    }
  net->be = be;
  net->config = *config;
  net->n_head = config->head_layers + 1;
  net->head = calloc ((size_t) net->n_head, sizeof *net->head);
  if (net->head == NULL)
    {
      free (net);
      cp_error_set (error, CP_ERR_NOMEM, "network: out of memory");
      return NULL;
    }
  if (cp_network_build_params (net, error) != CP_OK)
    {
      cp_network_free (net);
      return NULL;
    }
  return net;
}

void
cp_network_free (CpNetwork *net)
{
  if (net == NULL)
    return;
  if (net->arena != NULL)
    net->be->free (net->be, net->arena);
  if (net->folded != NULL)
    net->be->free (net->be, net->folded);
  cp_network_free_params (net);
  free (net->head);
  free (net);
}

const CpNetworkConfig *
cp_network_config (const CpNetwork *net)
{
  return &net->config;
}

CpBackend *
cp_network_backend (const CpNetwork *net)
{
  return net->be;
}

int
cp_network_param_count (const CpNetwork *net)
{
  return net->n_params;
}

const CpParam *
cp_network_param (const CpNetwork *net, int index)
{
  if (index < 0 || index >= net->n_params)
    return NULL;
  return &net->params[index];
}

const CpParam *
cp_network_find_param (const CpNetwork *net, const char *name)
{
  for (int i = 0; i < net->n_params; i++)
    if (strcmp (net->params[i].name, name) == 0)
      return &net->params[i];
  return NULL;
}

size_t
cp_network_weight_count (const CpNetwork *net)
{
  return net->n_weights;
}

size_t
cp_network_backbone_weight_count (const CpNetwork *net)
{
  return net->n_backbone_weights;
}

float *
cp_network_momentum (CpNetwork *net)
{
  return net->momentum_mem;
}

int64_t
cp_network_batches_tracked (const CpNetwork *net)
{
  /* Every BN sees every training forward, so all counters agree unless a
   * loaded file said otherwise; the stem's is the representative. */
  return net->batches_tracked[net->bn1.index];
}

const float *
cp_network_embedding (const CpNetwork *net)
{
  return net->forward_done ? net->embedding : NULL;
}

const float *
cp_network_logits (const CpNetwork *net)
{
  return net->forward_done ? net->logits : NULL;
}

void
cp_network_set_input_grad (CpNetwork *net, int enabled)
{
  net->want_input_grad = enabled != 0;
}

const float *
cp_network_input_grad (const CpNetwork *net)
{
  return net->input_grad_valid ? net->input_grad : NULL;
}

/* ---- activation arena --------------------------------------------------- */

typedef struct
{
  char  *base;      /* NULL: only count */
  size_t off;
  size_t saved;     /* bytes of tensors that backward reads */
} Carver;

static void *
carve (Carver *c, size_t bytes, int saved)
{
  size_t off = (c->off + CP_ARENA_ALIGN - 1) / CP_ARENA_ALIGN * CP_ARENA_ALIGN;

  c->off = off + bytes;
  if (saved)
    c->saved += bytes;
  return c->base != NULL ? c->base + off : NULL;
}

#define CARVE(c, target, bytes, saved)            \
  do {                                            \
    void *p_ = carve ((c), (bytes), (saved));     \
    if ((c)->base != NULL)                        \
      (target) = p_;                              \
  } while (0)

static void
carve_bn (Carver *c, CpNetBn *bn)
{
  CARVE (c, bn->save_mean, (size_t) bn->c * sizeof (float), 1);
  CARVE (c, bn->save_invstd, (size_t) bn->c * sizeof (float), 1);
}

static int
conv_out_size (int in, int k, int stride, int pad)
{
  return (in + 2 * pad - k) / stride + 1;
}

/* Lays out every activation of a forward (+ backward when @training) at
 * (n, h, w).  With c->base NULL it only counts; otherwise it also points
 * the layers at their tensors.
 *
 * Training: each tensor backward reads (conv outputs = BN inputs, relu
 * outputs, block outputs, pool indices) gets its own slot; gradients flow
 * through three ping-pong buffers as large as the largest activation.
 * Inference keeps nothing: the backbone runs in four rotating buffers of
 * the largest activation's size, about a third of the training arena at
 * ResNet-18's shapes, so embedding many images at once costs less. */
static void
plan (CpNetwork *net, Carver *c, int n, int h, int w, int training)
{
  const size_t F = sizeof (float);
  int h2 = conv_out_size (h, 7, 2, 3), w2 = conv_out_size (w, 7, 2, 3);
  int h4 = conv_out_size (h2, 3, 2, 1), w4 = conv_out_size (w2, 3, 2, 1);
  int hi = h4, wi = w4;
  size_t largest = (size_t) n * 64 * h2 * w2;
  float *rot[4] = { NULL, NULL, NULL, NULL };
  int xi = 2;
  const float *x;
  size_t count;

  for (int i = 0; i < net->n_head; i++)
    if ((size_t) n * net->head[i].linear.out > largest)
      largest = (size_t) n * net->head[i].linear.out;

  carve_bn (c, &net->bn1);
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      carve_bn (c, &net->blocks[i].bn1);
      carve_bn (c, &net->blocks[i].bn2);
      if (net->blocks[i].has_down)
        carve_bn (c, &net->blocks[i].down_bn);
    }
  for (int i = 0; i < net->n_head; i++)
    carve_bn (c, &net->head[i].bn);

  count = (size_t) n * 64 * h4 * w4;
  if (training)
    {
      CARVE (c, net->stem_conv, (size_t) n * 64 * h2 * w2 * F, 1);
      CARVE (c, net->stem_bn, (size_t) n * 64 * h2 * w2 * F, 1);
      CARVE (c, net->pool_out, count * F, 1);
    }
  else
    {
      for (int i = 0; i < 4; i++)
        CARVE (c, rot[i], largest * F, 0);
      if (c->base != NULL)
        {
          net->stem_conv = rot[0];
          net->stem_bn = rot[1];
          net->pool_out = rot[xi];
        }
    }
  CARVE (c, net->pool_idx, count * sizeof (int32_t), 1);

  x = net->pool_out;
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      CpNetBlock *b = &net->blocks[i];
      int ho = conv_out_size (hi, 3, b->conv1.stride, 1);
      int wo = conv_out_size (wi, 3, b->conv1.stride, 1);

      count = (size_t) n * b->conv1.c_out * ho * wo;
      if (c->base != NULL)
        {
          b->h_in = hi;
          b->w_in = wi;
          b->h_out = ho;
          b->w_out = wo;
          b->x = x;
        }
      if (training)
        {
          CARVE (c, b->c1, count * F, 1);
          CARVE (c, b->b1, count * F, 1);
          CARVE (c, b->c2, count * F, 1);
          if (b->has_down)
            CARVE (c, b->cd, count * F, 1);
          CARVE (c, b->out, count * F, 1);
        }
      else if (c->base != NULL)
        {
          /* x in rot[xi]; the three others hold, in turn, c1 then c2 then
           * cd (o1), b1 then the downsample BN output (o3), and out (o2),
           * which is the next block's input.  No op writes over its own
           * input, so no backend needs in-place support. */
          int o1 = (xi + 1) % 4, o2 = (xi + 2) % 4, o3 = (xi + 3) % 4;
          b->c1 = rot[o1];
          b->c2 = rot[o1];
          b->cd = rot[o1];
          b->b1 = rot[o3];
          b->down_out = rot[o3];
          b->out = rot[o2];
          xi = o2;
        }
      x = b->out;
      hi = ho;
      wi = wo;
    }

  CARVE (c, net->embedding, (size_t) n * CP_EMBEDDING_DIM * F, 1);
  for (int i = 0; i < net->n_head; i++)
    {
      CpNetHeadLayer *hl = &net->head[i];
      count = (size_t) n * hl->linear.out;
      CARVE (c, hl->lin_out, count * F, 1);
      CARVE (c, hl->bn_out, count * F, 1);
    }
  CARVE (c, net->logits, (size_t) n * net->config.num_classes * F, 1);
  if (training)
    {
      CARVE (c, net->dlogits, (size_t) n * net->config.num_classes * F, 0);
      for (int i = 0; i < 3; i++)
        CARVE (c, net->scratch[i], largest * F, 0);
      CARVE (c, net->input_grad, (size_t) n * 3 * h * w * F, 0);
      /* The downsample BN output only feeds the sum: it borrows a
       * gradient buffer, idle during the forward pass. */
      for (int i = 0; c->base != NULL && i < CP_NET_BLOCKS; i++)
        net->blocks[i].down_out = net->scratch[0];
    }
}

size_t
cp_network_saved_activation_bytes (const CpNetwork *net, int n, int height, int width)
{
  Carver c = { NULL, 0, 0 };

  plan ((CpNetwork *) net, &c, n, height, width, 1);
  return c.saved;
}

size_t
cp_network_arena_bytes (const CpNetwork *net, int n, int height, int width, int training)
{
  Carver c = { NULL, 0, 0 };

  plan ((CpNetwork *) net, &c, n, height, width, training);
  return c.off;
}

static CpStatus
prepare_arena (CpNetwork *net, int n, int h, int w, int training, CpError *error)
{
  CpBackend *be = net->be;
  Carver c = { NULL, 0, 0 };

  plan (net, &c, n, h, w, training);
  if (c.off > net->arena_bytes)
    {
      if (net->arena != NULL)
        be->free (be, net->arena);
      net->arena = NULL;
      net->arena_bytes = 0;
      net->arena = be->alloc (be, c.off, error);
      if (net->arena == NULL)
        return cp_error_prefix (error, "network activations for %d images of %dx%d (%.1f MiB)",
                                n, w, h, c.off / 1048576.0);
      net->arena_bytes = c.off;
    }
  net->saved_bytes = c.saved;
  c.base = net->arena;
  c.off = 0;
  c.saved = 0;
  plan (net, &c, n, h, w, training);
  return CP_OK;
}

/* ---- forward ------------------------------------------------------------ */

static CpStatus
op_failed (CpError *error, CpStatus st, const char *op, const char *layer)
{
  return cp_error_set (error, st, "%s: backend op %s failed (%s)", layer, op,
                       cp_status_to_string (st));
}

static CpStatus
linear_forward (CpNetwork *net, const CpNetLinear *lin, int n, const float *x, float *y,
                CpError *error)
{
  CpStatus st = net->be->linear_forward (net->be, n, lin->in, lin->out, x,
                                         net->params[lin->weight].data,
                                         net->params[lin->bias].data, y);
  return st == CP_OK ? CP_OK : op_failed (error, st, "linear_forward",
                                          net->params[lin->weight].name);
}

static const char *const stage_names[] = {
  "resnet18.relu", "resnet18.layer1", "resnet18.layer2", "resnet18.layer3", "resnet18.layer4"
};

/* The forward pass behind cp_network_forward (@last_block = the last
 * block, no taps) and cp_network_forward_stages (inference, stopping after
 * block @last_block, -1 for the stem alone, copying stage outputs into
 * @taps). */
static CpStatus
forward_impl (CpNetwork *net, const float *images, int n, int height, int width,
              int training, int last_block, float *const *taps, CpError *error)
{
  CpBackend *be = net->be;
  int h2, w2, fused;
  const CpNetBlock *last;
  const float *x;
  CpStatus st;

  net->forward_done = 0;
  net->input_grad_valid = 0;
  if (images == NULL || n < 1)
    return cp_error_set (error, CP_ERR_INVALID, "network forward: no images (n = %d)", n);
  if (height < 32 || width < 32 || height % 32 != 0 || width % 32 != 0)
    return cp_error_set (error, CP_ERR_INVALID,
                         "network forward: image size %dx%d is not a multiple of 32 (>= 32)",
                         width, height);
  /* BatchNorm1d in the head normalises over the batch alone: PyTorch
   * refuses one value per channel, and so do we. */
  if (training && n < 2)
    return cp_error_set (error, CP_ERR_INVALID,
                         "network forward: training needs at least 2 images per batch (got %d)",
                         n);

  if ((st = prepare_arena (net, n, height, width, training || net->keep_activations, error))
      != CP_OK)
    return st;
  net->n = n;
  net->height = height;
  net->width = width;
  net->training = training != 0;
  net->input = images;

  h2 = conv_out_size (height, 7, 2, 3);
  w2 = conv_out_size (width, 7, 2, 3);

  if (training)
    /* The batch norms' running statistics move. */
    cp_network_params_changed (net);
  /* Inference fast path: batch norms folded into the convolutions, bias,
   * residual and ReLU in the convolution's output pass. */
  fused = !training && be->conv2d_bias_act_forward != NULL;
  if (fused && (st = cp_network_fold (net, error)) != CP_OK)
    return st;
  /* Channels last through the backbone when the backend has it; the
   * embedding after the average pool is (n, 512) either way.  Taps hand
   * out stage outputs as (n, c, h, w), so a call with taps stays there. */
  net->channels_last = fused && taps == NULL && be->conv2d_bias_act_forward_nhwc != NULL
                       && be->maxpool_forward_nhwc != NULL && be->avgpool_forward_nhwc != NULL;

  if (fused)
    st = cp_net_conv_fused (net, &net->conv1, n, height, width, images, NULL, 1, net->stem_bn,
                            error);
  else if (!(st = cp_net_conv_forward (net, &net->conv1, n, height, width, images,
                                       net->stem_conv, error))
           && !(st = cp_net_bn_forward (net, &net->bn1, n, h2 * w2, net->stem_conv,
                                        net->stem_bn, training, error))
           && (st = be->relu_forward (be, (size_t) n * 64 * h2 * w2, net->stem_bn,
                                      net->stem_bn)))
    return op_failed (error, st, "relu_forward", "resnet18.relu");
  if (st)
    return st;
  if (taps != NULL && taps[0] != NULL
      && (st = be->copy (be, taps[0], net->stem_bn, (size_t) n * 64 * h2 * w2 * sizeof (float),
                         error)))
    return op_failed (error, st, "copy", stage_names[0]);
  if (last_block < 0)
    return CP_OK;
  if (net->channels_last)
    {
      if ((st = be->maxpool_forward_nhwc (be, n, 64, h2, w2, 3, 2, 1, net->stem_bn,
                                          net->pool_out)))
        return op_failed (error, st, "maxpool_forward_nhwc", "resnet18.maxpool");
    }
  else if ((st = be->maxpool_forward (be, n, 64, h2, w2, 3, 2, 1, net->stem_bn, net->pool_out,
                                      net->pool_idx)))
    return op_failed (error, st, "maxpool_forward", "resnet18.maxpool");

  for (int i = 0; i <= last_block; i++)
    {
      CpNetBlock *b = &net->blocks[i];
      /* Stage s (layer s) ends with block 2 s - 1; in inference its output
       * sits in a rotating buffer that later blocks overwrite, hence the copy. */
      float *tap = taps != NULL && i % 2 == 1 ? taps[i / 2 + 1] : NULL;

      if ((st = fused ? cp_net_block_forward_fused (net, b, n, error)
                      : cp_net_block_forward (net, b, n, training, error)))
        return st;
      if (tap != NULL
          && (st = be->copy (be, tap, b->out,
                             (size_t) n * b->conv1.c_out * b->h_out * b->w_out * sizeof (float),
                             error)))
        return op_failed (error, st, "copy", stage_names[i / 2 + 1]);
    }
  if (last_block < CP_NET_BLOCKS - 1)
    return CP_OK;

  last = &net->blocks[CP_NET_BLOCKS - 1];
  if (net->channels_last)
    {
      if ((st = be->avgpool_forward_nhwc (be, n, CP_EMBEDDING_DIM, last->h_out * last->w_out,
                                          last->out, net->embedding)))
        return op_failed (error, st, "avgpool_forward_nhwc", "resnet18.avgpool");
    }
  else if ((st = be->avgpool_forward (be, n, CP_EMBEDDING_DIM, last->h_out * last->w_out,
                                      last->out, net->embedding)))
    return op_failed (error, st, "avgpool_forward", "resnet18.avgpool");

  x = net->embedding;
  for (int i = 0; i < net->n_head; i++)
    {
      CpNetHeadLayer *hl = &net->head[i];
      if ((st = linear_forward (net, &hl->linear, n, x, hl->lin_out, error))
          || (st = cp_net_bn_forward (net, &hl->bn, n, 1, hl->lin_out, hl->bn_out, training,
                                      error)))
        return st;
      if ((st = be->relu_forward (be, (size_t) n * hl->linear.out, hl->bn_out, hl->bn_out)))
        return op_failed (error, st, "relu_forward", net->params[hl->bn.weight].name);
      x = hl->bn_out;
    }
  if ((st = linear_forward (net, &net->out, n, x, net->logits, error)))
    return st;

  net->forward_done = 1;
  return CP_OK;
}

CpStatus
cp_network_forward (CpNetwork *net, const float *images, int n, int height, int width,
                    int training, CpError *error)
{
  return forward_impl (net, images, n, height, width, training, CP_NET_BLOCKS - 1, NULL, error);
}

void
cp_network_stage_shape (int stage, int height, int width, int *channels, int *stage_h,
                        int *stage_w)
{
  /* Multiples of 32: the stem and the max pool halve exactly, and so does
   * the first block of each later stage. */
  int shift = stage == 0 ? 1 : stage + 1;

  *channels = stage == 0 ? 64 : 64 << (stage - 1);
  *stage_h = height >> shift;
  *stage_w = width >> shift;
}

CpStatus
cp_network_forward_stages (CpNetwork *net, const float *images, int n, int height, int width,
                           int last_stage, float *const taps[5], CpError *error)
{
  if (last_stage < 0 || last_stage > 4)
    return cp_error_set (error, CP_ERR_INVALID,
                         "network forward: stage %d is not one of ResNet-18's stages 0..4",
                         last_stage);
  if (taps == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "network forward: no stage outputs requested");
  return forward_impl (net, images, n, height, width, 0, 2 * last_stage - 1, taps, error);
}

/* ---- loss and backward -------------------------------------------------- */

static CpStatus
linear_backward (CpNetwork *net, const CpNetLinear *lin, int n, const float *x, const float *dy,
                 float *dx, CpError *error)
{
  CpStatus st = net->be->linear_backward (net->be, n, lin->in, lin->out, x,
                                          net->params[lin->weight].data, dy, dx,
                                          net->params[lin->weight].grad,
                                          net->params[lin->bias].grad);
  return st == CP_OK ? CP_OK : op_failed (error, st, "linear_backward",
                                          net->params[lin->weight].name);
}

CpStatus
cp_network_loss_backward (CpNetwork *net, const int32_t *labels, int backward,
                          int freeze_backbone, float *loss, CpError *error)
{
  CpBackend *be = net->be;
  int n = net->n;
  float loss_value = 0.0f;
  float *ga, *gb, *tmp;
  int in, h2, w2;
  const CpNetBlock *last = &net->blocks[CP_NET_BLOCKS - 1];
  CpStatus st;

  if (!net->forward_done)
    return cp_error_set (error, CP_ERR_INVALID, "network loss: no forward pass to take it from");
  if (backward && !net->training)
    return cp_error_set (error, CP_ERR_INVALID,
                         "network backward: the last forward was in inference mode");
  if (labels == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "network loss: no labels");

  st = be->softmax_cross_entropy (be, n, net->config.num_classes, net->logits, labels,
                                  &loss_value, backward ? net->dlogits : NULL);
  if (st != CP_OK)
    return op_failed (error, st, "softmax_cross_entropy", "loss");
  if (loss != NULL)
    *loss = loss_value;
  if (!isfinite (loss_value))
    return cp_error_set (error, CP_ERR_NUMERIC, "network loss is not finite (%g)",
                         (double) loss_value);
  if (!backward)
    return CP_OK;

  /* Head, last layer first; the gradient ping-pongs between scratch 1
   * and 2 and scratch 0 receives the embedding's spatial gradient. */
  ga = net->scratch[1];
  gb = net->scratch[2];
  if ((st = linear_backward (net, &net->out, n, net->head[net->n_head - 1].bn_out, net->dlogits,
                             ga, error)))
    return st;
  for (int i = net->n_head - 1; i >= 0; i--)
    {
      CpNetHeadLayer *hl = &net->head[i];
      const float *x = i > 0 ? net->head[i - 1].bn_out : net->embedding;
      float *dx = (i > 0 || !freeze_backbone) ? gb : NULL;

      if ((st = be->relu_backward (be, (size_t) n * hl->linear.out, hl->bn_out, ga, ga)))
        return op_failed (error, st, "relu_backward", net->params[hl->bn.weight].name);
      if ((st = cp_net_bn_backward (net, &hl->bn, n, 1, hl->lin_out, ga, ga, error))
          || (st = linear_backward (net, &hl->linear, n, x, ga, dx, error)))
        return st;
      tmp = ga;
      ga = gb;
      gb = tmp;
    }

  if (freeze_backbone)
    {
      /* The header promises zero backbone gradients, not stale ones. */
      st = be->zero (be, net->grad_mem, net->n_backbone_weights * sizeof (float), error);
      return st == CP_OK ? CP_OK : cp_error_prefix (error, "network backward");
    }

  /* ga holds d(embedding) (n, 512). */
  if ((st = be->avgpool_backward (be, n, CP_EMBEDDING_DIM, last->h_out * last->w_out, ga,
                                  net->scratch[0])))
    return op_failed (error, st, "avgpool_backward", "resnet18.avgpool");
  in = 0;
  for (int i = CP_NET_BLOCKS - 1; i >= 0; i--)
    if ((st = cp_net_block_backward (net, &net->blocks[i], n, &in, error)))
      return st;

  h2 = net->blocks[0].h_in * 2;
  w2 = net->blocks[0].w_in * 2;
  ga = net->scratch[in];
  gb = net->scratch[(in + 1) % 3];
  if ((st = be->maxpool_backward (be, n, 64, h2, w2, 3, 2, 1, ga, net->pool_idx, gb)))
    return op_failed (error, st, "maxpool_backward", "resnet18.maxpool");
  if ((st = be->relu_backward (be, (size_t) n * 64 * h2 * w2, net->stem_bn, gb, gb)))
    return op_failed (error, st, "relu_backward", "resnet18.relu");
  if ((st = cp_net_bn_backward (net, &net->bn1, n, h2 * w2, net->stem_conv, gb, gb, error))
      || (st = cp_net_conv_backward (net, &net->conv1, n, net->height, net->width, net->input,
                                     gb, net->want_input_grad ? net->input_grad : NULL, error)))
    return st;
  net->input_grad_valid = net->want_input_grad;
  return CP_OK;
}

CpStatus
cp_network_sgd_step (CpNetwork *net, float lr, float momentum, float weight_decay,
                     int freeze_backbone, CpError *error)
{
  CpBackend *be = net->be;
  size_t start = freeze_backbone ? net->n_backbone_weights : 0;
  CpStatus st;

  st = be->sgd_update (be, net->n_weights - start, net->param_mem + start, net->grad_mem + start,
                       net->momentum_mem + start, lr, momentum, weight_decay);
  cp_network_params_changed (net);
  return st == CP_OK ? CP_OK : op_failed (error, st, "sgd_update", "network");
}

/* ---- accounting --------------------------------------------------------- */

static double
conv_flops (const CpNetConv *conv, int h_out, int w_out)
{
  return 2.0 * conv->c_out * h_out * w_out * conv->c_in * conv->k * conv->k;
}

double
cp_network_forward_flops (const CpNetwork *net, int height, int width)
{
  int h = conv_out_size (height, 7, 2, 3), w = conv_out_size (width, 7, 2, 3);
  double flops = conv_flops (&net->conv1, h, w);

  h = conv_out_size (h, 3, 2, 1);
  w = conv_out_size (w, 3, 2, 1);
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      const CpNetBlock *b = &net->blocks[i];
      int ho = conv_out_size (h, 3, b->conv1.stride, 1);
      int wo = conv_out_size (w, 3, b->conv1.stride, 1);

      flops += conv_flops (&b->conv1, ho, wo) + conv_flops (&b->conv2, ho, wo);
      if (b->has_down)
        flops += conv_flops (&b->down, ho, wo);
      h = ho;
      w = wo;
    }
  for (int i = 0; i < net->n_head; i++)
    flops += 2.0 * net->head[i].linear.in * net->head[i].linear.out;
  flops += 2.0 * net->out.in * net->out.out;
  return flops;
}

size_t
cp_network_memory_bytes (const CpNetwork *net)
{
  return (net->n_weights + net->n_stats + 2 * net->n_weights) * sizeof (float)
         + net->arena_bytes + net->folded_bytes;
}
