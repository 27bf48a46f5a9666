/* pipeline-common.c: errors, folder listing, backends, embedding and model
 * writing shared by the pipeline. */
#include "pipeline-private.h"

#include <math.h>
#include <string.h>

#include "core/io/safetensors.h"

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

static gboolean
has_image_extension (const char *name)
{
  static const char *const extensions[] = { ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff" };
  const char *dot = strrchr (name, '.');

  if (dot == NULL || name[0] == '.')
    return FALSE;
  for (size_t i = 0; i < G_N_ELEMENTS (extensions); i++)
    if (g_ascii_strcasecmp (dot, extensions[i]) == 0)
      return TRUE;
  return FALSE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
list_dir (const char *dir, gboolean want_dirs, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) local = NULL;
  GDir *d = g_dir_open (dir, 0, &local);
  const char *name;

  if (d == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "cannot read folder %s: %s", dir, local->message);
      return NULL;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      char *path = g_build_filename (dir, name, NULL);
      gboolean is_dir = g_file_test (path, G_FILE_TEST_IS_DIR);

      if (want_dirs ? (is_dir && name[0] != '.')
                    : (!is_dir && has_image_extension (name)))
        g_ptr_array_add (out, want_dirs ? g_strdup (name) : g_steal_pointer (&path));
      g_free (path);
    }
  g_dir_close (d);
  /* Sorted so that the image order, and with it a seeded run, does not
   * depend on the file system. */
  g_ptr_array_sort (out, compare_strings);
  return g_steal_pointer (&out);
}

GPtrArray *
cp_pipeline_list_images (const char *dir, GError **error)
{
  return list_dir (dir, FALSE, error);
}

GPtrArray *
cp_pipeline_list_subdirs (const char *dir, GError **error)
{
  return list_dir (dir, TRUE, error);
}

CpBackend *
cp_pipeline_open_backend (const char *device, char **notice, GError **error)
{
  CpError note = { 0 }, err = { 0 };
  CpBackend *be;

  if (notice)
    *notice = NULL;
  if (device == NULL)
    device = "auto";
  if (strcmp (device, "auto") != 0 && strcmp (device, "cpu") != 0 && strcmp (device, "cuda") != 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                   "unknown device '%s' (expected auto, cpu or cuda)", device);
      return NULL;
    }
  be = cp_backend_open (device, &note, &err);
  if (be == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DEVICE,
                   "cannot open device '%s': %s", device, err.message);
      return NULL;
    }
  if (notice && note.message[0])
    *notice = g_strdup (note.message);
  return be;
}

gboolean
cp_pipeline_embed_tensors (CpNetwork *net, float *device_buf, const float *tensors,
                           int n, int size, float *embeddings, GError **error)
{
  CpBackend *be = cp_network_backend (net);
  size_t per_image = (size_t) 3 * size * size;
  CpError err = { 0 };

  for (int start = 0; start < n; start += CP_PIPELINE_EMBED_BATCH)
    {
      int count = MIN (CP_PIPELINE_EMBED_BATCH, n - start);

      if (be->upload (be, device_buf, tensors + (size_t) start * per_image,
                      (size_t) count * per_image * sizeof (float), &err) != CP_OK
          || cp_network_forward (net, device_buf, count, size, size, FALSE, &err) != CP_OK
          || be->download (be, embeddings + (size_t) start * CP_EMBEDDING_DIM,
                           cp_network_embedding (net),
                           (size_t) count * CP_EMBEDDING_DIM * sizeof (float), &err) != CP_OK)
        return cp_pipeline_set_error (error, &err);
    }
  return TRUE;
}

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

char *
cp_pipeline_now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
}

char *
cp_pipeline_format_double (double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (value))
    return g_strdup ("nan");
  /* g_ascii_dtostr is locale-independent and round-trips. */
  return g_strdup (g_ascii_dtostr (buf, sizeof buf, value));
}
