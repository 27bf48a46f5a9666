/* imagenet-weights.h: what a file of ImageNet ResNet-18 weights must hold.
 *
 * torchvision's resnet18-*.pth and timm's resnet18.* model.safetensors
 * name the backbone's tensors alike ("conv1.weight", "layer2.0.downsample.1.
 * running_var", ...; SPEC section 3).  A file passes when it holds every
 * backbone tensor under exactly that name, as a float tensor of exactly
 * the shape ResNet-18 has, with finite values (and non-negative running
 * variances); BN num_batches_tracked counters may be present (one integer
 * each) or not, fc.* (the ImageNet classifier) is ignored, and any other
 * tensor fails the check: a ResNet-34 holds every ResNet-18 name and
 * more.  This is the check applied to weights found on the machine,
 * imported or downloaded; `--weights FILE` also accepts the reference's
 * full checkpoints, which cp_network_load reads.
 */
#pragma once

#include "core/io/safetensors.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of backbone tensors (weights, biases, running statistics) of
 * ResNet-18 in torchvision's state dict, num_batches_tracked not counted. */
#define CP_IMAGENET_BACKBONE_TENSORS 100

/* CP_OK, or CP_ERR_FORMAT / CP_ERR_NUMERIC with a message naming the
 * file (its cp_safetensors_path) and the first tensor at fault. */
CpStatus cp_imagenet_weights_check (const CpSafetensors *st,
                                    CpError             *error);

#ifdef __cplusplus
}
#endif
