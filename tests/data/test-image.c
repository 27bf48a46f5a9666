/* test-image.c: decoding (formats, grey, alpha, 16-bit, bad files), the
 * PIL-compatible resizes, normalisation and masks. */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "data/image.h"
#include "data/png-write.h"

static char *tmp_dir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* ---- an independent PNG writer: stored (uncompressed) deflate blocks, so
 * it shares no code with png-write.c and can emit 16-bit samples. ------- */

static guint32
crc32_bytes (guint32 crc, const guint8 *p, gsize n)
{
  crc = ~crc;
  for (gsize i = 0; i < n; i++)
    {
      crc ^= p[i];
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
  return ~crc;
}

static void
be32 (GByteArray *a, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append (a, b, 4);
}

static void
chunk (GByteArray *out, const char *type, const guint8 *data, gsize n)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();

  g_byte_array_append (body, (const guint8 *) type, 4);
  if (n)
    g_byte_array_append (body, data, (guint) n);
  be32 (out, (guint32) n);
  g_byte_array_append (out, body->data, body->len);
  be32 (out, crc32_bytes (0, body->data, body->len));
}

/* @samples: width * height * channels values, each < 2^depth. */
static GBytes *
png_stored (int width, int height, int depth, int colour_type, const guint16 *samples)
{
  int channels = colour_type == 0 ? 1 : colour_type == 2 ? 3 : colour_type == 4 ? 2 : 4;
  int bps = depth / 8;
  g_autoptr (GByteArray) raw = g_byte_array_new ();
  g_autoptr (GByteArray) z = g_byte_array_new ();
  GByteArray *out = g_byte_array_new ();
  guint32 s1 = 1, s2 = 0;
  guint8 ihdr[13] = { 0 };

  for (int y = 0; y < height; y++)
    {
      guint8 zero = 0;
      g_byte_array_append (raw, &zero, 1);
      for (int i = 0; i < width * channels; i++)
        {
          guint16 v = samples[(gsize) y * width * channels + i];
          guint8 b[2] = { v >> 8, v & 255 };
          g_byte_array_append (raw, bps == 2 ? b : b + 1, bps);
        }
    }
  for (guint i = 0; i < raw->len; i++)
    {
      s1 = (s1 + raw->data[i]) % 65521;
      s2 = (s2 + s1) % 65521;
    }
  {
    guint8 hdr[2] = { 0x78, 0x01 };
    g_byte_array_append (z, hdr, 2);
  }
  for (guint pos = 0; pos < raw->len || pos == 0;)
    {
      guint n = MIN (65535u, raw->len - pos);
      guint8 h[5] = { pos + n >= raw->len, n & 255, n >> 8, ~n & 255, (~n >> 8) & 255 };
      g_byte_array_append (z, h, 5);
      g_byte_array_append (z, raw->data + pos, n);
      pos += n;
      if (pos >= raw->len)
        break;
    }
  be32 (z, (s2 << 16) | s1);

  g_byte_array_append (out, (const guint8 *) "\x89PNG\r\n\x1a\n", 8);
  ihdr[0] = width >> 24; ihdr[1] = width >> 16; ihdr[2] = width >> 8; ihdr[3] = width;
  ihdr[4] = height >> 24; ihdr[5] = height >> 16; ihdr[6] = height >> 8; ihdr[7] = height;
  ihdr[8] = depth;
  ihdr[9] = colour_type;
  chunk (out, "IHDR", ihdr, 13);
  chunk (out, "IDAT", z->data, z->len);
  chunk (out, "IEND", NULL, 0);
  return g_byte_array_free_to_bytes (out);
}

static char *
write_bytes (const char *name, GBytes *bytes)
{
  char *path = tmp_path (name);
  gsize n;
  const char *data = g_bytes_get_data (bytes, &n);

  g_assert_true (g_file_set_contents (path, data, (gssize) n, NULL));
  return path;
}

static gboolean pattern_smooth;

/* Sharp per-channel detail for lossless formats; a smooth ramp for JPEG,
 * whose chroma subsampling would otherwise dominate the comparison. */
static guint8
pattern (int x, int y, int c)
{
  if (pattern_smooth)
    return (guint8) (x * 2 + y * 2 + c * 40);
  return (guint8) ((x * 37 + y * 11 + c * 85 + ((x ^ y) & 7) * 13) & 255);
}

static GdkPixbuf *
pattern_pixbuf (int width, int height)
{
  GdkPixbuf *pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guint8 *p = gdk_pixbuf_get_pixels (pb);
  int stride = gdk_pixbuf_get_rowstride (pb);

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      for (int c = 0; c < 3; c++)
        p[y * stride + x * 3 + c] = pattern (x, y, c);
  return pb;
}

/* ---- formats ---------------------------------------------------------- */

