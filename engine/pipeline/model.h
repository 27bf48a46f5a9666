/* model.h: a trained CutPaste model (network + Gaussian + metadata) and
 * prediction with it.
 *
 * The file is one safetensors file (SPEC section 9): the network tensors
 * under their reference names, "gde.mean" [512] and "gde.precision"
 * [512,512], and __metadata__ with format "cutpaste-inspector",
 * format_version, category, variant, image_size, head_layers, steps, seed,
 * threshold, false_reject_rate, auroc and created.  A model written by the
 * PyTorch reference (state dict only) loads too when its Gaussian tensors
 * and an image size are present; missing metadata takes the SPEC defaults.
 *
 * Training sets the threshold by cross-validation for a target
 * false_reject_rate.  Once a user moves it and saves the model, the rate no
 * longer describes it: cp_model_set_threshold () records
 * threshold_source = "manual" and keeps the cross-validated value as
 * cross_validation_threshold, beside false_reject_rate, which it belongs
 * to.  Files without threshold_source (every file written before it
 * existed) read as "cross-validation" when they hold both a threshold and a
 * rate; no new format_version is needed, since older readers ignore the
 * added keys.
 *
 * A CpModel owns its backend and network; use it from one thread at a time.
 */
#pragma once

#include <glib.h>

#include "data/image.h"
#include "pipeline-error.h"

G_BEGIN_DECLS

#define CP_MODEL_FORMAT          "cutpaste-inspector"
#define CP_MODEL_FORMAT_VERSION  1

typedef struct _CpModel CpModel;

/* Where a model's pass/fail threshold comes from. */
typedef enum
{
  CP_THRESHOLD_SOURCE_NONE,              /* no threshold (a reference model) */
  CP_THRESHOLD_SOURCE_UNKNOWN,           /* a threshold without a rate or a known source */
  CP_THRESHOLD_SOURCE_CROSS_VALIDATION,  /* set by training for false_reject_rate */
  CP_THRESHOLD_SOURCE_MANUAL,            /* set by hand (app slider, CLI) */
} CpThresholdSource;

/* The metadata values of threshold_source. */
#define CP_THRESHOLD_SOURCE_NAME_CROSS_VALIDATION "cross-validation"
#define CP_THRESHOLD_SOURCE_NAME_MANUAL           "manual"

/* Reads the source from a file's metadata values (each may be NULL): for
 * callers that read the metadata without loading the model. */
CpThresholdSource cp_threshold_source_from_metadata (const char *threshold_source,
                                                     const char *threshold,
                                                     const char *false_reject_rate);
/* "none", "unknown", "cross-validation" or "manual". */
const char *cp_threshold_source_to_string (CpThresholdSource source);

/* Loads and checks @path: safetensors structure, format name and version,
 * image size (multiple of 32, 32..1024), head layers against the tensors,
 * every network tensor's name and shape, the Gaussian's shapes and
 * finiteness.  The message says which of these is wrong.  @device is
 * "auto", "cpu" or "cuda" (NULL = "auto"). */
CpModel    *cp_model_load              (const char *path,
                                        const char *device,
                                        GError    **error);
void        cp_model_free              (CpModel *model);

const char *cp_model_get_path          (const CpModel *model);
const char *cp_model_get_category      (const CpModel *model);
const char *cp_model_get_variant       (const CpModel *model);   /* "3way", ... */
int         cp_model_get_image_size    (const CpModel *model);
int         cp_model_get_head_layers   (const CpModel *model);
int         cp_model_get_steps         (const CpModel *model);
guint64     cp_model_get_seed          (const CpModel *model);
double      cp_model_get_threshold     (const CpModel *model);
CpThresholdSource cp_model_get_threshold_source (const CpModel *model);
/* The target rate training chose its threshold for (NaN when unknown).  It
 * describes the current threshold only while the source is
 * CP_THRESHOLD_SOURCE_CROSS_VALIDATION. */
double      cp_model_get_false_reject_rate (const CpModel *model);
/* The threshold training set for that rate: the current one until it is
 * set by hand, then the value it replaced (NaN when unknown). */
double      cp_model_get_cross_validation_threshold (const CpModel *model);
/* Image AUROC measured on test/ at training time; NaN when unknown. */
double      cp_model_get_auroc         (const CpModel *model);
/* ISO 8601 UTC creation time, "" when unknown. */
const char *cp_model_get_created       (const CpModel *model);
/* Backend the model runs on: "cpu" or "cuda". */
const char *cp_model_get_device_name   (const CpModel *model);
/* Any __metadata__ value by key, NULL when absent. */
const char *cp_model_get_metadata      (const CpModel *model, const char *key);

/* TRUE when @score is above the model's threshold (the part fails). */
gboolean    cp_model_is_anomalous      (const CpModel *model, double score);

/* Decodes @path, resizes it to the model's image size (bicubic), and writes
 * its anomaly score (Mahalanobis distance, higher = more anomalous). */
gboolean    cp_model_score_image_file  (CpModel    *model,
                                        const char *path,
                                        double     *score,
                                        GError    **error);

