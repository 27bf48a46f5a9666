/* image-check.c: structural checks of PNG and BMP files before decoding. */
#include "image-check.h"

#include <string.h>

#include <gio/gio.h>

#include "crc32.h"
#include "image.h"

static const guint8 png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

CpImageKind
cp_image_kind_sniff (const guint8 *data,
                     gsize         length)
{
  if (length >= sizeof png_signature && memcmp (data, png_signature, sizeof png_signature) == 0)
    return CP_IMAGE_KIND_PNG;
  if (length >= 2 && data[0] == 'B' && data[1] == 'M')
    return CP_IMAGE_KIND_BMP;
  return CP_IMAGE_KIND_OTHER;
}

/* 64-bit, so that a 32-bit field read from a header is never wrapped into
 * a small or negative int before it is checked. */
static gboolean
check_size (const char *path,
            gint64      width,
            gint64      height,
            GError    **error)
{
  if (width <= 0 || height <= 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                   "%s: image header gives an invalid size %" G_GINT64_FORMAT " x %" G_GINT64_FORMAT,
                   path, width, height);
      return FALSE;
    }
  if (width > CP_IMAGE_MAX_SIDE || height > CP_IMAGE_MAX_SIDE
      || (guint64) width * (guint64) height > CP_IMAGE_MAX_PIXELS)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE,
                   "%s: image is %" G_GINT64_FORMAT " x %" G_GINT64_FORMAT " pixels, more than the "
                   "limit of %d pixels a side and %u million pixels in all",
                   path, width, height, CP_IMAGE_MAX_SIDE, CP_IMAGE_MAX_PIXELS / 1000000u);
      return FALSE;
    }
  return TRUE;
}

gboolean
cp_image_check_dimensions (const char *path,
                           int         width,
                           int         height,
                           GError    **error)
{
  return check_size (path, width, height, error);
}

static G_GNUC_PRINTF (3, 4) gboolean
corrupt (GError    **error,
         const char *path,
         const char *format,
         ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT, "%s: %s", path, message);
  return FALSE;
}

/* ---- PNG ----------------------------------------------------------------- */

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static gboolean
png_chunk_type_valid (const guint8 *type)
{
  for (int i = 0; i < 4; i++)
    if (!g_ascii_isalpha (type[i]))
      return FALSE;
  return TRUE;
}

/* Bytes of filtered scanlines (filter byte + packed samples) a PNG of this
 * size holds after inflating: one pass, or the seven Adam7 passes. */
static guint64
png_raw_size (guint64 width,
              guint64 height,
              guint   bits_per_pixel,
              gboolean interlaced)
{
  static const struct { guint x0, y0, dx, dy; } passes[7] = {
    { 0, 0, 8, 8 }, { 4, 0, 8, 8 }, { 0, 4, 4, 8 }, { 2, 0, 4, 4 },
    { 0, 2, 2, 4 }, { 1, 0, 2, 2 }, { 0, 1, 1, 2 },
  };
  guint64 total = 0;

  if (!interlaced)
    return height * (1 + (width * bits_per_pixel + 7) / 8);
  for (int p = 0; p < 7; p++)
    {
      guint64 cols = width > passes[p].x0 ? (width - passes[p].x0 + passes[p].dx - 1) / passes[p].dx : 0;
      guint64 rows = height > passes[p].y0 ? (height - passes[p].y0 + passes[p].dy - 1) / passes[p].dy : 0;

      if (cols > 0 && rows > 0)
        total += rows * (1 + (cols * bits_per_pixel + 7) / 8);
    }
  return total;
}

typedef struct
{
  gsize offset;
  gsize length;
} Span;

/* Inflates the concatenated IDAT data into a scratch buffer, counting the
 * bytes: the stream must be valid zlib (its Adler-32 included), end, and
 * hold at least @needed bytes.  Inflating stops once @needed is passed
 * (libpng ignores extra data), so a zlib bomb costs no more than a real
 * image of this size. */