static void
check_pattern (const CpImage *img, int width, int height, int tolerance, double mean_tolerance)
{
  double sum = 0.0;
  int worst = 0;

  g_assert_nonnull (img);
  g_assert_cmpint (img->width, ==, width);
  g_assert_cmpint (img->height, ==, height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      for (int c = 0; c < 3; c++)
        {
          int d = abs ((int) img->pixels[y * img->stride + x * 3 + c] - pattern (x, y, c));
          worst = MAX (worst, d);
          sum += d;
        }
  g_assert_cmpint (worst, <=, tolerance);
  g_assert_cmpfloat (sum / (width * height * 3), <=, mean_tolerance);
}

static void
test_formats (void)
{
  const struct { const char *type, *name; int tol; double mean_tol; } cases[] = {
    { "png", "pattern.png", 0, 0.0 },
    { "bmp", "pattern.bmp", 0, 0.0 },
    { "tiff", "pattern.tif", 0, 0.0 },
    /* JPEG is lossy even at quality 100. */
    { "jpeg", "pattern.jpg", 6, 1.5 },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = tmp_path (cases[i].name);
      g_autoptr (GError) error = NULL;
      g_autoptr (CpImage) img = NULL;
      g_autoptr (GdkPixbuf) pb = NULL;
      gboolean saved;

      pattern_smooth = strcmp (cases[i].type, "jpeg") == 0;
      pb = pattern_pixbuf (45, 31);

      if (strcmp (cases[i].type, "jpeg") == 0)
        saved = gdk_pixbuf_save (pb, path, "jpeg", &error, "quality", "100", NULL);
      else
        saved = gdk_pixbuf_save (pb, path, cases[i].type, &error, NULL);
      g_assert_no_error (error);
      g_assert_true (saved);
      g_assert_true (cp_image_load (path, &img, &error));
      g_assert_no_error (error);
      g_test_message ("%s loaded", cases[i].type);
      check_pattern (img, 45, 31, cases[i].tol, cases[i].mean_tol);
    }
  pattern_smooth = FALSE;
}

static void
test_grey_and_alpha (void)
{
  int w = 13, h = 9;
  g_autofree guint16 *grey = g_new (guint16, w * h);
  g_autofree guint16 *rgba = g_new (guint16, w * h * 4);
  g_autoptr (GBytes) grey_png = NULL;
  g_autoptr (GBytes) rgba_png = NULL;
  g_autofree char *grey_path = NULL;
  g_autofree char *rgba_path = NULL;
  g_autoptr (CpImage) a = NULL;
  g_autoptr (CpImage) b = NULL;
  g_autoptr (GError) error = NULL;

  for (int i = 0; i < w * h; i++)
    {
      grey[i] = (guint16) ((i * 29) & 255);
      for (int c = 0; c < 3; c++)
        rgba[i * 4 + c] = (guint16) ((i * 7 + c * 50) & 255);
      /* Transparent, half and opaque pixels: none may change colour. */
      rgba[i * 4 + 3] = (guint16) (i % 3 == 0 ? 0 : i % 3 == 1 ? 128 : 255);
    }
  grey_png = png_stored (w, h, 8, 0, grey);
  rgba_png = png_stored (w, h, 8, 6, rgba);
  grey_path = write_bytes ("grey.png", grey_png);
  rgba_path = write_bytes ("rgba.png", rgba_png);

  g_assert_true (cp_image_load (grey_path, &a, &error));
  g_assert_no_error (error);
  for (int i = 0; i < w * h; i++)
    for (int c = 0; c < 3; c++)
      g_assert_cmpuint (a->pixels[(i / w) * a->stride + (i % w) * 3 + c], ==, grey[i]);

  g_assert_true (cp_image_load (rgba_path, &b, &error));
  g_assert_no_error (error);
  for (int i = 0; i < w * h; i++)
    for (int c = 0; c < 3; c++)
      g_assert_cmpuint (b->pixels[(i / w) * b->stride + (i % w) * 3 + c], ==, rgba[i * 4 + c]);

  /* Grey with alpha: grey replicated, alpha dropped. */
  {
    g_autofree guint16 *ga = g_new (guint16, w * h * 2);
    g_autoptr (GBytes) ga_png = NULL;
    g_autofree char *ga_path = NULL;
    g_autoptr (CpImage) g = NULL;

    for (int i = 0; i < w * h; i++)
      {
        ga[i * 2] = (guint16) ((i * 53) & 255);
        ga[i * 2 + 1] = (guint16) (i % 2 ? 0 : 200);
      }
    ga_png = png_stored (w, h, 8, 4, ga);
    ga_path = write_bytes ("grey-alpha.png", ga_png);
    g_assert_true (cp_image_load (ga_path, &g, &error));
    g_assert_no_error (error);
    for (int i = 0; i < w * h; i++)
      for (int c = 0; c < 3; c++)
        g_assert_cmpuint (g->pixels[(i / w) * g->stride + (i % w) * 3 + c], ==, ga[i * 2]);
  }
}

/* 16-bit files arrive as 8-bit: the high byte (libpng's strip-16) or the
 * rounded value; either is within one level of v / 257. */
static void
check_16bit (const CpImage *img, int w, int h, int channels, const guint16 *samples)
{
  g_assert_cmpint (img->width, ==, w);
  g_assert_cmpint (img->height, ==, h);
  for (int i = 0; i < w * h; i++)
    for (int c = 0; c < 3; c++)
      {
        double expect = samples[i * channels + (channels == 1 ? 0 : c)] / 257.0;
        double got = img->pixels[(i / w) * img->stride + (i % w) * 3 + c];
        g_assert_cmpfloat (fabs (got - expect), <=, 1.0);
      }
}

static void
test_16bit (void)
{
  int w = 11, h = 7;
  g_autofree guint16 *rgb = g_new (guint16, w * h * 3);
  g_autofree guint16 *grey = g_new (guint16, w * h);
  g_autoptr (GBytes) rgb_png = NULL;
  g_autoptr (GBytes) grey_png = NULL;
  g_autofree char *rgb_path = NULL;
  g_autofree char *grey_path = NULL;
  g_autofree char *tif_path = NULL;
  g_autoptr (CpImage) a = NULL;
  g_autoptr (CpImage) b = NULL;
  g_autoptr (CpImage) t = NULL;
  g_autoptr (GError) error = NULL;
  guint16 tif_samples[8 * 6 * 3];

  for (int i = 0; i < w * h; i++)
    {
      grey[i] = (guint16) ((i * 4099u) & 0xffff);
      for (int c = 0; c < 3; c++)
        rgb[i * 3 + c] = (guint16) ((i * 977u + c * 21011u) & 0xffff);
    }
  rgb_png = png_stored (w, h, 16, 2, rgb);
  grey_png = png_stored (w, h, 16, 0, grey);
  rgb_path = write_bytes ("rgb16.png", rgb_png);
  grey_path = write_bytes ("grey16.png", grey_png);

  g_assert_true (cp_image_load (rgb_path, &a, &error));
  g_assert_no_error (error);
  check_16bit (a, w, h, 3, rgb);
  g_assert_true (cp_image_load (grey_path, &b, &error));
  g_assert_no_error (error);
  check_16bit (b, w, h, 1, grey);

  /* A 16-bit TIFF written by ImageMagick (make-fixtures.py). */
  for (int y = 0; y < 6; y++)
    for (int x = 0; x < 8; x++)
      for (int c = 0; c < 3; c++)
        tif_samples[(y * 8 + x) * 3 + c] = (guint16) ((x * 7919 + y * 104729 + c * 31337) % 65536);
  tif_path = g_build_filename (g_getenv ("CP_SOURCE_ROOT") ? g_getenv ("CP_SOURCE_ROOT") : "..",
                               "tests", "data", "fixtures", "rgb16.tif", NULL);
  g_assert_true (cp_image_load (tif_path, &t, &error));
  g_assert_no_error (error);
  check_16bit (t, 8, 6, 3, tif_samples);
}

/* ---- bad files ---------------------------------------------------------- */

static void
expect_failure (const char *path, CpDataError code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  CpImage *img = NULL;

  g_assert_false (cp_image_load (path, &img, &error));
  g_assert_null (img);
  g_assert_error (error, CP_DATA_ERROR, (gint) code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  if (needle != NULL)
    g_assert_nonnull (strstr (error->message, needle));
}

static char *
write_file (const char *name, const void *data, gsize n)
{
  char *path = tmp_path (name);

  g_assert_true (g_file_set_contents (path, data, (gssize) n, NULL));
  return path;
}

static void
test_bad_files (void)
{
  g_autoptr (GdkPixbuf) pb = pattern_pixbuf (120, 90);
  g_autofree char *missing = tmp_path ("no-such-file.png");
  g_autofree char *text = write_file ("text.png", "hello, not an image\n", 20);
  g_autofree char *empty = write_file ("empty.png", "", 0);
  g_autofree char *png_data = NULL;
  g_autofree char *jpg_data = NULL;
  gsize png_len = 0, jpg_len = 0;
  g_autofree char *trunc_png = NULL;
  g_autofree char *trunc_jpg = NULL;
  g_autofree char *bad_crc = NULL;

  expect_failure (missing, CP_DATA_ERROR_IO, NULL);
  expect_failure (tmp_dir, CP_DATA_ERROR_IO, "folder");
  expect_failure (text, CP_DATA_ERROR_NOT_IMAGE, "not an image");
  expect_failure (empty, CP_DATA_ERROR_CORRUPT, "empty");

  g_assert_true (gdk_pixbuf_save_to_buffer (pb, &png_data, &png_len, "png", NULL, NULL));
  g_assert_true (gdk_pixbuf_save_to_buffer (pb, &jpg_data, &jpg_len, "jpeg", NULL, NULL));
  trunc_png = write_file ("truncated.png", png_data, png_len / 2);
  trunc_jpg = write_file ("truncated.jpg", jpg_data, jpg_len / 2);
  expect_failure (trunc_png, CP_DATA_ERROR_CORRUPT, NULL);
  expect_failure (trunc_jpg, CP_DATA_ERROR_CORRUPT, NULL);

  /* Flip bytes in the middle of the image data: the chunk CRC fails. */
  for (gsize i = png_len / 2; i < png_len / 2 + 16; i++)
    png_data[i] ^= 0x5a;
  bad_crc = write_file ("corrupt.png", png_data, png_len);
  expect_failure (bad_crc, CP_DATA_ERROR_CORRUPT, NULL);
}

/* A PNG whose header claims @w x @h but holds almost no data: it must be
 * refused from the header, before any pixel memory is allocated. */
static void
test_huge_header (void)
{
  const struct { guint32 w, h; } cases[] = { { 100000, 100000 }, { 20000, 10 }, { 12000, 12000 } };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GByteArray) png = g_byte_array_new ();
      guint8 ihdr[13] = { 0 };
      guint8 idat[] = { 0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01 };
      g_autofree char *name = g_strdup_printf ("huge-%u.png", cases[i].w);
      g_autofree char *path = NULL;
      g_autofree char *dims = g_strdup_printf ("%u x %u", cases[i].w, cases[i].h);

      g_byte_array_append (png, (const guint8 *) "\x89PNG\r\n\x1a\n", 8);
      ihdr[0] = cases[i].w >> 24; ihdr[1] = cases[i].w >> 16; ihdr[2] = cases[i].w >> 8; ihdr[3] = cases[i].w;
      ihdr[4] = cases[i].h >> 24; ihdr[5] = cases[i].h >> 16; ihdr[6] = cases[i].h >> 8; ihdr[7] = cases[i].h;
      ihdr[8] = 8;
      ihdr[9] = 2;
      chunk (png, "IHDR", ihdr, 13);
      chunk (png, "IDAT", idat, sizeof idat);
      chunk (png, "IEND", NULL, 0);
      path = write_file (name, png->data, png->len);
      expect_failure (path, CP_DATA_ERROR_TOO_LARGE, dims);
    }
}

