/* move.h: moving a recorded part's file into the pass or fail folder
 * without ever losing it.
 *
 * Within one file system a move is a rename (atomic).  Across file
 * systems the bytes are copied to a hidden temporary file in the target
 * folder, fsynced, renamed to the target name, and only then is the
 * source deleted: a crash at any point leaves the part in the source
 * folder, in the target folder, or in both, never in neither.  A target
 * that already holds the same bytes (an earlier move that was cut short)
 * counts as done: the source is deleted.  A target with other bytes is
 * never overwritten.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where a part with content hash @sha256 named like @path goes in @dir:
 * DIR/NAME, or DIR/STEM-<first 8 hex digits>.EXT when DIR/NAME holds other
 * bytes (newly allocated). */
char     *cp_line_move_target (const char *path,
                               const char *dir,
                               const char *sha256);

/* Moves @from to @to (see above).  Errors name both paths. */
gboolean  cp_line_move_file   (const char  *from,
                               const char  *to,
                               const char  *sha256,
                               GError     **error);

G_END_DECLS
