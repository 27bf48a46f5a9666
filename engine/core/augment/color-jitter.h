/* color-jitter.h: torchvision ColorJitter on 8-bit RGB pixels, as PIL does it.
 *
 * The reference applies ColorJitter to PIL images, so every operation
 * rounds to uint8 the way Pillow does: brightness, contrast and saturation
 * are Image.blend of a "degenerate" image and the input (computed in single
 * precision, truncated and clamped to [0, 255]); the grey of a pixel is
 * Pillow's L = (19595 R + 38470 G + 7471 B + 2^15) >> 16; hue goes through
 * Pillow's 8-bit HSV and adds trunc(hue * 255) modulo 256 to H.
 *
 * Pixels are RGB interleaved (HWC) rows of @width pixels, @stride bytes
 * apart, so a rectangle inside a larger image can be adjusted in place.
 * Nothing here keeps state: safe to call from any number of threads.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_JITTER_BRIGHTNESS = 0,
  CP_JITTER_CONTRAST,
  CP_JITTER_SATURATION,
  CP_JITTER_HUE,
} CpJitterOp;

typedef struct
{
  int    enabled;     /* 0: strength was 0, nothing was drawn, identity */
  int    order[4];    /* CpJitterOp values in the order they are applied */
  double brightness;  /* factor in [1-j, 1+j] */
  double contrast;    /* factor in [1-j, 1+j] */
  double saturation;  /* factor in [1-j, 1+j] */
  double hue;         /* shift in [-j, j], fraction of the hue circle */
} CpJitterParams;

/* Draws the parameters of one ColorJitter(j, j, j, j) call, in torchvision's
 * order: a random permutation of the four operations, then the brightness,
 * contrast, saturation factors (uniform in [max(0, 1-j), 1+j]) and the hue
 * shift (uniform in [-min(j, 0.5), min(j, 0.5)]).  A strength of 0 draws
 * nothing and yields the identity. */
void    cp_jitter_draw      (CpRng          *rng,
                             double          strength,
                             CpJitterParams *params);

/* Applies @params to a @width x @height rectangle in place. */
void    cp_jitter_apply     (const CpJitterParams *params,
                             uint8_t        *pixels,
                             int             width,
                             int             height,
                             size_t          stride);

/* The single operations, as torchvision.transforms.functional calls them on
 * a PIL image. */
void    cp_adjust_brightness (uint8_t *pixels, int width, int height,
                              size_t stride, double factor);
void    cp_adjust_contrast   (uint8_t *pixels, int width, int height,
                              size_t stride, double factor);
void    cp_adjust_saturation (uint8_t *pixels, int width, int height,
                              size_t stride, double factor);
/* @shift in [-0.5, 0.5]. */
void    cp_adjust_hue        (uint8_t *pixels, int width, int height,
                              size_t stride, double shift);

/* Pillow's RGB -> L conversion: ITU-R 601-2 luma in 16.16 fixed point,
 * rounded to nearest. */
static inline uint8_t
cp_rgb_to_gray (const uint8_t *rgb)
{
  return (uint8_t) (((uint32_t) rgb[0] * 19595u + (uint32_t) rgb[1] * 38470u
                     + (uint32_t) rgb[2] * 7471u + 0x8000u) >> 16);
}

/* Pillow's 8-bit HSV conversions (H, S, V each 0..255). */
void    cp_rgb_to_hsv8      (const uint8_t *rgb, uint8_t *hsv);
void    cp_hsv8_to_rgb      (const uint8_t *hsv, uint8_t *rgb);

#ifdef __cplusplus
}
#endif
