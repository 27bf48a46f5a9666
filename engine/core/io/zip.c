/* zip.c: zip archives in memory (see zip.h).
 *
 * The end-of-central-directory record is found by scanning back from the
 * end (it may be followed by a comment); when a zip64 locator sits just
 * before it, as torch.save always writes one, the zip64 record's counts
 * and offsets are used.  Entries whose 32-bit fields are saturated take
 * their real values from the zip64 extra field.
 */
#include "zip.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name-index.h"

#define SIG_LOCAL        0x04034b50u
#define SIG_CENTRAL      0x02014b50u
#define SIG_EOCD         0x06054b50u
#define SIG_ZIP64_EOCD   0x06064b50u
#define SIG_ZIP64_LOCATOR 0x07064b50u

#define EOCD_SIZE        22
#define CENTRAL_SIZE     46
#define LOCAL_SIZE       30
#define ZIP64_EOCD_SIZE  56
#define ZIP64_LOCATOR_SIZE 20

struct CpZip
{
  const unsigned char *bytes;
  size_t               size;
  char                *label;
  CpZipEntry          *entries;
  char                *names;       /* all names, NUL-separated */
  int                  count;
  int                 *by_name;     /* indices sorted by name */
};

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

static uint64_t
le64 (const unsigned char *p)
{
  return (uint64_t) le32 (p) | ((uint64_t) le32 (p + 4) << 32);
}