/* ---- damaged PNG and BMP files (engine/data/image-check.c) -------------- */

/* Offset of the first chunk of @type in a PNG, or -1. */
static gssize
find_chunk (const guint8 *png, gsize n, const char *type)
{
  gsize pos = 8;

  while (pos + 12 <= n)
    {
      guint32 len = ((guint32) png[pos] << 24) | ((guint32) png[pos + 1] << 16)
                    | ((guint32) png[pos + 2] << 8) | png[pos + 3];

      if (memcmp (png + pos + 4, type, 4) == 0)
        return (gssize) pos;
      pos += 12 + (gsize) len;
    }
  return -1;
}

static void
expect_loads (const char *path, int width, int height)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpImage) img = NULL;

  g_assert_true (cp_image_load (path, &img, &error));
  g_assert_no_error (error);
  g_assert_cmpint (img->width, ==, width);
  g_assert_cmpint (img->height, ==, height);
}

/* GdkPixbuf decodes these with grey rows or garbage and no error; the
 * chunk walk, CRCs and the inflated size refuse them. */
static void
test_damaged_png (void)
{
  g_autoptr (GdkPixbuf) pb = pattern_pixbuf (120, 90);
  g_autofree guint8 *png = NULL;
  g_autofree guint8 *work = NULL;
  g_autofree char *good = NULL;
  gsize n = 0;
  gssize ihdr, idat, iend;
  guint32 idat_len;

  g_assert_true (gdk_pixbuf_save_to_buffer (pb, (char **) &png, &n, "png", NULL, NULL));
  ihdr = find_chunk (png, n, "IHDR");
  idat = find_chunk (png, n, "IDAT");
  iend = find_chunk (png, n, "IEND");
  g_assert_cmpint (ihdr, ==, 8);
  g_assert_cmpint (idat, >, 0);
  g_assert_cmpint (iend, >, idat);
  idat_len = ((guint32) png[idat] << 24) | ((guint32) png[idat + 1] << 16)
             | ((guint32) png[idat + 2] << 8) | png[idat + 3];
  good = write_file ("good.png", png, n);
  expect_loads (good, 120, 90);

  /* Cut in the middle of the image data. */
  {
    g_autofree char *path = write_file ("cut-in-idat.png", png, idat + 8 + idat_len / 2);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "truncated in IDAT chunk");
  }
  /* Cut inside the IHDR chunk. */
  {
    g_autofree char *path = write_file ("cut-in-ihdr.png", png, 20);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "truncated in IHDR chunk");
  }
  /* Every chunk there, but IEND cut off. */
  {
    g_autofree char *path = write_file ("no-iend.png", png, iend);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "without an IEND chunk");
  }
  /* One flipped byte in IHDR (the width), one in the image data. */
  work = g_memdup2 (png, n);
  work[ihdr + 8 + 3] ^= 0x01;
  {
    g_autofree char *path = write_file ("flip-ihdr.png", work, n);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "CRC mismatch in chunk IHDR");
  }
  memcpy (work, png, n);
  work[idat + 8 + idat_len / 2] ^= 0x40;
  {
    g_autofree char *path = write_file ("flip-idat.png", work, n);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "CRC mismatch in chunk IDAT");
  }
}

