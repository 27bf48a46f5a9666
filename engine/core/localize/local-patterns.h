/* local-patterns.h: binary 3 x 3 patterns, the region evidence of
 * two-level images.
 *
 * Some parts are inspected as two-level images: binarised scans of PCB
 * artwork, printed masks, stencils, line drawings.  Their information is
 * the shape of the boundary between the two levels, and a defect (a pin
 * hole, a speck of copper, a bite out of a track, a short, a spur) is a
 * boundary shape that good parts never show.  The stem's averaged
 * activities of local-features.h blur such a shape away with its region;
 * the 3 x 3 neighbourhood of every pixel, binarised, describes it exactly
 * (512 possible patterns), and how often good images show a pattern says
 * how unusual it is.
 *
 * For one image at the local size S:
 *   - grey = the mean of the three colour planes, back in [0, 1] (the
 *     input tensor is normalised as SPEC 1);
 *   - level = Otsu's threshold of the image's own 256-bin grey histogram,
 *     so that exposure and scanner differences between parts do not
 *     change the patterns;
 *   - every pixel's code = the 9 bits (grey > level) of its 3 x 3
 *     neighbourhood, row-major from the top left, the edges replicated.
 *
 * The codes are arranged region by region, like local-features.h's
 * vectors: region r of the grid x grid raster holds its b x b pixels (b = S
 * / grid) row-major, as floats (exact: codes are below 512).
 *
 * The separation of the same histogram (Otsu's between-level variance over
 * the total variance, 1 for a pure two-level image) tells whether a
 * category is two-level: "auto" uses patterns when the training images'
 * mean separation reaches CP_LOCAL_PATTERN_SEPARATION.
 *
 * libc only, like the rest of engine/core.
 */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CP_LOCAL_PATTERN_CODES      512
/* Measured over training images at S = 256: pcb (binarised DeepPCB scans)
 * 0.978 (lowest image 0.925), synthetic washer 0.874, synthetic weave
 * 0.684. */
#define CP_LOCAL_PATTERN_SEPARATION 0.95

/* The separation (0..1) of the grey image of @tensor (3, size, size,
 * normalised); 0 for a flat image.  @scratch holds size * size bytes. */
double cp_local_pattern_separation (const float *tensor, int size, unsigned char *scratch);

/* The pattern codes of @tensor (3, size, size, normalised), by region of a
 * @grid x @grid raster (@grid divides @size), into @out (size * size
 * floats).  @scratch holds 2 * size * size bytes. */
void   cp_local_pattern_codes      (const float *tensor, int size, int grid,
                                    unsigned char *scratch, float *out);

/* The rarity of a pattern seen @count times among @total training pixels:
 * -log ((count + 1) / (total + 1)), in nats; 0 for the most common
 * possible pattern, log (total + 1) for one never seen. */
double cp_local_pattern_rarity     (double count, double total);

#ifdef __cplusplus
}
#endif