uint32_t
cp_zip_crc32 (uint32_t    crc,
              const void *data,
              size_t      size)
{
  const unsigned char *p = data;
  uint32_t table[256];

  /* Built per call: 2 k operations, nothing next to the megabytes a
   * caller checks, and no shared state to initialise. */
  for (uint32_t i = 0; i < 256; i++)
    {
      uint32_t c = i;

      for (int k = 0; k < 8; k++)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
  crc = ~crc;
  for (size_t i = 0; i < size; i++)
    crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void
cp_zip_free (CpZip *zip)
{
  if (zip == NULL)
    return;
  free (zip->label);
  free (zip->entries);
  free (zip->names);
  free (zip->by_name);
  free (zip);
}

static CpStatus zip_fail (const CpZip *zip, CpError *error, const char *format, ...)
  __attribute__ ((format (printf, 3, 4)));

static CpStatus
zip_fail (const CpZip *zip,
          CpError     *error,
          const char  *format,
          ...)
{
  char what[CP_ERROR_MESSAGE_SIZE];
  va_list args;

  va_start (args, format);
  vsnprintf (what, sizeof what, format, args);
  va_end (args);
  return cp_error_set (error, CP_ERR_FORMAT, "%s: %s", zip->label, what);
}

/* Offset of the end-of-central-directory record, or -1. */
static int64_t
find_eocd (const unsigned char *bytes,
           size_t               size)
{
  size_t lowest;

  if (size < EOCD_SIZE)
    return -1;
  /* The comment after the record is at most 65535 bytes. */
  lowest = size - EOCD_SIZE > 65535 ? size - EOCD_SIZE - 65535 : 0;
  for (size_t at = size - EOCD_SIZE + 1; at-- > lowest;)
    if (le32 (bytes + at) == SIG_EOCD && at + EOCD_SIZE + le16 (bytes + at + 20) <= size)
      return (int64_t) at;
  return -1;
}

/* Replaces the saturated 32-bit fields of an entry with the values of its
 * zip64 extra field (id 1), which lists them in a fixed order. */
static CpStatus
apply_zip64_extra (const CpZip         *zip,
                   const unsigned char *extra,
                   size_t               extra_len,
                   CpZipEntry          *e,
                   bool                 need_size,
                   bool                 need_csize,
                   bool                 need_offset,
                   CpError             *error)
{
  size_t at = 0;

  while (at + 4 <= extra_len)
    {
      uint16_t id = le16 (extra + at);
      uint16_t len = le16 (extra + at + 2);
      const unsigned char *field = extra + at + 4;
      size_t used = 0;

      if (at + 4 + len > extra_len)
        return zip_fail (zip, error, "entry '%s': an extra field runs past its entry", e->name);
      if (id == 1)
        {
          if (need_size)
            {
              if (used + 8 > len)
                goto short_field;
              e->size = le64 (field + used);
              used += 8;
            }
          if (need_csize)
            {
              if (used + 8 > len)
                goto short_field;
              e->compressed_size = le64 (field + used);
              used += 8;
            }
          if (need_offset)
            {
              if (used + 8 > len)
                goto short_field;
              e->local_offset = le64 (field + used);
            }
          return CP_OK;
        }
      at += 4 + (size_t) len;
    }
  if (need_size || need_csize || need_offset)
    return zip_fail (zip, error, "entry '%s': 32-bit sizes are saturated but there is no zip64 "
                     "extra field", e->name);
  return CP_OK;

short_field:
  return zip_fail (zip, error, "entry '%s': the zip64 extra field is too short", e->name);
}

static int
compare_names (const void *a,
               const void *b,
               void       *entries)
{
  const CpZipEntry *e = entries;

  return strcmp (e[*(const int *) a].name, e[*(const int *) b].name);
}

/* qsort_r is a GNU extension; a small insertion-free merge sort keeps the
 * core portable. */
static void
sort_indices (int        *idx,
              int        *tmp,
              int         n,
              CpZipEntry *entries)
{
  if (n < 2)
    return;
  sort_indices (idx, tmp, n / 2, entries);
  sort_indices (idx + n / 2, tmp, n - n / 2, entries);
  {
    int i = 0, j = n / 2, k = 0;

    while (i < n / 2 && j < n)
      tmp[k++] = compare_names (&idx[i], &idx[j], entries) <= 0 ? idx[i++] : idx[j++];
    while (i < n / 2)
      tmp[k++] = idx[i++];
    while (j < n)
      tmp[k++] = idx[j++];
    memcpy (idx, tmp, (size_t) n * sizeof *idx);
  }
}

static CpStatus
read_directory (CpZip   *zip,
                CpError *error)
{
  const unsigned char *b = zip->bytes;
  int64_t eocd = find_eocd (b, zip->size);
  uint64_t count, cd_size, cd_offset, names_bytes = 0;
  size_t at;
  char *name_at;
  int *tmp;

  if (eocd < 0)
    {
      if (zip->size >= 4 && le32 (b) == SIG_LOCAL)
        return zip_fail (zip, error, "the zip archive is truncated (no end-of-central-directory "
                         "record in its %zu bytes)", zip->size);
      return zip_fail (zip, error, "not a zip archive (no end-of-central-directory record)");
    }
  if (le16 (b + eocd + 4) != 0 || le16 (b + eocd + 6) != 0)
    return zip_fail (zip, error, "multi-part zip archives are not supported");
  count = le16 (b + eocd + 10);
  cd_size = le32 (b + eocd + 12);
  cd_offset = le32 (b + eocd + 16);

  if (eocd >= ZIP64_LOCATOR_SIZE && le32 (b + eocd - ZIP64_LOCATOR_SIZE) == SIG_ZIP64_LOCATOR)
    {
      const unsigned char *loc = b + eocd - ZIP64_LOCATOR_SIZE;
      uint64_t z64 = le64 (loc + 8);

      if (le32 (loc + 4) != 0 || le32 (loc + 16) > 1)
        return zip_fail (zip, error, "multi-part zip archives are not supported");
      if (z64 > (uint64_t) eocd - ZIP64_LOCATOR_SIZE
          || (uint64_t) eocd - ZIP64_LOCATOR_SIZE - z64 < ZIP64_EOCD_SIZE
          || le32 (b + z64) != SIG_ZIP64_EOCD)
        return zip_fail (zip, error, "the zip64 end-of-central-directory record is missing or "
                         "out of place (offset %" PRIu64 ")", z64);
      if (le32 (b + z64 + 16) != 0 || le32 (b + z64 + 20) != 0)
        return zip_fail (zip, error, "multi-part zip archives are not supported");
      count = le64 (b + z64 + 32);
      cd_size = le64 (b + z64 + 40);
      cd_offset = le64 (b + z64 + 48);
    }
  if (cd_offset > (uint64_t) eocd || cd_size > (uint64_t) eocd - cd_offset)
    return zip_fail (zip, error, "the central directory (%" PRIu64 " bytes at %" PRIu64
                     ") lies outside the archive", cd_size, cd_offset);
  /* Each entry takes at least 46 bytes: this bounds the allocation. */
  if (count > cd_size / CENTRAL_SIZE || count > INT32_MAX)
    return zip_fail (zip, error, "%" PRIu64 " entries cannot fit in a central directory of %"
                     PRIu64 " bytes", count, cd_size);
  if (count == 0)
    return CP_OK;

  zip->entries = calloc ((size_t) count, sizeof *zip->entries);
  zip->by_name = malloc ((size_t) count * sizeof *zip->by_name);
  tmp = malloc ((size_t) count * sizeof *tmp);
  if (zip->entries == NULL || zip->by_name == NULL || tmp == NULL)
    {
      free (tmp);
      return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory for %" PRIu64 " entries",
                           zip->label, count);
    }

  /* First pass: the names' total length, so that they share one block. */
  at = (size_t) cd_offset;
  for (uint64_t i = 0; i < count; i++)
    {
      size_t len;

      if (cd_offset + cd_size - at < CENTRAL_SIZE || le32 (b + at) != SIG_CENTRAL)
        {
          free (tmp);
          return zip_fail (zip, error, "central directory entry %" PRIu64 " is damaged", i);
        }
      len = (size_t) CENTRAL_SIZE + le16 (b + at + 28) + le16 (b + at + 30) + le16 (b + at + 32);
      if (len > cd_offset + cd_size - at)
        {
          free (tmp);
          return zip_fail (zip, error, "central directory entry %" PRIu64 " runs past the "
                           "directory", i);
        }
      names_bytes += le16 (b + at + 28) + 1u;
      at += len;
    }
  zip->names = malloc ((size_t) names_bytes);
  if (zip->names == NULL)
    {
      free (tmp);
      return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", zip->label);
    }

  at = (size_t) cd_offset;
  name_at = zip->names;
  for (uint64_t i = 0; i < count; i++)
    {
      const unsigned char *c = b + at;
      CpZipEntry *e = &zip->entries[i];
      uint16_t name_len = le16 (c + 28), extra_len = le16 (c + 30);
      CpStatus st;

      memcpy (name_at, c + CENTRAL_SIZE, name_len);
      name_at[name_len] = '\0';
      e->name = name_at;
      name_at += name_len + 1;
      if (memchr (c + CENTRAL_SIZE, '\0', name_len) != NULL)
        {
          free (tmp);
          return zip_fail (zip, error, "entry %" PRIu64 ": the name contains a NUL byte", i);
        }
      e->flags = le16 (c + 8);
      e->method = le16 (c + 10);
      e->crc32 = le32 (c + 16);
      e->compressed_size = le32 (c + 20);
      e->size = le32 (c + 24);
      e->local_offset = le32 (c + 42);
      if (le16 (c + 34) != 0 && le16 (c + 34) != 0xFFFF)
        {
          free (tmp);
          return zip_fail (zip, error, "multi-part zip archives are not supported");
        }
      st = apply_zip64_extra (zip, c + CENTRAL_SIZE + name_len, extra_len, e,
                              e->size == 0xFFFFFFFFu, e->compressed_size == 0xFFFFFFFFu,
                              e->local_offset == 0xFFFFFFFFu, error);
      if (st != CP_OK)
        {
          free (tmp);
          return st;
        }
      at += (size_t) CENTRAL_SIZE + name_len + extra_len + le16 (c + 32);
      zip->by_name[i] = (int) i;
    }
  zip->count = (int) count;

  sort_indices (zip->by_name, tmp, zip->count, zip->entries);
  free (tmp);
  for (int i = 1; i < zip->count; i++)
    if (strcmp (zip->entries[zip->by_name[i - 1]].name, zip->entries[zip->by_name[i]].name) == 0)
      return zip_fail (zip, error, "entry '%s' appears twice",
                       zip->entries[zip->by_name[i]].name);
  return CP_OK;
}

CpZip *
cp_zip_open_memory (const void *bytes,
                    size_t      size,
                    const char *label,
                    CpError    *error)
{
  CpZip *zip = calloc (1, sizeof *zip);

  if (zip != NULL)
    zip->label = strdup (label != NULL ? label : "(memory)");
  if (zip == NULL || zip->label == NULL)
    {
      free (zip);
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", label != NULL ? label : "(memory)");
      return NULL;
    }
  if (bytes == NULL && size > 0)
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: NULL bytes", zip->label);
      cp_zip_free (zip);
      return NULL;
    }
  zip->bytes = bytes;
  zip->size = size;
  if (read_directory (zip, error) != CP_OK)
    {
      cp_zip_free (zip);
      return NULL;
    }
  return zip;
}