/* Damage with valid CRCs: only inflating the image data finds it. */
static void
test_damaged_png_data (void)
{
  guint16 samples[8 * 8 * 3];
  g_autoptr (GBytes) full = NULL;
  g_autoptr (GBytes) half = NULL;
  const guint8 *f, *h;
  gsize fn, hn;
  guint8 ihdr[13];

  for (gsize i = 0; i < G_N_ELEMENTS (samples); i++)
    samples[i] = (guint16) (i * 7 & 255);
  full = png_stored (8, 8, 8, 2, samples);
  half = png_stored (8, 3, 8, 2, samples);
  f = g_bytes_get_data (full, &fn);
  h = g_bytes_get_data (half, &hn);
  {
    g_autofree char *path = write_file ("stored-full.png", f, fn);
    expect_loads (path, 8, 8);
  }
  /* The header of the 8-row image over the data of 3 rows. */
  memcpy (ihdr, f + 16, 13);
  {
    g_autoptr (GByteArray) png = g_byte_array_new ();
    gssize idat = find_chunk (h, hn, "IDAT");
    g_autofree char *path = NULL;

    g_byte_array_append (png, f, 8);
    chunk (png, "IHDR", ihdr, 13);
    g_byte_array_append (png, h + idat, (guint) (hn - (gsize) idat));
    path = write_file ("short-idat.png", png->data, png->len);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "rows are missing");
  }
  /* Not zlib at all. */
  {
    g_autoptr (GByteArray) png = g_byte_array_new ();
    const guint8 junk[] = { 0x78, 0x9c, 0xff, 0xff, 0xff };
    g_autofree char *path = NULL;

    g_byte_array_append (png, f, 8);
    chunk (png, "IHDR", ihdr, 13);
    chunk (png, "IDAT", junk, sizeof junk);
    chunk (png, "IEND", NULL, 0);
    path = write_file ("bad-zlib.png", png->data, png->len);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "not valid zlib data");
  }
  /* No image data. */
  {
    g_autoptr (GByteArray) png = g_byte_array_new ();
    g_autofree char *path = NULL;

    g_byte_array_append (png, f, 8);
    chunk (png, "IHDR", ihdr, 13);
    chunk (png, "IEND", NULL, 0);
    path = write_file ("no-idat.png", png->data, png->len);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "no IDAT chunk");
  }
  /* A colour type PNG does not have. */
  {
    g_autoptr (GByteArray) png = g_byte_array_new ();
    gssize idat = find_chunk (f, fn, "IDAT");
    g_autofree char *path = NULL;

    ihdr[9] = 5;
    g_byte_array_append (png, f, 8);
    chunk (png, "IHDR", ihdr, 13);
    g_byte_array_append (png, f + idat, (guint) (fn - (gsize) idat));
    path = write_file ("colour-type-5.png", png->data, png->len);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "colour type 5");
  }
}

