/* patch-embed.c: embeddings of every patch of an image on a grid.
 *
 * Each patch is copied out and run as an image of its own: that is what
 * the patch model was trained on (64 x 64 crops, zero padding at their
 * borders), and it makes a patch's embedding independent of its
 * neighbours.  Running the network once over the whole image would share
 * work between overlapping patches but give other numbers at every patch
 * (the padding of a 32 x 32 input is not the image around it).
 */
#include "localize.h"

#include <stdlib.h>
#include <string.h>

struct CpPatchEmbedder
{
  CpNetwork *net;
  CpBackend *be;
  int        patch;
  int        batch;
  float     *host;    /* (batch, 3, patch, patch) */
  float     *device;  /* the same on the backend */
};

CpPatchEmbedder *
cp_patch_embedder_new (CpNetwork *net, int patch, int batch, CpError *error)
{
  CpPatchEmbedder *pe;
  size_t floats;

  if (net == NULL || patch < 32 || patch % 32 != 0)
    {
      cp_error_set (error, CP_ERR_INVALID, "patch embedder: patch side %d is not a multiple of 32",
                    patch);
      return NULL;
    }
  if (batch <= 0)
    batch = CP_LOCALIZE_BATCH;
  pe = calloc (1, sizeof *pe);
  if (pe == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "patch embedder: out of memory");
      return NULL;
    }
  pe->net = net;
  pe->be = cp_network_backend (net);
  pe->patch = patch;
  pe->batch = batch;
  floats = (size_t) batch * 3 * patch * patch;
  pe->host = malloc (floats * sizeof (float));
  pe->device = pe->be->alloc (pe->be, floats * sizeof (float), error);
  if (pe->host == NULL || pe->device == NULL)
    {
      if (pe->host == NULL)
        cp_error_set (error, CP_ERR_NOMEM, "patch embedder: out of memory for %d patches", batch);
      cp_patch_embedder_free (pe);
      return NULL;
    }
  return pe;
}

void
cp_patch_embedder_free (CpPatchEmbedder *pe)
{
  if (pe == NULL)
    return;
  if (pe->device)
    pe->be->free (pe->be, pe->device);
  free (pe->host);
  free (pe);
}

CpStatus
cp_patch_embedder_run (CpPatchEmbedder *pe, const float *image, int height, int width, int stride,
                       float *out, const volatile int *cancel, CpError *error)
{
  int p = pe->patch;
  int gh = cp_localize_grid_side (height, p, stride);
  int gw = cp_localize_grid_side (width, p, stride);
  int total = gh * gw;
  size_t plane = (size_t) height * width, per_patch = (size_t) 3 * p * p;

  if (gh < 1 || gw < 1)
    return cp_error_set (error, CP_ERR_INVALID,
                         "patch embedder: a %d x %d image holds no %d x %d patch at stride %d",
                         width, height, p, p, stride);
  for (int start = 0; start < total; start += pe->batch)
    {
      int count = total - start < pe->batch ? total - start : pe->batch;
      CpStatus st;

      /* Set from another thread (the app's main thread): an atomic load,
       * as its writers use atomic stores. */
      if (cancel != NULL && __atomic_load_n (cancel, __ATOMIC_RELAXED))
        return cp_error_set (error, CP_ERR_CANCELLED, "patch embedding cancelled");
      for (int k = 0; k < count; k++)
        {
          int loc = start + k, y0 = (loc / gw) * stride, x0 = (loc % gw) * stride;
          float *dst = pe->host + (size_t) k * per_patch;
          for (int c = 0; c < 3; c++)
            for (int y = 0; y < p; y++)
              memcpy (dst + ((size_t) c * p + y) * p,
                      image + c * plane + (size_t) (y0 + y) * width + x0, (size_t) p * sizeof (float));
        }
      st = pe->be->upload (pe->be, pe->device, pe->host, (size_t) count * per_patch * sizeof (float),
                           error);
      if (st == CP_OK)
        st = cp_network_forward (pe->net, pe->device, count, p, p, 0, error);
      if (st == CP_OK)
        st = pe->be->download (pe->be, out + (size_t) start * CP_EMBEDDING_DIM,
                               cp_network_embedding (pe->net),
                               (size_t) count * CP_EMBEDDING_DIM * sizeof (float), error);
      if (st != CP_OK)
        {
          cp_error_prefix (error, "patch embedding");
          return st;
        }
    }
  return CP_OK;
}
