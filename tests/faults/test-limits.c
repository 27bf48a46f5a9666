/* test-limits.c: size limits hold before memory is allocated.
 *
 * - An image whose header claims 100000 x 100000 pixels (PNG, BMP, JPEG)
 *   or more pixels than the limit is refused with CP_DATA_ERROR_TOO_LARGE
 *   while the address space is capped (RLIMIT_AS) a few hundred MiB above
 *   what the process uses: an allocation for the claimed pixels (30 GB)
 *   could not succeed, and g_malloc would abort the test.
 * - A safetensors file claiming a huge header or a huge tensor is refused
 *   the same way, by both the file and the memory reader.
 * - A folder holding more than CP_DATASET_MAX_IMAGES_PER_FOLDER images is
 *   refused, and the scan stops reading at the limit.  Creating a million
 *   files takes minutes on a busy machine, so this test replaces readdir64
 *   (the call GLib's g_dir_read_name makes) for one folder: it hands out
 *   generated names, counting them.
 * Under AddressSanitizer or ThreadSanitizer (which reserve terabytes of
 * address space) the cap is left out; the refusals are still checked.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "data/image.h"
#include "test-support.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static char *scratch;

/* ---- the address-space cap ---------------------------------------------- */

#ifndef UNDER_SANITIZER
static gsize
vm_size_bytes (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL)
      || (line = strstr (status, "VmSize:")) == NULL)
    return 0;
  return (gsize) g_ascii_strtoull (line + 7, NULL, 10) * 1024;
}
#endif

/* Caps the address space at what is mapped now plus @headroom; returns
 * whether the cap is in force (restored by uncap ()). */
static struct rlimit saved_limit;

static gboolean
cap_address_space (gsize headroom)
{
#ifdef UNDER_SANITIZER
  (void) headroom;
  g_test_message ("under a sanitizer: no RLIMIT_AS cap, refusals still checked");
  return FALSE;
#else
  struct rlimit lim;
  gsize now = vm_size_bytes ();

  if (now == 0 || getrlimit (RLIMIT_AS, &saved_limit) != 0)
    return FALSE;
  lim = saved_limit;
  lim.rlim_cur = now + headroom;
  if (saved_limit.rlim_max != RLIM_INFINITY && lim.rlim_cur > saved_limit.rlim_max)
    return FALSE;
  g_test_message ("RLIMIT_AS = %zu MiB (%zu MiB mapped now)", (size_t) (lim.rlim_cur >> 20),
                  now >> 20);
  return setrlimit (RLIMIT_AS, &lim) == 0;
#endif
}

static void
uncap (gboolean capped)
{
  if (capped)
    g_assert_cmpint (setrlimit (RLIMIT_AS, &saved_limit), ==, 0);
}

/* ---- images ----------------------------------------------------------------- */

static void
be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void
png_chunk (GByteArray *out, const char *type, const guint8 *data, guint32 len)
{
  guint8 word[4];
  guint32 crc;

  be32 (word, len);
  g_byte_array_append (out, word, 4);
  g_byte_array_append (out, (const guint8 *) type, 4);
  if (len)
    g_byte_array_append (out, data, len);
  /* CRC-32 of type and data (bitwise; tiny inputs). */
  crc = 0xffffffffu;
  for (guint32 i = 0; i < 4 + len; i++)
    {
      guint8 b = i < 4 ? (guint8) type[i] : data[i - 4];
      crc ^= b;
      for (int k = 0; k < 8; k++)
        crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
    }
  be32 (word, crc ^ 0xffffffffu);
  g_byte_array_append (out, word, 4);
}

static GByteArray *
make_png (guint32 w, guint32 h)
{
  GByteArray *png = g_byte_array_new ();
  guint8 ihdr[13] = { 0 };
  /* zlib stream of one stored, empty block: the header is what matters. */
  static const guint8 idat[] = { 0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01 };

  g_byte_array_append (png, (const guint8 *) "\x89PNG\r\n\x1a\n", 8);
  be32 (ihdr, w);
  be32 (ihdr + 4, h);
  ihdr[8] = 8;   /* bits */
  ihdr[9] = 2;   /* RGB */
  png_chunk (png, "IHDR", ihdr, 13);
  png_chunk (png, "IDAT", idat, sizeof idat);
  png_chunk (png, "IEND", NULL, 0);
  return png;
}

