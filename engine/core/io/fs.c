/* fs.c: whole-file reads and atomic writes (see fs.h). */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

CpStatus
cp_read_file (const char  *path,
              size_t       max_size,
              void       **data,
              size_t      *size,
              CpError     *error)
{
  struct stat st;
  char *buf;
  size_t length = 0, capacity;
  int fd;

  if (data != NULL)
    *data = NULL;
  if (size != NULL)
    *size = 0;
  if (path == NULL || data == NULL || size == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cp_read_file: NULL argument");

  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cp_error_set (error, CP_ERR_IO, "%s: cannot open: %s", path, strerror (errno));
  if (fstat (fd, &st) != 0)
    {
      int e = errno;

      close (fd);
      return cp_error_set (error, CP_ERR_IO, "%s: cannot stat: %s", path, strerror (e));
    }
  if (S_ISDIR (st.st_mode))
    {
      close (fd);
      return cp_error_set (error, CP_ERR_IO, "%s: is a folder, not a file", path);
    }
  if (S_ISREG (st.st_mode) && (uintmax_t) st.st_size > (uintmax_t) max_size)
    {
      close (fd);
      return cp_error_set (error, CP_ERR_NOMEM,
                           "%s: file of %jd bytes exceeds the limit of %zu bytes", path,
                           (intmax_t) st.st_size, max_size);
    }

  /* Regular files are read into one allocation of the stat size (plus the
   * NUL); a probe read then confirms the end.  Pipes, procfs files (stat
   * size 0) and files that grow while being read fall back to doubling. */
  capacity = S_ISREG (st.st_mode) && st.st_size > 0 ? (size_t) st.st_size + 1 : 4096;
  buf = malloc (capacity);
  if (buf == NULL)
    {
      close (fd);
      return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory reading %zu bytes", path,
                           capacity);
    }
  for (;;)
    {
      char probe[4096];
      size_t room = capacity - 1 - length;
      ssize_t n = read (fd, room > 0 ? buf + length : probe, room > 0 ? room : sizeof probe);

      if (n < 0)
        {
          int e = errno;

          if (e == EINTR)
            continue;
          free (buf);
          close (fd);
          return cp_error_set (error, CP_ERR_IO, "%s: read failed: %s", path, strerror (e));
        }
      if (n == 0)
        break;
      if (length + (size_t) n > max_size)
        {
          free (buf);
          close (fd);
          return cp_error_set (error, CP_ERR_NOMEM,
                               "%s: file exceeds the limit of %zu bytes", path, max_size);
        }
      if (room == 0)
        {
          /* The buffer was full: grow it and keep the probed bytes. */
          size_t bigger_cap = capacity > SIZE_MAX / 2 ? SIZE_MAX : capacity * 2;
          char *bigger;

          while (bigger_cap - 1 - length < (size_t) n)
            bigger_cap *= 2;
          bigger = realloc (buf, bigger_cap);
          if (bigger == NULL)
            {
              free (buf);
              close (fd);
              return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory reading %zu bytes",
                                   path, bigger_cap);
            }
          buf = bigger;
          capacity = bigger_cap;
          memcpy (buf + length, probe, (size_t) n);
        }
      length += (size_t) n;
    }
  close (fd);
  buf[length] = '\0';
  *data = buf;
  *size = length;
  return CP_OK;
}

struct CpAtomicFile
{
  char  *path;
  char  *temp_path;
  FILE  *stream;
  bool   failed;
};

/* The process umask, read without changing it (umask() itself would race
 * with other threads creating files). */
static mode_t
current_umask (void)
{
  FILE *f = fopen ("/proc/self/status", "re");
  char line[256];
  mode_t mask = 022;

  if (f == NULL)
    return mask;
  while (fgets (line, sizeof line, f) != NULL)
    {
      unsigned int value;

      if (sscanf (line, "Umask: %o", &value) == 1)
        {
          mask = (mode_t) value;
          break;
        }
    }
  fclose (f);
  return mask;
}

static void
atomic_file_free (CpAtomicFile *file)
{
  free (file->path);
  free (file->temp_path);
  free (file);
}

