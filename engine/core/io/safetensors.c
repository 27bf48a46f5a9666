/* safetensors.c: validating reader and atomic writer (see safetensors.h).
 *
 * The reader keeps the whole file image in one allocation; every offset in
 * the header is checked against the data section before any tensor pointer
 * is handed out, so a hostile file can make us fail but never read out of
 * bounds.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "json.h"
#include "name-index.h"

/* As the reference implementation (safetensors' MAX_HEADER_SIZE). */
#define HEADER_MAX 100000000u

typedef struct
{
  const char *name;
  CpDtype     dtype;
  size_t      size;
} DtypeEntry;

static const DtypeEntry dtype_table[] = {
  { "F32", CP_DTYPE_F32, 4 },
  { "F16", CP_DTYPE_F16, 2 },
  { "BF16", CP_DTYPE_BF16, 2 },
  { "F64", CP_DTYPE_F64, 8 },
  { "I64", CP_DTYPE_I64, 8 },
  { "I32", CP_DTYPE_I32, 4 },
  { "I16", CP_DTYPE_I16, 2 },
  { "I8", CP_DTYPE_I8, 1 },
  { "U8", CP_DTYPE_U8, 1 },
  { "BOOL", CP_DTYPE_BOOL, 1 },
};

/* dtypes the safetensors format defines but this project has no use for;
 * named apart from typos in messages. */
static const char *const dtype_unsupported[] = {
  "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
};

#define N_DTYPES ((int) (sizeof dtype_table / sizeof dtype_table[0]))

const char *
cp_dtype_name (CpDtype dtype)
{
  for (int i = 0; i < N_DTYPES; i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].name;
  return "?";
}

size_t
cp_dtype_size (CpDtype dtype)
{
  for (int i = 0; i < N_DTYPES; i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].size;
  return 0;
}

struct CpSafetensors
{
  char                *path;
  unsigned char       *image;       /* the whole file */
  size_t               image_size;
  const unsigned char *data;        /* data section, inside image */
  uint64_t             data_size;
  CpJsonDoc           *header;      /* owns the name and metadata strings */
  CpTensorInfo        *infos;
  int                  count;
  int                 *by_name;     /* indices of infos sorted by name */
  const char         **meta_keys;
  const char         **meta_values;
  int                  meta_count;
};

