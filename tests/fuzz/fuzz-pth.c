/* fuzz-pth.c: torch.save archives as tensors (core/io/pth.h and
 * tensor-file.h): the zip reader, the unpickler and the copying of each
 * tensor out of its storage together.
 *
 * When a file is accepted, the result must be a consistent set of
 * tensors: found by name, each exactly dtype x shape bytes, and readable
 * (read_f32 for float tensors, read_i64 for integer ones); the copies may
 * not have taken more than twice the input, the limit pth.c promises.
 */
#include <string.h>

#include "core/io/pth.h"
#include "core/io/tensor-file.h"
#include "fuzz-common.h"

#define READ_LIMIT ((uint64_t) 16 << 20)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  CpError error = { 0 };
  CpSafetensors *st = cp_tensor_file_from_memory (data, size, "fuzz.pth", &error);
  uint64_t total = 0;

  if (st == NULL)
    {
      FUZZ_ASSERT (error.code != CP_OK && strstr (error.message, "fuzz.pth") != NULL);
      return 0;
    }
  for (int i = 0; i < cp_safetensors_count (st); i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      uint64_t n = 1;

      FUZZ_ASSERT (cp_safetensors_find (st, info->name) == info);
      for (int d = 0; d < info->ndim; d++)
        n *= (uint64_t) info->shape[d];
      FUZZ_ASSERT (info->nbytes == n * cp_dtype_size (info->dtype));
      total += info->nbytes;
      if (info->nbytes <= READ_LIMIT)
        {
          void *buf = malloc (n ? n * 8 : 8);
          int is_float = info->dtype == CP_DTYPE_F32 || info->dtype == CP_DTYPE_F16
                         || info->dtype == CP_DTYPE_BF16 || info->dtype == CP_DTYPE_F64;

          if (is_float)
            FUZZ_ASSERT (cp_safetensors_read_f32 (st, info->name, info->shape, info->ndim, buf,
                                                  &error) == CP_OK);
          else
            FUZZ_ASSERT (cp_safetensors_read_i64 (st, info->name, info->shape, info->ndim, buf,
                                                  &error) == CP_OK);
          free (buf);
        }
    }
  if (cp_pth_is_zip (data, size))
    FUZZ_ASSERT (total <= (uint64_t) size * 2 + ((uint64_t) 1 << 20));
  cp_safetensors_close (st);
  return 0;
}
