/* pth.c: torch.save archives as safetensors images (see pth.h). */
#include "pth.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "torch-pickle.h"
#include "zip.h"

/* Every tensor of a state dict together, against the archive's size. */
#define OUTPUT_FACTOR 2
#define OUTPUT_SLACK  ((uint64_t) 1 << 20)

typedef struct
{
  const CpTorchTensorRef *ref;
  const unsigned char    *data;      /* the storage's bytes, in the archive */
} Piece;

int
cp_pth_is_zip (const void *bytes,
               size_t      size)
{
  const unsigned char *b = bytes;

  return size >= 4 && b[0] == 'P' && b[1] == 'K'
         && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6));
}

int
cp_pth_is_legacy (const void *bytes,
                  size_t      size)
{
  /* pickle protocol 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c, the
   * magic number legacy torch.save pickles first. */
  static const unsigned char magic[] = {
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
  };

  return size >= sizeof magic && memcmp (bytes, magic, sizeof magic) == 0;
}

static int
compare_by_storage (const void *a,
                    const void *b)
{
  const Piece *x = a, *y = b;

  return strcmp (x->ref->storage_key, y->ref->storage_key);
}

/* Optional text records: the bytes of <top>/<name> with a trailing
 * newline dropped, or NULL when absent. */
static CpStatus
read_record (const CpZip *zip,
             const char  *top,
             const char  *name,
             const char  *label,
             char        *text,
             size_t       text_size,
             bool        *present,
             CpError     *error)
{
  char path[512];
  const CpZipEntry *e;
  const void *data;
  size_t size;

  snprintf (path, sizeof path, "%s/%s", top, name);
  *present = false;
  e = cp_zip_find (zip, path);
  if (e == NULL)
    return CP_OK;
  if (cp_zip_entry_data (zip, e, &data, &size, error) != CP_OK)
    return error != NULL ? error->code : CP_ERR_FORMAT;
  if (size > 0 && ((const char *) data)[size - 1] == '\n')
    size--;
  if (size >= text_size)
    return cp_error_set (error, CP_ERR_FORMAT, "%s: the %s record is %zu bytes long, not a "
                         "short text", label, name, size);
  memcpy (text, data, size);
  text[size] = '\0';
  *present = true;
  return CP_OK;
}

static bool
is_contiguous (const CpTorchTensorRef *r)
{
  int64_t expected = 1;

  for (int d = r->ndim - 1; d >= 0; d--)
    {
      /* A dimension of size 1 may carry any stride. */
      if (r->shape[d] != 1 && r->stride[d] != expected)
        return false;
      expected *= r->shape[d];
    }
  return true;
}

static void
copy_element (unsigned char       *dst,
              const unsigned char *src,
              size_t               elem,
              bool                 swap)
{
  if (!swap)
    memcpy (dst, src, elem);
  else
    for (size_t i = 0; i < elem; i++)
      dst[i] = src[elem - 1 - i];
}

/* Copies the tensor @r out of its storage @storage into @dst, row-major. */
static void
gather (const CpTorchTensorRef *r,
        const unsigned char    *storage,
        unsigned char          *dst,
        bool                    swap)
{
  size_t elem = cp_dtype_size (r->dtype);
  uint64_t numel = 1;
  int64_t idx[CP_SAFETENSORS_MAX_DIMS] = { 0 };
  uint64_t src;

  for (int d = 0; d < r->ndim; d++)
    numel *= (uint64_t) r->shape[d];
  if (numel == 0)
    return;
  if (is_contiguous (r) && !swap)
    {
      memcpy (dst, storage + r->offset * elem, (size_t) (numel * elem));
      return;
    }
  src = r->offset;
  for (uint64_t i = 0; i < numel; i++)
    {
      copy_element (dst + i * elem, storage + src * elem, elem, swap);
      /* Odometer over the dimensions, last fastest. */
      for (int d = r->ndim - 1; d >= 0; d--)
        {
          if (++idx[d] < r->shape[d])
            {
              src += (uint64_t) r->stride[d];
              break;
            }
          src -= (uint64_t) r->stride[d] * (uint64_t) (r->shape[d] - 1);
          idx[d] = 0;
        }
    }
}