static uint64_t
read_le64 (const unsigned char *p)
{
  uint64_t v = 0;

  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* "[512, 512]" */
static void
format_shape (char          *buf,
              size_t         size,
              const int64_t *shape,
              int            ndim)
{
  size_t used = 0;

  used += (size_t) snprintf (buf, size, "[");
  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t) snprintf (buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (used < size)
    snprintf (buf + used, size - used, "]");
}

/* A JSON value in a message: the integer list of an array, else its type. */
static void
format_json_brief (char         *buf,
                   size_t        size,
                   const CpJson *node)
{
  size_t used;

  if (node->type != CP_JSON_ARRAY)
    {
      if (node->type == CP_JSON_INT)
        snprintf (buf, size, "%" PRId64, node->integer);
      else
        snprintf (buf, size, "a %s", cp_json_type_name (node->type));
      return;
    }
  used = (size_t) snprintf (buf, size, "[");
  for (size_t i = 0; i < node->length && used < size; i++)
    {
      const CpJson *item = node->items[i];

      if (i == 10 && node->length > 12)
        {
          used += (size_t) snprintf (buf + used, size - used, ", ...");
          break;
        }
      if (item->type == CP_JSON_INT)
        used += (size_t) snprintf (buf + used, size - used, "%s%" PRId64, i ? ", " : "",
                                   item->integer);
      else
        used += (size_t) snprintf (buf + used, size - used, "%s<%s>", i ? ", " : "",
                                   cp_json_type_name (item->type));
    }
  if (used < size)
    snprintf (buf + used, size - used, "]");
}

void
cp_safetensors_close (CpSafetensors *st)
{
  if (st == NULL)
    return;
  free (st->path);
  free (st->image);
  cp_json_doc_free (st->header);
  free (st->infos);
  free (st->by_name);
  free (st->meta_keys);
  free (st->meta_values);
  free (st);
}

static CpStatus parse_fail (CpSafetensors *st, CpError *error, const char *format, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Every header problem: CP_ERR_FORMAT, prefixed with the file's label. */
static CpStatus
parse_fail (CpSafetensors *st,
            CpError       *error,
            const char    *format,
            ...)
{
  char what[CP_ERROR_MESSAGE_SIZE];
  va_list args;

  va_start (args, format);
  vsnprintf (what, sizeof what, format, args);
  va_end (args);
  return cp_error_set (error, CP_ERR_FORMAT, "%s: %s", st->path, what);
}

static int
compare_by_offset (const void *a,
                   const void *b)
{
  const CpTensorInfo *x = *(const CpTensorInfo * const *) a;
  const CpTensorInfo *y = *(const CpTensorInfo * const *) b;

  if (x->offset != y->offset)
    return x->offset < y->offset ? -1 : 1;
  if (x->nbytes != y->nbytes)
    return x->nbytes < y->nbytes ? -1 : 1;
  return 0;
}

static int
compare_by_name (const void *a,
                 const void *b)
{
  const CpTensorInfo *x = *(const CpTensorInfo * const *) a;
  const CpTensorInfo *y = *(const CpTensorInfo * const *) b;

  return strcmp (x->name, y->name);
}

/* Reads an integer array node into @out; false if any element is not a
 * non-negative integer. */
static bool
read_uint_array (const CpJson *node,
                 int64_t      *out,
                 size_t        max)
{
  if (node->type != CP_JSON_ARRAY || node->length > max)
    return false;
  for (size_t i = 0; i < node->length; i++)
    {
      if (node->items[i]->type != CP_JSON_INT || node->items[i]->integer < 0)
        return false;
      out[i] = node->items[i]->integer;
    }
  return true;
}

static CpStatus
parse_tensor (CpSafetensors *st,
              const char    *name,
              const CpJson  *entry,
              CpTensorInfo  *info,
              CpError       *error)
{
  const CpJson *dtype, *shape, *offsets;
  int64_t begin_end[2];
  uint64_t numel = 1, nbytes, dsize;
  char shape_text[256];
  ptrdiff_t dup;
  int d;

  if (entry->type != CP_JSON_OBJECT)
    return parse_fail (st, error, "tensor '%s': entry is a JSON %s, not an object", name,
                       cp_json_type_name (entry->type));
  dup = cp_json_object_find_duplicate (entry);
  if (dup >= 0)
    return parse_fail (st, error, "tensor '%s': field '%s' appears twice", name,
                       entry->keys[dup]);

  dtype = cp_json_object_get (entry, "dtype");
  shape = cp_json_object_get (entry, "shape");
  offsets = cp_json_object_get (entry, "data_offsets");
  if (dtype == NULL || shape == NULL || offsets == NULL)
    return parse_fail (st, error, "tensor '%s': missing field '%s'", name,
                       dtype == NULL ? "dtype" : shape == NULL ? "shape" : "data_offsets");

  info->name = name;
  if (dtype->type != CP_JSON_STRING)
    return parse_fail (st, error, "tensor '%s': dtype is %s, not a string", name,
                       cp_json_type_name (dtype->type));
  for (d = 0; d < N_DTYPES; d++)
    if (strcmp (dtype->string, dtype_table[d].name) == 0)
      break;
  if (d == N_DTYPES)
    {
      for (size_t i = 0; i < sizeof dtype_unsupported / sizeof dtype_unsupported[0]; i++)
        if (strcmp (dtype->string, dtype_unsupported[i]) == 0)
          return parse_fail (st, error, "tensor '%s': unsupported dtype '%s'", name,
                             dtype->string);
      return parse_fail (st, error, "tensor '%s': unknown dtype '%.40s'", name, dtype->string);
    }
  info->dtype = dtype_table[d].dtype;
  dsize = dtype_table[d].size;

  if (shape->type != CP_JSON_ARRAY)
    return parse_fail (st, error, "tensor '%s': shape is %s, not an array", name,
                       cp_json_type_name (shape->type));
  if (shape->length > CP_SAFETENSORS_MAX_DIMS)
    return parse_fail (st, error, "tensor '%s': shape has %zu dimensions, at most %d are supported",
                       name, shape->length, CP_SAFETENSORS_MAX_DIMS);
  if (!read_uint_array (shape, info->shape, CP_SAFETENSORS_MAX_DIMS))
    {
      format_json_brief (shape_text, sizeof shape_text, shape);
      return parse_fail (st, error,
                         "tensor '%s': shape %s is not a list of non-negative integers", name,
                         shape_text);
    }
  info->ndim = (int) shape->length;
  format_shape (shape_text, sizeof shape_text, info->shape, info->ndim);

  /* Element count and byte size must fit in int64 (and so in size_t on a
   * 64-bit host) before anything is compared with them. */
  for (int i = 0; i < info->ndim; i++)
    if (info->shape[i] == 0)
      numel = 0;
  for (int i = 0; i < info->ndim && numel != 0; i++)
    {
      uint64_t dim = (uint64_t) info->shape[i];

      if (numel > (uint64_t) INT64_MAX / dim)
        return parse_fail (st, error, "tensor '%s': shape %s overflows a 64-bit element count",
                           name, shape_text);
      numel *= dim;
    }
  if (numel > (uint64_t) INT64_MAX / dsize)
    return parse_fail (st, error, "tensor '%s': shape %s of %s overflows a 64-bit byte count",
                       name, shape_text, dtype_table[d].name);
  nbytes = numel * dsize;

  if (offsets->type != CP_JSON_ARRAY || offsets->length != 2
      || !read_uint_array (offsets, begin_end, 2))
    {
      char text[256];

      format_json_brief (text, sizeof text, offsets);
      return parse_fail (st, error,
                         "tensor '%s': data_offsets %s is not [begin, end] of non-negative integers",
                         name, text);
    }
  if (begin_end[0] > begin_end[1])
    return parse_fail (st, error, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                       "] begin is after end", name, begin_end[0], begin_end[1]);
  if ((uint64_t) begin_end[1] > st->data_size)
    return parse_fail (st, error, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                       "] go beyond the end of the data section (%" PRIu64 " bytes)",
                       name, begin_end[0], begin_end[1], st->data_size);
  if ((uint64_t) (begin_end[1] - begin_end[0]) != nbytes)
    return parse_fail (st, error, "tensor '%s': data_offsets [%" PRId64 ", %" PRId64
                       "] do not match shape %s of %s (%" PRIu64 " bytes)", name,
                       begin_end[0], begin_end[1], shape_text, dtype_table[d].name, nbytes);
  info->offset = (uint64_t) begin_end[0];
  info->nbytes = nbytes;
  return CP_OK;
}

static CpStatus
parse_metadata (CpSafetensors *st,
                const CpJson  *meta,
                CpError       *error)
{
  ptrdiff_t dup;

  if (meta->type != CP_JSON_OBJECT)
    return parse_fail (st, error, "__metadata__ is %s, not an object of strings",
                       cp_json_type_name (meta->type));
  dup = cp_json_object_find_duplicate (meta);
  if (dup >= 0)
    return parse_fail (st, error, "__metadata__: key '%s' appears twice", meta->keys[dup]);
  if (meta->length > 0)
    {
      st->meta_keys = calloc (meta->length, sizeof *st->meta_keys);
      st->meta_values = calloc (meta->length, sizeof *st->meta_values);
      if (st->meta_keys == NULL || st->meta_values == NULL)
        return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", st->path);
    }
  for (size_t i = 0; i < meta->length; i++)
    {
      const CpJson *value = meta->items[i];

      if (strlen (meta->keys[i]) != meta->key_lengths[i])
        return parse_fail (st, error, "__metadata__: a key contains a NUL byte");
      if (value->type != CP_JSON_STRING)
        return parse_fail (st, error, "__metadata__: value of '%s' is %s, not a string",
                           meta->keys[i], cp_json_type_name (value->type));
      if (strlen (value->string) != value->length)
        return parse_fail (st, error, "__metadata__: value of '%s' contains a NUL byte",
                           meta->keys[i]);
      st->meta_keys[i] = meta->keys[i];
      st->meta_values[i] = value->string;
    }
  st->meta_count = (int) meta->length;
  return CP_OK;
}

/* Validates st->image; on success fills every other field. */
static CpStatus
parse_image (CpSafetensors *st,
             CpError       *error)
{
  CpJsonLimits limits;
  const CpJson *root;
  uint64_t header_len;
  size_t tensor_count = 0;
  ptrdiff_t dup;
  CpError json_error;
  const CpTensorInfo **sorted;
  const CpTensorInfo *furthest = NULL;
  int k;

  if (st->image_size < 8)
    return parse_fail (st, error, "file is too short (%zu bytes) to hold a safetensors header",
                       st->image_size);
  header_len = read_le64 (st->image);
  if (header_len > HEADER_MAX)
    return parse_fail (st, error, "header length %" PRIu64 " exceeds the limit of %u bytes",
                       header_len, HEADER_MAX);
  if (header_len > st->image_size - 8)
    return parse_fail (st, error, "header length %" PRIu64
                       " exceeds the file size (%zu bytes)", header_len, st->image_size);
  st->data = st->image + 8 + header_len;
  st->data_size = st->image_size - 8 - header_len;

  cp_json_limits_init (&limits);
  limits.max_depth = 16;
  limits.max_input = HEADER_MAX;
  limits.max_nodes = (size_t) 8 << 20;
  /* Repeated names are reported below, with the tensor named. */
  limits.allow_duplicate_keys = true;
  cp_error_clear (&json_error);
  st->header = cp_json_parse ((const char *) st->image + 8, (size_t) header_len, &limits, NULL,
                              &json_error);
  if (st->header == NULL)
    {
      if (json_error.code == CP_ERR_NOMEM)
        return cp_error_set (error, CP_ERR_NOMEM, "%s: header: %s", st->path,
                             json_error.message);
      return parse_fail (st, error, "header is not valid JSON: %s (of the header)",
                         json_error.message);
    }
  root = cp_json_doc_root (st->header);
  if (root->type != CP_JSON_OBJECT)
    return parse_fail (st, error, "header is a JSON %s, not an object",
                       cp_json_type_name (root->type));

  dup = cp_json_object_find_duplicate (root);
  if (dup >= 0)
    {
      if (strcmp (root->keys[dup], "__metadata__") == 0)
        return parse_fail (st, error, "__metadata__ appears twice");
      return parse_fail (st, error, "tensor '%s': duplicate name", root->keys[dup]);
    }

  for (size_t i = 0; i < root->length; i++)
    if (strcmp (root->keys[i], "__metadata__") != 0)
      tensor_count++;
  if (tensor_count > INT32_MAX)
    return parse_fail (st, error, "too many tensors (%zu)", tensor_count);
  if (tensor_count > 0)
    {
      st->infos = calloc (tensor_count, sizeof *st->infos);
      st->by_name = calloc (tensor_count, sizeof *st->by_name);
      if (st->infos == NULL || st->by_name == NULL)
        return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory for %zu tensors", st->path,
                             tensor_count);
    }

  k = 0;
  for (size_t i = 0; i < root->length; i++)
    {
      CpStatus status;

      if (strlen (root->keys[i]) != root->key_lengths[i])
        return parse_fail (st, error, "tensor '%s': the name contains a NUL byte",
                           root->keys[i]);
      if (strcmp (root->keys[i], "__metadata__") == 0)
        status = parse_metadata (st, root->items[i], error);
      else
        status = parse_tensor (st, root->keys[i], root->items[i], &st->infos[k++], error);
      if (status != CP_OK)
        return status;
    }
  st->count = k;

  /* Overlap: after sorting by offset, each non-empty tensor must begin at
   * or after the furthest end seen so far.  Empty tensors own no bytes. */
  if (st->count == 0)
    return CP_OK;
  sorted = malloc ((size_t) st->count * sizeof *sorted);
  if (sorted == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", st->path);
  for (int i = 0; i < st->count; i++)
    sorted[i] = &st->infos[i];
  qsort (sorted, (size_t) st->count, sizeof *sorted, compare_by_offset);
  for (int i = 0; i < st->count; i++)
    {
      const CpTensorInfo *cur = sorted[i];

      if (cur->nbytes == 0)
        continue;
      if (furthest != NULL && cur->offset < furthest->offset + furthest->nbytes)
        {
          parse_fail (st, error, "tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                      "] overlap tensor '%s' [%" PRIu64 ", %" PRIu64 "]",
                      cur->name, cur->offset, cur->offset + cur->nbytes,
                      furthest->name, furthest->offset, furthest->offset + furthest->nbytes);
          free (sorted);
          return CP_ERR_FORMAT;
        }
      if (furthest == NULL || cur->offset + cur->nbytes > furthest->offset + furthest->nbytes)
        furthest = cur;
    }

  /* The name index for cp_safetensors_find (names are unique by now). */
  qsort (sorted, (size_t) st->count, sizeof *sorted, compare_by_name);
  for (int i = 0; i < st->count; i++)
    st->by_name[i] = (int) (sorted[i] - st->infos);
  free (sorted);
  return CP_OK;
}

static CpSafetensors *
safetensors_new (const char *label,
                 CpError    *error)
{
  CpSafetensors *st = calloc (1, sizeof *st);

  if (st != NULL)
    st->path = strdup (label != NULL ? label : "(memory)");
  if (st == NULL || st->path == NULL)
    {
      free (st);
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", label != NULL ? label : "(memory)");
      return NULL;
    }
  return st;
}

CpSafetensors *
cp_safetensors_from_memory (const void *bytes,
                            size_t      size,
                            const char *label,
                            CpError    *error)
{
  CpSafetensors *st = safetensors_new (label, error);

  if (st == NULL)
    return NULL;
  if (bytes == NULL && size > 0)
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: NULL bytes", st->path);
      cp_safetensors_close (st);
      return NULL;
    }
  /* Exactly @size bytes: the sanitizers then catch any read past the end. */
  st->image = malloc (size > 0 ? size : 1);
  if (st->image == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory for %zu bytes", st->path, size);
      cp_safetensors_close (st);
      return NULL;
    }
  if (size > 0)
    memcpy (st->image, bytes, size);
  st->image_size = size;
  if (parse_image (st, error) != CP_OK)
    {
      cp_safetensors_close (st);
      return NULL;
    }
  return st;
}

