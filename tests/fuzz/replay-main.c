/* replay-main.c: main() for the fuzz targets outside libFuzzer.
 *
 * Usage: fuzz-replay-TARGET PATH...  where each PATH is a file or a folder
 * (its regular files, sorted, not recursive).  Every file is fed once to
 * LLVMFuzzerTestOneInput(); a crash or a sanitizer report fails the test,
 * a clean pass prints how many inputs ran.  An empty or missing corpus is
 * a failure: the test would otherwise pass while checking nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-common.h"

static int
feed_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf = NULL;
  size_t size = 0, cap = 0, n;

  if (f == NULL)
    {
      fprintf (stderr, "%s: %s\n", path, strerror (errno));
      return -1;
    }
  do
    {
      if (size == cap)
        {
          uint8_t *grown;
          cap = cap ? 2 * cap : 65536;
          grown = realloc (buf, cap);
          if (grown == NULL)
            {
              free (buf);
              fclose (f);
              return -1;
            }
          buf = grown;
        }
      n = fread (buf + size, 1, cap - size, f);
      size += n;
    }
  while (n > 0);
  fclose (f);
  /* A copy of exactly @size bytes, so ASan catches a read past the end as
   * libFuzzer would. */
  {
    uint8_t *exact = malloc (size ? size : 1);
    if (exact == NULL)
      {
        free (buf);
        return -1;
      }
    memcpy (exact, buf, size);
    free (buf);
    LLVMFuzzerTestOneInput (exact, size);
    free (exact);
  }
  return 0;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
feed_dir (const char *dir, int *count)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;

  if (d == NULL)
    {
      fprintf (stderr, "%s: %s\n", dir, strerror (errno));
      return -1;
    }
  while ((e = readdir (d)) != NULL)
    {
      if (e->d_name[0] == '.')
        continue;
      if (n == cap)
        {
          cap = cap ? 2 * cap : 64;
          names = realloc (names, cap * sizeof *names);
          if (names == NULL)
            abort ();
        }
      names[n++] = strdup (e->d_name);
    }
  closedir (d);
  qsort (names, n, sizeof *names, compare_names);
  for (size_t i = 0; i < n; i++)
    {
      size_t len = strlen (dir) + strlen (names[i]) + 2;
      char *path = malloc (len);
      struct stat st;

      snprintf (path, len, "%s/%s", dir, names[i]);
      if (stat (path, &st) == 0 && S_ISREG (st.st_mode))
        {
          fprintf (stderr, "replay %s\n", path);
          if (feed_file (path) != 0)
            rc = -1;
          else
            (*count)++;
        }
      free (path);
      free (names[i]);
    }
  free (names);
  return rc;
}

int
main (int argc, char **argv)
{
  int count = 0, rc = 0;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    {
      struct stat st;

      if (stat (argv[i], &st) != 0)
        {
          fprintf (stderr, "%s: %s\n", argv[i], strerror (errno));
          rc = 1;
        }
      else if (S_ISDIR (st.st_mode))
        rc |= feed_dir (argv[i], &count) != 0;
      else
        {
          rc |= feed_file (argv[i]) != 0;
          count++;
        }
    }
  if (count == 0)
    {
      fprintf (stderr, "no corpus input found\n");
      return 1;
    }
  printf ("%d inputs replayed without a crash or sanitizer report\n", count);
  return rc;
}
