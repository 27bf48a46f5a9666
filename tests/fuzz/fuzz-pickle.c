/* fuzz-pickle.c: the restricted unpickler of torch.save's data.pkl
 * (core/io/torch-pickle.h).
 *
 * Nothing a pickle names may run: the unpickler only builds values.  When
 * it accepts one, each tensor it lists must lie inside its storage
 * (recomputed here from offset, shape and strides) with a size that fits
 * 64-bit byte counts.
 */
#include <string.h>

#include "core/io/torch-pickle.h"
#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  CpTorchStateDict sd;
  CpError error = { 0 };

  if (cp_torch_pickle_load_state_dict (data, size, "fuzz/data.pkl", &sd, &error) != CP_OK)
    {
      FUZZ_ASSERT (error.code != CP_OK && strstr (error.message, "fuzz/data.pkl") != NULL);
      FUZZ_ASSERT (sd.count == 0 && sd.tensors == NULL);
      return 0;
    }
  for (int i = 0; i < sd.count; i++)
    {
      const CpTorchTensorRef *r = &sd.tensors[i];
      unsigned __int128 last = r->offset, numel = 1;

      FUZZ_ASSERT (r->name != NULL && r->storage_key != NULL && r->storage_key[0] != '\0');
      FUZZ_ASSERT (strchr (r->storage_key, '/') == NULL);
      FUZZ_ASSERT (r->ndim >= 0 && r->ndim <= CP_SAFETENSORS_MAX_DIMS);
      FUZZ_ASSERT (cp_dtype_size (r->dtype) > 0);
      for (int d = 0; d < r->ndim; d++)
        {
          FUZZ_ASSERT (r->shape[d] >= 0 && r->stride[d] >= 0);
          numel *= (unsigned __int128) r->shape[d];
          if (r->shape[d] > 0)
            last += (unsigned __int128) (r->shape[d] - 1) * (unsigned __int128) r->stride[d];
        }
      FUZZ_ASSERT (numel * cp_dtype_size (r->dtype) <= (unsigned __int128) INT64_MAX);
      if (numel > 0)
        FUZZ_ASSERT (last < r->storage_numel);
      else
        FUZZ_ASSERT (r->offset <= r->storage_numel);
    }
  cp_torch_state_dict_clear (&sd);
  return 0;
}