static gboolean
png_check_idat (const char   *path,
                const guint8 *data,
                const GArray *idat,
                guint64       needed,
                GError      **error)
{
  g_autoptr (GConverter) zlib = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB));
  guint8 scratch[16384];
  guint64 total = 0;

  for (guint c = 0; c < idat->len; c++)
    {
      const Span *span = &g_array_index (idat, Span, c);
      const guint8 *in = data + span->offset;
      gsize left = span->length;
      gboolean last = c + 1 == idat->len;

      for (;;)
        {
          g_autoptr (GError) local = NULL;
          gsize bytes_read = 0, bytes_written = 0;
          GConverterResult r;

          r = g_converter_convert (zlib, in, left, scratch, sizeof scratch,
                                   last ? G_CONVERTER_INPUT_AT_END : G_CONVERTER_NO_FLAGS,
                                   &bytes_read, &bytes_written, &local);
          if (r == G_CONVERTER_ERROR)
            {
              if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT) && !last)
                break;  /* the stream goes on in the next IDAT */
              if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
                return corrupt (error, path, "truncated PNG: the image data (IDAT) stops before "
                                "the end of its zlib stream (%" G_GUINT64_FORMAT " of the %"
                                G_GUINT64_FORMAT " bytes the header needs)", total, needed);
              return corrupt (error, path, "damaged PNG: the image data (IDAT) is not valid "
                              "zlib data (%s)", local->message);
            }
          in += bytes_read;
          left -= bytes_read;
          total += bytes_written;
          if (r == G_CONVERTER_FINISHED || total > needed)
            goto done;
          if (bytes_read == 0 && bytes_written == 0 && left == 0)
            break;
        }
    }
done:
  if (total < needed)
    return corrupt (error, path, "truncated PNG: the image data (IDAT) holds %" G_GUINT64_FORMAT
                    " of the %" G_GUINT64_FORMAT " bytes the header needs (rows are missing)",
                    total, needed);
  return TRUE;
}

gboolean
cp_image_check_png (const char   *path,
                    const guint8 *data,
                    gsize         length,
                    int          *width,
                    int          *height,
                    GError      **error)
{
  g_autoptr (GArray) idat = g_array_new (FALSE, FALSE, sizeof (Span));
  char previous[5] = "";
  guint64 needed = 0;
  gsize pos = sizeof png_signature;
  guint n_chunks = 0;

  if (length < sizeof png_signature || memcmp (data, png_signature, sizeof png_signature) != 0)
    return corrupt (error, path, "not a PNG file: bad signature");

  for (;;)
    {
      const guint8 *chunk = data + pos;
      guint32 n;
      char type[5];

      if (pos == length)
        {
          if (n_chunks == 0)
            return corrupt (error, path, "truncated PNG: the file ends after the signature");
          return corrupt (error, path, "truncated PNG: the file ends after chunk %s, without "
                          "an IEND chunk", previous);
        }
      if (length - pos < 8)
        return corrupt (error, path, "truncated PNG: the file ends inside a chunk header "
                        "after %s%s", n_chunks ? "chunk " : "the signature", previous);
      if (!png_chunk_type_valid (chunk + 4))
        return corrupt (error, path, "damaged PNG: chunk %u (at byte %" G_GSIZE_FORMAT ") has an "
                        "invalid type %02x %02x %02x %02x", n_chunks + 1, pos,
                        chunk[4], chunk[5], chunk[6], chunk[7]);
      memcpy (type, chunk + 4, 4);
      type[4] = '\0';
      n = be32 (chunk);
      if (n > 0x7fffffffu)
        return corrupt (error, path, "damaged PNG: chunk %s claims %u bytes, more than PNG "
                        "allows", type, n);
      if ((guint64) n + 12 > length - pos)
        return corrupt (error, path, "truncated in %s chunk: it claims %u bytes (and a 4-byte "
                        "CRC), the file holds %" G_GSIZE_FORMAT " more", type, n, length - pos - 8);
      if (cp_crc32_update (0, chunk + 4, (gsize) n + 4) != be32 (chunk + 8 + n))
        return corrupt (error, path, "damaged PNG: CRC mismatch in chunk %s", type);

      if (n_chunks == 0 && strcmp (type, "IHDR") != 0)
        return corrupt (error, path, "damaged PNG: the first chunk is %s, not IHDR", type);
      if (strcmp (type, "IHDR") == 0)
        {
          const guint8 *h = chunk + 8;
          guint32 w, ht;
          guint depth, colour, channels;
          gboolean depth_ok;

          if (n_chunks > 0)
            return corrupt (error, path, "damaged PNG: a second IHDR chunk");
          if (n != 13)
            return corrupt (error, path, "damaged PNG: the IHDR chunk is %u bytes, not 13", n);
          w = be32 (h);
          ht = be32 (h + 4);
          depth = h[8];
          colour = h[9];
          /* Over the limits: refused before anything else is looked at. */
          if (!check_size (path, w, ht, error))
            return FALSE;
          switch (colour)
            {
            case 0: channels = 1; depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
            case 3: channels = 1; depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
            case 2: channels = 3; depth_ok = depth == 8 || depth == 16; break;
            case 4: channels = 2; depth_ok = depth == 8 || depth == 16; break;
            case 6: channels = 4; depth_ok = depth == 8 || depth == 16; break;
            default: channels = 0; depth_ok = FALSE; break;
            }
          if (!depth_ok)
            return corrupt (error, path, "damaged PNG: IHDR gives bit depth %u with colour type %u, "
                            "which PNG does not allow", depth, colour);
          if (h[10] != 0 || h[11] != 0 || h[12] > 1)
            return corrupt (error, path, "damaged PNG: IHDR gives an unknown compression (%u), "
                            "filter (%u) or interlace (%u) method", h[10], h[11], h[12]);
          needed = png_raw_size (w, ht, channels * depth, h[12] == 1);
          *width = (int) w;
          *height = (int) ht;
        }
      else if (strcmp (type, "IDAT") == 0)
        {
          Span span = { pos + 8, n };

          g_array_append_val (idat, span);
        }
      else if (strcmp (type, "IEND") == 0)
        break;

      memcpy (previous, type, sizeof previous);
      n_chunks++;
      pos += (gsize) n + 12;
    }

  if (idat->len == 0)
    return corrupt (error, path, "damaged PNG: no IDAT chunk (the file holds no image data)");
  return png_check_idat (path, data, idat, needed, error);
}

