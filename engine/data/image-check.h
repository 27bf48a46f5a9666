/* image-check.h: structural checks of PNG and BMP files before GdkPixbuf
 * decodes them.
 *
 * GdkPixbuf's loaders are lenient: a PNG cut off inside its image data, or
 * whose zlib stream is short, decodes with grey rows and no error; a BMP
 * whose pixel array is missing decodes from whatever follows; a BMP header
 * with an absurd header size makes the loader reserve gigabytes.  These
 * checks read only the bytes already in memory and refuse such files with
 * a CP_DATA_ERROR_CORRUPT message naming the file and the problem.  JPEG
 * and TIFF are left to their decoders (image.c checks that a JPEG reaches
 * its end marker).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CP_IMAGE_KIND_OTHER,   /* not checked here */
  CP_IMAGE_KIND_PNG,     /* starts with the PNG signature */
  CP_IMAGE_KIND_BMP,     /* starts with "BM" */
} CpImageKind;

/* The kind of file @data holds, from its first bytes. */
CpImageKind cp_image_kind_sniff      (const guint8 *data,
                                      gsize         length);

/* Refuses a size that is not positive (CP_DATA_ERROR_CORRUPT) or over
 * CP_IMAGE_MAX_SIDE / CP_IMAGE_MAX_PIXELS (CP_DATA_ERROR_TOO_LARGE). */
gboolean    cp_image_check_dimensions (const char *path,
                                       int         width,
                                       int         height,
                                       GError    **error);

/* Walks the chunks of a PNG file: the signature, every chunk's length
 * within the file and its CRC-32, IHDR first with a valid size, bit depth
 * and colour type (dimensions checked as cp_image_check_dimensions() does),
 * at least one IDAT, and IEND.  The IDAT stream is inflated (without
 * keeping the output) to check that it is valid zlib data, ends, and holds
 * every row the header announces.  Sets @width and @height from IHDR. */
gboolean    cp_image_check_png       (const char   *path,
                                      const guint8 *data,
                                      gsize         length,
                                      int          *width,
                                      int          *height,
                                      GError      **error);

/* Checks a BMP file header and info header: a known info-header size, a
 * valid size (checked as cp_image_check_dimensions() does), bits per pixel
 * and, for uncompressed (BI_RGB) and BI_BITFIELDS files, that the pixel
 * array the header claims (rows padded to 4 bytes) lies within the file.
 * Run-length-encoded BMPs are left to the decoder past the header checks.
 * Sets @width and @height (the absolute height; negative means top-down). */
gboolean    cp_image_check_bmp       (const char   *path,
                                      const guint8 *data,
                                      gsize         length,
                                      int          *width,
                                      int          *height,
                                      GError      **error);

G_END_DECLS
