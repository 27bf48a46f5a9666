/* image.c: image decoding (GdkPixbuf), PIL-compatible resizing and
 * normalisation. */
#include "image.h"
#include "image-check.h"

#include "core/augment/normalize.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

G_DEFINE_QUARK (cp-data-error-quark, cp_data_error)

/* Files above this size are not images we want to read into memory. */
#define CP_IMAGE_MAX_FILE_BYTES ((gsize) 1 << 30)

CpImage *
cp_image_new (int width,
              int height)
{
  CpImage *image;

  if (width <= 0 || height <= 0 || width > CP_IMAGE_MAX_SIDE || height > CP_IMAGE_MAX_SIDE
      || (guint64) width * (guint64) height > CP_IMAGE_MAX_PIXELS)
    return NULL;
  image = g_new0 (CpImage, 1);
  image->width = width;
  image->height = height;
  image->stride = 3 * width;
  image->pixels = g_malloc0 ((gsize) image->stride * (gsize) height);
  return image;
}

CpImage *
cp_image_copy (const CpImage *image)
{
  CpImage *copy = cp_image_new (image->width, image->height);

  for (int y = 0; y < image->height; y++)
    memcpy (copy->pixels + (gsize) y * copy->stride,
            image->pixels + (gsize) y * image->stride, (gsize) 3 * image->width);
  return copy;
}

void
cp_image_free (CpImage *image)
{
  if (image == NULL)
    return;
  g_free (image->pixels);
  g_free (image);
}

typedef struct
{
  gboolean too_large;
  int      width;
  int      height;
} SizeGuard;

/* Second line of defence after the header checks: should a loader
 * announce a size the header check did not see, shrink the allocation to a
 * single pixel and fail afterwards instead of allocating gigabytes. */
static void
on_size_prepared (GdkPixbufLoader *loader,
                  int              width,
                  int              height,
                  gpointer         user_data)
{
  SizeGuard *guard = user_data;

  guard->width = width;
  guard->height = height;
  if (width <= 0 || height <= 0 || width > CP_IMAGE_MAX_SIDE || height > CP_IMAGE_MAX_SIDE
      || (guint64) width * (guint64) height > CP_IMAGE_MAX_PIXELS)
    {
      guard->too_large = TRUE;
      gdk_pixbuf_loader_set_size (loader, 1, 1);
    }
}

static CpImage *
image_from_pixbuf (GdkPixbuf *pixbuf)
{
  int width = gdk_pixbuf_get_width (pixbuf);
  int height = gdk_pixbuf_get_height (pixbuf);
  int channels = gdk_pixbuf_get_n_channels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  const guint8 *src = gdk_pixbuf_read_pixels (pixbuf);
  CpImage *image = cp_image_new (width, height);

  if (image == NULL)
    return NULL;
  /* GdkPixbuf hands out RGB or RGBA (grey files arrive already replicated
   * to RGB); alpha is dropped, not composited, as PIL's convert("RGB"). */
  for (int y = 0; y < height; y++)
    {
      const guint8 *row = src + (gsize) y * stride;
      uint8_t *out = image->pixels + (gsize) y * image->stride;

      for (int x = 0; x < width; x++)
        {
          out[3 * x + 0] = row[channels * x + 0];
          out[3 * x + 1] = row[channels * x + 1];
          out[3 * x + 2] = row[channels * x + 2];
        }
    }
  return image;
}

/* Whether a JPEG stream reaches its end-of-image marker after the first
 * start-of-scan.  libjpeg pads a cut-off scan with grey and only warns, so
 * a truncated file would otherwise decode "successfully".  Inside the
 * entropy-coded data a 0xFF byte is always followed by 0x00 or a restart
 * marker, so FF D9 there can only be the real end. */
static gboolean
jpeg_is_complete (const guint8 *data,
                  gsize         length)
{
  gsize pos = 2;

  while (pos + 4 <= length)
    {
      guint8 marker;

      if (data[pos] != 0xff)
        return FALSE;
      marker = data[pos + 1];
      if (marker == 0xff)
        {
          pos++;  /* fill byte */
          continue;
        }
      if (marker == 0xda)
        {
          for (gsize i = pos + 2; i + 1 < length; i++)
            if (data[i] == 0xff && data[i + 1] == 0xd9)
              return TRUE;
          return FALSE;
        }
      if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7))
        pos += 2;
      else
        pos += 2 + (((gsize) data[pos + 2] << 8) | data[pos + 3]);
    }
  return FALSE;
}

