/* crc32.h: the CRC-32 of PNG chunks (and zlib, gzip, ISO 3309). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Continues the CRC-32 @crc (0 to start) over @length bytes of @data:
 * cp_crc32_update (cp_crc32_update (0, a, n), b, m) is the CRC of a then b. */
guint32 cp_crc32_update (guint32       crc,
                         const guint8 *data,
                         gsize         length);

G_END_DECLS
