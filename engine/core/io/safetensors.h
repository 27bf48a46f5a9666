/* safetensors.h: reading and writing safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON header
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 * ..., "__metadata__": {"key": "value"}}), then the raw little-endian tensor
 * bytes.  The reader validates everything before use: header length against
 * the file size, JSON syntax, dtypes, shapes (overflow), offsets (in range,
 * matching dtype x shape, no overlap), duplicate names; every error names
 * the file, the key and the problem.  The writer is atomic: it writes a
 * temporary file in the same folder, fsyncs it and renames it over the
 * target, so a failed save never damages an existing file.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_DTYPE_F32,
  CP_DTYPE_F16,
  CP_DTYPE_BF16,
  CP_DTYPE_F64,
  CP_DTYPE_I64,
  CP_DTYPE_I32,
  CP_DTYPE_I16,
  CP_DTYPE_I8,
  CP_DTYPE_U8,
  CP_DTYPE_BOOL,
} CpDtype;

#define CP_SAFETENSORS_MAX_DIMS 8

typedef struct
{
  const char *name;
  CpDtype     dtype;
  int         ndim;
  int64_t     shape[CP_SAFETENSORS_MAX_DIMS];
  uint64_t    offset;   /* from the start of the data section */
  uint64_t    nbytes;
} CpTensorInfo;

const char *cp_dtype_name (CpDtype dtype);      /* "F32", ... */
size_t      cp_dtype_size (CpDtype dtype);      /* bytes per element */

typedef struct CpSafetensors CpSafetensors;

/* Reads and validates @path.  NULL with @error set on any problem. */
CpSafetensors      *cp_safetensors_open        (const char *path, CpError *error);
/* Parses a file image already in memory (copied); @label names it in
 * messages.  Used by the fuzzers. */
CpSafetensors      *cp_safetensors_from_memory (const void *bytes, size_t size, const char *label,
                                                CpError *error);
/* Same, taking ownership of @bytes (from malloc; freed by close, or at
 * once on failure): for readers that build a file image themselves
 * (pth.h) and need not copy it again. */
CpSafetensors      *cp_safetensors_from_memory_owned (void *bytes, size_t size, const char *label,
                                                      CpError *error);
void                cp_safetensors_close       (CpSafetensors *st);

int                 cp_safetensors_count       (const CpSafetensors *st);
const CpTensorInfo *cp_safetensors_info        (const CpSafetensors *st, int index);
/* NULL when absent. */
const CpTensorInfo *cp_safetensors_find        (const CpSafetensors *st, const char *name);
/* Raw little-endian bytes of a tensor of @st (NULL for an info of another
 * file).  The data section starts 8-byte aligned when the header length is
 * a multiple of 8 (as every writer pads it), but a tensor is only as aligned
 * as its offset: copy the bytes or use read_f32/read_i64 rather than cast. */
const void         *cp_safetensors_data        (const CpSafetensors *st, const CpTensorInfo *info);

/* Copies tensor @name into @dst as float32, converting F16, BF16 and F64.
 * @shape/@ndim is the shape the caller expects; a missing tensor, another
 * shape or a non-float dtype is an error naming the key. */
CpStatus            cp_safetensors_read_f32    (const CpSafetensors *st, const char *name,
                                                const int64_t *shape, int ndim, float *dst,
                                                CpError *error);
/* Same for integer tensors (I64, I32, I16, I8, U8) read as int64. */
CpStatus            cp_safetensors_read_i64    (const CpSafetensors *st, const char *name,
                                                const int64_t *shape, int ndim, int64_t *dst,
                                                CpError *error);

/* __metadata__ (string to string).  NULL when absent. */
const char         *cp_safetensors_metadata    (const CpSafetensors *st, const char *key);
int                 cp_safetensors_metadata_count (const CpSafetensors *st);
const char         *cp_safetensors_metadata_key   (const CpSafetensors *st, int index);
const char         *cp_safetensors_metadata_value (const CpSafetensors *st, int index);
const char         *cp_safetensors_path        (const CpSafetensors *st);

typedef struct CpSafetensorsWriter CpSafetensorsWriter;

CpSafetensorsWriter *cp_safetensors_writer_new  (void);
void                 cp_safetensors_writer_free (CpSafetensorsWriter *w);
/* Copies @data (host memory, little-endian, dtype x shape bytes). */
CpStatus             cp_safetensors_writer_add  (CpSafetensorsWriter *w, const char *name, CpDtype dtype,
                                                 const int64_t *shape, int ndim, const void *data,
                                                 CpError *error);
CpStatus             cp_safetensors_writer_set_metadata (CpSafetensorsWriter *w, const char *key,
                                                         const char *value, CpError *error);
/* Atomic save: temp file in the same folder, fsync, rename. */
CpStatus             cp_safetensors_writer_save (CpSafetensorsWriter *w, const char *path,
                                                 CpError *error);

/* Changing metadata without touching tensors.  @set_pairs is key, value,
 * ..., NULL (NULL for none): a key the file has keeps its place and takes
 * the new value, a new key goes after the others, the rest stay as they
 * are.  Every tensor keeps its name, dtype, shape and data_offsets, and the
 * data section is copied byte for byte, so tensors this program does not
 * use survive.  The header is laid out and padded as the writer does and
 * the save is just as atomic: on failure @path is left as it was and no
 * temporary file remains. */

/* Writes the tensors of @st (an open file, as read) with the changed
 * metadata to @path: for callers that have already checked @st and must
 * write back exactly what they checked. */
CpStatus             cp_safetensors_save_with_metadata (const CpSafetensors *st, const char *path,
                                                        const char *const *set_pairs,
                                                        CpError *error);
/* Opens and validates @path, then replaces it in place. */
CpStatus             cp_safetensors_rewrite_metadata   (const char *path,
                                                        const char *const *set_pairs,
                                                        CpError *error);

#ifdef __cplusplus
}
#endif
