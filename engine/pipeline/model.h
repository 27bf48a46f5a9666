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
double      cp_model_get_false_reject_rate (const CpModel *model);
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

/* Moves the pass/fail threshold (kept in memory until cp_model_save). */
void        cp_model_set_threshold     (CpModel *model, double threshold);

/* Writes the model (with its current threshold) atomically to @path. */
gboolean    cp_model_save              (CpModel    *model,
                                        const char *path,
                                        GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpModel, cp_model_free)

G_END_DECLS