CpSafetensors *
cp_safetensors_from_memory_owned (void       *bytes,
                                  size_t      size,
                                  const char *label,
                                  CpError    *error)
{
  CpSafetensors *st = safetensors_new (label, error);

  if (st == NULL)
    {
      free (bytes);
      return NULL;
    }
  if (bytes == NULL)
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: NULL bytes", st->path);
      cp_safetensors_close (st);
      return NULL;
    }
  st->image = bytes;
  st->image_size = size;
  if (parse_image (st, error) != CP_OK)
    {
      cp_safetensors_close (st);
      return NULL;
    }
  return st;
}

/* Checks the 8-byte length prefix against the file size before reading a
 * possibly huge file that is not safetensors at all. */
static CpStatus
precheck_file (const char *path,
               CpError    *error)
{
  unsigned char prefix[8];
  struct stat st;
  uint64_t header_len;
  ssize_t n;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return cp_error_set (error, CP_ERR_IO, "%s: cannot open: %s", path, strerror (errno));
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return CP_OK;     /* let the full read report what is wrong */
    }
  n = pread (fd, prefix, sizeof prefix, 0);
  close (fd);
  if (n != (ssize_t) sizeof prefix)
    return CP_OK;
  header_len = read_le64 (prefix);
  if (header_len > HEADER_MAX)
    return cp_error_set (error, CP_ERR_FORMAT,
                         "%s: header length %" PRIu64 " exceeds the limit of %u bytes", path,
                         header_len, HEADER_MAX);
  if (header_len > (uint64_t) st.st_size - 8)
    return cp_error_set (error, CP_ERR_FORMAT,
                         "%s: header length %" PRIu64 " exceeds the file size (%jd bytes)", path,
                         header_len, (intmax_t) st.st_size);
  return CP_OK;
}

