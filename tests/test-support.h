/* test-support.h: temporary folders for the GLib-side tests.
 *
 * Engine-core tests use harness.h and no GLib; this header is for the
 * tests that link GLib (data, pipeline, localize, faults, app).
 */
#pragma once

#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

/* Removes @path and everything under it.  A symbolic link is removed, never
 * followed: a scratch tree may hold a link to data outside it (the shared
 * datasets, say), and cleaning up must not reach through it.  Best effort:
 * a missing @path is not an error, and what cannot be removed stays. */
static inline void
cp_test_remove_tree (const char *path)
{
  GStatBuf st;

  /* lstat, not stat: a link to a folder reports a link here, not a folder. */
  if (g_lstat (path, &st) != 0)
    return;

  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          cp_test_remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

/* A new folder in the system's temporary folder, named from @tmpl (which
 * ends in XXXXXX, as for g_dir_make_tmp); free it with g_free.  Aborts
 * with the reason when none can be made: no test can go on without it. */
static inline char *
cp_test_make_tmp_dir (const char *tmpl)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp (tmpl, &error);

  if (dir == NULL)
    g_error ("cannot make a temporary folder from %s: %s", tmpl, error->message);
  return dir;
}
