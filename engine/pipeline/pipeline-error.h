/* pipeline-error.h: the GError domain of training, evaluation and models.
 *
 * The engine core reports CpStatus + CpError; the pipeline (which uses GLib)
 * turns those into GErrors in this domain so the app and the command line
 * can show them and decide on an exit status.
 */
#pragma once

#include <glib.h>

#include "core/status.h"

G_BEGIN_DECLS

#define CP_PIPELINE_ERROR (cp_pipeline_error_quark ())

typedef enum
{
  CP_PIPELINE_ERROR_INVALID,      /* bad option or argument (usage error) */
  CP_PIPELINE_ERROR_DATA,         /* missing/empty dataset folder, unknown category */
  CP_PIPELINE_ERROR_MODEL,        /* model file of another format, version, size or head */
  CP_PIPELINE_ERROR_IO,           /* reading or writing a file failed */
  CP_PIPELINE_ERROR_CANCELLED,    /* the cancel flag was raised */
  CP_PIPELINE_ERROR_NUMERIC,      /* the loss or a score became NaN/Inf */
  CP_PIPELINE_ERROR_DEVICE,       /* backend could not be opened or failed */
  CP_PIPELINE_ERROR_IMAGE,        /* an image could not be read or decoded */
  CP_PIPELINE_ERROR_FAILED,       /* anything else reported by the engine core */
  CP_PIPELINE_ERROR_CHANGED,      /* a file no longer holds what the caller read from it */
} CpPipelineError;

GQuark cp_pipeline_error_quark (void);

/* Maps an engine-core status to the matching pipeline error code. */
CpPipelineError cp_pipeline_error_from_status (CpStatus status);

/* Sets @error from a core CpError (code mapped, message copied). Returns
 * FALSE so callers can write `return cp_pipeline_set_error (...)`. */
gboolean cp_pipeline_set_error (GError **error, const CpError *core_error);

G_END_DECLS
