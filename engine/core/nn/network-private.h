/* network-private.h: the layer table, parameter layout and activation
 * arena of CpNetwork, shared by the files of engine/core/nn.
 *
 * Memory layout (one backend allocation each):
 *   params:   [backbone weights | head + classifier weights | running stats]
 *   grads:    [backbone weights | head + classifier weights]
 *   momentum: same layout as grads
 * so that one sgd_update call covers every trained weight, and a frozen
 * backbone is simply a call that starts at the first head weight.
 */
#pragma once

#include "network.h"

#define CP_BN_MOMENTUM 0.1f
#define CP_BN_EPS      1e-5f
/* Every carved tensor starts on this boundary (CUDA likes 256). */
#define CP_ARENA_ALIGN 256

typedef struct
{
  int weight;                 /* parameter index */
  int c_in, c_out, k, stride, pad;
  /* The inference fast path's copy with the following batch norm folded
   * in (network-fold.c): weights (c_out, k, k, c_in) and bias (c_out),
   * carved from CpNetwork.folded. */
  float *fold_w, *fold_b;
} CpNetConv;

typedef struct
{
  int    weight, bias, running_mean, running_var;   /* parameter indices */
  int    c;
  int    index;               /* into CpNetwork.batches_tracked */
  char  *tracked_name;        /* "<prefix>.num_batches_tracked" */
  float *save_mean;           /* (c), arena */
  float *save_invstd;         /* (c), arena */
} CpNetBn;

typedef struct
{
  CpNetConv conv1, conv2, down;
  CpNetBn   bn1, bn2, down_bn;
  int       has_down;
  /* Activations of the current forward (arena). */
  int          h_in, w_in, h_out, w_out;
  const float *x;             /* block input (previous output) */
  float       *c1, *b1;       /* conv1 output, bn1+relu output */
  float       *c2;            /* conv2 output (bn2 writes into out) */
  float       *cd;            /* downsample conv output */
  float       *down_out;      /* downsample BN output (not kept) */
  float       *out;           /* relu (bn2 + shortcut) */
} CpNetBlock;

typedef struct
{
  int weight, bias;           /* parameter indices */
  int in, out;
} CpNetLinear;

typedef struct
{
  CpNetLinear linear;
  CpNetBn     bn;
  float      *lin_out;        /* (n, out) linear output, BN input */
  float      *bn_out;         /* (n, out) bn + relu output */
} CpNetHeadLayer;

#define CP_NET_BLOCKS 8

struct CpNetwork
{
  CpBackend      *be;
  CpNetworkConfig config;

  /* Parameter table in the reference state-dict order. */
  CpParam *params;
  int      n_params;
  int      n_params_alloc;
  size_t   n_backbone_weights;     /* floats */
  size_t   n_weights;              /* floats, backbone + head + classifier */
  size_t   n_stats;                /* floats of running statistics */
  float   *param_mem;
  float   *grad_mem;
  float   *momentum_mem;

  /* num_batches_tracked, one per BN, host memory. */
  int      n_bn;
  int64_t  batches_tracked[64];

  /* Layers. */
  CpNetConv       conv1;
  CpNetBn         bn1;
  CpNetBlock      blocks[CP_NET_BLOCKS];
  CpNetHeadLayer *head;
  int             n_head;          /* head_layers + 1 */
  CpNetLinear     out;

  /* Activation arena: sized for the largest (n, h, w) seen. */
  void   *arena;
  size_t  arena_bytes;
  size_t  saved_bytes;             /* what backward reads, of the current plan */
  int     n, height, width;        /* of the last forward */
  int     training;                /* last forward kept what backward needs */
  int     forward_done;
  const float *input;              /* (n, 3, h, w), caller memory */
  float   *stem_conv;              /* (n, 64, h/2, w/2) */
  float   *stem_bn;                /* (n, 64, h/2, w/2) bn + relu */
  float   *pool_out;               /* (n, 64, h/4, w/4) */
  int32_t *pool_idx;               /* (n, 64, h/4, w/4) */
  float   *embedding;              /* (n, 512) */
  float   *logits;                 /* (n, classes) */
  float   *dlogits;                /* (n, classes) */
  float   *scratch[3];             /* gradient ping-pong, each the largest activation */
  float   *input_grad;             /* (n, 3, h, w) */
  int      want_input_grad;
  int      input_grad_valid;
  /* Inference fast path (backends with conv2d_bias_act_forward): every
   * backbone convolution with its batch norm folded in, one allocation.
   * param_version counts changes of the parameters (init, load, SGD,
   * training forwards, cp_network_params_changed); the folded copy is
   * redone when it was made from another version. */
  float        *folded;
  size_t        folded_bytes;
  unsigned long param_version;
  unsigned long folded_version;
  /* The last inference forward kept its activations channels last, (n,
   * h, w, c) (backends with the three *_nhwc ops): set per forward. */
  int           channels_last;
  /* Inference forwards use the training layout (every activation in its
   * own slot) instead of the rotating buffers: for tests that check the
   * compact layout against it, and for debugging. */
  int      keep_activations;
};

/* network-fold.c: makes net->folded current (no-op when it is). */
CpStatus cp_network_fold     (CpNetwork *net, CpError *error);

/* network-params.c */
CpStatus cp_network_build_params (CpNetwork *net, CpError *error);
void     cp_network_free_params  (CpNetwork *net);
/* Offset of @p's data from the start of the parameter allocation, floats. */
size_t   cp_network_param_offset (const CpNetwork *net, const CpParam *p);
/* Checks that the backend provides every op the network calls. */
CpStatus cp_network_check_backend (const CpBackend *be, CpError *error);

/* resnet-layers.c: forward and backward of the layer kinds, calling only
 * backend ops.  Errors name the layer. */
CpStatus cp_net_conv_forward  (CpNetwork *net, const CpNetConv *conv, int n, int h, int w,
                               const float *x, float *y, CpError *error);
CpStatus cp_net_conv_backward (CpNetwork *net, const CpNetConv *conv, int n, int h, int w,
                               const float *x, const float *dy, float *dx, CpError *error);
CpStatus cp_net_bn_forward    (CpNetwork *net, CpNetBn *bn, int n, int hw, const float *x,
                               float *y, int training, CpError *error);
CpStatus cp_net_bn_backward   (CpNetwork *net, const CpNetBn *bn, int n, int hw, const float *x,
                               const float *dy, float *dx, CpError *error);
CpStatus cp_net_block_forward (CpNetwork *net, CpNetBlock *b, int n, int training,
                               CpError *error);
/* Inference fast path: conv2d_bias_act_forward with the folded weights
 * (@residual may be NULL). */
CpStatus cp_net_conv_fused    (CpNetwork *net, const CpNetConv *conv, int n, int h, int w,
                               const float *x, const float *residual, int relu, float *y,
                               CpError *error);
/* The block in inference with the fast path: b1 = relu (conv1' x + b),
 * cd = down' x + b, out = relu (conv2' b1 + b + (cd or x)). */
CpStatus cp_net_block_forward_fused (CpNetwork *net, CpNetBlock *b, int n, CpError *error);
/* Back-propagates the gradient of the block output held in scratch[*in]
 * to the block input; on return *in names the scratch buffer holding it. */
CpStatus cp_net_block_backward (CpNetwork *net, const CpNetBlock *b, int n, int *in,
                                CpError *error);
