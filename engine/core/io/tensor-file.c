/* tensor-file.c: safetensors or torch.save, by the first bytes (see
 * tensor-file.h). */
#include "tensor-file.h"

#include <stdio.h>
#include <stdlib.h>

#include "fs.h"
#include "pth.h"

static int
looks_like_safetensors (const void *bytes,
                        size_t      size)
{
  return size >= 9 && ((const unsigned char *) bytes)[8] == '{' && !cp_pth_is_zip (bytes, size)
         && !cp_pth_is_legacy (bytes, size);
}

CpSafetensors *
cp_tensor_file_from_memory (const void *bytes,
                            size_t      size,
                            const char *label,
                            CpError    *error)
{
  const unsigned char *b = bytes;

  if (label == NULL)
    label = "(memory)";
  if (bytes == NULL && size > 0)
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: NULL bytes", label);
      return NULL;
    }
  if (cp_pth_is_zip (bytes, size) || cp_pth_is_legacy (bytes, size))
    return cp_pth_from_memory (bytes, size, label, error);
  /* A safetensors header is JSON: an object right after the length. */
  if (looks_like_safetensors (bytes, size))
    return cp_safetensors_from_memory (bytes, size, label, error);
  if (size >= 2 && b[0] == 0x80 && b[1] <= 5)
    {
      cp_error_set (error, CP_ERR_UNSUPPORTED, "%s: a bare Python pickle, not a torch.save (zip) "
                    "archive nor a safetensors file; pickles are not read, since reading one "
                    "means running any program it names", label);
      return NULL;
    }
  if (size < 9)
    cp_error_set (error, CP_ERR_FORMAT, "%s: %zu bytes is too short for a weights file", label,
                  size);
  else
    cp_error_set (error, CP_ERR_FORMAT, "%s: neither a torch.save (.pth) archive nor a "
                  "safetensors file (it begins with %02x %02x %02x %02x)", label, b[0], b[1], b[2],
                  b[3]);
  return NULL;
}

CpSafetensors *
cp_tensor_file_open (const char *path,
                     CpError    *error)
{
  CpSafetensors *st;
  void *bytes;
  size_t size;

  if (path == NULL)
    {
      cp_error_set (error, CP_ERR_INVALID, "cp_tensor_file_open: NULL path");
      return NULL;
    }
  if (cp_read_file (path, CP_TENSOR_FILE_MAX_BYTES, &bytes, &size, error) != CP_OK)
    return NULL;
  /* A safetensors file keeps the buffer just read rather than a copy. */
  if (looks_like_safetensors (bytes, size))
    return cp_safetensors_from_memory_owned (bytes, size, path, error);
  st = cp_tensor_file_from_memory (bytes, size, path, error);
  free (bytes);
  return st;
}