static GByteArray *
make_bmp (gint32 w, gint32 h)
{
  GByteArray *bmp = g_byte_array_new ();
  guint8 hdr[54] = { 'B', 'M' };

  hdr[2] = 54;            /* file size (a lie, as an attacker's would be) */
  hdr[10] = 54;           /* pixel data offset */
  hdr[14] = 40;           /* BITMAPINFOHEADER */
  memcpy (hdr + 18, &w, 4);
  memcpy (hdr + 22, &h, 4);
  hdr[26] = 1;            /* planes */
  hdr[28] = 24;           /* bits per pixel */
  g_byte_array_append (bmp, hdr, sizeof hdr);
  g_byte_array_append (bmp, (const guint8 *) "\x80\x80\x80\x80", 4);
  return bmp;
}

/* An 8 x 8 grey baseline JPEG (ImageMagick, -strip) whose frame header
 * (SOF0) is then patched to claim @w x @h. */
static GByteArray *
make_jpeg (guint16 w, guint16 h)
{
  static const guint8 jpeg[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c, 0x0a, 0x10,
    0x0e, 0x0d, 0x0e, 0x12, 0x11, 0x10, 0x13, 0x18, 0x28, 0x1a, 0x18, 0x16, 0x16, 0x18, 0x31, 0x23,
    0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d, 0x3c, 0x39, 0x33, 0x38, 0x37, 0x40, 0x48, 0x5c, 0x4e, 0x40,
    0x44, 0x57, 0x45, 0x37, 0x38, 0x50, 0x6d, 0x51, 0x57, 0x5f, 0x62, 0x67, 0x68, 0x67, 0x3e, 0x4d,
    0x71, 0x79, 0x70, 0x64, 0x78, 0x5c, 0x65, 0x67, 0x63, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08,
    0x00, 0x08, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0xc4, 0x00, 0x14,
    0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x1f, 0xff, 0xd9,
  };
  GByteArray *out = g_byte_array_new ();
  guint8 *sof;

  g_byte_array_append (out, jpeg, sizeof jpeg);
  sof = memmem (out->data, out->len, "\xff\xc0", 2);
  g_assert_nonnull (sof);
  sof[5] = h >> 8;
  sof[6] = h & 255;
  sof[7] = w >> 8;
  sof[8] = w & 255;
  return out;
}