/* ---- BMP ----------------------------------------------------------------- */

static guint32
le32 (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24);
}

static guint16
le16 (const guint8 *p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

gboolean
cp_image_check_bmp (const char   *path,
                    const guint8 *data,
                    gsize         length,
                    int          *width,
                    int          *height,
                    GError      **error)
{
  guint32 info_size, offset, compression = 0;
  gint64 w, h;
  guint bpp;
  guint64 row, needed;

  if (length < 18 || data[0] != 'B' || data[1] != 'M')
    return corrupt (error, path, "truncated BMP: the file ends inside its header (%" G_GSIZE_FORMAT
                    " bytes)", length);
  offset = le32 (data + 10);
  info_size = le32 (data + 14);
  /* BITMAPCOREHEADER, OS/2 2.x (16 or 64), BITMAPINFOHEADER and its V2 to V5. */
  if (info_size != 12 && info_size != 16 && info_size != 40 && info_size != 52
      && info_size != 56 && info_size != 64 && info_size != 108 && info_size != 124)
    return corrupt (error, path, "damaged BMP: unknown info header size %u", info_size);
  if (length < 14 + (gsize) info_size)
    return corrupt (error, path, "truncated BMP: the file ends inside its %u-byte info header",
                    info_size);
  if (info_size == 12)
    {
      w = le16 (data + 18);
      h = le16 (data + 20);
      bpp = le16 (data + 24);
    }
  else
    {
      w = (gint32) le32 (data + 18);
      h = (gint32) le32 (data + 22);
      bpp = le16 (data + 28);
      if (info_size >= 20)
        compression = le32 (data + 30);
    }
  /* A negative height stores the rows top-down. */
  if (!check_size (path, w, h < 0 ? -h : h, error))
    return FALSE;
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    return corrupt (error, path, "damaged BMP: %u bits per pixel", bpp);
  *width = (int) w;
  *height = (int) (h < 0 ? -h : h);

  /* BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS: rows of packed pixels, each
   * padded to 4 bytes.  (RLE data has no size known from the header.) */
  if (compression != 0 && compression != 3 && compression != 6)
    return TRUE;
  if (offset < 14 + info_size || offset > length)
    return corrupt (error, path, "damaged BMP: the pixel data offset %u is outside the file "
                    "(%" G_GSIZE_FORMAT " bytes) or inside its headers", offset, length);
  row = ((guint64) *width * bpp + 31) / 32 * 4;
  needed = row * (guint64) *height;
  if (needed > length - offset)
    return corrupt (error, path, "truncated BMP: the header claims %d x %d pixels at %u bits per "
                    "pixel, %" G_GUINT64_FORMAT " bytes of pixel data from byte %u, but the file "
                    "is %" G_GSIZE_FORMAT " bytes", *width, *height, bpp, needed, offset, length);
  return TRUE;
}
