/* color-jitter.c: ColorJitter with Pillow's 8-bit rounding. */
#include "color-jitter.h"

#include <math.h>
#include <string.h>

/* Image.blend (degenerate, image, alpha) for one channel value.  Pillow
 * takes alpha as a C float and evaluates in single precision; the result is
 * truncated towards zero and clamped, never rounded. */
static inline uint8_t
blend_u8 (int degenerate, int value, float alpha)
{
  float t = (float) degenerate + alpha * (float) (value - degenerate);

  /* Branch-free clamp (same result as Pillow's tests) so loops vectorise. */
  t = fminf (fmaxf (t, 0.0f), 255.0f);
  return (uint8_t) (int) t;
}

void
cp_adjust_brightness (uint8_t *pixels,
                      int      width,
                      int      height,
                      size_t   stride,
                      double   factor)
{
  float alpha = (float) factor;
  uint8_t lut[256];

  /* The degenerate image is black, so each value maps on its own. */
  for (int v = 0; v < 256; v++)
    lut[v] = blend_u8 (0, v, alpha);
  for (int y = 0; y < height; y++)
    {
      uint8_t *row = pixels + (size_t) y * stride;

      for (int x = 0; x < 3 * width; x++)
        row[x] = lut[row[x]];
    }
}

void
cp_adjust_contrast (uint8_t *pixels,
                    int      width,
                    int      height,
                    size_t   stride,
                    double   factor)
{
  float alpha = (float) factor;
  uint64_t sum = 0;
  double mean;
  int grey;
  uint8_t lut[256];

  if (width <= 0 || height <= 0)
    return;
  /* ImageEnhance.Contrast: a flat image at the rounded mean of the L
   * (greyscale) version of the input. */
  for (int y = 0; y < height; y++)
    {
      const uint8_t *row = pixels + (size_t) y * stride;

      for (int x = 0; x < width; x++)
        sum += cp_rgb_to_gray (row + 3 * x);
    }
  mean = (double) sum / ((double) width * (double) height);
  grey = (int) (mean + 0.5);
  for (int v = 0; v < 256; v++)
    lut[v] = blend_u8 (grey, v, alpha);
  for (int y = 0; y < height; y++)
    {
      uint8_t *row = pixels + (size_t) y * stride;

      for (int x = 0; x < 3 * width; x++)
        row[x] = lut[row[x]];
    }
}

void
cp_adjust_saturation (uint8_t *pixels,
                      int      width,
                      int      height,
                      size_t   stride,
                      double   factor)
{
  float alpha = (float) factor;

  /* ImageEnhance.Color: blend with the pixel's own grey. */
  for (int y = 0; y < height; y++)
    {
      uint8_t *p = pixels + (size_t) y * stride;

      for (int x = 0; x < width; x++, p += 3)
        {
          int grey = cp_rgb_to_gray (p);

          p[0] = blend_u8 (grey, p[0], alpha);
          p[1] = blend_u8 (grey, p[1], alpha);
          p[2] = blend_u8 (grey, p[2], alpha);
        }
    }
}

static inline uint8_t
clip8 (int v)
{
  return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t) v;
}

/* C's round () (half away from zero) for x >= 0, without the library call:
 * x - trunc (x) is exact below 2^52. */
static inline int
round_nonneg (double x)
{
  int i = (int) x;

  return x - (double) i >= 0.5 ? i + 1 : i;
}

/* The float/double mix below is deliberate: it reproduces the precision of
 * Pillow's conversion (float intermediates, double constants), so that the
 * truncations land on the same integers. */
void
cp_rgb_to_hsv8 (const uint8_t *rgb,
                uint8_t       *hsv)
{
  int r = rgb[0], g = rgb[1], b = rgb[2];
  int hi = r > g ? (r > b ? r : b) : (g > b ? g : b);
  int lo = r < g ? (r < b ? r : b) : (g < b ? g : b);
  float range, sat, dr, dg, db, hue;

  hsv[2] = (uint8_t) hi;
  if (hi == lo)
    {
      hsv[0] = 0;
      hsv[1] = 0;
      return;
    }
  range = (float) (hi - lo);
  sat = range / (float) hi;
  dr = (float) (hi - r) / range;
  dg = (float) (hi - g) / range;
  db = (float) (hi - b) / range;
  if (r == hi)
    hue = db - dg;
  else if (g == hi)
    hue = 2.0 + dr - db;
  else
    hue = 4.0 + dg - dr;
  /* Sextant units to a fraction of the circle in [0, 1): Pillow's
   * fmod (hue / 6 + 1, 1).  The argument lies in [5/6, 2), where fmod is an
   * exact conditional subtraction, and that is much cheaper. */
  {
    double turn = hue / 6.0 + 1.0;

    hue = turn >= 1.0 ? turn - 1.0 : turn;
  }
  hsv[0] = clip8 ((int) (hue * 255.0));
  hsv[1] = clip8 ((int) (sat * 255.0));
}