CpSafetensors *
cp_safetensors_open (const char *path,
                     CpError    *error)
{
  CpSafetensors *st;
  void *image;
  size_t size;

  if (path == NULL)
    {
      cp_error_set (error, CP_ERR_INVALID, "cp_safetensors_open: NULL path");
      return NULL;
    }
  if (precheck_file (path, error) != CP_OK)
    return NULL;
  if (cp_read_file (path, SIZE_MAX - 1, &image, &size, error) != CP_OK)
    return NULL;
  st = safetensors_new (path, error);
  if (st == NULL)
    {
      free (image);
      return NULL;
    }
  st->image = image;
  st->image_size = size;
  if (parse_image (st, error) != CP_OK)
    {
      cp_safetensors_close (st);
      return NULL;
    }
  return st;
}

int
cp_safetensors_count (const CpSafetensors *st)
{
  return st != NULL ? st->count : 0;
}

const CpTensorInfo *
cp_safetensors_info (const CpSafetensors *st,
                     int                  index)
{
  if (st == NULL || index < 0 || index >= st->count)
    return NULL;
  return &st->infos[index];
}

const CpTensorInfo *
cp_safetensors_find (const CpSafetensors *st,
                     const char          *name)
{
  int i;

  if (st == NULL || name == NULL)
    return NULL;
  i = cp_name_index_find (st->by_name, st->count, st->infos, sizeof *st->infos,
                          offsetof (CpTensorInfo, name), name);
  return i >= 0 ? &st->infos[i] : NULL;
}

const void *
cp_safetensors_data (const CpSafetensors *st,
                     const CpTensorInfo  *info)
{
  /* Only infos of this file: their offsets were checked against it. */
  if (st == NULL || info == NULL || st->count == 0
      || info < st->infos || info >= st->infos + st->count)
    return NULL;
  return st->data + info->offset;
}

