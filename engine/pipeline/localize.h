/* localize.h: defect localisation with a patch model (SPEC section 7).
 *
 * Training: `cp_localize_train_setup ()` turns CpTrainOptions into a
 * patch-model run of cp_train_category (): the pipeline's training loop on
 * random 64 x 64 crops of the S x S train/good images (augmentations sized
 * to the crop), then, instead of the image Gaussian, Gaussians over the
 * patch grid fitted on the 32 x 32 patches of train/good, saved as
 * MODEL_DIR/<category>.patch.safetensors beside the image model.
 *
 * The file holds the network tensors under their reference names,
 * "patch.mean" [G, 512] and "patch.precision" [G, 512, 512] (G Gaussians:
 * 1 shared, or cells x cells per-location blocks, see
 * core/localize/localize.h), and __metadata__: format
 * "cutpaste-inspector-patch", format_version, category, variant,
 * image_size, crop_size, patch_size, stride, fit_stride, density, cells,
 * grid, head_layers, steps, batch_size, lr, seed, train_images,
 * score_low, score_high (the colour range of heatmaps), pixel_auroc and
 * image_auroc (measured on test/ at training time, "nan" when not), created.
 *
 * Inference: every 32 x 32 patch at stride 4 is embedded (a 57 x 57 grid
 * at S = 256), scored by its location's Gaussian, spread over its window
 * with a 32 x 32 Gaussian (sigma 10) at the stride, giving an S x S map
 * that is resized (bilinear) to the image's own size.
 *
 * A CpPatchModel owns its backend and network; one thread at a time.
 */
#pragma once

#include <stdint.h>

#include <glib.h>

#include "core/localize/localize.h"
#include "data/image.h"
#include "pipeline-error.h"
#include "train.h"

G_BEGIN_DECLS

#define CP_PATCH_MODEL_FORMAT         "cutpaste-inspector-patch"
#define CP_PATCH_MODEL_FORMAT_VERSION 1

/* Steps of the quick profile's patch model.  Its 64 x 64 crops are cheap
 * (as fast as whole images at S = 64), and 300 steps left the washer's
 * patch model near chance (final loss 0.94, pixel AUROC 0.876, no better
 * than where the part lies); 900 steps reached loss 0.51 and pixel AUROC
 * 0.948 (synthetic washer, S 128, CPU). */
#define CP_LOCALIZE_QUICK_STEPS 900

typedef struct
{
  int density;          /* < 0: from the category name (cp_category_uses_shared_gaussian),
                         * else a CpPatchDensityKind */
  int cells;            /* per-location blocks per side (CP_LOCALIZE_CELLS) */
  int patch;            /* patch side (32) */
  int stride;           /* grid step of the heatmaps (4) */
  int fit_stride;       /* grid step of the train/good patches the Gaussians are fitted on
                         * (8: a quarter of the patches, a multiple of stride) */
  int max_fit_images;   /* fit on at most this many train/good images, evenly spread (0 = all) */
  int batch;            /* patches per forward pass (256) */
  /* Set by cp_localize_fit_patch_model () when it measured test/ (else NaN):
   * the pixel AUROC stored in the model. */
  double measured_pixel_auroc;
} CpLocalizeOptions;

void      cp_localize_options_init  (CpLocalizeOptions *opts);

/* Makes @train a patch-model run reading @loc (which must outlive the
 * cp_train_category () call): crop_size (64 unless already set), the fit
 * hook and its data. */
void      cp_localize_train_setup   (CpTrainOptions *train, CpLocalizeOptions *loc);

/* The patch model's image size and steps for a training profile (NULL or
 * "quick", "paper"), as `train --localize` and the application pick them
 * when not given: S = 256 (SPEC section 7) and the profile's own steps
 * (*steps = 0) with "paper"; else S = 128, a quarter of the patches to
 * embed on a CPU, and CP_LOCALIZE_QUICK_STEPS. */
void      cp_localize_profile_defaults (const char *profile, int *image_size, int *steps);

/* MODEL_DIR/<category>.patch.safetensors (newly allocated). */
char     *cp_patch_model_path       (const char *model_dir, const char *category);
/* The patch model beside an image model file: X.safetensors ->
 * X.patch.safetensors (a patch model's own path is returned as is). */
char     *cp_patch_model_path_for   (const char *image_model_path);

/* The CpTrainFitFunc of the patch model (fit_data: CpLocalizeOptions). */
gboolean  cp_localize_fit_patch_model (CpNetwork            *net,
                                       const uint8_t        *images,
                                       int                   n,
                                       int                   size,
                                       const CpTrainOptions *opts,
                                       CpTrainProgressFunc   progress,
                                       gpointer              progress_data,
                                       const volatile int   *cancel,
                                       CpTrainResult        *result,
                                       GError              **error);