CpSafetensors *
cp_pth_from_memory (const void *bytes,
                    size_t      size,
                    const char *label,
                    CpError    *error)
{
  CpZip *zip = NULL;
  CpTorchStateDict sd = { 0 };
  Piece *pieces = NULL;
  CpJsonWriter jw;
  char top[256], text[64], path[512], pkl_label[1024];
  const CpZipEntry *first, *pkl_entry;
  const void *pkl;
  size_t pkl_size, top_len, header_len, padded;
  const char *slash;
  bool present, swap = false;
  uint64_t total = 0, limit, offset;
  char *header = NULL;
  unsigned char *image = NULL;
  CpSafetensors *st = NULL;

  if (label == NULL)
    label = "(memory)";
  cp_json_writer_init (&jw);
  if (cp_pth_is_legacy (bytes, size))
    {
      cp_error_set (error, CP_ERR_UNSUPPORTED,
                    "%s: PyTorch's legacy format (torch.save before 1.6, or with "
                    "_use_new_zipfile_serialization=False) is not read, since reading it means "
                    "running any program its pickle names: load it in PyTorch and save it again "
                    "with torch.save, or use a safetensors file", label);
      goto out;
    }
  zip = cp_zip_open_memory (bytes, size, label, error);
  if (zip == NULL)
    goto out;

  /* The top folder: whatever the first entry sits in, as PyTorch's own
   * reader decides it. */
  first = cp_zip_entry (zip, 0);
  slash = first != NULL ? strchr (first->name, '/') : NULL;
  if (slash == NULL || slash == first->name || (size_t) (slash - first->name) >= sizeof top)
    {
      cp_error_set (error, CP_ERR_FORMAT, "%s: not a torch.save archive (its first entry '%s' is "
                    "not inside a folder)", label, first != NULL ? first->name : "(none)");
      goto out;
    }
  top_len = (size_t) (slash - first->name);
  memcpy (top, first->name, top_len);
  top[top_len] = '\0';

  snprintf (path, sizeof path, "%s/data.pkl", top);
  pkl_entry = cp_zip_find (zip, path);
  if (pkl_entry == NULL)
    {
      cp_error_set (error, CP_ERR_FORMAT, "%s: not a torch.save archive (no %s)", label, path);
      goto out;
    }
  if (read_record (zip, top, "byteorder", label, text, sizeof text, &present, error) != CP_OK)
    goto out;
  if (present)
    {
      if (strcmp (text, "big") == 0)
        swap = true;
      else if (strcmp (text, "little") != 0)
        {
          cp_error_set (error, CP_ERR_FORMAT, "%s: the byteorder record says '%.20s', not "
                        "little or big", label, text);
          goto out;
        }
    }
  if (read_record (zip, top, "version", label, text, sizeof text, &present, error) != CP_OK)
    goto out;
  if (present && (text[0] == '\0' || strspn (text, "0123456789") != strlen (text)))
    {
      cp_error_set (error, CP_ERR_FORMAT, "%s: the version record is not a number", label);
      goto out;
    }

  if (cp_zip_entry_data (zip, pkl_entry, &pkl, &pkl_size, error) != CP_OK)
    goto out;
  snprintf (pkl_label, sizeof pkl_label, "%s: %s", label, path);
  if (cp_torch_pickle_load_state_dict (pkl, pkl_size, pkl_label, &sd, error) != CP_OK)
    goto out;
  if (sd.count == 0)
    {
      cp_error_set (error, CP_ERR_FORMAT, "%s: the state dict holds no tensors", label);
      goto out;
    }

  /* Storages: each distinct one is located and checked once (sorted by
   * key), however many tensors view it. */
  pieces = calloc ((size_t) sd.count, sizeof *pieces);
  if (pieces == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", label);
      goto out;
    }
  for (int i = 0; i < sd.count; i++)
    pieces[i].ref = &sd.tensors[i];
  qsort (pieces, (size_t) sd.count, sizeof *pieces, compare_by_storage);
  for (int i = 0; i < sd.count; i++)
    {
      const CpTorchTensorRef *r = pieces[i].ref;
      const CpZipEntry *e;
      const void *data;
      size_t data_size;

      if (i > 0 && strcmp (pieces[i - 1].ref->storage_key, r->storage_key) == 0)
        {
          const CpTorchTensorRef *prev = pieces[i - 1].ref;

          if (prev->dtype != r->dtype || prev->storage_numel != r->storage_numel)
            {
              cp_error_set (error, CP_ERR_FORMAT, "%s: storage '%s' is declared twice with "
                            "different types or sizes", label, r->storage_key);
              goto out;
            }
          pieces[i].data = pieces[i - 1].data;
          continue;
        }
      snprintf (path, sizeof path, "%s/data/%s", top, r->storage_key);
      e = cp_zip_find (zip, path);
      if (e == NULL)
        {
          cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s': its storage %s is missing",
                        label, r->name, path);
          goto out;
        }
      if (e->size / cp_dtype_size (r->dtype) != r->storage_numel
          || e->size % cp_dtype_size (r->dtype) != 0)
        {
          cp_error_set (error, CP_ERR_FORMAT, "%s: storage %s holds %" PRIu64 " bytes, not the %"
                        PRIu64 " elements of %s its tensors declare", label, path, e->size,
                        r->storage_numel, cp_dtype_name (r->dtype));
          goto out;
        }
      if (cp_zip_entry_data (zip, e, &data, &data_size, error) != CP_OK)
        goto out;
      pieces[i].data = data;
    }

  /* Sizes, before the image is allocated. */
  limit = (uint64_t) size * OUTPUT_FACTOR + OUTPUT_SLACK;
  for (int i = 0; i < sd.count; i++)
    {
      const CpTorchTensorRef *r = &sd.tensors[i];
      uint64_t n = cp_dtype_size (r->dtype);

      for (int d = 0; d < r->ndim; d++)
        n *= (uint64_t) r->shape[d];   /* no overflow: checked by the unpickler */
      if (n > limit - total)
        {
          cp_error_set (error, CP_ERR_NOMEM, "%s: its tensors would take more than %" PRIu64
                        " bytes, twice the archive: a state dict holds each tensor once",
                        label, limit);
          goto out;
        }
      total += n;
    }

  /* The safetensors header, tensors in the state dict's order. */
  cp_json_writer_begin_object (&jw);
  cp_json_writer_key (&jw, "__metadata__");
  cp_json_writer_begin_object (&jw);
  cp_json_writer_key (&jw, "format");
  cp_json_writer_string (&jw, "pt");
  cp_json_writer_key (&jw, "source");
  cp_json_writer_string (&jw, "torch.save");
  cp_json_writer_end_object (&jw);
  offset = 0;
  for (int i = 0; i < sd.count; i++)
    {
      const CpTorchTensorRef *r = &sd.tensors[i];
      uint64_t n = cp_dtype_size (r->dtype);

      for (int d = 0; d < r->ndim; d++)
        n *= (uint64_t) r->shape[d];
      cp_json_writer_key (&jw, r->name);
      cp_json_writer_begin_object (&jw);
      cp_json_writer_key (&jw, "dtype");
      cp_json_writer_string (&jw, cp_dtype_name (r->dtype));
      cp_json_writer_key (&jw, "shape");
      cp_json_writer_begin_array (&jw);
      for (int d = 0; d < r->ndim; d++)
        cp_json_writer_int (&jw, r->shape[d]);
      cp_json_writer_end_array (&jw);
      cp_json_writer_key (&jw, "data_offsets");
      cp_json_writer_begin_array (&jw);
      cp_json_writer_int (&jw, (int64_t) offset);
      cp_json_writer_int (&jw, (int64_t) (offset + n));
      cp_json_writer_end_array (&jw);
      cp_json_writer_end_object (&jw);
      offset += n;
    }
  cp_json_writer_end_object (&jw);
  header = cp_json_writer_steal (&jw, &header_len, error);
  if (header == NULL)
    {
      cp_error_prefix (error, "%s", label);
      goto out;
    }
  padded = (header_len + 7) / 8 * 8;
  image = malloc (8 + padded + (size_t) total);
  if (image == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory for %" PRIu64 " bytes of tensors",
                    label, total);
      goto out;
    }
  for (int i = 0; i < 8; i++)
    image[i] = (unsigned char) ((uint64_t) padded >> (8 * i));
  memcpy (image + 8, header, header_len);
  memset (image + 8 + header_len, ' ', padded - header_len);

  /* pieces[] is sorted by storage; the image follows the dict's order. */
  {
    uint64_t *at = malloc ((size_t) sd.count * sizeof *at);

    if (at == NULL)
      {
        cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", label);
        goto out;
      }
    offset = 0;
    for (int i = 0; i < sd.count; i++)
      {
        uint64_t n = cp_dtype_size (sd.tensors[i].dtype);

        for (int d = 0; d < sd.tensors[i].ndim; d++)
          n *= (uint64_t) sd.tensors[i].shape[d];
        at[i] = offset;
        offset += n;
      }
    for (int i = 0; i < sd.count; i++)
      {
        int index = (int) (pieces[i].ref - sd.tensors);

        gather (pieces[i].ref, pieces[i].data, image + 8 + padded + at[index], swap);
      }
    free (at);
  }

  st = cp_safetensors_from_memory_owned (image, 8 + padded + (size_t) total, label, error);
  image = NULL;

out:
  free (image);
  free (header);
  free (pieces);
  cp_json_writer_clear (&jw);
  cp_torch_state_dict_clear (&sd);
  cp_zip_free (zip);
  return st;
}