const char *
cp_safetensors_path (const CpSafetensors *st)
{
  return st != NULL ? st->path : NULL;
}

const char *
cp_safetensors_metadata (const CpSafetensors *st,
                         const char          *key)
{
  if (st == NULL || key == NULL)
    return NULL;
  for (int i = 0; i < st->meta_count; i++)
    if (strcmp (st->meta_keys[i], key) == 0)
      return st->meta_values[i];
  return NULL;
}

int
cp_safetensors_metadata_count (const CpSafetensors *st)
{
  return st != NULL ? st->meta_count : 0;
}

const char *
cp_safetensors_metadata_key (const CpSafetensors *st,
                             int                  index)
{
  if (st == NULL || index < 0 || index >= st->meta_count)
    return NULL;
  return st->meta_keys[index];
}

const char *
cp_safetensors_metadata_value (const CpSafetensors *st,
                               int                  index)
{
  if (st == NULL || index < 0 || index >= st->meta_count)
    return NULL;
  return st->meta_values[index];
}

/* ------------------------------------------------------------------------ */
/* Conversions.  Bytes are assembled explicitly so that unaligned tensors   */
/* and big-endian hosts read correctly.                                      */

static uint16_t
le16 (const unsigned char *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
le32 (const unsigned char *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
         | ((uint32_t) p[3] << 24);
}

static float
bits_to_f32 (uint32_t bits)
{
  float f;

  memcpy (&f, &bits, sizeof f);
  return f;
}

/* IEEE half to single: exact for every value, NaN payloads kept. */
static float
f16_to_f32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;

  if (exponent == 0)
    {
      /* Zero or subnormal: mantissa x 2^-24, exact in float. */
      float magnitude = ldexpf ((float) mantissa, -24);

      return sign ? -magnitude : magnitude;
    }
  if (exponent == 31)
    return bits_to_f32 (sign | 0x7f800000u | (mantissa << 13));
  return bits_to_f32 (sign | ((exponent + 112) << 23) | (mantissa << 13));
}

static bool
shape_matches (const CpTensorInfo *info,
               const int64_t      *shape,
               int                 ndim)
{
  if (info->ndim != ndim)
    return false;
  for (int i = 0; i < ndim; i++)
    if (info->shape[i] != shape[i])
      return false;
  return true;
}

/* Common checks of read_f32/read_i64. */
static const CpTensorInfo *
lookup_for_read (const CpSafetensors *st,
                 const char          *name,
                 const int64_t       *shape,
                 int                  ndim,
                 const void          *dst,
                 CpError             *error)
{
  const CpTensorInfo *info;

  if (st == NULL || name == NULL || ndim < 0 || ndim > CP_SAFETENSORS_MAX_DIMS
      || (shape == NULL && ndim > 0))
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: tensor '%s': invalid arguments to read",
                    st != NULL ? st->path : "(null)", name != NULL ? name : "(null)");
      return NULL;
    }
  info = cp_safetensors_find (st, name);
  if (info == NULL)
    {
      cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' is missing", st->path, name);
      return NULL;
    }
  if (!shape_matches (info, shape, ndim))
    {
      char want[256], found[256];

      format_shape (want, sizeof want, shape, ndim);
      format_shape (found, sizeof found, info->shape, info->ndim);
      cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s': expected shape %s, found %s",
                    st->path, name, want, found);
      return NULL;
    }
  if (dst == NULL && info->nbytes > 0)
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: tensor '%s': NULL destination", st->path, name);
      return NULL;
    }
  return info;
}

CpStatus
cp_safetensors_read_f32 (const CpSafetensors *st,
                         const char          *name,
                         const int64_t       *shape,
                         int                  ndim,
                         float               *dst,
                         CpError             *error)
{
  const CpTensorInfo *info = lookup_for_read (st, name, shape, ndim, dst, error);
  const unsigned char *src;
  size_t count;

  if (info == NULL)
    return error != NULL ? error->code : CP_ERR_FORMAT;
  src = st->data + info->offset;
  count = (size_t) (info->nbytes / cp_dtype_size (info->dtype));
  switch (info->dtype)
    {
    case CP_DTYPE_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      /* The file's byte order is the host's: a plain copy. */
      memcpy (dst, src, count * sizeof *dst);
#else
      for (size_t i = 0; i < count; i++)
        dst[i] = bits_to_f32 (le32 (src + 4 * i));
#endif
      break;
    case CP_DTYPE_F16:
      for (size_t i = 0; i < count; i++)
        dst[i] = f16_to_f32 (le16 (src + 2 * i));
      break;
    case CP_DTYPE_BF16:
      /* bfloat16 is the top half of a float32. */
      for (size_t i = 0; i < count; i++)
        dst[i] = bits_to_f32 ((uint32_t) le16 (src + 2 * i) << 16);
      break;
    case CP_DTYPE_F64:
      for (size_t i = 0; i < count; i++)
        {
          uint64_t bits = read_le64 (src + 8 * i);
          double v;

          memcpy (&v, &bits, sizeof v);
          dst[i] = (float) v;
        }
      break;
    default:
      return cp_error_set (error, CP_ERR_FORMAT,
                           "%s: tensor '%s': dtype %s is not a floating-point type "
                           "(F32, F16, BF16 or F64 expected)", st->path, name,
                           cp_dtype_name (info->dtype));
    }
  return CP_OK;
}

