/* network.h: ResNet-18 + CutPaste projection head + classifier.
 *
 * Exactly SPEC section 3: torchvision's ResNet-18 without fc, then for each
 * width in [512] x head_layers + [128]: Linear -> BatchNorm1d -> ReLU, then
 * Linear(128, num_classes).  Parameters carry the reference's state-dict
 * names ("resnet18.conv1.weight", "head.0.weight", "out.bias", ...).
 * All parameters, gradients and momentum buffers live in single backend
 * allocations; activations for the largest batch seen are kept until the
 * network is freed or a larger batch arrives.
 */
#pragma once

#include <stdint.h>

#include "core/backend.h"
#include "core/rng.h"
#include "core/io/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_EMBEDDING_DIM 512

typedef struct
{
  int head_layers;   /* number of 512-wide head layers before the 128 (default 1) */
  int num_classes;   /* 2 or 3 */
} CpNetworkConfig;

typedef enum
{
  CP_PARAM_WEIGHT,        /* trained by SGD */
  CP_PARAM_RUNNING_STAT,  /* BN running_mean / running_var: saved, not trained */
} CpParamKind;

typedef struct
{
  const char *name;      /* reference state-dict name */
  CpParamKind kind;
  int         ndim;
  int64_t     shape[4];
  size_t      count;
  float      *data;      /* backend memory; after writing to it directly,
                          * call cp_network_params_changed */
  float      *grad;      /* backend memory, NULL for running statistics */
  int         in_backbone;
} CpParam;

typedef struct CpNetwork CpNetwork;

CpNetwork     *cp_network_new          (CpBackend *be, const CpNetworkConfig *config, CpError *error);
void           cp_network_free         (CpNetwork *net);
const CpNetworkConfig *cp_network_config (const CpNetwork *net);
CpBackend     *cp_network_backend      (const CpNetwork *net);

/* torchvision initialisation from @rng: Kaiming-normal (fan_out, relu) for
 * convolutions, BN weight 1 bias 0 (running mean 0, var 1), Linear as
 * PyTorch's default (kaiming_uniform a=sqrt(5) weights, uniform(+-1/sqrt(fan_in)) bias). */
void           cp_network_init         (CpNetwork *net, CpRng *rng);

int            cp_network_param_count  (const CpNetwork *net);
const CpParam *cp_network_param        (const CpNetwork *net, int index);
const CpParam *cp_network_find_param   (const CpNetwork *net, const char *name);
/* Total trained parameters (weights and biases, no running statistics). */
size_t         cp_network_weight_count (const CpNetwork *net);

/* Forward pass of @n images (n, 3, height, width) in backend memory.
 * @training: BN uses batch statistics (and updates running ones) and the
 * activations needed by backward are kept; otherwise running statistics
 * are used.  height and width must be multiples of 32 and >= 32. */
CpStatus       cp_network_forward      (CpNetwork *net, const float *images, int n, int height, int width,
                                        int training, CpError *error);
/* Outputs of the last forward pass, backend memory, valid until the next
 * forward: the 512-d global-average-pooled embedding (n, 512) and the
 * logits (n, num_classes). */
const float   *cp_network_embedding    (const CpNetwork *net);
const float   *cp_network_logits       (const CpNetwork *net);

/* Inference forward of the backbone alone, through stage @last_stage
 * (0 = the stem: conv1, bn1 and ReLU, before the max pool; 1 = layer1 ...
 * 4 = layer4); the global pool, head and classifier do not run, so
 * cp_network_embedding and cp_network_logits are not valid after it.  The
 * output of each stage s <= @last_stage whose taps[s] is not NULL is copied
 * there: backend memory of (n, C, H, W) floats with the sizes of
 * cp_network_stage_shape.  For local features (a Gaussian per image
 * region), which need the early stages' spatial maps that the global
 * average pool throws away. */
CpStatus       cp_network_forward_stages (CpNetwork *net, const float *images, int n, int height,
                                          int width, int last_stage, float *const taps[5],
                                          CpError *error);
/* Channels and spatial size of stage @stage's output for a height x width
 * input (multiples of 32): 64, 64, 128, 256, 512 channels at 1/2, 1/4, 1/8,
 * 1/16, 1/32 of the input for stages 0 (stem) to 4. */
void           cp_network_stage_shape   (int stage, int height, int width, int *channels,
                                         int *stage_h, int *stage_w);