CpAtomicFile *
cp_atomic_file_open (const char *path,
                     CpError    *error)
{
  CpAtomicFile *file;
  const char *slash;
  size_t dir_len, path_len;
  struct stat st;
  mode_t mode;
  int fd;

  if (path == NULL || path[0] == '\0')
    {
      cp_error_set (error, CP_ERR_INVALID, "cannot save: empty file name");
      return NULL;
    }
  path_len = strlen (path);
  if (path[path_len - 1] == '/')
    {
      cp_error_set (error, CP_ERR_INVALID, "%s: cannot save: the name is a folder", path);
      return NULL;
    }

  file = calloc (1, sizeof *file);
  if (file == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", path);
      return NULL;
    }
  file->path = strdup (path);
  /* "<folder>/.<name>.XXXXXX": hidden, and in the target's folder so that
   * rename() stays on one file system and is atomic. */
  file->temp_path = malloc (path_len + 16);
  if (file->path == NULL || file->temp_path == NULL)
    {
      atomic_file_free (file);
      cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", path);
      return NULL;
    }
  slash = strrchr (path, '/');
  dir_len = slash != NULL ? (size_t) (slash - path) + 1 : 0;
  memcpy (file->temp_path, path, dir_len);
  snprintf (file->temp_path + dir_len, path_len + 16 - dir_len, ".%s.XXXXXX", path + dir_len);

  fd = mkstemp (file->temp_path);
  if (fd < 0)
    {
      int e = errno;

      if (dir_len > 0)
        cp_error_set (error, CP_ERR_IO, "%s: cannot create a file in folder '%.*s': %s", path,
                      (int) dir_len, path, strerror (e));
      else
        cp_error_set (error, CP_ERR_IO, "%s: cannot create a file in the current folder: %s",
                      path, strerror (e));
      atomic_file_free (file);
      return NULL;
    }

  /* mkstemp creates the file 0600; give it the permissions the target has,
   * or those a plain creat() would give. */
  if (stat (path, &st) == 0 && S_ISREG (st.st_mode))
    mode = st.st_mode & 07777;
  else
    mode = 0666 & ~current_umask ();
  if (fchmod (fd, mode) != 0)
    {
      /* Not fatal: the data is what matters. */
    }

  file->stream = fdopen (fd, "wb");
  if (file->stream == NULL)
    {
      int e = errno;

      close (fd);
      unlink (file->temp_path);
      cp_error_set (error, CP_ERR_IO, "%s: cannot open for writing: %s", path, strerror (e));
      atomic_file_free (file);
      return NULL;
    }
  return file;
}

CpStatus
cp_atomic_file_write (CpAtomicFile *file,
                      const void   *data,
                      size_t        size,
                      CpError      *error)
{
  if (file == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cp_atomic_file_write: NULL file");
  if (file->failed)
    return cp_error_set (error, CP_ERR_IO, "%s: an earlier write failed", file->path);
  if (size == 0)
    return CP_OK;
  errno = 0;
  if (fwrite (data, 1, size, file->stream) != size)
    {
      int e = errno != 0 ? errno : EIO;

      file->failed = true;
      return cp_error_set (error, CP_ERR_IO, "%s: write failed: %s", file->path, strerror (e));
    }
  return CP_OK;
}

void
cp_atomic_file_abort (CpAtomicFile *file)
{
  if (file == NULL)
    return;
  if (file->stream != NULL)
    fclose (file->stream);
  unlink (file->temp_path);
  atomic_file_free (file);
}

/* Makes the rename itself durable; failure only weakens crash safety, so
 * it is not reported. */
static void
sync_folder (const char *path)
{
  const char *slash = strrchr (path, '/');
  char *dir;
  int fd;

  if (slash == NULL)
    dir = strdup (".");
  else if (slash == path)
    dir = strdup ("/");
  else
    dir = strndup (path, (size_t) (slash - path));
  if (dir == NULL)
    return;
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
  free (dir);
}

CpStatus
cp_atomic_file_commit (CpAtomicFile *file,
                       CpError      *error)
{
  FILE *stream;
  int e = 0;
  const char *what = NULL;

  if (file == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "cp_atomic_file_commit: NULL file");
  if (file->failed)
    {
      cp_error_set (error, CP_ERR_IO, "%s: not saved: an earlier write failed", file->path);
      cp_atomic_file_abort (file);
      return CP_ERR_IO;
    }

  stream = file->stream;
  file->stream = NULL;
  errno = 0;
  if (fflush (stream) != 0)
    e = errno, what = "write failed";
  else if (fsync (fileno (stream)) != 0)
    e = errno, what = "fsync failed";
  if (fclose (stream) != 0 && what == NULL)
    e = errno, what = "close failed";
  if (what == NULL && rename (file->temp_path, file->path) != 0)
    e = errno, what = "cannot replace the file";

  if (what != NULL)
    {
      cp_error_set (error, CP_ERR_IO, "%s: %s: %s", file->path, what,
                    strerror (e != 0 ? e : EIO));
      unlink (file->temp_path);
      atomic_file_free (file);
      return CP_ERR_IO;
    }
  sync_folder (file->path);
  atomic_file_free (file);
  return CP_OK;
}

CpStatus
cp_write_file_atomic (const char *path,
                      const void *data,
                      size_t      size,
                      CpError    *error)
{
  CpAtomicFile *file;

  if (data == NULL && size > 0)
    return cp_error_set (error, CP_ERR_INVALID, "%s: cannot save: NULL data",
                         path != NULL ? path : "(null)");
  file = cp_atomic_file_open (path, error);
  if (file == NULL)
    return error != NULL ? error->code : CP_ERR_IO;
  if (cp_atomic_file_write (file, data, size, error) != CP_OK)
    {
      cp_atomic_file_abort (file);
      return CP_ERR_IO;
    }
  return cp_atomic_file_commit (file, error);
}
