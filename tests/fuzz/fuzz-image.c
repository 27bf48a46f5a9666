/* fuzz-image.c: image decoding (engine/data/image.h), which reads every
 * training, test and prediction image and every ground-truth mask.
 *
 * There is no in-memory entry point (decoding goes through the file's
 * header first, to refuse huge images before any pixel memory exists), so
 * the input is written to a scratch file and loaded as the program would:
 * cp_image_load, the resized load the training cache uses, and the mask
 * load.  A decoded image must have the size its own checks allow.
 */
#include <string.h>

#include "data/image.h"
#include "fuzz-common.h"
#include "fuzz-tmp.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *path = fuzz_tmp_write ("input", data, size);
  CpImage *image = NULL;
  GError *error = NULL;
  uint8_t *mask = NULL;

  if (cp_image_load (path, &image, &error))
    {
      FUZZ_ASSERT (image != NULL && error == NULL);
      FUZZ_ASSERT (image->width > 0 && image->height > 0);
      FUZZ_ASSERT (image->width <= CP_IMAGE_MAX_SIDE && image->height <= CP_IMAGE_MAX_SIDE);
      FUZZ_ASSERT ((guint64) image->width * image->height <= CP_IMAGE_MAX_PIXELS);
      FUZZ_ASSERT (image->stride >= 3 * image->width);
      /* Small images only: the resize of a large one is a lot of work for
       * nothing the loader's checks have not covered. */
      if ((guint64) image->width * image->height <= 512 * 512)
        {
          CpImage *small = cp_image_resize_bicubic (image, 32, 32);
          float *tensor = g_new (float, 3 * 32 * 32);

          FUZZ_ASSERT (small != NULL);
          cp_image_to_tensor (small, tensor);
          g_free (tensor);
          cp_image_free (small);
        }
      cp_image_free (image);
      image = NULL;

      if (cp_image_load_resized (path, 32, &image, &error))
        {
          FUZZ_ASSERT (image->width == 32 && image->height == 32);
          cp_image_free (image);
        }
      else
        {
          /* The same bytes decoded a moment ago. */
          fprintf (stderr, "resized load failed after a plain load: %s\n", error->message);
          abort ();
        }
      if (cp_mask_load (path, 16, &mask, &error))
        {
          for (int i = 0; i < 16 * 16; i++)
            FUZZ_ASSERT (mask[i] == 0 || mask[i] == 1);
          g_free (mask);
        }
      else
        g_clear_error (&error);
    }
  else
    {
      FUZZ_ASSERT (image == NULL);
      FUZZ_ASSERT (error != NULL && error->domain == CP_DATA_ERROR);
      /* Every message names the file. */
      FUZZ_ASSERT (strstr (error->message, path) != NULL);
      g_clear_error (&error);
    }
  g_unlink (path);
  g_free (path);
  return 0;
}