/* Mean cross-entropy of the last forward's logits against @labels (backend
 * memory, int32, n of them); when @backward is set, also back-propagates
 * into every parameter's grad.  With @freeze_backbone the backward pass
 * stops at the head (backbone grads are left zero). */
CpStatus       cp_network_loss_backward (CpNetwork *net, const int32_t *labels, int backward,
                                         int freeze_backbone, float *loss, CpError *error);

/* One SGD step (momentum, weight decay as SPEC section 4) on every weight;
 * with @freeze_backbone only the head and classifier move. */
CpStatus       cp_network_sgd_step     (CpNetwork *net, float lr, float momentum, float weight_decay,
                                        int freeze_backbone, CpError *error);

/* Momentum buffers (for checkpoints): one backend array of
 * cp_network_weight_count floats, in parameter order. */
float         *cp_network_momentum     (CpNetwork *net);

/* BN num_batches_tracked (int64 in the state dict), one counter per BN. */
int64_t        cp_network_batches_tracked (const CpNetwork *net);

/* Adds every tensor of the network (reference names, running statistics
 * and int64 num_batches_tracked included) to @w, downloading from the
 * backend. */
CpStatus       cp_network_save         (CpNetwork *net, CpSafetensorsWriter *w, CpError *error);

typedef enum
{
  CP_LOAD_ALL,          /* backbone, head and classifier must all be present */
  CP_LOAD_BACKBONE,     /* only the backbone is required (ImageNet weights); only
                         * the backbone is read, the head and classifier keep
                         * their values */
} CpLoadMode;

/* Loads tensors by reference name, also accepting torchvision's names
 * (no "resnet18." prefix; fc.* ignored).  Missing, mis-shaped or
 * non-float tensors are errors naming the key.  F16, BF16 and F64 are
 * converted; num_batches_tracked is optional.  Everything is checked
 * before anything is written, so a failed load leaves the network as it
 * was.  Other tensors in the file (gde.*, fc.*) are ignored. */
CpStatus       cp_network_load         (CpNetwork *net, const CpSafetensors *st, CpLoadMode mode,
                                        CpError *error);

/* Floating-point operations of one forward pass per image at height x
 * width (multiply-add = 2 FLOPs), counted from the layer shapes.  Backward
 * costs about twice the forward. */
double         cp_network_forward_flops (const CpNetwork *net, int height, int width);

/* Bytes the network holds on its backend now (parameters, gradients,
 * momentum, activations, workspaces, and the inference fast path's folded
 * weights once an inference forward has made them). */
size_t         cp_network_memory_bytes (const CpNetwork *net);

/* ---- additions (owner nn) ---- */

/* Tells the network that parameters were written through CpParam.data
 * (init, load, SGD steps and training forwards tell it themselves): the
 * inference fast path's folded copy of the weights is then redone before
 * the next inference forward. */
void           cp_network_params_changed (CpNetwork *net);

/* cp_network_init that reports allocation and upload failures. */
CpStatus       cp_network_init_checked (CpNetwork *net, CpRng *rng, CpError *error);

/* Trained floats of the backbone alone; they come first in the gradient
 * and momentum arrays, the head's and classifier's after them. */
size_t         cp_network_backbone_weight_count (const CpNetwork *net);

/* Makes the following backward passes also compute the gradient of the
 * loss with respect to the input images (gradient checks, saliency); off
 * by default since it costs one more convolution.  The result, (n, 3, h,
 * w) backend memory, is NULL until such a backward has run and is valid
 * until the next forward. */
void           cp_network_set_input_grad (CpNetwork *net, int enabled);
const float   *cp_network_input_grad    (const CpNetwork *net);

/* Activation bytes a training step must keep for its backward pass at n
 * images of height x width (conv outputs, BN and ReLU outputs, block
 * outputs, pool indices, BN batch statistics, head activations), counted
 * from the layer shapes. */
size_t         cp_network_saved_activation_bytes (const CpNetwork *net, int n, int height,
                                                  int width);
/* Bytes of the activation arena a forward at that size needs: with
 * @training the saved tensors plus the gradient scratch buffers; without,
 * four rotating buffers (inference keeps nothing for backward).  The
 * network keeps the largest arena it has needed so far. */
size_t         cp_network_arena_bytes  (const CpNetwork *net, int n, int height, int width,
                                        int training);

#ifdef __cplusplus
}
#endif