CpStatus
cp_safetensors_read_i64 (const CpSafetensors *st,
                         const char          *name,
                         const int64_t       *shape,
                         int                  ndim,
                         int64_t             *dst,
                         CpError             *error)
{
  const CpTensorInfo *info = lookup_for_read (st, name, shape, ndim, dst, error);
  const unsigned char *src;
  size_t count;

  if (info == NULL)
    return error != NULL ? error->code : CP_ERR_FORMAT;
  src = st->data + info->offset;
  count = (size_t) (info->nbytes / cp_dtype_size (info->dtype));
  switch (info->dtype)
    {
    case CP_DTYPE_I64:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      memcpy (dst, src, count * sizeof *dst);
#else
      for (size_t i = 0; i < count; i++)
        dst[i] = (int64_t) read_le64 (src + 8 * i);
#endif
      break;
    case CP_DTYPE_I32:
      for (size_t i = 0; i < count; i++)
        dst[i] = (int32_t) le32 (src + 4 * i);
      break;
    case CP_DTYPE_I16:
      for (size_t i = 0; i < count; i++)
        dst[i] = (int16_t) le16 (src + 2 * i);
      break;
    case CP_DTYPE_I8:
      for (size_t i = 0; i < count; i++)
        dst[i] = (int8_t) src[i];
      break;
    case CP_DTYPE_U8:
      for (size_t i = 0; i < count; i++)
        dst[i] = src[i];
      break;
    default:
      return cp_error_set (error, CP_ERR_FORMAT,
                           "%s: tensor '%s': dtype %s is not an integer type "
                           "(I64, I32, I16, I8 or U8 expected)", st->path, name,
                           cp_dtype_name (info->dtype));
    }
  return CP_OK;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */

typedef struct
{
  char    *name;
  CpDtype  dtype;
  int      ndim;
  int64_t  shape[CP_SAFETENSORS_MAX_DIMS];
  size_t   nbytes;
  void    *data;
} WriterTensor;

struct CpSafetensorsWriter
{
  WriterTensor *tensors;
  int           count;
  int           capacity;
  char        **meta_keys;
  char        **meta_values;
  int           meta_count;
  int           meta_capacity;
};

CpSafetensorsWriter *
cp_safetensors_writer_new (void)
{
  return calloc (1, sizeof (CpSafetensorsWriter));
}

void
cp_safetensors_writer_free (CpSafetensorsWriter *w)
{
  if (w == NULL)
    return;
  for (int i = 0; i < w->count; i++)
    {
      free (w->tensors[i].name);
      free (w->tensors[i].data);
    }
  for (int i = 0; i < w->meta_count; i++)
    {
      free (w->meta_keys[i]);
      free (w->meta_values[i]);
    }
  free (w->tensors);
  free (w->meta_keys);
  free (w->meta_values);
  free (w);
}

/* JSON can only carry valid UTF-8; checking when the string is added
 * reports the bad name at the call that passed it. */
static bool
valid_json_text (const char *text)
{
  CpJsonWriter jw;
  bool ok;

  cp_json_writer_init (&jw);
  cp_json_writer_append_quoted (&jw, text, strlen (text));
  ok = jw.status == CP_OK;
  cp_json_writer_clear (&jw);
  return ok;
}

static bool
known_dtype (CpDtype dtype)
{
  return cp_dtype_size (dtype) != 0;
}

CpStatus
cp_safetensors_writer_add (CpSafetensorsWriter *w,
                           const char          *name,
                           CpDtype              dtype,
                           const int64_t       *shape,
                           int                  ndim,
                           const void          *data,
                           CpError             *error)
{
  WriterTensor *t;
  uint64_t numel = 1;

  if (w == NULL || name == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "safetensors writer: NULL argument");
  if (name[0] == '\0' || strcmp (name, "__metadata__") == 0 || !valid_json_text (name))
    return cp_error_set (error, CP_ERR_INVALID, "safetensors writer: invalid tensor name '%s'",
                         name);
  if (!known_dtype (dtype))
    return cp_error_set (error, CP_ERR_INVALID, "safetensors writer: tensor '%s': bad dtype %d",
                         name, (int) dtype);
  if (ndim < 0 || ndim > CP_SAFETENSORS_MAX_DIMS || (shape == NULL && ndim > 0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "safetensors writer: tensor '%s': bad number of dimensions %d", name,
                         ndim);
  for (int i = 0; i < ndim; i++)
    {
      if (shape[i] < 0)
        return cp_error_set (error, CP_ERR_INVALID,
                             "safetensors writer: tensor '%s': negative dimension %" PRId64,
                             name, shape[i]);
      if (shape[i] != 0 && numel > (uint64_t) (SIZE_MAX / 8) / (uint64_t) shape[i])
        return cp_error_set (error, CP_ERR_INVALID,
                             "safetensors writer: tensor '%s': shape too large", name);
      numel *= (uint64_t) shape[i];
    }
  for (int i = 0; i < w->count; i++)
    if (strcmp (w->tensors[i].name, name) == 0)
      return cp_error_set (error, CP_ERR_INVALID,
                           "safetensors writer: tensor '%s' added twice", name);
  if (data == NULL && numel > 0)
    return cp_error_set (error, CP_ERR_INVALID, "safetensors writer: tensor '%s': NULL data",
                         name);

  if (w->count == w->capacity)
    {
      int cap = w->capacity ? w->capacity * 2 : 16;
      WriterTensor *bigger = realloc (w->tensors, (size_t) cap * sizeof *bigger);

      if (bigger == NULL)
        return cp_error_set (error, CP_ERR_NOMEM, "safetensors writer: out of memory");
      w->tensors = bigger;
      w->capacity = cap;
    }
  t = &w->tensors[w->count];
  memset (t, 0, sizeof *t);
  t->dtype = dtype;
  t->ndim = ndim;
  if (ndim > 0)
    memcpy (t->shape, shape, (size_t) ndim * sizeof *shape);
  t->nbytes = (size_t) numel * cp_dtype_size (dtype);
  t->name = strdup (name);
  t->data = malloc (t->nbytes > 0 ? t->nbytes : 1);
  if (t->name == NULL || t->data == NULL)
    {
      free (t->name);
      free (t->data);
      return cp_error_set (error, CP_ERR_NOMEM,
                           "safetensors writer: tensor '%s': out of memory for %zu bytes", name,
                           t->nbytes);
    }
  if (t->nbytes > 0)
    memcpy (t->data, data, t->nbytes);
  w->count++;
  return CP_OK;
}

CpStatus
cp_safetensors_writer_set_metadata (CpSafetensorsWriter *w,
                                    const char          *key,
                                    const char          *value,
                                    CpError             *error)
{
  char *k, *v;

  if (w == NULL || key == NULL || value == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "safetensors writer: NULL metadata argument");
  if (!valid_json_text (key) || !valid_json_text (value))
    return cp_error_set (error, CP_ERR_INVALID,
                         "safetensors writer: metadata '%s' is not valid UTF-8", key);
  v = strdup (value);
  if (v == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "safetensors writer: out of memory");
  /* Setting a key again replaces its value in place. */
  for (int i = 0; i < w->meta_count; i++)
    if (strcmp (w->meta_keys[i], key) == 0)
      {
        free (w->meta_values[i]);
        w->meta_values[i] = v;
        return CP_OK;
      }
  if (w->meta_count == w->meta_capacity)
    {
      int cap = w->meta_capacity ? w->meta_capacity * 2 : 16;
      char **keys = realloc (w->meta_keys, (size_t) cap * sizeof *keys);
      char **values;

      if (keys == NULL)
        {
          free (v);
          return cp_error_set (error, CP_ERR_NOMEM, "safetensors writer: out of memory");
        }
      w->meta_keys = keys;
      values = realloc (w->meta_values, (size_t) cap * sizeof *values);
      if (values == NULL)
        {
          free (v);
          return cp_error_set (error, CP_ERR_NOMEM, "safetensors writer: out of memory");
        }
      w->meta_values = values;
      w->meta_capacity = cap;
    }
  k = strdup (key);
  if (k == NULL)
    {
      free (v);
      return cp_error_set (error, CP_ERR_NOMEM, "safetensors writer: out of memory");
    }
  w->meta_keys[w->meta_count] = k;
  w->meta_values[w->meta_count] = v;
  w->meta_count++;
  return CP_OK;
}

/* One tensor's entry in a header to write; its bytes go separately. */
typedef struct
{
  const char    *name;
  CpDtype        dtype;
  int            ndim;
  const int64_t *shape;
  uint64_t       begin;   /* data_offsets, from the start of the data section */
  uint64_t       end;
} HeaderEntry;

/* A run of data-section bytes, written in order after the header. */
typedef struct
{
  const void *bytes;
  size_t      size;
} DataPiece;

/* Writes a whole file atomically: the header (__metadata__ first, in the
 * order given, then @entries in the order given), padded, then @pieces.
 * Shared by the writer and the metadata rewrite so that both produce the
 * same header layout and the same failure guarantees. */
static CpStatus
save_file (const char        *path,
           const char *const *meta_keys,
           const char *const *meta_values,
           int                meta_count,
           const HeaderEntry *entries,
           int                count,
           const DataPiece   *pieces,
           int                n_pieces,
           CpError           *error)
{
  CpJsonWriter jw;
  CpAtomicFile *file;
  unsigned char prefix[8];
  char *header;
  size_t header_len, padded;
  CpStatus status;

  cp_json_writer_init (&jw);
  cp_json_writer_begin_object (&jw);
  if (meta_count > 0)
    {
      cp_json_writer_key (&jw, "__metadata__");
      cp_json_writer_begin_object (&jw);
      for (int i = 0; i < meta_count; i++)
        {
          cp_json_writer_key (&jw, meta_keys[i]);
          cp_json_writer_string (&jw, meta_values[i]);
        }
      cp_json_writer_end_object (&jw);
    }
  for (int i = 0; i < count; i++)
    {
      const HeaderEntry *t = &entries[i];

      cp_json_writer_key (&jw, t->name);
      cp_json_writer_begin_object (&jw);
      cp_json_writer_key (&jw, "dtype");
      cp_json_writer_string (&jw, cp_dtype_name (t->dtype));
      cp_json_writer_key (&jw, "shape");
      cp_json_writer_begin_array (&jw);
      for (int d = 0; d < t->ndim; d++)
        cp_json_writer_int (&jw, t->shape[d]);
      cp_json_writer_end_array (&jw);
      cp_json_writer_key (&jw, "data_offsets");
      cp_json_writer_begin_array (&jw);
      cp_json_writer_int (&jw, (int64_t) t->begin);
      cp_json_writer_int (&jw, (int64_t) t->end);
      cp_json_writer_end_array (&jw);
      cp_json_writer_end_object (&jw);
    }
  cp_json_writer_end_object (&jw);
  header = cp_json_writer_steal (&jw, &header_len, error);
  if (header == NULL)
    return cp_error_prefix (error, "%s", path);

  /* Pad with spaces to a multiple of 8 so that the data section is 8-byte
   * aligned in the file, as the Python library does. */
  padded = (header_len + 7) / 8 * 8;
  if (padded > HEADER_MAX)
    {
      free (header);
      return cp_error_set (error, CP_ERR_INVALID, "%s: header of %zu bytes is too large", path,
                           padded);
    }
  for (int i = 0; i < 8; i++)
    prefix[i] = (unsigned char) ((uint64_t) padded >> (8 * i));

  file = cp_atomic_file_open (path, error);
  if (file == NULL)
    {
      free (header);
      return error != NULL ? error->code : CP_ERR_IO;
    }
  status = cp_atomic_file_write (file, prefix, sizeof prefix, error);
  if (status == CP_OK)
    status = cp_atomic_file_write (file, header, header_len, error);
  if (status == CP_OK)
    status = cp_atomic_file_write (file, "        ", padded - header_len, error);
  for (int i = 0; i < n_pieces && status == CP_OK; i++)
    status = cp_atomic_file_write (file, pieces[i].bytes, pieces[i].size, error);
  free (header);
  if (status != CP_OK)
    {
      cp_atomic_file_abort (file);
      return status;
    }
  return cp_atomic_file_commit (file, error);
}

CpStatus
cp_safetensors_writer_save (CpSafetensorsWriter *w,
                            const char          *path,
                            CpError             *error)
{
  HeaderEntry *entries;
  DataPiece *pieces;
  uint64_t offset = 0;
  CpStatus status;

  if (w == NULL || path == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "safetensors writer: NULL argument");

  entries = calloc (w->count > 0 ? (size_t) w->count : 1, sizeof *entries);
  pieces = calloc (w->count > 0 ? (size_t) w->count : 1, sizeof *pieces);
  if (entries == NULL || pieces == NULL)
    {
      free (entries);
      free (pieces);
      return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", path);
    }
  /* Tensors in the order they were added, packed with no gaps (the
   * reference reader rejects gaps). */
  for (int i = 0; i < w->count; i++)
    {
      const WriterTensor *t = &w->tensors[i];

      entries[i].name = t->name;
      entries[i].dtype = t->dtype;
      entries[i].ndim = t->ndim;
      entries[i].shape = t->shape;
      entries[i].begin = offset;
      entries[i].end = offset + t->nbytes;
      pieces[i].bytes = t->data;
      pieces[i].size = t->nbytes;
      offset += t->nbytes;
    }
  status = save_file (path, (const char *const *) w->meta_keys,
                      (const char *const *) w->meta_values, w->meta_count, entries, w->count,
                      pieces, w->count, error);
  free (entries);
  free (pieces);
  return status;
}

CpStatus
cp_safetensors_save_with_metadata (const CpSafetensors *st,
                                   const char          *path,
                                   const char *const   *set_pairs,
                                   CpError             *error)
{
  const char **keys, **values;
  HeaderEntry *entries;
  DataPiece piece;
  int n_set = 0, meta_count;
  CpStatus status;

  if (st == NULL || path == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cp_safetensors_save_with_metadata: NULL argument");
  if (set_pairs != NULL)
    for (; set_pairs[2 * n_set] != NULL; n_set++)
      {
        const char *key = set_pairs[2 * n_set], *value = set_pairs[2 * n_set + 1];

        if (value == NULL)
          return cp_error_set (error, CP_ERR_INVALID, "%s: metadata '%s': NULL value", path, key);
        if (!valid_json_text (key) || !valid_json_text (value))
          return cp_error_set (error, CP_ERR_INVALID, "%s: metadata '%s' is not valid UTF-8",
                               path, key);
      }

  keys = calloc ((size_t) (st->meta_count + n_set) + 1, sizeof *keys);
  values = calloc ((size_t) (st->meta_count + n_set) + 1, sizeof *values);
  entries = calloc (st->count > 0 ? (size_t) st->count : 1, sizeof *entries);
  if (keys == NULL || values == NULL || entries == NULL)
    {
      free (keys);
      free (values);
      free (entries);
      return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", path);
    }

  /* The writer's rule: a key set again keeps its place with the new value;
   * a new key goes after the others. */
  meta_count = st->meta_count;
  for (int i = 0; i < meta_count; i++)
    {
      keys[i] = st->meta_keys[i];
      values[i] = st->meta_values[i];
    }
  for (int s = 0; s < n_set; s++)
    {
      const char *key = set_pairs[2 * s], *value = set_pairs[2 * s + 1];
      int i;

      for (i = 0; i < meta_count; i++)
        if (strcmp (keys[i], key) == 0)
          break;
      if (i == meta_count)
        keys[meta_count++] = key;
      values[i] = value;
    }

  /* Every tensor keeps its header entry, data_offsets included, and the
   * data section is copied whole: the bytes cannot change, and anything
   * this program does not know about survives. */
  for (int i = 0; i < st->count; i++)
    {
      const CpTensorInfo *info = &st->infos[i];

      entries[i].name = info->name;
      entries[i].dtype = info->dtype;
      entries[i].ndim = info->ndim;
      entries[i].shape = info->shape;
      entries[i].begin = info->offset;
      entries[i].end = info->offset + info->nbytes;
    }
  piece.bytes = st->data;
  piece.size = (size_t) st->data_size;
  status = save_file (path, keys, values, meta_count, entries, st->count, &piece, 1, error);
  free (keys);
  free (values);
  free (entries);
  return status;
}

CpStatus
cp_safetensors_rewrite_metadata (const char        *path,
                                 const char *const *set_pairs,
                                 CpError           *error)
{
  CpSafetensors *st;
  CpStatus status;

  if (path == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cp_safetensors_rewrite_metadata: NULL path");
  st = cp_safetensors_open (path, error);
  if (st == NULL)
    return error != NULL && error->code != CP_OK ? error->code : CP_ERR_IO;
  status = cp_safetensors_save_with_metadata (st, path, set_pairs, error);
  cp_safetensors_close (st);
  return status;
}