static GByteArray *
bmp_header (guint32 info_size, gint32 width, gint32 height, guint16 bpp, guint32 data_bytes)
{
  GByteArray *b = g_byte_array_new ();
  guint8 h[54] = { 'B', 'M' };
  guint32 file_size = 54 + data_bytes;

  memcpy (h + 2, &file_size, 4);     /* little-endian host (x86, arm) */
  h[10] = 54;
  memcpy (h + 14, &info_size, 4);
  memcpy (h + 18, &width, 4);
  memcpy (h + 22, &height, 4);
  h[26] = 1;
  memcpy (h + 28, &bpp, 2);
  g_byte_array_append (b, h, sizeof h);
  return b;
}

static void
test_damaged_bmp (void)
{
  g_autoptr (GdkPixbuf) pb = pattern_pixbuf (30, 20);
  g_autofree char *bmp = NULL;
  gsize n = 0;

  g_assert_cmpuint (G_BYTE_ORDER, ==, G_LITTLE_ENDIAN);
  g_assert_true (gdk_pixbuf_save_to_buffer (pb, &bmp, &n, "bmp", NULL, NULL));
  {
    g_autofree char *path = write_file ("good.bmp", bmp, n);
    g_autoptr (GError) error = NULL;
    g_autoptr (CpImage) img = NULL;

    g_assert_true (cp_image_load (path, &img, &error));
    g_assert_no_error (error);
    check_pattern (img, 30, 20, 0, 0.0);
  }
  /* Half the pixel rows missing. */
  {
    g_autofree char *path = write_file ("cut.bmp", bmp, n / 2);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "truncated BMP");
  }
  /* 55 bytes claiming 4000 x 3000 pixels of 24 bits. */
  {
    g_autoptr (GByteArray) b = bmp_header (40, 4000, 3000, 24, 1);
    g_autofree char *path = NULL;
    guint8 one = 0x80;

    g_byte_array_append (b, &one, 1);
    g_assert_cmpuint (b->len, ==, 55);
    path = write_file ("claims-4000x3000.bmp", b->data, b->len);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "4000 x 3000 pixels at 24 bits per pixel");
  }
  /* 55 bytes whose info header claims 3.8 GB (GdkPixbuf reserved that). */
  {
    g_autoptr (GByteArray) b = bmp_header (3875536936u, 4, 4, 24, 1);
    g_autofree char *path = NULL;
    guint8 one = 0x80;

    g_byte_array_append (b, &one, 1);
    path = write_file ("header-size.bmp", b->data, b->len);
    expect_failure (path, CP_DATA_ERROR_CORRUPT, "unknown info header size 3875536936");
  }
  /* Top-down rows (negative height), complete: loads. */
  {
    g_autoptr (GByteArray) b = bmp_header (40, 4, -3, 24, 36);
    g_autofree char *path = NULL;
    guint8 px[36] = { 0 };

    g_byte_array_append (b, px, sizeof px);
    path = write_file ("top-down.bmp", b->data, b->len);
    expect_loads (path, 4, 3);
  }
}

