/* local-model.h: region scores, the evidence for small defects.
 *
 * The global embedding of a network trained from scratch for a few minutes
 * on a CPU carries the part's outline (a bent or missing tooth) but not a
 * scratch or a stain of a few pixels.  The local model scores every region
 * of the image instead:
 *
 *   - the image at local_image_size (256) goes through a feature extractor:
 *     the network's stem and layer1 *as they were before CutPaste
 *     training* (its seeded random initialisation, or the ImageNet weights
 *     it started from), kept in the model file under the prefix "local.";
 *   - core/localize/local-features.h turns the two maps into one vector
 *     per region of a grid x grid raster;
 *   - a Gaussian per region (aligned parts: "per-location") or one for
 *     every region ("shared": textures, parts in free pose) gives each
 *     region its Mahalanobis distance, the region map; its maximum is the
 *     image's local score.
 *
 * Why the untrained stem: trained at the quick profile's S = 64, the early
 * filters adapt to a scale four times coarser than the one the regions are
 * read at, and the trained extractor found fewer small defects than the
 * starting one (docs/quick-profile.md has the measurements).
 *
 * Two-level images (binarised scans, artwork, masks) are scored by binary
 * 3 x 3 patterns instead (core/localize/local-patterns.h): "auto" picks
 * them when the training images' mean separation reaches
 * CP_LOCAL_PATTERN_SEPARATION.  A region's score is then the rarity among
 * good pixels of the least common pattern in it; the model file holds
 * "local.pattern_counts" I64 [512] and local_density "pattern", and no
 * extractor.
 *
 * In the model file: "local.resnet18.conv1.weight", "local.resnet18.bn1.*",
 * "local.resnet18.layer1.*" (the extractor), "local.channels" I64 [D],
 * "local.mean" F32 [K, D] and "local.precision" F32 [K, D, D] (K = grid^2
 * for per-location, 1 for shared), and the metadata local_image_size,
 * local_grid and local_density.
 *
 * A CpLocalModel is used from one thread at a time.
 */
#pragma once

#include <glib.h>

#include "core/io/safetensors.h"
#include "core/localize/local-features.h"
#include "core/localize/local-patterns.h"
#include "core/localize/localize.h"
#include "core/nn/network.h"

G_BEGIN_DECLS

typedef struct _CpLocalModel CpLocalModel;
typedef struct _CpLocalFit   CpLocalFit;

/* Which density "auto" picks: per-location when the regions' mean vectors
 * differ from each other by more than this fraction of the spread of the
 * images around them (cp_local_features_alignment); measured 7.18 on the
 * synthetic washer, 0.65 on the synthetic weave, 0.10 on pcb. */
#define CP_LOCAL_ALIGNED_RATIO 0.25

/* A local model whose extractor is a copy of @source's stem and layer1 as
 * they are now (the caller makes it before training @source), on @source's
 * backend, with the regions of @spec (checked here). */
CpLocalModel *cp_local_model_new      (CpNetwork *source, const CpLocalFeatureSpec *spec,
                                       GError **error);

/* TRUE when @st holds a local model ("local.channels"). */
gboolean      cp_local_model_present  (const CpSafetensors *st);

/* Loads and checks the local part of model file @st (@path for messages)
 * on @be (borrowed; it must outlive the local model). */
CpLocalModel *cp_local_model_load     (CpBackend *be, const CpSafetensors *st, const char *path,
                                       GError **error);
void          cp_local_model_free     (CpLocalModel *lm);

const CpLocalFeatureSpec *cp_local_model_spec (const CpLocalModel *lm);
/* Gaussians fitted or loaded (NULL before). */
const CpPatchDensity     *cp_local_model_density (const CpLocalModel *lm);
int           cp_local_model_regions  (const CpLocalModel *lm);   /* grid * grid */
/* Takes what a fit produced out (the Gaussians or the pattern counts;
 * empty before a fit), and puts it back (taking @fit; what is there is
 * freed): so a refit that fails can leave a model as it was. */
CpLocalFit   *cp_local_model_steal_fit (CpLocalModel *lm);
void          cp_local_model_set_fit  (CpLocalModel *lm, CpLocalFit *fit);
void          cp_local_fit_free       (CpLocalFit *fit);
/* The Gaussians' kind of @fit (per-location for patterns or nothing: the
 * kind is then unused). */
CpPatchDensityKind cp_local_fit_kind  (const CpLocalFit *fit);

/* "per-location", "shared", "pattern", or NULL before a Gaussian fit. */
const char   *cp_local_model_kind_name (const CpLocalModel *lm);

/* Switches @lm to binary patterns (its spec's size and grid kept; any fit
 * dropped).  Features computed before are no longer valid. */
gboolean      cp_local_model_use_patterns  (CpLocalModel *lm, GError **error);
gboolean      cp_local_model_uses_patterns (const CpLocalModel *lm);

/* The region vectors of @n images given as normalised (3, S, S) float
 * tensors in host memory (S = the spec's image size), into @features (n,
 * regions, D). */
gboolean      cp_local_model_features (CpLocalModel *lm, const float *tensors, int n,
                                       float *features, GError **error);

/* Between-region over within-region spread of @features (n, regions, D):
 * the mean squared distance of the regions' means from their common mean,
 * over the mean squared distance of each vector from its region's mean.
 * Near 1 / n when regions are exchangeable (textures, free pose); far above
 * CP_LOCAL_ALIGNED_RATIO when each region shows the same part of an
 * aligned object. */
double        cp_local_features_alignment (const float *features, int n, int regions, int dim);

/* Fits the Gaussians of @kind on @features (n, regions, D) of good images;
 * raw vectors (not L2-normalised: their length carries the local contrast).
 * Replaces earlier ones.  A pattern model counts the codes instead and
 * ignores @kind. */
gboolean      cp_local_model_fit      (CpLocalModel *lm, const float *features, int n,
                                       CpPatchDensityKind kind, GError **error);

/* Region maps (n, regions) and their maxima (n) of @features; either output
 * may be NULL. */
gboolean      cp_local_model_score    (CpLocalModel *lm, const float *features, int n,
                                       float *maps, double *max_scores, GError **error);

/* Adds the extractor, channels and Gaussians to @w, and the metadata
 * values to @metadata (char * -> char *, newly allocated keys and values). */
gboolean      cp_local_model_save     (CpLocalModel *lm, CpSafetensorsWriter *w,
                                       GHashTable *metadata, GError **error);

G_END_DECLS
