/* pipeline-model-write.c: writing a network and its Gaussian as a model
 * file (safetensors); the one model writer that cp_model_save (),
 * cp_model_parts_save () and cp_pipeline_save_model () share. */
#include "pipeline-private.h"

#include <string.h>

#include "core/io/safetensors.h"

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

gboolean
cp_pipeline_write_model (CpNetwork *net, const CpGde *gde, CpLocalModel *local,
                         const double *calibration, int n_calibration, GHashTable *metadata,
                         const char *path, GError **error)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  int dim = cp_gde_dim (gde);
  int64_t mean_shape[1] = { dim };
  int64_t prec_shape[2] = { dim, dim };
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;
  CpError err = { 0 };
  gboolean ok = FALSE;

  if (cp_network_save (net, w, &err) != CP_OK
      || cp_safetensors_writer_add (w, "gde.mean", CP_DTYPE_F32, mean_shape, 1,
                                    cp_gde_mean_f32 (gde), &err) != CP_OK
      || cp_safetensors_writer_add (w, "gde.precision", CP_DTYPE_F32, prec_shape, 2,
                                    cp_gde_precision_f32 (gde), &err) != CP_OK)
    goto out;
  if (local != NULL && !cp_local_model_save (local, w, metadata, error))
    {
      cp_safetensors_writer_free (w);
      g_prefix_error (error, "cannot write model %s: ", path);
      return FALSE;
    }
  if (calibration != NULL && n_calibration > 0)
    {
      g_autofree float *values = g_new (float, n_calibration);
      int64_t shape[1] = { n_calibration };

      for (int i = 0; i < n_calibration; i++)
        values[i] = (float) calibration[i];
      if (cp_safetensors_writer_add (w, "calibration.scores", CP_DTYPE_F32, shape, 1, values, &err)
          != CP_OK)
        goto out;
    }
  g_hash_table_iter_init (&iter, metadata);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (keys, key);
  g_ptr_array_sort (keys, compare_keys);
  for (guint i = 0; i < keys->len; i++)
    if (cp_safetensors_writer_set_metadata (w, keys->pdata[i],
                                            g_hash_table_lookup (metadata, keys->pdata[i]), &err)
        != CP_OK)
      goto out;
  if (cp_safetensors_writer_save (w, path, &err) != CP_OK)
    goto out;
  ok = TRUE;
out:
  cp_safetensors_writer_free (w);
  if (!ok)
    g_set_error (error, CP_PIPELINE_ERROR,
                 err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : cp_pipeline_error_from_status (err.code),
                 "cannot write model %s: %s", path, err.message);
  return ok;
}

gboolean
cp_pipeline_save_model (CpNetwork *net, const CpGde *gde, const char *const *metadata,
                        const char *path, GError **error)
{
  g_autoptr (GHashTable) table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  /* A key given twice keeps its last value, as the writer did. */
  for (int i = 0; metadata[i] != NULL && metadata[i + 1] != NULL; i += 2)
    g_hash_table_insert (table, g_strdup (metadata[i]), g_strdup (metadata[i + 1]));
  return cp_pipeline_write_model (net, gde, NULL, NULL, 0, table, path, error);
}
