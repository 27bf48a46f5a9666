/* file-hash.c: SHA-256 of files and buffers. */
#include "file-hash.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "image.h"

char *
cp_sha256_hex (const void *data, gsize length)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, length);
}

char *
cp_file_sha256 (const char *path, GError **error)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc (1 << 20);
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "%s: cannot read: %s", path, g_strerror (e));
      return NULL;
    }
  for (;;)
    {
      ssize_t got = read (fd, buf, 1 << 20);

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          int e = errno;
          close (fd);
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "%s: cannot read: %s", path, g_strerror (e));
          return NULL;
        }
      if (got == 0)
        break;
      g_checksum_update (sum, buf, got);
    }
  close (fd);
  return g_strdup (g_checksum_get_string (sum));
}
