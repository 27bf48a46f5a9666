/* fuzz-model.c: loading a model file (engine/pipeline/model.h): the
 * safetensors structure and then the model checks on top of it (format
 * name and version, image size, head layers against the tensors, the
 * output layer, the Gaussian's shapes and finiteness, every network
 * tensor) and the metadata parsed into numbers.
 *
 * The input is written to a scratch file and loaded on the CPU.  A model
 * that loads must report what its own checks allow.
 */
#include <math.h>
#include <string.h>

#include "pipeline/model.h"
#include "fuzz-common.h"
#include "fuzz-tmp.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *path = fuzz_tmp_write ("model.safetensors", data, size);
  GError *error = NULL;
  CpModel *model = cp_model_load (path, "cpu", &error);

  if (model == NULL)
    {
      FUZZ_ASSERT (error != NULL && error->domain == CP_PIPELINE_ERROR);
      FUZZ_ASSERT (strstr (error->message, path) != NULL);
      g_clear_error (&error);
    }
  else
    {
      int s = cp_model_get_image_size (model);

      FUZZ_ASSERT (s >= 32 && s <= 1024 && s % 32 == 0);
      FUZZ_ASSERT (cp_model_get_head_layers (model) >= 0);
      FUZZ_ASSERT (cp_model_get_category (model) != NULL);
      FUZZ_ASSERT (cp_model_get_variant (model) != NULL);
      FUZZ_ASSERT (cp_model_get_created (model) != NULL);
      (void) cp_model_is_anomalous (model, 1.0);
      cp_model_free (model);
    }
  g_unlink (path);
  g_free (path);
  return 0;
}
