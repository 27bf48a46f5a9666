/* zip.h: reading the entries of a zip archive held in memory.
 *
 * Enough of the format (PKWARE APPNOTE 6.3) for the files torch.save
 * writes: one disk, entries stored without compression, zip64 records when
 * present.  The central directory is the index; each entry's local header
 * is checked against it before its bytes are handed out, and the CRC-32
 * of an entry is verified when it is read.  Compressed, encrypted and
 * multi-disk archives are refused with a message that says so.  Every
 * offset and size is checked against the buffer before use, so a hostile
 * archive can make us fail but never read outside it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  const char *name;            /* NUL-terminated copy of the entry's name */
  uint16_t    method;          /* 0 stored, 8 deflate, ... */
  uint16_t    flags;           /* general purpose bits (bit 0: encrypted) */
  uint32_t    crc32;
  uint64_t    compressed_size;
  uint64_t    size;            /* uncompressed */
  uint64_t    local_offset;    /* of the local header */
} CpZipEntry;

typedef struct CpZip CpZip;

/* Reads the central directory of the archive @bytes[0..size) (borrowed:
 * it must outlive the CpZip).  @label names the archive in messages.
 * Names must be unique and free of NUL bytes. */
CpZip            *cp_zip_open_memory (const void *bytes,
                                      size_t      size,
                                      const char *label,
                                      CpError    *error);
void              cp_zip_free        (CpZip *zip);

int               cp_zip_count       (const CpZip *zip);
/* In central-directory order. */
const CpZipEntry *cp_zip_entry       (const CpZip *zip,
                                      int          index);
/* NULL when absent. */
const CpZipEntry *cp_zip_find        (const CpZip *zip,
                                      const char  *name);

/* The bytes of a stored entry, inside the archive's buffer.  A compressed
 * or encrypted entry, a local header that disagrees with the central
 * directory, data beyond the end of the archive or a wrong CRC-32 is an
 * error naming the entry. */
CpStatus          cp_zip_entry_data  (const CpZip       *zip,
                                      const CpZipEntry  *entry,
                                      const void       **data,
                                      size_t            *size,
                                      CpError           *error);

/* CRC-32 (ISO 3309, as zip uses it) of @size bytes, continuing @crc (0 to
 * start). */
uint32_t          cp_zip_crc32       (uint32_t    crc,
                                      const void *data,
                                      size_t      size);

#ifdef __cplusplus
}
#endif