/* A real dataset image still loads through the checks. */
static void
test_shared_png (void)
{
  const char *shared = g_getenv ("CP_SHARED_DIR");
  g_autofree char *path = g_build_filename (shared ? shared : "../shared", "datasets", "pcb",
                                            "train", "good", "000.png", NULL);

  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the shared pcb dataset is not here (CP_SHARED_DIR)");
      return;
    }
  expect_loads (path, 256, 256);
}

/* ---- resizing against PIL ------------------------------------------------ */

static const struct { int sw, sh, dw, dh; } resize_cases[] = {
  { 97, 61, 32, 32 },
  { 97, 61, 130, 90 },
  { 97, 61, 40, 61 },
  { 97, 61, 97, 23 },
  { 150, 150, 128, 128 },
  { 61, 97, 7, 5 },
  { 64, 48, 64, 48 },
};

/* Same formula as make-fixtures.py. */
static guint8
source_pixel (int x, int y, int c)
{
  guint32 h = (guint32) ((guint64) x * 2654435761u) ^ (guint32) (y * 40503) ^ (guint32) (c * 97);

  h = (h >> 13) ^ h;
  if (((x / 5) + (y / 7)) % 3 == 0)
    return (h >> 3) & 255;
  return (guint8) ((x * 3 + y * 2 + c * 60 + (((x / 9 + y / 9) % 2) ? 255 : 0)) & 255);
}

static void
compare_with_pil (gboolean bicubic)
{
  g_autofree char *fixture = NULL;
  g_autofree char *expected = NULL;
  g_autoptr (GError) error = NULL;
  gsize len = 0, offset = 0;
  const char *root = g_getenv ("CP_SOURCE_ROOT");

  fixture = g_build_filename (root ? root : "..", "tests", "data", "fixtures", "resize-pil.bin", NULL);
  g_assert_true (g_file_get_contents (fixture, &expected, &len, &error));
  g_assert_no_error (error);

  for (size_t i = 0; i < G_N_ELEMENTS (resize_cases); i++)
    {
      int sw = resize_cases[i].sw, sh = resize_cases[i].sh;
      int dw = resize_cases[i].dw, dh = resize_cases[i].dh;
      gsize n = (gsize) dw * dh * 3;
      g_autofree guint8 *src = g_new (guint8, (gsize) sh * (sw * 3 + 1));
      g_autofree guint8 *dst = g_new (guint8, n);
      const guint8 *want;
      int mismatches = 0, worst = 0;

      /* A stride wider than the row, to prove strides are honoured. */
      for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++)
          for (int c = 0; c < 3; c++)
            src[(gsize) y * (sw * 3 + 1) + x * 3 + c] = source_pixel (x, y, c);
      g_assert_cmpuint (offset + 2 * n, <=, len);
      want = (const guint8 *) expected + offset + (bicubic ? 0 : n);
      if (bicubic)
        cp_resize_bicubic_u8 (src, sw, sh, sw * 3 + 1, 3, dst, dw, dh, dw * 3);
      else
        cp_resize_nearest_u8 (src, sw, sh, sw * 3 + 1, 3, dst, dw, dh, dw * 3);
      for (gsize j = 0; j < n; j++)
        if (dst[j] != want[j])
          {
            mismatches++;
            worst = MAX (worst, abs ((int) dst[j] - (int) want[j]));
          }
      g_test_message ("%s %dx%d -> %dx%d: %d of %zu samples differ from PIL (worst %d)",
                      bicubic ? "bicubic" : "nearest", sw, sh, dw, dh, mismatches, n, worst);
      g_assert_cmpint (mismatches, ==, 0);
      offset += 2 * n;
    }
  g_assert_cmpuint (offset, ==, len);
}

static void
test_resize_bicubic_pil (void)
{
  compare_with_pil (TRUE);
}

static void
test_resize_nearest_pil (void)
{
  compare_with_pil (FALSE);
}

/* One channel works as each of three channels does. */
static void
test_resize_channels (void)
{
  int sw = 50, sh = 40, dw = 23, dh = 71;
  g_autofree guint8 *rgb = g_new (guint8, sw * sh * 3);
  g_autofree guint8 *grey = g_new (guint8, sw * sh);
  g_autofree guint8 *out_rgb = g_new (guint8, dw * dh * 3);
  g_autofree guint8 *out_grey = g_new (guint8, dw * dh);

  for (int i = 0; i < sw * sh; i++)
    for (int c = 0; c < 3; c++)
      rgb[i * 3 + c] = source_pixel (i % sw, i / sw, c);
  for (int c = 0; c < 3; c++)
    {
      for (int i = 0; i < sw * sh; i++)
        grey[i] = rgb[i * 3 + c];
      cp_resize_bicubic_u8 (rgb, sw, sh, sw * 3, 3, out_rgb, dw, dh, dw * 3);
      cp_resize_bicubic_u8 (grey, sw, sh, sw, 1, out_grey, dw, dh, dw);
      for (int i = 0; i < dw * dh; i++)
        g_assert_cmpuint (out_grey[i], ==, out_rgb[i * 3 + c]);
    }
}

