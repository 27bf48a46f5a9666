/* cutpaste.c: CutPaste, CutPaste-Scar and the training batch. */
#include "cutpaste.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SIZE 16
#define MAX_SIZE 16384   /* keeps size * size * 3 far from int overflow */

void
cp_augment_config_init (CpAugmentConfig *config,
                        CpAugmentVariant variant)
{
  memset (config, 0, sizeof *config);
  config->variant = variant;
  config->image_jitter = 0.1;
  config->patch_jitter = 0.1;
  config->area_min = 0.02;
  config->area_max = 0.15;
  config->aspect_min = 0.3;
  config->scar_w_min = 2.0;
  config->scar_w_max = 16.0;
  config->scar_h_min = 10.0;
  config->scar_h_max = 25.0;
  config->scar_angle_max = 45.0;
}

CpStatus
cp_augment_config_validate (const CpAugmentConfig *config,
                            CpError               *error)
{
  if (config == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "augment: config is NULL");
  if (cp_augment_variant_to_string (config->variant) == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "augment: unknown variant %d",
                         (int) config->variant);
  /* The negated comparisons also reject NaN. */
  if (!(config->image_jitter >= 0.0 && config->image_jitter <= 1.0)
      || !(config->patch_jitter >= 0.0 && config->patch_jitter <= 1.0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: jitter strengths %g, %g must lie in [0, 1]",
                         config->image_jitter, config->patch_jitter);
  if (!(config->area_min > 0.0 && config->area_min <= config->area_max
        && config->area_max <= 1.0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: area range [%g, %g] must lie in (0, 1]",
                         config->area_min, config->area_max);
  if (!(config->aspect_min > 0.0 && config->aspect_min <= 1.0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: aspect_min %g must lie in (0, 1]",
                         config->aspect_min);
  if (!(config->scar_w_min >= 1.0 && config->scar_w_min <= config->scar_w_max
        && config->scar_w_max < MAX_SIZE)
      || !(config->scar_h_min >= 1.0 && config->scar_h_min <= config->scar_h_max
           && config->scar_h_max < MAX_SIZE))
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: scar sizes [%g, %g] x [%g, %g] must be >= 1 "
                         "and ordered", config->scar_w_min, config->scar_w_max,
                         config->scar_h_min, config->scar_h_max);
  if (!(config->scar_angle_max >= 0.0 && config->scar_angle_max <= 180.0))
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: scar_angle_max %g must lie in [0, 180]",
                         config->scar_angle_max);
  return CP_OK;
}

static CpStatus
check_size (int size, CpError *error)
{
  if (size < MIN_SIZE || size > MAX_SIZE)
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: image size %d outside [%d, %d]",
                         size, MIN_SIZE, MAX_SIZE);
  return CP_OK;
}

