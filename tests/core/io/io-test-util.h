/* io-test-util.h: scratch folders and file helpers for the io tests. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh folder under $TMPDIR (or /tmp); the caller frees the name. */
static inline char *
io_test_make_dir (const char *tag)
{
  const char *base = getenv ("TMPDIR");
  char *dir;

  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  dir = malloc (strlen (base) + strlen (tag) + 16);
  if (dir == NULL)
    {
      fprintf (stderr, "out of memory\n");
      exit (1);
    }
  sprintf (dir, "%s/cp-%s-XXXXXX", base, tag);
  if (mkdtemp (dir) == NULL)
    {
      fprintf (stderr, "mkdtemp %s: %s\n", dir, strerror (errno));
      exit (1);
    }
  return dir;
}

static inline char *
io_test_path (const char *dir,
              const char *name)
{
  char *path = malloc (strlen (dir) + strlen (name) + 2);

  if (path == NULL)
    {
      fprintf (stderr, "out of memory\n");
      exit (1);
    }
  sprintf (path, "%s/%s", dir, name);
  return path;
}

/* Removes @dir and the plain files in it (the tests create nothing deeper
 * except the folders they remove themselves). */
static inline void
io_test_remove_dir (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;

  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    {
      char *path;
      struct stat st;

      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      path = io_test_path (dir, e->d_name);
      if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode))
        io_test_remove_dir (path);
      else
        unlink (path);
      free (path);
    }
  closedir (d);
  rmdir (dir);
}

/* Number of entries in @dir other than "." and "..". */
static inline int
io_test_count_entries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      n++;
  closedir (d);
  return n;
}

static inline bool
io_test_write (const char *path,
               const void *data,
               size_t      size)
{
  FILE *f = fopen (path, "wb");
  bool ok;

  if (f == NULL)
    return false;
  ok = size == 0 || fwrite (data, 1, size, f) == size;
  return fclose (f) == 0 && ok;
}

/* Whole file into a malloc'd buffer; NULL if it cannot be read. */
static inline unsigned char *
io_test_read (const char *path,
              size_t     *size)
{
  FILE *f = fopen (path, "rb");
  unsigned char *buf = NULL;
  size_t cap = 0, len = 0, n;

  if (f == NULL)
    return NULL;
  do
    {
      if (len == cap)
        {
          cap = cap ? cap * 2 : 4096;
          buf = realloc (buf, cap);
        }
      n = fread (buf + len, 1, cap - len, f);
      len += n;
    }
  while (n > 0);
  fclose (f);
  *size = len;
  return buf;
}

static inline bool
io_test_contains (const char *haystack,
                  const char *needle)
{
  return haystack != NULL && strstr (haystack, needle) != NULL;
}