static void
test_load_resized (void)
{
  g_autoptr (GdkPixbuf) pb = pattern_pixbuf (300, 200);
  g_autofree char *path = tmp_path ("big.png");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpImage) full = NULL;
  g_autoptr (CpImage) resized = NULL;
  g_autoptr (CpImage) expect = NULL;

  g_assert_true (gdk_pixbuf_save (pb, path, "png", NULL, NULL));
  g_assert_true (cp_image_load (path, &full, &error));
  g_assert_true (cp_image_load_resized (path, 64, &resized, &error));
  g_assert_no_error (error);
  expect = cp_image_resize_bicubic (full, 64, 64);
  g_assert_cmpint (resized->width, ==, 64);
  g_assert_cmpint (resized->height, ==, 64);
  g_assert_cmpmem (resized->pixels, 64 * 64 * 3, expect->pixels, 64 * 64 * 3);
  {
    CpImage *none = NULL;

    g_assert_false (cp_image_load_resized (path, 0, &none, &error));
    g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID);
    g_assert_null (none);
  }
}

/* ---- decoding from memory ----------------------------------------------- */

/* cp_image_decode () on a file's bytes gives what cp_image_load () gives on
 * the file, and refuses bad bytes with the same error code, naming the
 * name it was given. */
static void
check_decode_matches_load (const char *path)
{
  g_autofree char *data = NULL;
  gsize length = 0;
  g_autoptr (GError) file_error = NULL;
  g_autoptr (GError) mem_error = NULL;
  g_autoptr (CpImage) from_file = NULL;
  g_autoptr (CpImage) from_memory = NULL;
  gboolean file_ok, mem_ok;

  g_assert_true (g_file_get_contents (path, &data, &length, NULL));
  file_ok = cp_image_load (path, &from_file, &file_error);
  mem_ok = cp_image_decode ("request body", (const guint8 *) data, length, &from_memory, &mem_error);
  g_test_message ("%s: file %s, memory %s", path, file_ok ? "ok" : file_error->message,
                  mem_ok ? "ok" : mem_error->message);
  g_assert_cmpint (file_ok, ==, mem_ok);
  if (file_ok)
    {
      g_assert_cmpint (from_file->width, ==, from_memory->width);
      g_assert_cmpint (from_file->height, ==, from_memory->height);
      for (int y = 0; y < from_file->height; y++)
        g_assert_cmpmem (from_file->pixels + (gsize) y * from_file->stride, from_file->width * 3,
                         from_memory->pixels + (gsize) y * from_memory->stride, from_memory->width * 3);
    }
  else
    {
      g_assert_null (from_memory);
      g_assert_cmpint (mem_error->domain, ==, CP_DATA_ERROR);
      /* A JPEG or TIFF cut off early: gdk_pixbuf_get_file_info () cannot
       * measure it, and the file is called not an image; from memory the
       * loader names the format from the first bytes, then fails to
       * decode, and the bytes are called corrupt. */
      if (!(file_error->code == CP_DATA_ERROR_NOT_IMAGE && mem_error->code == CP_DATA_ERROR_CORRUPT))
        g_assert_cmpint (mem_error->code, ==, file_error->code);
      g_assert_nonnull (strstr (mem_error->message, "request body"));
    }
}