/* What a loader that recognises the data by itself makes of @data: the
 * format's name (newly allocated; NULL when no loader takes it) and, when
 * the loader announced it, the size.  The memory counterpart of
 * gdk_pixbuf_get_file_info (): data is fed in pieces until the size is
 * known, and the size is shrunk to one pixel so that nothing large is
 * allocated on the way. */
typedef struct
{
  gboolean known;
  int      width;
  int      height;
} ProbedSize;

static void
on_probe_size_prepared (GdkPixbufLoader *loader,
                        int              width,
                        int              height,
                        gpointer         user_data)
{
  ProbedSize *size = user_data;

  size->known = TRUE;
  size->width = width;
  size->height = height;
  gdk_pixbuf_loader_set_size (loader, 1, 1);
}

static char *
probe_format (const guint8 *data,
              gsize         length,
              int          *width,
              int          *height)
{
  g_autoptr (GdkPixbufLoader) loader = gdk_pixbuf_loader_new ();
  ProbedSize size = { FALSE, 0, 0 };
  GdkPixbufFormat *format;
  char *name = NULL;

  g_signal_connect (loader, "size-prepared", G_CALLBACK (on_probe_size_prepared), &size);
  for (gsize offset = 0; offset < length && !size.known; offset += 4096)
    if (!gdk_pixbuf_loader_write (loader, data + offset, MIN (4096, length - offset), NULL))
      break;
  /* Data shorter than the loader's sniffing buffer (1 KiB) is only
   * recognised on close, so the format is asked for after it. */
  gdk_pixbuf_loader_close (loader, NULL);
  format = gdk_pixbuf_loader_get_format (loader);
  if (format != NULL)
    name = gdk_pixbuf_format_get_name (format);
  *width = size.known ? size.width : 0;
  *height = size.known ? size.height : 0;
  return name;
}

/* Decodes @contents, named @name in messages.  @file is the path the bytes
 * were read from, or NULL for bytes from elsewhere: GdkPixbuf then
 * recognises them from their content alone. */
static gboolean
decode_contents (const char   *name,
                 const guint8 *contents,
                 gsize         length,
                 const char   *file,
                 CpImage     **out,
                 GError      **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GdkPixbufLoader) loader = NULL;
  g_autofree char *format_name = NULL;
  GdkPixbufFormat *format;
  SizeGuard guard = { FALSE, 0, 0 };
  GdkPixbuf *pixbuf;
  int width = 0, height = 0;

  if (length == 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                   "%s: not an image: the file is empty", name);
      return FALSE;
    }

  /* The header alone tells the size: refuse huge images before decoding.
   * PNG and BMP are checked by us first, structure and all (GdkPixbuf's
   * loaders decode damaged ones without an error, see image-check.h);
   * other formats are identified and measured by GdkPixbuf. */
  switch (cp_image_kind_sniff (contents, length))
    {
    case CP_IMAGE_KIND_PNG:
      if (!cp_image_check_png (name, contents, length, &width, &height, error))
        return FALSE;
      format_name = g_strdup ("png");
      break;
    case CP_IMAGE_KIND_BMP:
      if (!cp_image_check_bmp (name, contents, length, &width, &height, error))
        return FALSE;
      format_name = g_strdup ("bmp");
      break;
    case CP_IMAGE_KIND_OTHER:
    default:
      if (file != NULL)
        {
          format = gdk_pixbuf_get_file_info (file, &width, &height);
          if (format != NULL)
            format_name = gdk_pixbuf_format_get_name (format);
        }
      else
        format_name = probe_format (contents, length, &width, &height);
      if (format_name == NULL)
        {
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_IMAGE,
                       "%s: not an image in a format we can read (PNG, JPEG, BMP, TIFF)", name);
          return FALSE;
        }
      /* A loader that takes its data whole (TIFF) announces the size only
       * once it has all of it; the guard below still holds then. */
      if ((file != NULL || width != 0 || height != 0)
          && !cp_image_check_dimensions (name, width, height, error))
        return FALSE;
      if (strcmp (format_name, "jpeg") == 0 && !jpeg_is_complete (contents, length))
        {
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                       "%s: truncated or corrupt image: the jpeg data ends before its end marker",
                       name);
          return FALSE;
        }
      break;
    }

  /* Our own loader rather than gdk_pixbuf_new_from_file(), to be able to
   * refuse a size announced by the decoder before it allocates. */
  loader = gdk_pixbuf_loader_new_with_type (format_name, &local_error);
  if (loader == NULL)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_IMAGE,
                   "%s: no decoder: %s", name, local_error->message);
      return FALSE;
    }
  g_signal_connect (loader, "size-prepared", G_CALLBACK (on_size_prepared), &guard);
  if (!gdk_pixbuf_loader_write (loader, contents, length, &local_error))
    {
      gdk_pixbuf_loader_close (loader, NULL);
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                   "%s: corrupt image: %s", name, local_error->message);
      return FALSE;
    }
  if (!gdk_pixbuf_loader_close (loader, &local_error))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                   "%s: truncated or corrupt image: %s", name, local_error->message);
      return FALSE;
    }
  if (guard.too_large)
    return cp_image_check_dimensions (name, guard.width, guard.height, error);

  pixbuf = gdk_pixbuf_loader_get_pixbuf (loader);
  if (pixbuf == NULL)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                   "%s: truncated or corrupt image: the decoder produced no pixels", name);
      return FALSE;
    }
  if (gdk_pixbuf_get_bits_per_sample (pixbuf) != 8 || gdk_pixbuf_get_n_channels (pixbuf) < 3
      || !cp_image_check_dimensions (name, gdk_pixbuf_get_width (pixbuf), gdk_pixbuf_get_height (pixbuf), error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_IMAGE,
                     "%s: unsupported pixel layout from the decoder", name);
      return FALSE;
    }
  *out = image_from_pixbuf (pixbuf);
  return *out != NULL;
}

