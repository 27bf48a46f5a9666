/* local-features.h: the local feature vectors behind region scores.
 *
 * A defect of a few pixels (a scratch, a stain, a pin hole) barely moves
 * the 512-d global embedding, which averages the whole image; it does
 * change the statistics of the early feature maps where it lies.  So the
 * image is cut into a grid x grid raster of regions, and each region gets
 * a vector of the average activity of the network's earliest maps there:
 *
 *   - the stem's output (conv1, bn1, ReLU: 64 channels at S / 2) and
 *     layer1's output (64 channels at S / 4), 128 channels in all;
 *   - each map smoothed by a 3 x 3 box (zero padding, divided by 9, as
 *     PyTorch's avg_pool2d (3, 1, 1)), so that a feature at a region's edge
 *     still sees its neighbours;
 *   - then averaged over each region's block of map cells (S / 2 / grid
 *     cells per side for the stem, S / 4 / grid for layer1);
 *   - and a fixed subset of the 128 channels kept (chosen once, at
 *     training, from the seeded generator), which keeps a Gaussian per
 *     region small (PaDiM keeps a random subset for the same reason).
 *
 * A Gaussian per region (aligned parts) or one for all regions (textures,
 * parts in free pose) over these vectors then scores every region of a new
 * image; see engine/pipeline/local-model.h.
 *
 * libc only, like the rest of engine/core.
 */
#pragma once

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_LOCAL_STAGE_CHANNELS   64                          /* stem and layer1 */
#define CP_LOCAL_ALL_CHANNELS     (2 * CP_LOCAL_STAGE_CHANNELS)
#define CP_LOCAL_DEFAULT_CHANNELS 64
#define CP_LOCAL_DEFAULT_SIZE     256
#define CP_LOCAL_DEFAULT_GRID     32

typedef struct
{
  int     image_size;                       /* S, a multiple of 32 */
  int     grid;                             /* regions per side; S / 4 a multiple of it */
  int     n_channels;                       /* kept, 1..CP_LOCAL_ALL_CHANNELS */
  int32_t channels[CP_LOCAL_ALL_CHANNELS];  /* ascending; < 64: stem, >= 64: layer1 */
  /* Nonzero: each region's vector is the binary pattern codes of its
   * pixels instead (local-patterns.h); n_channels is then (S / grid)^2
   * and channels[] is unused. */
  int     patterns;
} CpLocalFeatureSpec;

/* Turns @spec into a pattern spec (local-patterns.h) for the same size
 * and grid. */
void     cp_local_feature_spec_use_patterns (CpLocalFeatureSpec *spec);

/* Fills @spec for @image_size and @grid, keeping @n_channels channels
 * drawn without repeats from @rng (all 128, in order, when @n_channels is
 * 128).  Call cp_local_feature_spec_check before use. */
void     cp_local_feature_spec_init  (CpLocalFeatureSpec *spec, int image_size, int grid,
                                      int n_channels, CpRng *rng);

/* Checks sizes and channel indices (a spec read from a file is checked the
 * same way); the message names what is wrong. */
CpStatus cp_local_feature_spec_check (const CpLocalFeatureSpec *spec, CpError *error);

/* Floats of one image's vectors: grid * grid * n_channels. */
size_t   cp_local_feature_count      (const CpLocalFeatureSpec *spec);

/* The vectors of one image from its stem output @stem (64, S/2, S/2) and
 * layer1 output @layer1 (64, S/4, S/4), host memory, into @out (grid *
 * grid, n_channels), regions row-major.  @scratch holds (S/2)^2 floats. */
void     cp_local_features_compute   (const CpLocalFeatureSpec *spec, const float *stem,
                                      const float *layer1, float *scratch, float *out);

#ifdef __cplusplus
}
#endif