int
cp_zip_count (const CpZip *zip)
{
  return zip != NULL ? zip->count : 0;
}

const CpZipEntry *
cp_zip_entry (const CpZip *zip,
              int          index)
{
  if (zip == NULL || index < 0 || index >= zip->count)
    return NULL;
  return &zip->entries[index];
}

const CpZipEntry *
cp_zip_find (const CpZip *zip,
             const char  *name)
{
  int i;

  if (zip == NULL || name == NULL)
    return NULL;
  i = cp_name_index_find (zip->by_name, zip->count, zip->entries, sizeof *zip->entries,
                          offsetof (CpZipEntry, name), name);
  return i >= 0 ? &zip->entries[i] : NULL;
}

static const char *
method_name (uint16_t method)
{
  switch (method)
    {
    case 8: return "deflate";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "LZMA";
    case 93: return "Zstandard";
    case 95: return "XZ";
    default: return "an unknown method";
    }
}

CpStatus
cp_zip_entry_data (const CpZip       *zip,
                   const CpZipEntry  *entry,
                   const void       **data,
                   size_t            *size,
                   CpError           *error)
{
  const unsigned char *l;
  uint64_t start;
  uint16_t name_len, extra_len;

  if (zip == NULL || entry == NULL || entry < zip->entries || entry >= zip->entries + zip->count)
    return cp_error_set (error, CP_ERR_INVALID, "cp_zip_entry_data: not an entry of this archive");
  if (entry->flags & 1)
    return zip_fail (zip, error, "entry '%s' is encrypted", entry->name);
  if (entry->method != 0)
    return cp_error_set (error, CP_ERR_UNSUPPORTED,
                         "%s: entry '%s' is compressed (%s, method %u); torch.save stores "
                         "entries uncompressed, so the archive was rewritten by another tool: "
                         "save the original file again with torch.save", zip->label, entry->name,
                         method_name (entry->method), entry->method);
  if (entry->compressed_size != entry->size)
    return zip_fail (zip, error, "entry '%s' is stored but its sizes differ (%" PRIu64 " and %"
                     PRIu64 " bytes)", entry->name, entry->compressed_size, entry->size);
  if (entry->local_offset > zip->size || zip->size - entry->local_offset < LOCAL_SIZE)
    return zip_fail (zip, error, "entry '%s': the local header lies outside the archive",
                     entry->name);
  l = zip->bytes + entry->local_offset;
  if (le32 (l) != SIG_LOCAL)
    return zip_fail (zip, error, "entry '%s': no local header at offset %" PRIu64, entry->name,
                     entry->local_offset);
  name_len = le16 (l + 26);
  extra_len = le16 (l + 28);
  start = entry->local_offset + LOCAL_SIZE + name_len + extra_len;
  if (start > zip->size)
    return zip_fail (zip, error, "entry '%s': the local header runs past the archive",
                     entry->name);
  if (name_len != strlen (entry->name) || memcmp (l + LOCAL_SIZE, entry->name, name_len) != 0)
    return zip_fail (zip, error, "entry '%s': the local header names another file", entry->name);
  if (le16 (l + 8) != entry->method)
    return zip_fail (zip, error, "entry '%s': the local header gives another method",
                     entry->name);
  if (entry->size > zip->size - start)
    return zip_fail (zip, error, "entry '%s': its %" PRIu64 " bytes run past the end of the "
                     "archive (truncated file?)", entry->name, entry->size);
  if (cp_zip_crc32 (0, zip->bytes + start, (size_t) entry->size) != entry->crc32)
    return zip_fail (zip, error, "entry '%s': CRC-32 mismatch (damaged file)", entry->name);
  *data = zip->bytes + start;
  *size = (size_t) entry->size;
  return CP_OK;
}
