/* localize.h: defect localisation with a patch model (SPEC section 7).
 *
 * The pieces the pipeline puts together, each usable alone:
 *  - dense embedding: every @patch x @patch window of an image at a
 *    stride, batched through the network in inference mode, so each
 *    window's embedding is exactly that of the window cropped and run
 *    alone (no shared padding, no approximation);
 *  - patch densities: one Gaussian shared by every grid location
 *    (textures, objects in free pose) or one Gaussian per location for
 *    aligned objects;
 *  - receptive-field upsampling: each patch score spread over its window
 *    with a Gaussian kernel placed at the stride (a transposed
 *    convolution), then a bilinear resize to the original image size;
 *  - a perceptual colormap and alpha-blended overlay for display.
 *
 * libc and BLAS only, like the rest of engine/core.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/nn/network.h"
#include "core/density/gde.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_LOCALIZE_PATCH       32    /* side of an embedded patch */
#define CP_LOCALIZE_STRIDE      4     /* grid step at test time */
#define CP_LOCALIZE_CROP        64    /* training crops of the patch model */
#define CP_LOCALIZE_SIGMA       10.0  /* of the upsampling kernel (patch x patch) */
#define CP_LOCALIZE_BATCH       256   /* patches per forward pass */
#define CP_LOCALIZE_CELLS       8     /* per-location Gaussians: cells per side, see below */

/* Locations along a side of @size pixels: (size - patch) / stride + 1, or
 * 0 when the patch does not fit (57 for 256, 32, 4). */
int       cp_localize_grid_side (int size, int patch, int stride);

/* ---- dense embedding ---------------------------------------------------- */

typedef struct CpPatchEmbedder CpPatchEmbedder;

/* Embeds @patch x @patch windows with @net (borrowed; patch a multiple of
 * 32) in batches of @batch (0 = CP_LOCALIZE_BATCH).  Holds a host and a
 * backend buffer of one batch. */
CpPatchEmbedder *cp_patch_embedder_new  (CpNetwork *net, int patch, int batch, CpError *error);
void             cp_patch_embedder_free (CpPatchEmbedder *pe);

/* @image: one normalised (3, height, width) float tensor in host memory.
 * Embeds the windows whose top-left corners are (x, y) = (j * stride,
 * i * stride) for every i < grid_side (height), j < grid_side (width),
 * row-major, into @out (gh * gw, 512) host memory: raw embeddings (the
 * densities normalise them).  @cancel (may be NULL) is read between
 * batches: non-zero stops with CP_ERR_CANCELLED. */
CpStatus         cp_patch_embedder_run  (CpPatchEmbedder    *pe,
                                         const float        *image,
                                         int                 height,
                                         int                 width,
                                         int                 stride,
                                         float              *out,
                                         const volatile int *cancel,
                                         CpError            *error);

/* ---- densities over the grid ------------------------------------------- */

typedef enum
{
  CP_PATCH_DENSITY_SHARED = 0,     /* one Gaussian for every location */
  CP_PATCH_DENSITY_PER_LOCATION,   /* one Gaussian per location (cell, see below) */
} CpPatchDensityKind;

/* "shared", "per-location"; NULL out of range. */
const char *cp_patch_density_kind_to_string   (CpPatchDensityKind kind);
/* 1 on success, 0 for an unknown name. */
int         cp_patch_density_kind_from_string (const char *name, CpPatchDensityKind *kind);

/* Per-location Gaussians are grouped in cells: the grid_h x grid_w
 * locations are split into cells x cells rectangular blocks (location i
 * belongs to block floor (i * cells / grid)), and one Gaussian is fitted
 * on the embeddings of all locations of a block.  cells = grid side is
 * exactly one Gaussian per location; it is not the default because 57 x 57
 * Gaussians of 512 x 512 would take 3.4 GB and thousands of
 * eigendecompositions, and because with tens of training images every
 * location would be a rank-deficient n < p fit.  The default (8 x 8 blocks
 * of about 7 x 7 locations, 28 pixels of offset at S = 256) keeps each
 * Gaussian local to its part of an aligned object. */
typedef struct CpPatchDensity CpPatchDensity;

/* @cells is ignored for the shared kind (1); clamped to [1, grid]. */
CpPatchDensity *cp_patch_density_new     (CpPatchDensityKind kind, int grid_h, int grid_w, int cells,
                                          CpError *error);
void            cp_patch_density_free    (CpPatchDensity *d);

CpPatchDensityKind cp_patch_density_kind (const CpPatchDensity *d);
int             cp_patch_density_grid_h  (const CpPatchDensity *d);
int             cp_patch_density_grid_w  (const CpPatchDensity *d);
int             cp_patch_density_cells   (const CpPatchDensity *d);
int             cp_patch_density_count   (const CpPatchDensity *d);   /* Gaussians */
/* How rows are taken by the Gaussians fitted or installed after this call
 * (cp_gde_fit_input): L2-normalised (the default: patch-model embeddings,
 * as the global embedding) or raw (local feature maps). */
