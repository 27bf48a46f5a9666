/* cutpaste.h: CutPaste, CutPaste-Scar and the training batch (SPEC 2).
 *
 * Images are 8-bit RGB, interleaved (HWC), @size x @size pixels (size >= 16),
 * rows packed (stride 3 * size).  Every random draw comes from the CpRng
 * passed in, in a fixed order, so one seed reproduces every byte.  Nothing
 * here has global state: a trainer can build the next batch on a worker
 * thread with its own generator (cp_rng_split) while the network computes.
 *
 * Integer choices (documented deviations from the reference's Python):
 *  - corners are uniform integers in [0, size - extent], both ends included
 *    (the reference's int (random.uniform (0, size - extent)) almost never
 *    reaches the upper end);
 *  - CutPaste w = round (sqrt (area * aspect)), h = round (sqrt (area /
 *    aspect)), round half to even like Python, clamped to [1, size];
 *  - scar w = round (U (2, 16)), h = round (U (10, 25)), which is what
 *    Pillow's crop does with the reference's float box (so 2, 16, 10 and 25
 *    come half as often as the sizes between), clamped to [1, size];
 *  - the scar is rotated exactly as Pillow's Image.rotate (angle,
 *    expand=True) with nearest neighbour does it (counter-clockwise for a
 *    positive angle, canvas from the ceil/floor of the rotated corners,
 *    pixel centres mapped back in 16.16 fixed point and floored; checked
 *    pixel for pixel against Pillow), and its destination is drawn so that
 *    the whole rotated canvas lies inside the image (the reference swaps
 *    width and height there).
 *    Only when the canvas is larger than the image (size < ~31 with the
 *    default scar sizes) does the scar overhang the border and get clipped.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "color-jitter.h"
#include "variant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  CpAugmentVariant variant;
  double image_jitter;     /* whole-image colour jitter strength (0.1) */
  double patch_jitter;     /* colour jitter of the cut patch (0.1) */
  double area_min;         /* CutPaste area fraction, U(area_min, area_max) */
  double area_max;         /*   (0.02, 0.15) */
  double aspect_min;       /* log-uniform aspect in [aspect_min, 1/aspect_min] (0.3) */
  double scar_w_min;       /* scar width U(2, 16) px */
  double scar_w_max;
  double scar_h_min;       /* scar height U(10, 25) px */
  double scar_h_max;
  double scar_angle_max;   /* rotation U(-45, 45) degrees */
} CpAugmentConfig;

/* The values of SPEC section 2 for @variant. */
void     cp_augment_config_init     (CpAugmentConfig *config,
                                     CpAugmentVariant variant);
CpStatus cp_augment_config_validate (const CpAugmentConfig *config,
                                     CpError        *error);

typedef enum
{
  CP_AUGMENT_KIND_NONE = 0,   /* the (jittered) original */
  CP_AUGMENT_KIND_CUTPASTE,
  CP_AUGMENT_KIND_SCAR,
} CpAugmentKind;

/* Geometry of one augmented view, for previews and tests. */
typedef struct
{
  CpAugmentKind  kind;
  int            src_x, src_y;   /* top-left of the cut rectangle */
  int            w, h;           /* size of the cut rectangle */
  int            dst_x, dst_y;   /* top-left of the pasted canvas */
  int            paste_w, paste_h; /* pasted canvas: w x h for CutPaste,
                                    * the expanded rotated canvas for scar */
  double         angle;          /* scar rotation, degrees counter-clockwise */
  CpJitterParams image_jitter;   /* the whole-image jitter (batch only) */
  CpJitterParams patch_jitter;   /* the jitter of the cut patch */
} CpAugmentInfo;

/* CutPaste (normal) of @image into @out (a different buffer): @out becomes
 * a copy of @image with a jittered rectangle of it pasted elsewhere.
 * @info may be NULL. */
CpStatus cp_augment_cutpaste (const CpAugmentConfig *config,
                              CpRng          *rng,
                              const uint8_t  *image,
                              int             size,
                              uint8_t        *out,
                              CpAugmentInfo  *info,
                              CpError        *error);

/* CutPaste-Scar of @image into @out (a different buffer). */
CpStatus cp_augment_scar     (const CpAugmentConfig *config,
                              CpRng          *rng,
                              const uint8_t  *image,
                              int             size,
                              uint8_t        *out,
                              CpAugmentInfo  *info,
                              CpError        *error);

#define CP_AUGMENT_MAX_THREADS 64

/* One training batch from @batch source images of @size x @size:
 * @out (views * batch, size, size, 3) holds [batch originals, batch
 * augmented (CutPaste; scar for the scar variant; either for union),
 * batch scar (3way only)], views = cp_augment_variant_num_views; @labels
 * (views * batch) is the view index (0, 1[, 2]).  Each original is first
 * colour-jittered as a whole (config->image_jitter) and every augmented
 * view of it is made from that jittered image.  @info (views * batch) may
 * be NULL.  The sources may repeat.  Each image draws from its own
 * generator, split off @rng in order (cp_rng_split) before any work. */
CpStatus cp_augment_batch    (const CpAugmentConfig *config,
                              CpRng          *rng,
                              const uint8_t *const *sources,
                              int             batch,
                              int             size,
                              uint8_t        *out,
                              int32_t        *labels,
                              CpAugmentInfo  *info,
                              CpError        *error);

/* cp_augment_batch with the images shared out over @n_threads threads
 * (the caller's included, at most CP_AUGMENT_MAX_THREADS).  The bytes,
 * labels and infos are identical to cp_augment_batch's for every thread
 * count. */
CpStatus cp_augment_batch_threaded (const CpAugmentConfig *config,
                                    CpRng          *rng,
                                    const uint8_t *const *sources,
                                    int             batch,
                                    int             size,
                                    uint8_t        *out,
                                    int32_t        *labels,
                                    CpAugmentInfo  *info,
                                    int             n_threads,
                                    CpError        *error);

/* A uniformly placed @crop x @crop window of a @width x @height image (the
 * patch model's 64 x 64 crops).  @x and @y (may be NULL) receive its
 * corner. */
CpStatus cp_augment_random_crop (CpRng        *rng,
                                 const uint8_t *image,
                                 int           width,
                                 int           height,
                                 int           crop,
                                 uint8_t      *out,
                                 int          *x,
                                 int          *y,
                                 CpError      *error);

/* The canvas of Image.rotate (@angle, expand=True) for a @w x @h patch. */
void     cp_augment_rotated_size (int          w,
                                  int          h,
                                  double       angle,
                                  int         *canvas_w,
                                  int         *canvas_h);

/* Rotates a packed @w x @h RGB @patch by @angle degrees counter-clockwise
 * into @canvas (canvas_w x canvas_h x 3, see cp_augment_rotated_size; 0
 * where uncovered) and @coverage (canvas_w x canvas_h, 255 where covered,
 * else 0), as Pillow's nearest-neighbour rotate with expand=True.  Either
 * output may be NULL. */
void     cp_augment_rotate_patch (const uint8_t *patch,
                                  int          w,
                                  int          h,
                                  double       angle,
                                  uint8_t     *canvas,
                                  uint8_t     *coverage);

/* Writes into @mask (size x size) 255 where the view described by @info
 * took pasted pixels and 0 elsewhere: the destination rectangle for
 * CutPaste, the rotated patch's coverage for scar, nothing for an
 * original. */
void     cp_augment_info_mask (const CpAugmentInfo *info,
                               int             size,
                               uint8_t        *mask);

#ifdef __cplusplus
}
#endif
