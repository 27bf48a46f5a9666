/* file-hash.h: SHA-256 of files and buffers, as lowercase hex.
 *
 * A part on the line is known by the hash of its bytes (the same name with
 * new bytes is a new part), a model by the hash of its file (a refit or a
 * stored threshold makes a new model), and an image added to a good set by
 * the hash of its content.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* 64 hex digits of the SHA-256 of @length bytes at @data (newly allocated). */
char     *cp_sha256_hex       (const void *data,
                               gsize       length);

/* The SHA-256 of the file at @path, read in blocks (a model file of tens
 * of megabytes is never held whole).  NULL with a CP_DATA_ERROR_IO error
 * naming the file when it cannot be read. */
char     *cp_file_sha256      (const char *path,
                               GError    **error);

G_END_DECLS
