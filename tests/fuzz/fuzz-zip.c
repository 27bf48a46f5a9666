/* fuzz-zip.c: the zip reader under torch.save archives (core/io/zip.h).
 *
 * When the central directory is accepted, every entry must be found by
 * its name, and the bytes of each entry that reads must lie inside the
 * input with the size the directory gives (ASan sees any read outside,
 * since the input is exactly the fuzzer's buffer).
 */
#include <string.h>

#include "core/io/zip.h"
#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  CpError error = { 0 };
  CpZip *zip = cp_zip_open_memory (data, size, "fuzz.zip", &error);

  if (zip == NULL)
    {
      FUZZ_ASSERT (error.code != CP_OK && error.message[0] != '\0');
      return 0;
    }
  for (int i = 0; i < cp_zip_count (zip); i++)
    {
      const CpZipEntry *e = cp_zip_entry (zip, i);
      const void *bytes;
      size_t n;

      FUZZ_ASSERT (e != NULL && e->name != NULL);
      FUZZ_ASSERT (cp_zip_find (zip, e->name) == e);
      if (cp_zip_entry_data (zip, e, &bytes, &n, &error) == CP_OK)
        {
          FUZZ_ASSERT (e->method == 0 && n == e->size);
          FUZZ_ASSERT ((const uint8_t *) bytes >= data && n <= size
                       && (size_t) ((const uint8_t *) bytes - data) <= size - n);
          FUZZ_ASSERT (cp_zip_crc32 (0, bytes, n) == e->crc32);
        }
      else
        FUZZ_ASSERT (error.code != CP_OK && strstr (error.message, "fuzz.zip") != NULL);
    }
  {
    /* libFuzzer learns the strings we compare with, so an entry may
     * really have this name: what is found must be it. */
    const CpZipEntry *e = cp_zip_find (zip, "\x01no such entry");
    FUZZ_ASSERT (e == NULL || strcmp (e->name, "\x01no such entry") == 0);
  }
  cp_zip_free (zip);
  return 0;
}