typedef struct _CpPatchModel CpPatchModel;

/* Loads and checks @path (format, sizes, network and Gaussian tensors).
 * @device: "auto", "cpu" or "cuda" (NULL = "auto"). */
CpPatchModel *cp_patch_model_load   (const char *path, const char *device, GError **error);
void          cp_patch_model_free   (CpPatchModel *model);

const char   *cp_patch_model_get_category   (const CpPatchModel *model);
int           cp_patch_model_get_image_size (const CpPatchModel *model);
int           cp_patch_model_get_stride     (const CpPatchModel *model);
CpPatchDensityKind cp_patch_model_get_density (const CpPatchModel *model);
/* Colour range of heatmaps (Mahalanobis units): train/good patch scores'
 * median, and that median plus twice its distance to their 99.9th
 * percentile. */
double        cp_patch_model_get_score_low  (const CpPatchModel *model);
double        cp_patch_model_get_score_high (const CpPatchModel *model);
const char   *cp_patch_model_get_metadata   (const CpPatchModel *model, const char *key);
/* Grid step for the following heatmaps (the model's stride by default;
 * (S - patch) must be a multiple of it).  FALSE for a bad value. */
gboolean      cp_patch_model_set_stride     (CpPatchModel *model, int stride);

/* The S x S anomaly map of one normalised (3, S, S) tensor (host memory)
 * into @map (S x S floats); @score (may be NULL) receives its maximum,
 * the patch model's image score. */
gboolean      cp_patch_model_map_tensor     (CpPatchModel       *model,
                                             const float        *tensor,
                                             float              *map,
                                             double             *score,
                                             const volatile int *cancel,
                                             GError            **error);

/* A heatmap for display, as the app shows it. */
typedef struct _CpHeatmap
{
  int      width;       /* the image's own size */
  int      height;
  float   *map;         /* (height, width) anomaly map in Mahalanobis units: the S x S map
                         * resized bilinearly; higher = more anomalous */
  uint8_t *overlay;     /* (height, width, 4) RGBA, packed rows of 4 * width bytes, alpha
                         * 255: the image with the map blended over it in viridis
                         * (cp_heatmap_blend, range score_low..score_high) */
  double   score;       /* image score: maximum of the S x S map */
  double   low, high;   /* the colour range used */
} CpHeatmap;

/* Computes the heatmap of @image (any size; resized to S bicubically for
 * the network, the map resized back to the image's size).  Fills every
 * field of @heatmap (free with cp_heatmap_clear).  Takes about S^2 / 16
 * patch forward passes: seconds on a CPU. */
gboolean      cp_patch_model_heatmap        (CpPatchModel       *model,
                                             const CpImage      *image,
                                             CpHeatmap          *heatmap,
                                             const volatile int *cancel,
                                             GError            **error);
void          cp_heatmap_clear              (CpHeatmap *heatmap);
/* Writes the overlay as an RGB PNG, atomically. */
gboolean      cp_heatmap_write_png          (const CpHeatmap *heatmap, const char *path,
                                             GError **error);

typedef struct
{
  double     pixel_auroc;     /* all pixels of all test images at their own size vs the masks */
  double     image_auroc;     /* the maps' maxima as image scores; NaN without both classes */
  int        images;          /* test images scored */
  int        defect_images;
  double     seconds_per_image;
  /* maxima of the maps of defect images that fall inside their mask */
  int        max_in_mask;
  int        defect_with_mask;
  GPtrArray *skipped_images;  /* char *: "PATH: reason" */
} CpLocalizeEvalResult;

void          cp_localize_eval_result_init  (CpLocalizeEvalResult *result);
void          cp_localize_eval_result_clear (CpLocalizeEvalResult *result);

typedef void (*CpLocalizeProgressFunc) (int done, int total, gpointer user_data);

/* Pixel and image AUROC of @model on DATA_DIR/CATEGORY/test (SPEC 7).
 * Defect images without a mask are skipped (listed); good images count as
 * all-normal.  Fails without test images of both kinds. */
gboolean      cp_patch_model_evaluate       (CpPatchModel          *model,
                                             const char            *data_dir,
                                             const char            *category,
                                             CpLocalizeProgressFunc progress,
                                             gpointer               user_data,
                                             const volatile int    *cancel,
                                             CpLocalizeEvalResult  *result,
                                             GError               **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpPatchModel, cp_patch_model_free)

G_END_DECLS
