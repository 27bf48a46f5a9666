/* pipeline-private.h: helpers shared by training, models and evaluation. */
#pragma once

#include <glib.h>

#include "core/backend.h"
#include "core/nn/network.h"
#include "core/density/gde.h"
#include "data/image.h"
#include "pipeline-error.h"
#include "model.h"

G_BEGIN_DECLS

/* Images embedded per forward pass at inference: bounds the activation
 * memory the network keeps (it keeps buffers for its largest batch). */
#define CP_PIPELINE_EMBED_BATCH 16

/* Sorted paths (DIR/name) of the image files directly in @dir (.png .jpg
 * .jpeg .bmp .tif .tiff, any case).  A missing folder is an error. */
GPtrArray *cp_pipeline_list_images  (const char *dir, GError **error);

/* Sorted names of the sub-folders of @dir. */
GPtrArray *cp_pipeline_list_subdirs (const char *dir, GError **error);

/* Opens "auto", "cpu" or "cuda"; @notice (may be NULL) receives the reason
 * "auto" fell back to the CPU (newly allocated) or NULL. */
CpBackend *cp_pipeline_open_backend (const char *device, char **notice, GError **error);

/* Embeds @n images, already (3, S, S) normalised float tensors in host
 * memory at @tensors, with the network in inference mode; @device_buf is
 * backend memory for CP_PIPELINE_EMBED_BATCH images.  @embeddings (host)
 * receives n x 512 raw (unnormalised) embeddings. */
gboolean   cp_pipeline_embed_tensors (CpNetwork *net, float *device_buf, const float *tensors,
                                      int n, int size, float *embeddings, GError **error);

/* Writes network + Gaussian + @metadata (key, value, ..., NULL pairs in a
 * NULL-terminated array) atomically to @path. */
gboolean   cp_pipeline_save_model   (CpNetwork *net, const CpGde *gde, const char *const *metadata,
                                     const char *path, GError **error);

/* Current UTC time as ISO 8601 ("2026-01-02T03:04:05Z"), newly allocated. */
char      *cp_pipeline_now_iso8601  (void);

/* Formats a double so that it reads back exactly ("%.17g"); "nan" for NaN. */
char      *cp_pipeline_format_double (double value);

/* For refit.c: gives @model the Gaussian @gde (which it takes) and a
 * cross-validated @threshold for @false_reject_rate, fitted on
 * @train_images good images.  The metadata follows (threshold,
 * threshold_source "cross-validation", false_reject_rate, train_images;
 * a cross_validation_threshold kept from a hand-set threshold is
 * dropped). */
void       cp_model_replace_density (CpModel *model, CpGde *gde, double threshold,
                                     double false_reject_rate, int train_images);

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
