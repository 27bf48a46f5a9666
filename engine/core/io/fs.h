/* fs.h: whole-file reads with a size limit, and atomic file writes.
 *
 * Every writer of the project (models, CSV, PNG, Markdown) goes through the
 * atomic writer so that a crash, a full disk or a cancelled save never
 * leaves a half-written or emptied file behind: the bytes go to a temporary
 * file in the target's folder, which is flushed, fsynced and then renamed
 * over the target.  On any failure the temporary file is removed and an
 * existing target is left untouched.  Errors name the path and the system
 * error (strerror).
 */
#pragma once

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads all of @path into a new buffer (free() it) with a NUL byte after the
 * @size bytes (not counted), so text can be parsed in place.  A file larger
 * than @max_size bytes fails with CP_ERR_NOMEM before it is read; open and
 * read failures give CP_ERR_IO. */
CpStatus      cp_read_file         (const char  *path,
                                    size_t       max_size,
                                    void       **data,
                                    size_t      *size,
                                    CpError     *error);

/* Replaces @path with @size bytes of @data, atomically. */
CpStatus      cp_write_file_atomic (const char  *path,
                                    const void  *data,
                                    size_t       size,
                                    CpError     *error);

/* Streaming form, for writers that produce their output in pieces. */
typedef struct CpAtomicFile CpAtomicFile;

/* Creates the temporary file next to @path.  NULL with @error set when the
 * folder does not exist or is not writable. */
CpAtomicFile *cp_atomic_file_open   (const char   *path,
                                     CpError      *error);
/* Appends bytes.  After a failure the file is poisoned: commit fails too. */
CpStatus      cp_atomic_file_write  (CpAtomicFile *file,
                                     const void   *data,
                                     size_t        size,
                                     CpError      *error);
/* Flushes, fsyncs, closes and renames over the target; frees @file whatever
 * happens (on failure the temporary file is removed). */
CpStatus      cp_atomic_file_commit (CpAtomicFile *file,
                                     CpError      *error);
/* Drops the temporary file and frees @file; the target is untouched. */
void          cp_atomic_file_abort  (CpAtomicFile *file);

#ifdef __cplusplus
}
#endif
