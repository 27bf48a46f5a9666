/* fuzz-tmp.h: a private scratch folder per fuzzing process.
 *
 * The image and model readers take a path, so their targets write the
 * input to a file first.  The folder lives in /dev/shm when it exists (no
 * disk traffic at thousands of inputs a second) and is removed at exit.
 */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

#include "test-support.h"

static char *fuzz_tmp_dir;

static inline void
fuzz_tmp_cleanup (void)
{
  if (fuzz_tmp_dir != NULL)
    cp_test_remove_tree (fuzz_tmp_dir);
  g_free (fuzz_tmp_dir);
  fuzz_tmp_dir = NULL;
}

static inline const char *
fuzz_tmp_get (void)
{
  if (fuzz_tmp_dir == NULL)
    {
      const char *base = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir ();
      char *tmpl = g_build_filename (base, "cp-fuzz-XXXXXX", NULL);

      if (g_mkdtemp (tmpl) == NULL)
        {
          perror (tmpl);
          abort ();
        }
      fuzz_tmp_dir = tmpl;
      atexit (fuzz_tmp_cleanup);
    }
  return fuzz_tmp_dir;
}

/* Writes @size bytes to @name inside the scratch folder; the path is
 * newly allocated. */
static inline char *
fuzz_tmp_write (const char *name, const uint8_t *data, size_t size)
{
  char *path = g_build_filename (fuzz_tmp_get (), name, NULL);
  GError *error = NULL;

  if (!g_file_set_contents (path, (const char *) data, (gssize) size, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      abort ();
    }
  return path;
}