/* Scores @n decoded images (any size: each is resized to the model's image
 * size with the bicubic resize of data/image.h), batched on the backend.
 * @embeddings (may be NULL) receives the n x 512 L2-normalised embeddings. */
gboolean    cp_model_score_images      (CpModel              *model,
                                        const CpImage *const *images,
                                        int                   n,
                                        double               *scores,
                                        float                *embeddings,
                                        GError              **error);

/* cp_model_score_images with the parts of each score (density-fit.h):
 * @global (n) the global Mahalanobis distance, @local (n) the largest
 * region distance (NaN without a local part) and @maps (n, grid * grid)
 * the region distances, row-major (left alone without a local part).  Any
 * output may be NULL. */
gboolean    cp_model_score_images_full (CpModel              *model,
                                        const CpImage *const *images,
                                        int                   n,
                                        double               *scores,
                                        float                *embeddings,
                                        double               *global,
                                        double               *local,
                                        float                *maps,
                                        GError              **error);

/* TRUE when the model scores regions too (its score then combines the
 * global and the local part, density-fit.h). */
gboolean    cp_model_has_local         (const CpModel *model);
/* Regions per side of the local part's map (0 without one). */
int         cp_model_get_local_grid    (const CpModel *model);
/* The calibration images' scores stored at training ("calibration.scores",
 * held-out good images), NULL with *n = 0 when the file has none. */
const double *cp_model_get_calibration_scores (const CpModel *model, int *n);

/* The region map of @image as a heatmap (localize.h's CpHeatmap, at the
 * image's size): each region's distance under its Gaussian, bilinear
 * between region centres, coloured over the range stored at training
 * (heatmap_low: the median region of the calibration images; heatmap_high:
 * the most unusual region any of them showed), so the map of a good part
 * stays in the low colours.  heatmap->score is the local score (the map's
 * largest region).  A model without a local part is an error that says
 * what to do. */
struct _CpHeatmap;
gboolean    cp_model_region_heatmap    (CpModel              *model,
                                        const CpImage        *image,
                                        struct _CpHeatmap    *heatmap,
                                        GError              **error);

/* Scores @n image files in batches.  An image that cannot be read gets
 * score NaN and its message in @messages[i] (newly allocated, or NULL when
 * it was scored); @messages may be NULL.  Returns FALSE only for failures
 * of the model or device (or @cancel), not for bad images. */
gboolean    cp_model_score_files       (CpModel            *model,
                                        const char *const  *paths,
                                        int                 n,
                                        double             *scores,
                                        float              *embeddings,
                                        char              **messages,
                                        const volatile int *cancel,
                                        GError            **error);

/* Moves the pass/fail threshold (kept in memory until cp_model_save) and
 * marks it as set by hand (see the top of this file).  Callers check that
 * @threshold is finite and not negative: scores are distances. */
void        cp_model_set_threshold     (CpModel *model, double threshold);

/* Writes the model (with its current threshold) atomically to @path. */
gboolean    cp_model_save              (CpModel    *model,
                                        const char *path,
                                        GError    **error);

/* A model file's threshold metadata, read without building the network:
 * for storing a moved threshold, which changes metadata only.  Opening
 * reads the file once and checks what can be checked without the network:
 * safetensors structure, format name and version, image size, head layers
 * against the tensors, out.weight and the Gaussian's tensors (with the
 * messages cp_model_load gives); tensor values are not read. */
typedef struct _CpModelFile CpModelFile;

CpModelFile      *cp_model_file_open      (const char *path,
                                           GError    **error);
void              cp_model_file_free      (CpModelFile *file);
const char       *cp_model_file_get_path  (const CpModelFile *file);
/* As the CpModel getters of the same names. */
double            cp_model_file_get_threshold        (const CpModelFile *file);
CpThresholdSource cp_model_file_get_threshold_source (const CpModelFile *file);
double            cp_model_file_get_false_reject_rate (const CpModelFile *file);
double            cp_model_file_get_cross_validation_threshold (const CpModelFile *file);

/* Stores @threshold in the file as cp_model_set_threshold () and
 * cp_model_save () would (threshold, threshold_source = "manual", the
 * cross-validated value kept as cross_validation_threshold, format and
 * format_version), but rewrites only the metadata: every tensor, including
 * ones this program does not use, is copied byte for byte from what
 * cp_model_file_open () read.  Metadata keys keep their order in the file;
 * added ones follow.  @threshold must be finite and not negative
 * (CP_PIPELINE_ERROR_INVALID otherwise).  When @expected is not NaN and
 * the threshold read differs from it, nothing is written and the error is
 * CP_PIPELINE_ERROR_CHANGED.  The file is replaced atomically; on any
 * failure it is left as it was.  On success the getters return what was
 * written. */
gboolean          cp_model_file_store_threshold (CpModelFile *file,
                                                 double       threshold,
                                                 double       expected,
                                                 GError     **error);
/* cp_model_file_open () + cp_model_file_store_threshold (). */
gboolean          cp_model_file_set_threshold   (const char *path,
                                                 double      threshold,
                                                 double      expected,
                                                 GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpModel, cp_model_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpModelFile, cp_model_file_free)

G_END_DECLS