static int
clamp_int (int v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* A uniform corner for an extent inside [0, size); when the extent does not
 * fit, a uniform overhang instead, so the extent still covers the image. */
static int
draw_corner (CpRng *rng, int size, int extent)
{
  if (extent <= size)
    return (int) cp_rng_int_range (rng, 0, size - extent);
  return (int) cp_rng_int_range (rng, size - extent, 0);
}

/* Copies a w x h rectangle at (x, y) of a packed size x size image. */
static void
copy_rect (const uint8_t *image, int size, int x, int y, int w, int h,
           uint8_t *patch)
{
  for (int r = 0; r < h; r++)
    memcpy (patch + (size_t) r * w * 3,
            image + ((size_t) (y + r) * size + x) * 3, (size_t) w * 3);
}

/* Image.rotate (angle, expand=True) of a w x h patch as Pillow computes it,
 * so that scars match the reference pixel for pixel: an affine map from
 * canvas pixel centres back to patch coordinates, built in double precision
 * with Python's rounding of the matrix to 15 decimals, the canvas sized by
 * the ceil/floor of the mapped corners, then evaluated (as Pillow's
 * nearest-neighbour affine_fixed does) in 16.16 fixed point. */
typedef struct
{
  int64_t ax, bx, cx;   /* patch x = (ax X + bx Y + cx) >> 16 */
  int64_t ay, by, cy;   /* patch y = (ay X + by Y + cy) >> 16 */
  int     w, h;         /* the patch */
  int     cw, ch;       /* the expanded canvas */
} RotateMap;

/* Python's round (x, 15): the exact binary value rounded to 15 decimals,
 * read back to the nearest double.  printf and strtod are exact in glibc
 * and share the locale's decimal point. */
static double
round15 (double x)
{
  char text[64];

  snprintf (text, sizeof text, "%.15f", x);
  return strtod (text, NULL);
}

/* Pillow's FIX (): floor (v * 65536 + 0.5). */
static int64_t
to_fixed (double v)
{
  return (int64_t) floor (v * 65536.0 + 0.5);
}

/* Floor of a 16.16 value, without relying on >> of a negative number. */
static int64_t
fixed_floor (int64_t v)
{
  return v >= 0 ? v >> 16 : -((-v + 65535) >> 16);
}

static void
rotate_map_init (RotateMap *m, int w, int h, double angle)
{
  /* Python: angle % 360 (non-negative), then -math.radians (angle), which
   * multiplies by the rounded pi / 180. */
  double deg = fmod (angle, 360.0);
  double rad, a, b, c, d, e, f, cx = w / 2.0, cy = h / 2.0;
  double xs[4] = { 0.0, w, w, 0.0 }, ys[4] = { 0.0, 0.0, h, h };
  double min_x = INFINITY, max_x = -INFINITY, min_y = INFINITY, max_y = -INFINITY;
  double tx, ty, c2, f2;

  if (deg < 0.0)
    deg += 360.0;
  rad = -(deg * (M_PI / 180.0));
  a = round15 (cos (rad));
  b = round15 (sin (rad));
  d = round15 (-sin (rad));
  e = round15 (cos (rad));
  /* Rotation about the patch centre (same operation order as Pillow). */
  c = a * -cx + b * -cy + 0.0;
  f = d * -cx + e * -cy + 0.0;
  c += cx;
  f += cy;
  for (int i = 0; i < 4; i++)
    {
      double x = a * xs[i] + b * ys[i] + c;
      double y = d * xs[i] + e * ys[i] + f;

      min_x = fmin (min_x, x);
      max_x = fmax (max_x, x);
      min_y = fmin (min_y, y);
      max_y = fmax (max_y, y);
    }
  m->w = w;
  m->h = h;
  m->cw = (int) (ceil (max_x) - floor (min_x));
  m->ch = (int) (ceil (max_y) - floor (min_y));
  /* Centre the patch in the larger canvas. */
  tx = -(m->cw - w) / 2.0;
  ty = -(m->ch - h) / 2.0;
  c2 = a * tx + b * ty + c;
  f2 = d * tx + e * ty + f;
  m->ax = to_fixed (a);
  m->bx = to_fixed (b);
  m->ay = to_fixed (d);
  m->by = to_fixed (e);
  /* The offsets include the half pixel to the first pixel centre. */
  m->cx = to_fixed (c2 + a * 0.5 + b * 0.5);
  m->cy = to_fixed (f2 + d * 0.5 + e * 0.5);
}

/* Nearest neighbour: the canvas pixel's centre mapped back, floored.
 * Returns 0 where the canvas pixel lies outside the rotated patch. */
static inline int
rotate_map_sample (const RotateMap *m, int X, int Y, int *px, int *py)
{
  int64_t x = fixed_floor (m->ax * X + m->bx * Y + m->cx);
  int64_t y = fixed_floor (m->ay * X + m->by * Y + m->cy);

  if (x < 0 || y < 0 || x >= m->w || y >= m->h)
    return 0;
  *px = (int) x;
  *py = (int) y;
  return 1;
}

void
cp_augment_rotated_size (int     w,
                         int     h,
                         double  angle,
                         int    *canvas_w,
                         int    *canvas_h)
{
  RotateMap map;

  rotate_map_init (&map, w, h, angle);
  *canvas_w = map.cw;
  *canvas_h = map.ch;
}

void
cp_augment_rotate_patch (const uint8_t *patch,
                         int            w,
                         int            h,
                         double         angle,
                         uint8_t       *canvas,
                         uint8_t       *coverage)
{
  RotateMap map;

  rotate_map_init (&map, w, h, angle);
  for (int cy = 0; cy < map.ch; cy++)
    for (int cx = 0; cx < map.cw; cx++)
      {
        size_t o = (size_t) cy * map.cw + cx;
        int px, py, in = rotate_map_sample (&map, cx, cy, &px, &py);

        if (coverage != NULL)
          coverage[o] = in ? 255 : 0;
        if (canvas != NULL)
          {
            if (in)
              memcpy (canvas + 3 * o, patch + ((size_t) py * w + px) * 3, 3);
            else
              memset (canvas + 3 * o, 0, 3);
          }
      }
}

static void
info_reset (CpAugmentInfo *info, CpAugmentKind kind)
{
  memset (info, 0, sizeof *info);
  info->kind = kind;
  cp_jitter_draw (NULL, 0.0, &info->image_jitter);
  cp_jitter_draw (NULL, 0.0, &info->patch_jitter);
}

/* The work of cp_augment_cutpaste with caller-provided scratch of at least
 * size * size * 3 bytes. */
static void
cutpaste_into (const CpAugmentConfig *config, CpRng *rng,
               const uint8_t *image, int size, uint8_t *out,
               uint8_t *scratch, CpAugmentInfo *info)
{
  double area, aspect, log_aspect;
  int w, h;

  area = cp_rng_uniform_range (rng, config->area_min, config->area_max)
         * (double) size * (double) size;
  log_aspect = log (config->aspect_min);
  aspect = exp (cp_rng_uniform_range (rng, log_aspect, -log_aspect));
  /* rint rounds half to even in the default mode, like Python's round. */
  w = clamp_int ((int) rint (sqrt (area * aspect)), 1, size);
  h = clamp_int ((int) rint (sqrt (area / aspect)), 1, size);

  info->kind = CP_AUGMENT_KIND_CUTPASTE;
  info->w = info->paste_w = w;
  info->h = info->paste_h = h;
  info->angle = 0.0;
  info->src_x = draw_corner (rng, size, w);
  info->src_y = draw_corner (rng, size, h);
  copy_rect (image, size, info->src_x, info->src_y, w, h, scratch);
  cp_jitter_draw (rng, config->patch_jitter, &info->patch_jitter);
  cp_jitter_apply (&info->patch_jitter, scratch, w, h, (size_t) w * 3);
  info->dst_x = draw_corner (rng, size, w);
  info->dst_y = draw_corner (rng, size, h);

  memcpy (out, image, (size_t) size * size * 3);
  for (int r = 0; r < h; r++)
    memcpy (out + ((size_t) (info->dst_y + r) * size + info->dst_x) * 3,
            scratch + (size_t) r * w * 3, (size_t) w * 3);
}

static void
scar_into (const CpAugmentConfig *config, CpRng *rng,
           const uint8_t *image, int size, uint8_t *out,
           uint8_t *scratch, CpAugmentInfo *info)
{
  RotateMap map;
  int w, h;

  /* Pillow's crop rounds the reference's float box, so the size is the
   * rounded uniform draw. */
  w = clamp_int ((int) rint (cp_rng_uniform_range (rng, config->scar_w_min,
                                                   config->scar_w_max)), 1, size);
  h = clamp_int ((int) rint (cp_rng_uniform_range (rng, config->scar_h_min,
                                                   config->scar_h_max)), 1, size);
  info->kind = CP_AUGMENT_KIND_SCAR;
  info->w = w;
  info->h = h;
  info->src_x = draw_corner (rng, size, w);
  info->src_y = draw_corner (rng, size, h);
  copy_rect (image, size, info->src_x, info->src_y, w, h, scratch);
  cp_jitter_draw (rng, config->patch_jitter, &info->patch_jitter);
  cp_jitter_apply (&info->patch_jitter, scratch, w, h, (size_t) w * 3);

  info->angle = cp_rng_uniform_range (rng, -config->scar_angle_max,
                                      config->scar_angle_max);
  rotate_map_init (&map, w, h, info->angle);
  info->paste_w = map.cw;
  info->paste_h = map.ch;
  /* The rotated canvas, not the cut rectangle, must fit: x with the
   * canvas width, y with its height. */
  info->dst_x = draw_corner (rng, size, map.cw);
  info->dst_y = draw_corner (rng, size, map.ch);

  memcpy (out, image, (size_t) size * size * 3);
  for (int cy = 0; cy < map.ch; cy++)
    {
      int oy = info->dst_y + cy;

      if (oy < 0 || oy >= size)
        continue;
      for (int cx = 0; cx < map.cw; cx++)
        {
          int ox = info->dst_x + cx, px, py;

          if (ox < 0 || ox >= size || !rotate_map_sample (&map, cx, cy, &px, &py))
            continue;
          memcpy (out + ((size_t) oy * size + ox) * 3,
                  scratch + ((size_t) py * w + px) * 3, 3);
        }
    }
}

typedef void (*AugmentFn) (const CpAugmentConfig *, CpRng *, const uint8_t *,
                           int, uint8_t *, uint8_t *, CpAugmentInfo *);

static CpStatus
augment_one (AugmentFn fn, const CpAugmentConfig *config, CpRng *rng,
             const uint8_t *image, int size, uint8_t *out,
             CpAugmentInfo *info, CpError *error)
{
  CpAugmentInfo local;
  uint8_t *scratch;
  CpStatus status;

  if ((status = cp_augment_config_validate (config, error)) != CP_OK
      || (status = check_size (size, error)) != CP_OK)
    return status;
  if (rng == NULL || image == NULL || out == NULL || image == out)
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: rng, image and a distinct out are required");
  scratch = malloc ((size_t) size * size * 3);
  if (scratch == NULL)
    return cp_error_set (error, CP_ERR_NOMEM,
                         "augment: no memory for a %d x %d patch", size, size);
  if (info == NULL)
    info = &local;
  info_reset (info, CP_AUGMENT_KIND_NONE);
  fn (config, rng, image, size, out, scratch, info);
  free (scratch);
  return CP_OK;
}

CpStatus
cp_augment_cutpaste (const CpAugmentConfig *config,
                     CpRng                 *rng,
                     const uint8_t         *image,
                     int                    size,
                     uint8_t               *out,
                     CpAugmentInfo         *info,
                     CpError               *error)
{
  return augment_one (cutpaste_into, config, rng, image, size, out, info, error);
}

CpStatus
cp_augment_scar (const CpAugmentConfig *config,
                 CpRng                 *rng,
                 const uint8_t         *image,
                 int                    size,
                 uint8_t               *out,
                 CpAugmentInfo         *info,
                 CpError               *error)
{
  return augment_one (scar_into, config, rng, image, size, out, info, error);
}

/* All views of source image @i, from its own generator. */
static void
augment_image (const CpAugmentConfig *config, CpRng *rng,
               const uint8_t *source, int batch, int i, int size,
               uint8_t *out, int32_t *labels, CpAugmentInfo *info,
               uint8_t *scratch)
{
  size_t image_bytes = (size_t) size * size * 3;
  int views = cp_augment_variant_num_views (config->variant);
  uint8_t *original = out + (size_t) i * image_bytes;
  uint8_t *view1 = out + ((size_t) batch + i) * image_bytes;
  uint8_t *view2 = out + ((size_t) 2 * batch + i) * image_bytes;
  CpJitterParams jitter;
  CpAugmentInfo views_info[3];

  /* Every view of this image derives from the same jittered original, as
   * in the reference (ColorJitter runs before CutPaste). */
  memcpy (original, source, image_bytes);
  cp_jitter_draw (rng, config->image_jitter, &jitter);
  cp_jitter_apply (&jitter, original, size, size, (size_t) size * 3);

  for (int v = 0; v < views; v++)
    info_reset (&views_info[v], CP_AUGMENT_KIND_NONE);
  switch (config->variant)
    {
    case CP_AUGMENT_3WAY:
      cutpaste_into (config, rng, original, size, view1, scratch, &views_info[1]);
      scar_into (config, rng, original, size, view2, scratch, &views_info[2]);
      break;
    case CP_AUGMENT_BINARY:
      cutpaste_into (config, rng, original, size, view1, scratch, &views_info[1]);
      break;
    case CP_AUGMENT_SCAR:
      scar_into (config, rng, original, size, view1, scratch, &views_info[1]);
      break;
    case CP_AUGMENT_UNION:
      if (cp_rng_uniform (rng) < 0.5)
        cutpaste_into (config, rng, original, size, view1, scratch, &views_info[1]);
      else
        scar_into (config, rng, original, size, view1, scratch, &views_info[1]);
      break;
    }

  for (int v = 0; v < views; v++)
    {
      size_t slot = (size_t) v * batch + i;

      if (labels != NULL)
        labels[slot] = v;
      if (info != NULL)
        {
          views_info[v].image_jitter = jitter;
          info[slot] = views_info[v];
        }
    }
}

typedef struct
{
  const CpAugmentConfig *config;
  CpRng                 *rngs;     /* one per source image */
  const uint8_t *const  *sources;
  int                    batch, size, first, step;
  uint8_t               *out;
  int32_t               *labels;
  CpAugmentInfo         *info;
  int                    failed;   /* no memory for the scratch patch */
} BatchStripe;

/* Images first, first + step, ... of the batch. */
static void *
batch_stripe_run (void *data)
{
  BatchStripe *st = data;
  uint8_t *scratch = malloc ((size_t) st->size * st->size * 3);

  if (scratch == NULL)
    {
      st->failed = 1;
      return NULL;
    }
  for (int i = st->first; i < st->batch; i += st->step)
    augment_image (st->config, &st->rngs[i], st->sources[i], st->batch, i,
                   st->size, st->out, st->labels, st->info, scratch);
  free (scratch);
  return NULL;
}

CpStatus
cp_augment_batch_threaded (const CpAugmentConfig *config,
                           CpRng                 *rng,
                           const uint8_t *const  *sources,
                           int                    batch,
                           int                    size,
                           uint8_t               *out,
                           int32_t               *labels,
                           CpAugmentInfo         *info,
                           int                    n_threads,
                           CpError               *error)
{
  BatchStripe stripes[CP_AUGMENT_MAX_THREADS];
  pthread_t threads[CP_AUGMENT_MAX_THREADS];
  int started[CP_AUGMENT_MAX_THREADS] = { 0 };
  CpRng *rngs;
  int failed = 0;
  CpStatus status;

  if ((status = cp_augment_config_validate (config, error)) != CP_OK
      || (status = check_size (size, error)) != CP_OK)
    return status;
  if (batch < 1)
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: batch size %d must be at least 1", batch);
  if (rng == NULL || sources == NULL || out == NULL)
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: rng, sources and out are required");
  for (int i = 0; i < batch; i++)
    if (sources[i] == NULL)
      return cp_error_set (error, CP_ERR_INVALID,
                           "augment: source image %d is NULL", i);

  /* One generator per image, split off in order before any work: the bytes
   * then depend on the seed only, never on the number of threads. */
  rngs = malloc (sizeof *rngs * (size_t) batch);
  if (rngs == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "augment: no memory for %d generators",
                         batch);
  for (int i = 0; i < batch; i++)
    cp_rng_split (rng, &rngs[i]);

  if (n_threads < 1)
    n_threads = 1;
  if (n_threads > CP_AUGMENT_MAX_THREADS)
    n_threads = CP_AUGMENT_MAX_THREADS;
  if (n_threads > batch)
    n_threads = batch;
  for (int t = 0; t < n_threads; t++)
    stripes[t] = (BatchStripe) { config, rngs, sources, batch, size, t, n_threads,
                                 out, labels, info, 0 };
  /* Stripe 0 runs here; a thread that cannot start runs here too. */
  for (int t = 1; t < n_threads; t++)
    started[t] = pthread_create (&threads[t], NULL, batch_stripe_run, &stripes[t]) == 0;
  batch_stripe_run (&stripes[0]);
  for (int t = 1; t < n_threads; t++)
    {
      if (started[t])
        pthread_join (threads[t], NULL);
      else
        batch_stripe_run (&stripes[t]);
    }
  for (int t = 0; t < n_threads; t++)
    failed |= stripes[t].failed;
  free (rngs);
  if (failed)
    return cp_error_set (error, CP_ERR_NOMEM,
                         "augment: no memory for a %d x %d patch", size, size);
  return CP_OK;
}

CpStatus
cp_augment_batch (const CpAugmentConfig *config,
                  CpRng                 *rng,
                  const uint8_t *const  *sources,
                  int                    batch,
                  int                    size,
                  uint8_t               *out,
                  int32_t               *labels,
                  CpAugmentInfo         *info,
                  CpError               *error)
{
  return cp_augment_batch_threaded (config, rng, sources, batch, size, out,
                                    labels, info, 1, error);
}

CpStatus
cp_augment_random_crop (CpRng         *rng,
                        const uint8_t *image,
                        int            width,
                        int            height,
                        int            crop,
                        uint8_t       *out,
                        int           *x,
                        int           *y,
                        CpError       *error)
{
  int cx, cy;

  if (rng == NULL || image == NULL || out == NULL)
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: rng, image and out are required for a crop");
  if (crop < 1 || crop > width || crop > height)
    return cp_error_set (error, CP_ERR_INVALID,
                         "augment: crop %d does not fit a %d x %d image",
                         crop, width, height);
  cx = (int) cp_rng_int_range (rng, 0, width - crop);
  cy = (int) cp_rng_int_range (rng, 0, height - crop);
  for (int r = 0; r < crop; r++)
    memcpy (out + (size_t) r * crop * 3,
            image + ((size_t) (cy + r) * width + cx) * 3, (size_t) crop * 3);
  if (x != NULL)
    *x = cx;
  if (y != NULL)
    *y = cy;
  return CP_OK;
}

void
cp_augment_info_mask (const CpAugmentInfo *info,
                      int                  size,
                      uint8_t             *mask)
{
  memset (mask, 0, (size_t) size * size);
  if (info->kind == CP_AUGMENT_KIND_CUTPASTE)
    {
      for (int y = info->dst_y; y < info->dst_y + info->paste_h; y++)
        for (int x = info->dst_x; x < info->dst_x + info->paste_w; x++)
          if (x >= 0 && x < size && y >= 0 && y < size)
            mask[(size_t) y * size + x] = 255;
    }
  else if (info->kind == CP_AUGMENT_KIND_SCAR)
    {
      RotateMap map;

      /* The same map as the paste, so the mask is its coverage exactly. */
      rotate_map_init (&map, info->w, info->h, info->angle);
      for (int cy = 0; cy < map.ch; cy++)
        for (int cx = 0; cx < map.cw; cx++)
          {
            int x = info->dst_x + cx, y = info->dst_y + cy, px, py;

            if (x >= 0 && x < size && y >= 0 && y < size
                && rotate_map_sample (&map, cx, cy, &px, &py))
              mask[(size_t) y * size + x] = 255;
          }
    }
}
