/* pipeline-error.c: the pipeline's GError domain, and the bridge from the
 * engine core's CpStatus + CpError to it. */
#include "pipeline-error.h"

G_DEFINE_QUARK (cp-pipeline-error-quark, cp_pipeline_error)

CpPipelineError
cp_pipeline_error_from_status (CpStatus status)
{
  switch (status)
    {
    case CP_ERR_INVALID:     return CP_PIPELINE_ERROR_INVALID;
    case CP_ERR_IO:          return CP_PIPELINE_ERROR_IO;
    case CP_ERR_FORMAT:      return CP_PIPELINE_ERROR_MODEL;
    case CP_ERR_CANCELLED:   return CP_PIPELINE_ERROR_CANCELLED;
    case CP_ERR_NUMERIC:     return CP_PIPELINE_ERROR_NUMERIC;
    case CP_ERR_DEVICE:      return CP_PIPELINE_ERROR_DEVICE;
    case CP_ERR_UNSUPPORTED: return CP_PIPELINE_ERROR_DEVICE;
    case CP_ERR_NOMEM:
    case CP_OK:
    default:                 return CP_PIPELINE_ERROR_FAILED;
    }
}

gboolean
cp_pipeline_set_error (GError **error, const CpError *core_error)
{
  g_set_error_literal (error, CP_PIPELINE_ERROR,
                       cp_pipeline_error_from_status (core_error->code),
                       core_error->message[0] ? core_error->message
                                              : cp_status_to_string (core_error->code));
  return FALSE;
}