void            cp_patch_density_set_input (CpPatchDensity *d, CpGdeInput input);
CpGdeInput      cp_patch_density_input   (const CpPatchDensity *d);
/* The Gaussian used at grid location (i, j). */
int             cp_patch_density_index   (const CpPatchDensity *d, int i, int j);
/* Gaussian @g, NULL before fitting or loading. */
const CpGde    *cp_patch_density_gde     (const CpPatchDensity *d, int g);

/* Fits every Gaussian (Ledoit-Wolf, cp_gde_fit) on raw embeddings
 * @x (n_images, m, dim), taken at the m grid locations (@loc_i[k],
 * @loc_j[k]) of each of @n_images images.  Each Gaussian needs at least
 * 2 rows. */
CpStatus        cp_patch_density_fit     (CpPatchDensity *d, const float *x, int n_images, int m,
                                          const int *loc_i, const int *loc_j, int dim,
                                          CpError *error);

/* Installs Gaussian @g from stored float32 mean and precision. */
CpStatus        cp_patch_density_set     (CpPatchDensity *d, int g, const float *mean,
                                          const float *precision, int dim, CpError *error);

/* Scores a full grid of raw embeddings @x (grid_h * grid_w, dim), row-major
 * locations, into @scores (grid_h * grid_w): Mahalanobis distance under
 * each location's Gaussian. */
CpStatus        cp_patch_density_score   (const CpPatchDensity *d, const float *x, int dim,
                                          float *scores, CpError *error);

/* Scores @n raw embeddings @x (n, dim) taken at grid locations (@loc_i[k],
 * @loc_j[k]) under each location's Gaussian, into @scores (n). */
CpStatus        cp_patch_density_score_at (const CpPatchDensity *d, const float *x, int n,
                                           const int *loc_i, const int *loc_j, int dim,
                                           float *scores, CpError *error);

/* ---- upsampling ------------------------------------------------------- */

/* @k x @k Gaussian of standard deviation @sigma centred on the middle of
 * the window ((k - 1) / 2), normalised to sum 1. */
void      cp_localize_gaussian_kernel (int k, double sigma, float *kernel);

typedef enum
{
  CP_UPSAMPLE_SUM = 0,          /* the plain transposed convolution */
  CP_UPSAMPLE_AVERAGE = 1,      /* divided pixel by pixel by the kernel mass that reached it */
  CP_UPSAMPLE_INTERIOR_GAIN = 2,/* divided by one constant: the largest mass (the interior's) */
} CpUpsampleNorm;

/* Transposed convolution of the @gh x @gw score grid with @kernel (k x k)
 * at @stride: map (mh, mw) = ((gh - 1) * stride + k, (gw - 1) * stride + k)
 * with map[y][x] = sum over (i, j) of scores[i][j] kernel[y - i s][x - j s].
 @normalize is a CpUpsampleNorm.  CP_UPSAMPLE_AVERAGE divides each pixel
 * by the same sum with all scores 1 (the kernel mass that reached it): a
 * weighted average of the windows covering the pixel, in score units, but
 * border pixels average few windows, so the noisiest values (and most
 * maxima of good images) sit on the border.  CP_UPSAMPLE_INTERIOR_GAIN is
 * the plain transposed convolution (SPEC 7) divided by the largest mass:
 * score units inside the image, the border fading out as the windows
 * covering it thin out.  Every pixel is covered when stride <= k. */
CpStatus  cp_localize_upsample (const float *scores, int gh, int gw, int stride,
                                const float *kernel, int k, int normalize,
                                float *map, CpError *error);

/* Bilinear resize of a float map with pixel centres aligned (half-pixel
 * offsets, edge clamping: OpenCV's INTER_LINEAR, PyTorch's
 * align_corners=False). */
void      cp_localize_resize_bilinear (const float *src, int src_w, int src_h,
                                       float *dst, int dst_w, int dst_h);

/* ---- display ------------------------------------------------------------ */

/* The viridis colormap (perceptually uniform, readable in grey and by
 * colour-blind viewers) at @t in [0, 1] (clamped), linearly interpolated
 * between 8 samples of matplotlib's table. */
void      cp_colormap_viridis (double t, uint8_t rgb[3]);

/* Colours @map (width x height) with viridis over [@lo, @hi] and blends it
 * over @image (width x height x 3, rows @image_stride bytes apart) into
 * @rgba (width x height x 4, packed, alpha 255).  The blend weight grows
 * with the value, from alpha / 4 at lo to @alpha at hi, so normal areas
 * stay readable under a light tint. */
void      cp_heatmap_blend (const float *map, int width, int height, double lo, double hi,
                            double alpha, const uint8_t *image, size_t image_stride,
                            uint8_t *rgba);

#ifdef __cplusplus
}
#endif