gboolean
cp_image_load (const char *path,
               CpImage   **out,
               GError    **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *contents = NULL;
  GStatBuf st;
  gsize length = 0;

  g_return_val_if_fail (path != NULL && out != NULL, FALSE);
  *out = NULL;

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO,
                   "%s: cannot read image: %s", path, g_strerror (saved));
      return FALSE;
    }
  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO,
                   "%s: cannot read image: is a folder", path);
      return FALSE;
    }
  if ((guint64) st.st_size > CP_IMAGE_MAX_FILE_BYTES)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE,
                   "%s: file is %" G_GUINT64_FORMAT " bytes, more than the 1 GiB we read as an image",
                   path, (guint64) st.st_size);
      return FALSE;
    }
  if (st.st_size == 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CORRUPT,
                   "%s: not an image: the file is empty", path);
      return FALSE;
    }

  if (!g_file_get_contents (path, &contents, &length, &local_error))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO,
                   "%s: cannot read image: %s", path, local_error->message);
      return FALSE;
    }
  return decode_contents (path, (const guint8 *) contents, length, path, out, error);
}

gboolean
cp_image_decode (const char   *name,
                 const guint8 *data,
                 gsize         length,
                 CpImage     **out,
                 GError      **error)
{
  g_return_val_if_fail (name != NULL && out != NULL && (data != NULL || length == 0), FALSE);
  *out = NULL;
  if ((guint64) length > CP_IMAGE_MAX_FILE_BYTES)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE,
                   "%s: %" G_GUINT64_FORMAT " bytes, more than the 1 GiB we read as an image",
                   name, (guint64) length);
      return FALSE;
    }
  return decode_contents (name, data, length, NULL, out, error);
}

gboolean
cp_image_load_resized (const char *path,
                       int         size,
                       CpImage   **out,
                       GError    **error)
{
  g_autoptr (CpImage) image = NULL;

  g_return_val_if_fail (out != NULL, FALSE);
  *out = NULL;
  if (size <= 0 || size > CP_IMAGE_MAX_SIDE)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "%s: invalid target size %d", path, size);
      return FALSE;
    }
  if (!cp_image_load (path, &image, error))
    return FALSE;
  if (image->width == size && image->height == size)
    *out = g_steal_pointer (&image);
  else
    *out = cp_image_resize_bicubic (image, size, size);
  return TRUE;
}

/* ---- resampling ---------------------------------------------------------- */