void
cp_hsv8_to_rgb (const uint8_t *hsv,
                uint8_t       *rgb)
{
  int h = hsv[0], s = hsv[1], v = hsv[2];
  int sextant;
  float frac, fs;
  uint8_t lo, falling, rising;

  if (s == 0)
    {
      rgb[0] = rgb[1] = rgb[2] = (uint8_t) v;
      return;
    }
  /* h * 6 / 255 >= 0, so truncation is Pillow's floor. */
  sextant = (int) ((float) h * 6.0 / 255.0);
  frac = (float) h * 6.0 / 255.0 - (float) sextant;
  fs = (float) s / 255.0;
  lo = clip8 (round_nonneg ((float) v * (1.0 - fs)));
  falling = clip8 (round_nonneg ((float) v * (1.0 - fs * frac)));
  rising = clip8 (round_nonneg ((float) v * (1.0 - fs * (1.0 - frac))));

  /* Which channel holds V, which rises and which falls in each sixth of the
   * circle; h = 255 gives sextant 6, the same as 0. */
  switch (sextant % 6)
    {
    case 0: rgb[0] = v;       rgb[1] = rising;  rgb[2] = lo;      break;
    case 1: rgb[0] = falling; rgb[1] = v;       rgb[2] = lo;      break;
    case 2: rgb[0] = lo;      rgb[1] = v;       rgb[2] = rising;  break;
    case 3: rgb[0] = lo;      rgb[1] = falling; rgb[2] = v;       break;
    case 4: rgb[0] = rising;  rgb[1] = lo;      rgb[2] = v;       break;
    default: rgb[0] = v;      rgb[1] = lo;      rgb[2] = falling; break;
    }
}

void
cp_adjust_hue (uint8_t *pixels,
               int      width,
               int      height,
               size_t   stride,
               double   shift)
{
  /* torchvision adds np.uint8 (hue * 255) to the H channel with uint8
   * wrap-around; the float-to-int conversion truncates towards zero, so a
   * negative shift wraps to 256 - trunc (|hue| * 255). */
  int add = ((int) (shift * 255.0)) & 0xff;

  for (int y = 0; y < height; y++)
    {
      uint8_t *p = pixels + (size_t) y * stride;

      for (int x = 0; x < width; x++, p += 3)
        {
          uint8_t hsv[3];

          cp_rgb_to_hsv8 (p, hsv);
          hsv[0] = (uint8_t) ((hsv[0] + add) & 0xff);
          cp_hsv8_to_rgb (hsv, p);
        }
    }
}

void
cp_jitter_draw (CpRng          *rng,
                double          strength,
                CpJitterParams *params)
{
  double low = strength < 1.0 ? 1.0 - strength : 0.0;
  double hue = strength < 0.5 ? strength : 0.5;

  /* Zero the padding too, so that equal draws compare equal bytewise. */
  memset (params, 0, sizeof *params);
  params->brightness = params->contrast = params->saturation = 1.0;
  params->hue = 0.0;
  for (int i = 0; i < 4; i++)
    params->order[i] = i;
  params->enabled = strength > 0.0;
  if (!params->enabled)
    return;

  /* torch.randperm (4) first, then the four factors. */
  for (int i = 3; i > 0; i--)
    {
      int j = (int) cp_rng_int_range (rng, 0, i);
      int t = params->order[i];

      params->order[i] = params->order[j];
      params->order[j] = t;
    }
  params->brightness = cp_rng_uniform_range (rng, low, 1.0 + strength);
  params->contrast = cp_rng_uniform_range (rng, low, 1.0 + strength);
  params->saturation = cp_rng_uniform_range (rng, low, 1.0 + strength);
  params->hue = cp_rng_uniform_range (rng, -hue, hue);
}

void
cp_jitter_apply (const CpJitterParams *params,
                 uint8_t              *pixels,
                 int                   width,
                 int                   height,
                 size_t                stride)
{
  if (!params->enabled)
    return;
  for (int i = 0; i < 4; i++)
    switch ((CpJitterOp) params->order[i])
      {
      case CP_JITTER_BRIGHTNESS:
        cp_adjust_brightness (pixels, width, height, stride, params->brightness);
        break;
      case CP_JITTER_CONTRAST:
        cp_adjust_contrast (pixels, width, height, stride, params->contrast);
        break;
      case CP_JITTER_SATURATION:
        cp_adjust_saturation (pixels, width, height, stride, params->saturation);
        break;
      case CP_JITTER_HUE:
        cp_adjust_hue (pixels, width, height, stride, params->hue);
        break;
      }
}
