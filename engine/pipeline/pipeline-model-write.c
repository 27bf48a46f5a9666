/* pipeline-model-write.c: writing a network and its Gaussian as a model
 * file (safetensors). */
#include "pipeline-private.h"

#include "core/io/safetensors.h"

gboolean
cp_pipeline_save_model (CpNetwork *net, const CpGde *gde, const char *const *metadata,
                        const char *path, GError **error)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  int dim = cp_gde_dim (gde);
  int64_t mean_shape[1] = { dim };
  int64_t prec_shape[2] = { dim, dim };
  CpError err = { 0 };
  gboolean ok = FALSE;

  if (cp_network_save (net, w, &err) != CP_OK
      || cp_safetensors_writer_add (w, "gde.mean", CP_DTYPE_F32, mean_shape, 1,
                                    cp_gde_mean_f32 (gde), &err) != CP_OK
      || cp_safetensors_writer_add (w, "gde.precision", CP_DTYPE_F32, prec_shape, 2,
                                    cp_gde_precision_f32 (gde), &err) != CP_OK)
    goto out;
  for (int i = 0; metadata[i] != NULL && metadata[i + 1] != NULL; i += 2)
    if (cp_safetensors_writer_set_metadata (w, metadata[i], metadata[i + 1], &err) != CP_OK)
      goto out;
  if (cp_safetensors_writer_save (w, path, &err) != CP_OK)
    goto out;
  ok = TRUE;
out:
  cp_safetensors_writer_free (w);
  if (!ok)
    {
      g_set_error (error, CP_PIPELINE_ERROR,
                   err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : cp_pipeline_error_from_status (err.code),
                   "cannot write model %s: %s", path, err.message);
    }
  return ok;
}
