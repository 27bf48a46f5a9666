/* normalize.h: 8-bit HWC images to the network's float NCHW input.
 *
 * torchvision's ToTensor then Normalize, in single precision as torch
 * computes them: x = (v / 255 - mean[c]) / std[c] with the ImageNet mean
 * (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).  No state: a caller
 * may convert disjoint ranges of a batch on several threads.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const float cp_imagenet_mean[3];
extern const float cp_imagenet_std[3];

/* @images (n, height, width, 3) uint8 -> @out (n, 3, height, width). */
void cp_images_to_tensor (const uint8_t *images,
                          int            n,
                          int            height,
                          int            width,
                          float         *out);

/* The inverse, for showing what the network sees: rounds to nearest and
 * clamps to [0, 255].  @tensor (n, 3, height, width) -> @images
 * (n, height, width, 3). */
void cp_tensor_to_images (const float   *tensor,
                          int            n,
                          int            height,
                          int            width,
                          uint8_t       *images);

#ifdef __cplusplus
}
#endif
