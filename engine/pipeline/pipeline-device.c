/* pipeline-device.c: opening the backend a pipeline step runs on, and
 * embedding images with the network on it. */
#include "pipeline-private.h"

#include <string.h>

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