static void
expect_too_large (const char *name, GByteArray *bytes, const char *dims)
{
  g_autofree char *path = g_build_filename (scratch, name, NULL);
  g_autoptr (GError) error = NULL;
  CpImage *image = NULL;
  guint8 *mask = NULL;
  gboolean capped;

  g_assert_true (g_file_set_contents (path, (const char *) bytes->data, bytes->len, NULL));
  g_byte_array_unref (bytes);

  capped = cap_address_space ((gsize) 512 << 20);
  g_assert_false (cp_image_load (path, &image, &error));
  g_assert_null (image);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_false (cp_image_load_resized (path, 256, &image, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_false (cp_mask_load (path, 256, &mask, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE);
  uncap (capped);

  g_test_message ("%s: %s", name, error->message);
  g_assert_nonnull (strstr (error->message, path));
  if (dims != NULL)
    g_assert_nonnull (strstr (error->message, dims));
}

static void
test_image_headers (void)
{
  expect_too_large ("png-100000.png", make_png (100000, 100000), "100000 x 100000");
  expect_too_large ("png-16385.png", make_png (16385, 1), "16385 x 1");
  /* Each side allowed, the product (144 M pixels) not. */
  expect_too_large ("png-12000.png", make_png (12000, 12000), "12000 x 12000");
  expect_too_large ("bmp-100000.bmp", make_bmp (100000, 100000), "100000 x 100000");
  /* A negative height is a top-down BMP: the size is its absolute value. */
  expect_too_large ("bmp-topdown.bmp", make_bmp (100000, -100000), NULL);
  /* libjpeg itself stops at 65500 a side; below that our check speaks. */
  expect_too_large ("jpeg-60000.jpg", make_jpeg (60000, 60000), "60000 x 60000");
  expect_too_large ("jpeg-1x16385.jpg", make_jpeg (1, 16385), "1 x 16385");
  g_assert_null (cp_image_new (100000, 100000));
  g_assert_null (cp_image_new (16385, 1));
}

/* ---- safetensors --------------------------------------------------------- */

static GByteArray *
make_safetensors (const char *header, guint64 claimed_length, gsize data_bytes)
{
  GByteArray *out = g_byte_array_new ();
  guint8 len[8];
  guint64 n = claimed_length ? claimed_length : strlen (header);

  for (int i = 0; i < 8; i++)
    len[i] = (guint8) (n >> (8 * i));
  g_byte_array_append (out, len, 8);
  g_byte_array_append (out, (const guint8 *) header, (guint) strlen (header));
  for (gsize i = 0; i < data_bytes; i++)
    g_byte_array_append (out, (const guint8 *) "\0", 1);
  return out;
}

static void
expect_st_refused (const char *name, GByteArray *bytes, const char *what)
{
  g_autofree char *path = g_build_filename (scratch, name, NULL);
  CpError error = { 0 };
  CpSafetensors *st;
  gboolean capped;

  g_assert_true (g_file_set_contents (path, (const char *) bytes->data, bytes->len, NULL));
  capped = cap_address_space ((gsize) 256 << 20);
  st = cp_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_cmpint (error.code, !=, CP_OK);
  g_test_message ("%s: %s", name, error.message);
  g_assert_nonnull (strstr (error.message, what));
  cp_error_clear (&error);
  st = cp_safetensors_from_memory (bytes->data, bytes->len, name, &error);
  g_assert_null (st);
  g_assert_cmpint (error.code, !=, CP_OK);
  uncap (capped);
  g_byte_array_unref (bytes);
}

static void
test_safetensors_sizes (void)
{
  /* 2^62 bytes of header in a 24-byte file. */
  expect_st_refused ("huge-header.safetensors", make_safetensors ("{}      ", (guint64) 1 << 62, 0),
                     "huge-header.safetensors");
  /* 2^64 elements (the product wraps to 0 in 64 bits) with matching
   * offsets [0, 0]: an overflow, not an empty tensor. */
  expect_st_refused ("wrapping-shape.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                                       "\"data_offsets\":[0,0]}}", 0, 0), "'w'");
  /* 4 GiB of F32 claimed in a file holding 16 bytes. */
  expect_st_refused ("huge-tensor.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1073741824],"
                                       "\"data_offsets\":[0,4294967296]}}", 0, 16), "'w'");
  /* Offsets past 2^63 are refused by the JSON parser itself; just below,
   * they would wrap when the data start is added. */
  expect_st_refused ("offset-2-64.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                                       "\"data_offsets\":[18446744073709551612,0]}}", 0, 4),
                     "does not fit in 64 bits");
  expect_st_refused ("offset-2-63.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                                       "\"data_offsets\":[9223372036854775800,9223372036854775804]}}", 0, 4),
                     "'w'");
  expect_st_refused ("offset-negative.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                                       "\"data_offsets\":[-4,0]}}", 0, 4), "'w'");
  /* Overlapping, duplicate, wrong dtype, out of range: refused by name. */
  expect_st_refused ("overlap.safetensors",
                     make_safetensors ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12),
                     "overlap");
  expect_st_refused ("duplicate.safetensors",
                     make_safetensors ("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8),
                     "'a'");
  expect_st_refused ("dtype.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                                       0, 1), "F8_E4M3");
  expect_st_refused ("range.safetensors",
                     make_safetensors ("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                                       0, 8), "'w'");
}

/* ---- images per folder ------------------------------------------------------ */

/* The folder whose listing is replaced, and how many names were handed out. */
static char fake_dir[PATH_MAX];
static DIR *fake_handle;
static long fake_total, fake_served;
static struct dirent64 fake_entry;

static gboolean
is_fake (DIR *d)
{
  char link[64], target[PATH_MAX];
  ssize_t n;

  if (fake_dir[0] == '\0')
    return FALSE;
  if (d == fake_handle)
    return TRUE;
  g_snprintf (link, sizeof link, "/proc/self/fd/%d", dirfd (d));
  n = readlink (link, target, sizeof target - 1);
  if (n <= 0)
    return FALSE;
  target[n] = '\0';
  if (strcmp (target, fake_dir) != 0)
    return FALSE;
  fake_handle = d;
  fake_served = 0;
  return TRUE;
}

struct dirent64 *readdir64 (DIR *d);

/* GLib's g_dir_read_name () calls readdir64; this definition in the test
 * program comes before libc's in symbol lookup. */
struct dirent64 *
readdir64 (DIR *d)
{
  static struct dirent64 *(*real) (DIR *);

  if (real == NULL)
    real = (struct dirent64 *(*) (DIR *)) dlsym (RTLD_NEXT, "readdir64");
  if (!is_fake (d))
    return real (d);
  if (fake_served >= fake_total)
    return NULL;
  memset (&fake_entry, 0, sizeof fake_entry);
  fake_entry.d_ino = 1000 + fake_served;
  fake_entry.d_type = DT_REG;
  g_snprintf (fake_entry.d_name, sizeof fake_entry.d_name, "%08ld.png", fake_served);
  fake_served++;
  return &fake_entry;
}

static void
test_folder_limit (void)
{
  g_autofree char *good = g_build_filename (scratch, "many", "big", "train", "good", NULL);
  g_autofree char *png = g_build_filename (good, "00000000.png", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *real_good = NULL;
  CpCategory *cat;
  g_autofree char *limit = g_strdup_printf ("%d", CP_DATASET_MAX_IMAGES_PER_FOLDER);

  g_assert_cmpint (g_mkdir_with_parents (good, 0700), ==, 0);
  g_assert_true (g_file_set_contents (png, "x", 1, NULL));
  real_good = realpath (good, NULL);
  g_assert_nonnull (real_good);

  /* Five times the limit is on offer; the scan must stop at the limit. */
  g_strlcpy (fake_dir, real_good, sizeof fake_dir);
  fake_total = 5L * CP_DATASET_MAX_IMAGES_PER_FOLDER;
  {
    g_autofree char *root = g_build_filename (scratch, "many", NULL);
    cat = cp_dataset_scan_category (root, "big", &error);
  }
  fake_dir[0] = '\0';
  g_assert_null (cat);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE);
  g_test_message ("%s (read %ld names)", error->message, fake_served);
  g_assert_nonnull (strstr (error->message, limit));
  g_assert_cmpint (fake_served, ==, CP_DATASET_MAX_IMAGES_PER_FOLDER + 1);

  /* Exactly the limit is fine (the replacement says every name is a
   * file; the scan stats none of them as folders). */
  g_clear_error (&error);
  g_strlcpy (fake_dir, real_good, sizeof fake_dir);
  fake_handle = NULL;
  fake_total = CP_DATASET_MAX_IMAGES_PER_FOLDER;
  {
    g_autofree char *root = g_build_filename (scratch, "many", NULL);
    cat = cp_dataset_scan_category (root, "big", &error);
  }
  fake_dir[0] = '\0';
  g_assert_no_error (error);
  g_assert_nonnull (cat);
  g_assert_cmpuint (cat->n_train, ==, CP_DATASET_MAX_IMAGES_PER_FOLDER);
  cp_category_free (cat);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  scratch = cp_test_make_tmp_dir ("cp-limits-XXXXXX");
  g_test_add_func ("/faults/limits/image-headers", test_image_headers);
  g_test_add_func ("/faults/limits/safetensors-sizes", test_safetensors_sizes);
  g_test_add_func ("/faults/limits/folder-images", test_folder_limit);
  status = g_test_run ();
  cp_test_remove_tree (scratch);
  g_free (scratch);
  return status;
}