/* Keys' cubic convolution kernel with a = -0.5 (PIL's BICUBIC). */
static double
cubic_kernel (double x)
{
  const double a = -0.5;

  x = fabs (x);
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

#define FIXED_BITS 22  /* 32 - 8 - 2: an 8-bit sum of weights cannot overflow */

typedef struct
{
  int      taps;     /* weights per output sample (the widest window) */
  int     *first;    /* (out) first input index of each window */
  int     *count;    /* (out) inputs used by each window */
  int32_t *weights;  /* (out, taps) fixed-point weights */
} Filter1D;

static void
filter_init (Filter1D *f,
             int       in_size,
             int       out_size)
{
  double scale = (double) in_size / out_size;
  double widen = scale < 1.0 ? 1.0 : scale;   /* antialias when shrinking */
  double support = 2.0 * widen;
  double inv_widen = 1.0 / widen;  /* multiplied, not divided: PIL's rounding */
  double *w;

  f->taps = (int) ceil (support) * 2 + 1;
  f->first = g_new (int, out_size);
  f->count = g_new (int, out_size);
  f->weights = g_new0 (int32_t, (gsize) out_size * f->taps);
  w = g_new (double, f->taps);

  for (int o = 0; o < out_size; o++)
    {
      double centre = (o + 0.5) * scale;
      double sum = 0.0;
      int lo = (int) (centre - support + 0.5);
      int hi = (int) (centre + support + 0.5);

      if (lo < 0)
        lo = 0;
      if (hi > in_size)
        hi = in_size;
      f->first[o] = lo;
      f->count[o] = hi - lo;
      for (int i = 0; i < hi - lo; i++)
        {
          /* Sample centres sit at i + 0.5 in continuous coordinates. */
          w[i] = cubic_kernel ((lo + i - centre + 0.5) * inv_widen);
          sum += w[i];
        }
      for (int i = 0; i < hi - lo; i++)
        {
          double v = sum != 0.0 ? w[i] / sum : w[i];
          double fixed = v * (double) (1 << FIXED_BITS);

          /* Round half away from zero, as the fixed-point weights of PIL. */
          f->weights[(gsize) o * f->taps + i] = (int32_t) (fixed < 0.0 ? trunc (fixed - 0.5)
                                                                         : trunc (fixed + 0.5));
        }
    }
  g_free (w);
}

static void
filter_clear (Filter1D *f)
{
  g_free (f->first);
  g_free (f->count);
  g_free (f->weights);
}

static inline uint8_t
fixed_to_u8 (int64_t acc)
{
  int64_t v = (acc + ((int64_t) 1 << (FIXED_BITS - 1))) >> FIXED_BITS;

  return (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
}

void
cp_resize_bicubic_u8 (const uint8_t *src,
                      int            src_width,
                      int            src_height,
                      int            src_stride,
                      int            channels,
                      uint8_t       *dst,
                      int            dst_width,
                      int            dst_height,
                      int            dst_stride)
{
  Filter1D fx, fy;
  uint8_t *mid;
  gsize mid_stride = (gsize) dst_width * channels;

  g_return_if_fail (src_width > 0 && src_height > 0 && dst_width > 0 && dst_height > 0);
  g_return_if_fail (channels > 0);

  filter_init (&fx, src_width, dst_width);
  filter_init (&fy, src_height, dst_height);

  /* Horizontal pass into an 8-bit intermediate of dst_width x src_height:
   * PIL rounds between the passes, so must we to match it bit for bit. */
  mid = g_malloc (mid_stride * (gsize) src_height);
  for (int y = 0; y < src_height; y++)
    {
      const uint8_t *row = src + (gsize) y * src_stride;
      uint8_t *out = mid + (gsize) y * mid_stride;

      for (int x = 0; x < dst_width; x++)
        {
          const int32_t *k = fx.weights + (gsize) x * fx.taps;
          const uint8_t *in = row + (gsize) fx.first[x] * channels;

          for (int c = 0; c < channels; c++)
            {
              int64_t acc = 0;

              for (int i = 0; i < fx.count[x]; i++)
                acc += (int64_t) in[i * channels + c] * k[i];
              out[x * channels + c] = fixed_to_u8 (acc);
            }
        }
    }

  for (int y = 0; y < dst_height; y++)
    {
      const int32_t *k = fy.weights + (gsize) y * fy.taps;
      uint8_t *out = dst + (gsize) y * dst_stride;

      for (gsize x = 0; x < mid_stride; x++)
        {
          int64_t acc = 0;

          for (int i = 0; i < fy.count[y]; i++)
            acc += (int64_t) mid[(gsize) (fy.first[y] + i) * mid_stride + x] * k[i];
          out[x] = fixed_to_u8 (acc);
        }
    }

  g_free (mid);
  filter_clear (&fx);
  filter_clear (&fy);
}

void
cp_resize_nearest_u8 (const uint8_t *src,
                      int            src_width,
                      int            src_height,
                      int            src_stride,
                      int            channels,
                      uint8_t       *dst,
                      int            dst_width,
                      int            dst_height,
                      int            dst_stride)
{
  g_return_if_fail (src_width > 0 && src_height > 0 && dst_width > 0 && dst_height > 0);

  for (int y = 0; y < dst_height; y++)
    {
      /* Integer form of floor((y + 0.5) * src / dst): exact, no drift. */
      int sy = (int) (((int64_t) 2 * y + 1) * src_height / ((int64_t) 2 * dst_height));
      const uint8_t *row = src + (gsize) sy * src_stride;
      uint8_t *out = dst + (gsize) y * dst_stride;

      for (int x = 0; x < dst_width; x++)
        {
          int sx = (int) (((int64_t) 2 * x + 1) * src_width / ((int64_t) 2 * dst_width));

          memcpy (out + (gsize) x * channels, row + (gsize) sx * channels, channels);
        }
    }
}

CpImage *
cp_image_resize_bicubic (const CpImage *image,
                         int            width,
                         int            height)
{
  CpImage *out = cp_image_new (width, height);

  if (out == NULL)
    return NULL;
  cp_resize_bicubic_u8 (image->pixels, image->width, image->height, image->stride, 3,
                        out->pixels, width, height, out->stride);
  return out;
}

CpImage *
cp_image_resize_nearest (const CpImage *image,
                         int            width,
                         int            height)
{
  CpImage *out = cp_image_new (width, height);

  if (out == NULL)
    return NULL;
  cp_resize_nearest_u8 (image->pixels, image->width, image->height, image->stride, 3,
                        out->pixels, width, height, out->stride);
  return out;
}

/* ---- tensors ----------------------------------------------------------- */

/* The conversion itself (torchvision's ToTensor + Normalize in torch's
 * float arithmetic) lives in the engine core, shared with the training
 * batches. */
void
cp_image_to_tensor (const CpImage *image,
                    float         *dst)
{
  if (image->stride == 3 * image->width)
    {
      cp_images_to_tensor (image->pixels, 1, image->height, image->width, dst);
      return;
    }
  /* Rows with padding: pack them first. */
  {
    g_autoptr (CpImage) packed = cp_image_copy (image);

    cp_images_to_tensor (packed->pixels, 1, packed->height, packed->width, dst);
  }
}

void
cp_rgb_to_tensor (const uint8_t *rgb,
                  int            width,
                  int            height,
                  float         *dst)
{
  cp_images_to_tensor (rgb, 1, height, width, dst);
}

/* ---- masks --------------------------------------------------------------- */

gboolean
cp_mask_load (const char *path,
              int         size,
              uint8_t   **mask,
              GError    **error)
{
  g_autoptr (CpImage) image = NULL;
  g_autofree uint8_t *grey = NULL;
  uint8_t *out;

  g_return_val_if_fail (mask != NULL, FALSE);
  *mask = NULL;
  if (size <= 0 || size > CP_IMAGE_MAX_SIDE)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "%s: invalid mask size %d", path, size);
      return FALSE;
    }
  if (!cp_image_load (path, &image, error))
    return FALSE;

  grey = g_malloc ((gsize) image->width * image->height);
  for (int y = 0; y < image->height; y++)
    {
      const uint8_t *row = image->pixels + (gsize) y * image->stride;

      for (int x = 0; x < image->width; x++)
        grey[(gsize) y * image->width + x] =
          (uint8_t) ((row[3 * x] + row[3 * x + 1] + row[3 * x + 2] + 1) / 3);
    }

  out = g_malloc ((gsize) size * size);
  cp_resize_nearest_u8 (grey, image->width, image->height, image->width, 1,
                        out, size, size, size);
  for (gsize i = 0; i < (gsize) size * size; i++)
    out[i] = out[i] > 127 ? 1 : 0;
  *mask = out;
  return TRUE;
}
