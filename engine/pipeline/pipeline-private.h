/* pipeline-private.h: helpers shared by training, models and evaluation. */
#pragma once

#include <glib.h>

#include "core/backend.h"
#include "core/nn/network.h"
#include "core/density/gde.h"
#include "data/image.h"
#include "pipeline-error.h"
#include "model.h"
#include "density-fit.h"
#include "local-model.h"

G_BEGIN_DECLS

/* Images embedded per forward pass at inference: bounds the activation
 * memory the network keeps (it keeps buffers for its largest batch). */
#define CP_PIPELINE_EMBED_BATCH 16

/* ---- pipeline-device.c ---- */

/* Opens "auto", "cpu" or "cuda"; @notice (may be NULL) receives the reason
 * "auto" fell back to the CPU (newly allocated) or NULL. */
CpBackend *cp_pipeline_open_backend (const char *device, char **notice, GError **error);

/* Embeds @n images, already (3, S, S) normalised float tensors in host
 * memory at @tensors, with the network in inference mode; @device_buf is
 * backend memory for CP_PIPELINE_EMBED_BATCH images.  @embeddings (host)
 * receives n x 512 raw (unnormalised) embeddings. */
gboolean   cp_pipeline_embed_tensors (CpNetwork *net, float *device_buf, const float *tensors,
                                      int n, int size, float *embeddings, GError **error);

/* ---- pipeline-model-write.c ---- */

/* Writes a model file: network, Gaussian, the local part when @local is
 * not NULL (it adds its keys to @metadata), calibration scores when there
 * are any, and @metadata (char * -> char *) in sorted key order, so the
 * same model always gives the same bytes.  Atomic (temporary file, then
 * rename); a failure says "cannot write model PATH: ...". */
gboolean   cp_pipeline_write_model  (CpNetwork *net, const CpGde *gde, CpLocalModel *local,
                                     const double *calibration, int n_calibration,
                                     GHashTable *metadata, const char *path, GError **error);

/* Writes network + Gaussian + @metadata (key, value, ..., NULL pairs in a
 * NULL-terminated array) atomically to @path, through
 * cp_pipeline_write_model (). */
gboolean   cp_pipeline_save_model   (CpNetwork *net, const CpGde *gde, const char *const *metadata,
                                     const char *path, GError **error);

/* ---- pipeline-format.c ---- */

/* Current UTC time as ISO 8601 ("2026-01-02T03:04:05Z"), newly allocated. */
char      *cp_pipeline_now_iso8601  (void);

/* Formats a double so that it reads back exactly ("%.17g"); "nan" for NaN. */
char      *cp_pipeline_format_double (double value);

/* ---- model.c ---- */

/* Writes a trained model: @net, @fit's Gaussian, threshold-calibration
 * scores and scales, @local (NULL for a global-only model) and @metadata
 * (char * -> char *, completed here with the calibration's keys),
 * atomically to @path (model.c). */
gboolean   cp_model_parts_save      (CpNetwork *net, const CpDensityFit *fit, CpLocalModel *local,
                                     GHashTable *metadata, const char *path, GError **error);

/* For refit.c: decodes @paths as predict does and gives the raw
 * embeddings (*@embeddings, n_read x 512) and, with a local part, the
 * region vectors (*@features, NULL without; pass @features NULL when
 * they are not wanted and they are not computed) of those that were read;
 * @index (n) receives, for each row, the position of its path.  Messages
 * of unreadable images go to @skipped. */
gboolean   cp_model_good_parts      (CpModel *model, const char *const *paths, int n,
                                     const volatile int *cancel, float **embeddings,
                                     float **features, int *index, int *n_read,
                                     GPtrArray *skipped, GError **error);

/* For refit.c: fits @model's densities (Gaussian, and the local part's
 * Gaussians of the kind it has) and threshold on @n good images as
 * training does (density-fit.h: calibrated on the @held_out ones, or
 * k-fold when NULL), and updates the metadata.  On failure the model is
 * unchanged.  @fit receives the calibration (its Gaussian moved into the
 * model). */
gboolean   cp_model_refit_densities (CpModel *model, const float *embeddings, const float *features,
                                     int n, const gboolean *held_out, double false_reject_rate,
                                     CpDensityFit *fit, GError **error);

/* Sets (@value non-NULL) or removes a metadata value of @model, written by
 * the next cp_model_save (). */
void       cp_model_set_metadata    (CpModel *model, const char *key, const char *value);

/* The flag is raised by another thread (the application's main thread)
 * while we run: an atomic load, since a volatile read is still a data race. */
static inline gboolean
cp_pipeline_cancelled (const volatile int *cancel)
{
  return cancel != NULL && g_atomic_int_get (cancel) != 0;
}

G_END_DECLS
