/* fuzz-safetensors.c: the safetensors reader (model files, checkpoints and
 * ImageNet weights come from outside).
 *
 * cp_safetensors_from_memory() parses exactly the fuzz input.  When it
 * accepts a file, what the header promises is checked against what the
 * reader returns: each tensor's byte count is dtype x shape, tensors do
 * not overlap, names are unique and found by name, and every tensor small
 * enough is read through read_f32 / read_i64 with its own shape (ASan then
 * sees any read outside the input).
 */
#include <stdbool.h>
#include <string.h>

#include "core/io/safetensors.h"
#include "fuzz-common.h"

#define READ_LIMIT ((uint64_t) 16 << 20)

static bool
is_float (CpDtype d)
{
  return d == CP_DTYPE_F32 || d == CP_DTYPE_F16 || d == CP_DTYPE_BF16 || d == CP_DTYPE_F64;
}

static bool
is_int (CpDtype d)
{
  return d == CP_DTYPE_I64 || d == CP_DTYPE_I32 || d == CP_DTYPE_I16 || d == CP_DTYPE_I8
         || d == CP_DTYPE_U8;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  CpError error = { 0 };
  CpSafetensors *st = cp_safetensors_from_memory (data, size, "fuzz.safetensors", &error);
  int count;

  if (st == NULL)
    {
      FUZZ_ASSERT (error.code != CP_OK && error.message[0] != '\0');
      return 0;
    }
  count = cp_safetensors_count (st);
  FUZZ_ASSERT (count >= 0);
  for (int i = 0; i < count; i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      uint64_t elements = 1;

      FUZZ_ASSERT (info != NULL && info->name != NULL);
      FUZZ_ASSERT (cp_safetensors_find (st, info->name) == info);
      FUZZ_ASSERT (info->ndim >= 0 && info->ndim <= CP_SAFETENSORS_MAX_DIMS);
      for (int d = 0; d < info->ndim; d++)
        {
          FUZZ_ASSERT (info->shape[d] >= 0);
          elements *= (uint64_t) info->shape[d];
        }
      FUZZ_ASSERT (info->nbytes == elements * cp_dtype_size (info->dtype));
      FUZZ_ASSERT (info->offset <= size && info->nbytes <= size - info->offset);
      FUZZ_ASSERT (cp_safetensors_data (st, info) != NULL);
      for (int j = 0; j < i; j++)
        {
          const CpTensorInfo *other = cp_safetensors_info (st, j);

          FUZZ_ASSERT (strcmp (other->name, info->name) != 0);
          if (info->nbytes > 0 && other->nbytes > 0)
            FUZZ_ASSERT (info->offset + info->nbytes <= other->offset
                         || other->offset + other->nbytes <= info->offset);
        }

      if (info->nbytes <= READ_LIMIT)
        {
          size_t n = (size_t) elements;
          CpStatus want_float = is_float (info->dtype) ? CP_OK : CP_ERR_FORMAT;

          if (is_float (info->dtype) || is_int (info->dtype))
            {
              float *f = malloc ((n ? n : 1) * sizeof *f);
              int64_t *v = malloc ((n ? n : 1) * sizeof *v);
              CpStatus s_f = cp_safetensors_read_f32 (st, info->name, info->shape, info->ndim, f, &error);
              CpStatus s_i = cp_safetensors_read_i64 (st, info->name, info->shape, info->ndim, v, &error);

              /* A float tensor reads as float and only as float; an
               * integer one the other way round. */
              FUZZ_ASSERT ((s_f == CP_OK) == (want_float == CP_OK));
              FUZZ_ASSERT ((s_i == CP_OK) == is_int (info->dtype));
              free (f);
              free (v);
            }
          /* Any other shape is refused. */
          if (info->ndim < CP_SAFETENSORS_MAX_DIMS)
            {
              int64_t shape[CP_SAFETENSORS_MAX_DIMS];
              float one;

              memcpy (shape, info->shape, sizeof shape);
              shape[info->ndim] = 2;
              FUZZ_ASSERT (cp_safetensors_read_f32 (st, info->name, shape, info->ndim + 1, &one, &error)
                           != CP_OK);
            }
        }
    }
  FUZZ_ASSERT (cp_safetensors_find (st, "\x01no such tensor") == NULL);
  for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
    {
      const char *key = cp_safetensors_metadata_key (st, i);
      const char *value = cp_safetensors_metadata_value (st, i);

      FUZZ_ASSERT (key != NULL && value != NULL);
      FUZZ_ASSERT (cp_safetensors_metadata (st, key) != NULL);
    }
  cp_safetensors_close (st);
  return 0;
}
