/* move.c: moving a part's file to the pass or fail folder (move.h). */
#include "move.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "data/file-hash.h"

static gboolean
same_bytes (const char *path, const char *sha256)
{
  g_autofree char *other = cp_file_sha256 (path, NULL);

  return other != NULL && g_strcmp0 (other, sha256) == 0;
}

char *
cp_line_move_target (const char *path, const char *dir, const char *sha256)
{
  g_autofree char *base = g_path_get_basename (path);
  char *target = g_build_filename (dir, base, NULL);
  const char *dot;
  g_autofree char *name = NULL;

  if (!g_file_test (target, G_FILE_TEST_EXISTS) || same_bytes (target, sha256))
    return target;
  g_free (target);
  dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    name = g_strdup_printf ("%.*s-%.8s%s", (int) (dot - base), base, sha256, dot);
  else
    name = g_strdup_printf ("%s-%.8s", base, sha256);
  return g_build_filename (dir, name, NULL);
}

static void
fsync_dir (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

/* Copies @from into a hidden file beside @to, fsyncs it and renames it
 * to @to. */
static gboolean
copy_across (const char *from, const char *to, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (to);
  g_autofree char *tmpl = g_build_filename (dir, ".cutpaste-move-XXXXXX", NULL);
  g_autofree char *buf = g_malloc (1 << 20);
  int in = -1, out = -1;
  int e = 0;

  in = g_open (from, O_RDONLY | O_CLOEXEC, 0);
  if (in < 0)
    {
      e = errno;
      goto fail;
    }
  out = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0644);
  if (out < 0)
    {
      e = errno;
      g_clear_pointer (&tmpl, g_free);
      goto fail;
    }
  for (;;)
    {
      ssize_t got = read (in, buf, 1 << 20), done = 0;

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        {
          e = errno;
          goto fail;
        }
      if (got == 0)
        break;
      while (done < got)
        {
          ssize_t n = write (out, buf + done, got - done);
          if (n < 0 && errno == EINTR)
            continue;
          if (n <= 0)
            {
              e = n < 0 ? errno : ENOSPC;
              goto fail;
            }
          done += n;
        }
    }
  if (fsync (out) != 0)
    {
      e = errno;
      goto fail;
    }
  close (out);
  out = -1;
  close (in);
  in = -1;
  if (g_rename (tmpl, to) != 0)
    {
      e = errno;
      goto fail;
    }
  fsync_dir (to);
  return TRUE;

fail:
  if (in >= 0)
    close (in);
  if (out >= 0)
    close (out);
  if (tmpl)
    g_unlink (tmpl);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot move %s to %s: %s", from, to,
               g_strerror (e));
  return FALSE;
}

gboolean
cp_line_move_file (const char *from, const char *to, const char *sha256, GError **error)
{
  int e;

  if (g_file_test (to, G_FILE_TEST_EXISTS))
    {
      if (!same_bytes (to, sha256))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "cannot move %s to %s: another file with that name is there", from, to);
          return FALSE;
        }
      /* An earlier move got this far: finish it. */
      if (g_unlink (from) != 0 && errno != ENOENT)
        {
          e = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot remove %s (already in %s): %s",
                       from, to, g_strerror (e));
          return FALSE;
        }
      return TRUE;
    }
  if (g_rename (from, to) == 0)
    {
      fsync_dir (to);
      return TRUE;
    }
  e = errno;
  if (e != EXDEV)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot move %s to %s: %s", from, to,
                   g_strerror (e));
      return FALSE;
    }
  if (!copy_across (from, to, error))
    return FALSE;
  if (g_unlink (from) != 0)
    {
      e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "copied %s to %s but cannot remove it: %s",
                   from, to, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}
