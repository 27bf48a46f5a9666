/* image.h: decoding images into 8-bit RGB, resizing them as PIL does, and
 * turning them into the normalised float tensors the network reads.
 *
 * Every image the engine sees goes through here: PNG, JPEG, BMP and TIFF are
 * decoded by GdkPixbuf (16-bit samples are reduced to 8 bits by the
 * loaders), grey is replicated to three channels and alpha is dropped, not
 * composited.  EXIF orientation is ignored on purpose: MVTec AD images carry
 * none, and a dataset whose images were rotated by a tag would train on a
 * different geometry than the one stored.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

G_BEGIN_DECLS

/* Largest image side and pixel count we agree to decode.  Checked against
 * the file header before any pixel memory is allocated. */
#define CP_IMAGE_MAX_SIDE    16384
#define CP_IMAGE_MAX_PIXELS  (100u * 1000u * 1000u)

#define CP_DATA_ERROR (cp_data_error_quark ())

typedef enum
{
  CP_DATA_ERROR_IO,          /* file missing or unreadable, write failed */
  CP_DATA_ERROR_NOT_IMAGE,   /* not a format we decode */
  CP_DATA_ERROR_CORRUPT,     /* truncated or corrupt image data */
  CP_DATA_ERROR_TOO_LARGE,   /* dimensions or counts over our limits */
  CP_DATA_ERROR_NOT_FOUND,   /* dataset root, category or folder missing */
  CP_DATA_ERROR_EMPTY,       /* a folder that must hold images holds none */
  CP_DATA_ERROR_EXISTS,      /* refusing to overwrite existing output */
  CP_DATA_ERROR_INVALID,     /* bad argument */
  CP_DATA_ERROR_CANCELLED,   /* the progress callback asked to stop */
} CpDataError;

GQuark cp_data_error_quark (void);

/* An 8-bit RGB image, interleaved: pixel (x, y) channel c lives at
 * pixels[y * stride + x * 3 + c]. */
typedef struct
{
  int      width;
  int      height;
  int      stride;  /* bytes per row, >= 3 * width */
  uint8_t *pixels;  /* (H, W, 3) */
} CpImage;

/* A new zero-filled image with stride 3 * width; NULL when the size is
 * non-positive or over the limits above. */
CpImage *cp_image_new    (int width,
                          int height);
CpImage *cp_image_copy   (const CpImage *image);
void     cp_image_free   (CpImage *image);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpImage, cp_image_free)

/* Decodes @path into a new RGB image.  The header's dimensions are checked
 * before decoding: over CP_IMAGE_MAX_SIDE per side or CP_IMAGE_MAX_PIXELS in
 * all is refused with CP_DATA_ERROR_TOO_LARGE.  PNG and BMP files are also
 * checked for damage before decoding (image-check.h).  Every error message
 * names @path and the problem (unreadable, not an image, truncated or
 * corrupt). */
gboolean cp_image_load   (const char *path,
                          CpImage   **out,
                          GError    **error);

/* Decodes @length bytes of an image file held in memory (a network
 * request's body, say), with the checks and messages of cp_image_load ();
 * @name stands for the path in the messages.  The format is recognised
 * from the bytes alone. */
gboolean cp_image_decode (const char   *name,
                          const guint8 *data,
                          gsize         length,
                          CpImage     **out,
                          GError      **error);

/* cp_image_load() followed by a bicubic resize to @size x @size (no resize
 * when the image already has that size). */
gboolean cp_image_load_resized (const char *path,
                                int         size,
                                CpImage   **out,
                                GError    **error);

/* Separable bicubic resampling with the results of PIL's
 * Image.resize(..., Image.BICUBIC): Keys' cubic with a = -0.5, support
 * widened by the downscale factor (antialiasing), weights normalised and
 * rounded to 22-bit fixed point, horizontal pass then vertical pass through
 * an 8-bit intermediate, each output rounded and clamped to 0..255.
 * Works on any number of interleaved 8-bit channels. */
void     cp_resize_bicubic_u8 (const uint8_t *src,
                               int            src_width,
                               int            src_height,
                               int            src_stride,
                               int            channels,
                               uint8_t       *dst,
                               int            dst_width,
                               int            dst_height,
                               int            dst_stride);

/* Nearest-neighbour resampling as PIL's NEAREST does it: output pixel x
 * reads source pixel floor((x + 0.5) * src_width / dst_width). */
void     cp_resize_nearest_u8 (const uint8_t *src,
                               int            src_width,
                               int            src_height,
                               int            src_stride,
                               int            channels,
                               uint8_t       *dst,
                               int            dst_width,
                               int            dst_height,
                               int            dst_stride);

CpImage *cp_image_resize_bicubic (const CpImage *image,
                                  int            width,
                                  int            height);
CpImage *cp_image_resize_nearest (const CpImage *image,
                                  int            width,
                                  int            height);

/* Writes @image into @dst as a (3, H, W) float tensor: each sample scaled
 * to [0, 1], then (v - mean[c]) / std[c] with the ImageNet statistics. */
void     cp_image_to_tensor (const CpImage *image,
                             float         *dst);

/* Same, from an interleaved 8-bit (H, W, 3) buffer with stride 3 * width
 * (the layout of the training-image cache). */
void     cp_rgb_to_tensor   (const uint8_t *rgb,
                             int            width,
                             int            height,
                             float         *dst);

/* Loads a ground-truth mask: any decodable image, converted to one channel
 * (the mean of R, G and B), nearest-resized to @size x @size, then 1 where
 * the value is > 127 and 0 elsewhere.  *@mask receives a g_malloc'd buffer
 * of @size * @size bytes. */
gboolean cp_mask_load (const char *path,
                       int         size,
                       uint8_t   **mask,
                       GError    **error);

G_END_DECLS