static void
test_decode_memory (void)
{
  g_autoptr (GdkPixbuf) pb = pattern_pixbuf (57, 43);
  const char *const types[] = { "png", "bmp", "tiff", "jpeg" };
  g_autoptr (GError) error = NULL;
  CpImage *none = NULL;

  for (size_t i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autofree char *name = g_strdup_printf ("memory.%s", types[i]);
      g_autofree char *path = tmp_path (name);
      g_autofree char *data = NULL;
      gsize length = 0;

      g_assert_true (gdk_pixbuf_save (pb, path, types[i], NULL, NULL));
      check_decode_matches_load (path);
      /* Cut short, and cut to a few bytes past the signature. */
      g_assert_true (g_file_get_contents (path, &data, &length, NULL));
      {
        g_autofree char *half = write_file ("memory-half", data, length / 2);
        g_autofree char *stub = write_file ("memory-stub", data, MIN (length, 12));

        check_decode_matches_load (half);
        check_decode_matches_load (stub);
      }
    }
  {
    g_autofree char *text = write_file ("memory-text", "hello, not an image\n", 20);
    check_decode_matches_load (text);
  }
  g_assert_false (cp_image_decode ("request body", (const guint8 *) "", 0, &none, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT);
  g_assert_null (none);
}

/* ---- tensors and masks ------------------------------------------------- */

static void
test_to_tensor (void)
{
  static const double mean[3] = { 0.485, 0.456, 0.406 };
  static const double std[3] = { 0.229, 0.224, 0.225 };
  g_autoptr (CpImage) img = cp_image_new (5, 3);
  g_autofree float *t = g_new (float, 3 * 5 * 3);
  g_autofree float *t2 = g_new (float, 3 * 5 * 3);
  g_autofree guint8 *packed = g_new (guint8, 5 * 3 * 3);

  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 5; x++)
      for (int c = 0; c < 3; c++)
        img->pixels[y * img->stride + x * 3 + c] = (guint8) ((x * 60 + y * 100 + c * 30) % 256);
  cp_image_to_tensor (img, t);
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < 3; y++)
      for (int x = 0; x < 5; x++)
        {
          double v = ((x * 60 + y * 100 + c * 30) % 256) / 255.0;
          double expect = (v - mean[c]) / std[c];
          g_assert_cmpfloat (fabs (t[c * 15 + y * 5 + x] - expect), <=, 1e-6);
        }
  /* The extremes: black and white in channel 0. */
  g_assert_cmpfloat (fabs ((-0.485 / 0.229) - ((0 / 255.0 - 0.485) / 0.229)), <, 1e-12);
  img->pixels[0] = 0;
  img->pixels[1] = 255;
  cp_image_to_tensor (img, t);
  g_assert_cmpfloat (fabs (t[0] - (-0.485 / 0.229)), <=, 1e-6);
  g_assert_cmpfloat (fabs (t[15] - ((1.0 - 0.456) / 0.224)), <=, 1e-6);

  /* The packed-buffer variant agrees. */
  for (int y = 0; y < 3; y++)
    memcpy (packed + y * 15, img->pixels + y * img->stride, 15);
  cp_rgb_to_tensor (packed, 5, 3, t2);
  g_assert_cmpmem (t, 45 * sizeof (float), t2, 45 * sizeof (float));
}

static void
test_mask_load (void)
{
  int w = 8, h = 4;
  guint8 grey[8 * 4];
  g_autofree char *path = tmp_path ("mask.png");
  g_autofree char *rgb_path = tmp_path ("mask-rgb.png");
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *m = NULL;
  g_autofree guint8 *m2 = NULL;
  g_autoptr (GdkPixbuf) pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);

  /* Columns 0..7 hold 0, 127, 128, 255, 0, 200, 100, 255. */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        static const guint8 col[8] = { 0, 127, 128, 255, 0, 200, 100, 255 };
        grey[y * w + x] = col[x];
        for (int c = 0; c < 3; c++)
          gdk_pixbuf_get_pixels (pb)[y * gdk_pixbuf_get_rowstride (pb) + x * 3 + c] = col[x];
      }
  g_assert_true (cp_png_write (path, grey, w, h, w, 1, &error));
  g_assert_true (gdk_pixbuf_save (pb, rgb_path, "png", NULL, NULL));

  /* Nearest to 16 x 16: column x reads source column x / 2. */
  g_assert_true (cp_mask_load (path, 16, &m, &error));
  g_assert_no_error (error);
  g_assert_true (cp_mask_load (rgb_path, 16, &m2, &error));
  g_assert_cmpmem (m, 256, m2, 256);
  for (int y = 0; y < 16; y++)
    for (int x = 0; x < 16; x++)
      {
        int src = grey[(y / 4) * w + x / 2];
        g_assert_cmpuint (m[y * 16 + x], ==, src > 127 ? 1 : 0);
      }
  g_clear_pointer (&m, g_free);
  g_assert_false (cp_mask_load ("/nonexistent/mask.png", 16, &m, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO);
  g_assert_null (m);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("cp-test-image-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);

  g_test_add_func ("/data/image/formats", test_formats);
  g_test_add_func ("/data/image/grey-and-alpha", test_grey_and_alpha);
  g_test_add_func ("/data/image/16-bit", test_16bit);
  g_test_add_func ("/data/image/bad-files", test_bad_files);
  g_test_add_func ("/data/image/huge-header", test_huge_header);
  g_test_add_func ("/data/image/damaged-png", test_damaged_png);
  g_test_add_func ("/data/image/damaged-png-data", test_damaged_png_data);
  g_test_add_func ("/data/image/damaged-bmp", test_damaged_bmp);
  g_test_add_func ("/data/image/shared-png", test_shared_png);
  g_test_add_func ("/data/image/resize-bicubic-pil", test_resize_bicubic_pil);
  g_test_add_func ("/data/image/resize-nearest-pil", test_resize_nearest_pil);
  g_test_add_func ("/data/image/resize-channels", test_resize_channels);
  g_test_add_func ("/data/image/load-resized", test_load_resized);
  g_test_add_func ("/data/image/to-tensor", test_to_tensor);
  g_test_add_func ("/data/image/mask-load", test_mask_load);
  g_test_add_func ("/data/image/decode-memory", test_decode_memory);
  status = g_test_run ();

  {
    g_autoptr (GDir) d = g_dir_open (tmp_dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *p = tmp_path (name);
        g_unlink (p);
      }
    g_rmdir (tmp_dir);
  }
  g_free (tmp_dir);
  return status;
}
