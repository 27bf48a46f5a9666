/* png-write.h: a small deterministic PNG encoder.
 *
 * GdkPixbuf can only save 8-bit RGB(A); ground-truth masks are one-channel
 * images in MVTec AD, and generated datasets must be byte-identical for a
 * seed, so we encode PNG ourselves (zlib through GIO's GZlibCompressor) and
 * write it atomically.
 */
#pragma once

#include <stdint.h>

#include <glib.h>

G_BEGIN_DECLS

/* Encodes an 8-bit image with @channels = 1 (grey) or 3 (RGB) into a new
 * PNG byte array. */
GBytes  *cp_png_encode (const uint8_t *pixels,
                        int            width,
                        int            height,
                        int            stride,
                        int            channels,
                        GError       **error);

/* Encodes and writes @path atomically (temporary file in the same folder,
 * then rename). */
gboolean cp_png_write  (const char    *path,
                        const uint8_t *pixels,
                        int            width,
                        int            height,
                        int            stride,
                        int            channels,
                        GError       **error);

G_END_DECLS
