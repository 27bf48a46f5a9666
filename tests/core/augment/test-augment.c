/* test-augment.c: colour jitter, CutPaste, scar, batches and normalisation
 * (SPEC section 2) checked on real images against hand-computed values and
 * against geometry computed independently of the implementation. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "core/augment/augment.h"

/* A textured test image whose neighbouring pixels differ, so a pasted
 * patch almost never leaves a pixel unchanged by accident. */
static uint8_t *
make_image (int size, uint64_t seed)
{
  uint8_t *img = malloc ((size_t) size * size * 3);
  CpRng rng;

  cp_rng_seed (&rng, seed);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        uint8_t *p = img + ((size_t) y * size + x) * 3;

        p[0] = (uint8_t) (128 + 100 * sin (x * 0.21 + y * 0.05)
                          + cp_rng_int_range (&rng, -20, 20));
        p[1] = (uint8_t) (128 + 90 * cos (y * 0.17 - x * 0.03)
                          + cp_rng_int_range (&rng, -20, 20));
        p[2] = (uint8_t) cp_rng_int_range (&rng, 0, 255);
      }
  return img;
}

static void
test_variant_names (void)
{
  static const char *names[] = { "3way", "binary", "scar", "union" };
  static const int classes[] = { 3, 2, 2, 2 };
  CpAugmentVariant v;

  for (int i = 0; i < 4; i++)
    {
      CHECK (cp_augment_variant_from_string (names[i], &v));
      CHECK (v == (CpAugmentVariant) i);
      CHECK (strcmp (cp_augment_variant_to_string (v), names[i]) == 0);
      CHECK (cp_augment_variant_num_classes (v) == classes[i]);
      CHECK (cp_augment_variant_num_views (v) == classes[i]);
    }
  CHECK (cp_augment_variant_from_string ("3WAY", &v) && v == CP_AUGMENT_3WAY);
  v = CP_AUGMENT_SCAR;
  CHECK (!cp_augment_variant_from_string ("4way", &v));
  CHECK (!cp_augment_variant_from_string (NULL, &v));
  CHECK (v == CP_AUGMENT_SCAR);
  CHECK (cp_augment_variant_to_string ((CpAugmentVariant) 7) == NULL);
}

static void
test_gray_weights (void)
{
  /* 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1. */
  CHECK (cp_rgb_to_gray ((const uint8_t[]) { 255, 0, 0 }) == 76);
  CHECK (cp_rgb_to_gray ((const uint8_t[]) { 0, 255, 0 }) == 150);
  CHECK (cp_rgb_to_gray ((const uint8_t[]) { 0, 0, 255 }) == 29);
  CHECK (cp_rgb_to_gray ((const uint8_t[]) { 255, 255, 255 }) == 255);
  CHECK (cp_rgb_to_gray ((const uint8_t[]) { 0, 0, 0 }) == 0);
  /* 59.8 + 58.7 + 5.7 = 124.2 */
  CHECK (cp_rgb_to_gray ((const uint8_t[]) { 200, 100, 50 }) == 124);

  /* Everywhere within rounding of the 601 weights. */
  for (int r = 0; r < 256; r += 5)
    for (int g = 0; g < 256; g += 7)
      for (int b = 0; b < 256; b += 11)
        {
          uint8_t p[3] = { (uint8_t) r, (uint8_t) g, (uint8_t) b };
          double l = 0.299 * r + 0.587 * g + 0.114 * b;

          CHECK_MSG (fabs (cp_rgb_to_gray (p) - l) <= 0.51,
                     "(%d,%d,%d) -> %d, luma %.3f", r, g, b, cp_rgb_to_gray (p), l);
        }
}

static void
test_brightness (void)
{
  uint8_t px[6] = { 100, 33, 250, 0, 10, 255 };

  /* 1.1 * (100, 33, 250) = (110, 36.3, 275) -> truncated, clamped. */
  cp_adjust_brightness (px, 2, 1, 6, 1.1);
  CHECK (px[0] == 110 && px[1] == 36 && px[2] == 255);
  CHECK (px[3] == 0 && px[4] == 11 && px[5] == 255);

  /* 0.9 * 33 = 29.7 -> 29: Pillow truncates, it does not round. */
  uint8_t q[3] = { 33, 255, 1 };
  cp_adjust_brightness (q, 1, 1, 3, 0.9);
  CHECK (q[0] == 29 && q[1] == 229 && q[2] == 0);
}

static void
test_contrast (void)
{
  /* Greys 0 and 210: mean 105.  0.9: 105 - 94.5 = 10.5 -> 10,
   * 105 + 94.5 = 199.5 -> 199.  1.1: -10.5 -> 0, 220.5 -> 220. */
  uint8_t a[6] = { 0, 0, 0, 210, 210, 210 };
  uint8_t b[6] = { 0, 0, 0, 210, 210, 210 };

  cp_adjust_contrast (a, 2, 1, 6, 0.9);
  CHECK (a[0] == 10 && a[1] == 10 && a[2] == 10);
  CHECK (a[3] == 199 && a[4] == 199 && a[5] == 199);
  cp_adjust_contrast (b, 2, 1, 6, 1.1);
  CHECK (b[0] == 0 && b[3] == 220);

  /* The mean grey is rounded half up: greys 0 and 3 give 1.5 -> 2, and a
   * factor of 0 returns the flat mean image. */
  uint8_t c[6] = { 0, 0, 0, 3, 3, 3 };
  cp_adjust_contrast (c, 2, 1, 6, 0.0);
  for (int i = 0; i < 6; i++)
    CHECK (c[i] == 2);

  /* The mean is of the greys (L), not of the channels: pure red and black
   * -> greys 76 and 0 -> mean 38. */
  uint8_t d[6] = { 255, 0, 0, 0, 0, 0 };
  cp_adjust_contrast (d, 2, 1, 6, 0.0);
  for (int i = 0; i < 6; i++)
    CHECK (d[i] == 38);

  /* A stride larger than the row: only the rectangle is read and written. */
  uint8_t e[2 * 9];
  memset (e, 77, sizeof e);
  e[0] = 0; e[1] = 0; e[2] = 0;  e[3] = 210; e[4] = 210; e[5] = 210;
  e[9] = 0; e[10] = 0; e[11] = 0; e[12] = 210; e[13] = 210; e[14] = 210;
  cp_adjust_contrast (e, 2, 2, 9, 0.9);
  CHECK (e[0] == 10 && e[3] == 199 && e[9] == 10 && e[12] == 199);
  CHECK (e[6] == 77 && e[7] == 77 && e[8] == 77 && e[15] == 77);
}

static void
test_saturation (void)
{
  /* (200, 100, 50) has grey 124.  1.1: 124 + 1.1 * (76, -24, -74) =
   * (207.6, 97.6, 42.6) -> (207, 97, 42). */
  uint8_t p[3] = { 200, 100, 50 };
  uint8_t q[3] = { 200, 100, 50 };

  cp_adjust_saturation (p, 1, 1, 3, 1.1);
  CHECK (p[0] == 207 && p[1] == 97 && p[2] == 42);
  cp_adjust_saturation (q, 1, 1, 3, 0.0);
  CHECK (q[0] == 124 && q[1] == 124 && q[2] == 124);
}

static void
test_hue (void)
{
  /* A third of the circle: red -> green -> blue -> red. */
  uint8_t red[3] = { 255, 0, 0 };
  uint8_t green[3] = { 0, 255, 0 };
  uint8_t blue[3] = { 0, 0, 255 };
  uint8_t hsv[3];

  cp_adjust_hue (red, 1, 1, 3, 1.0 / 3.0);
  CHECK_MSG (red[0] == 0 && red[1] == 255 && red[2] == 0,
             "red + 1/3 = (%d,%d,%d)", red[0], red[1], red[2]);
  cp_adjust_hue (green, 1, 1, 3, 1.0 / 3.0);
  CHECK_MSG (green[0] == 0 && green[1] == 0 && green[2] == 255,
             "green + 1/3 = (%d,%d,%d)", green[0], green[1], green[2]);
  /* Blue has H = 170; + 85 = 255 is sextant 6, the same as 0: red. */
  cp_adjust_hue (blue, 1, 1, 3, 1.0 / 3.0);
  CHECK_MSG (blue[0] == 255 && blue[1] == 0 && blue[2] == 0,
             "blue + 1/3 = (%d,%d,%d)", blue[0], blue[1], blue[2]);

  /* Pillow's 8-bit HSV of known colours. */
  cp_rgb_to_hsv8 ((const uint8_t[]) { 255, 0, 0 }, hsv);
  CHECK (hsv[0] == 0 && hsv[1] == 255 && hsv[2] == 255);
  cp_rgb_to_hsv8 ((const uint8_t[]) { 0, 255, 0 }, hsv);
  CHECK (hsv[0] == 85 && hsv[1] == 255 && hsv[2] == 255);
  cp_rgb_to_hsv8 ((const uint8_t[]) { 128, 128, 128 }, hsv);
  CHECK (hsv[0] == 0 && hsv[1] == 0 && hsv[2] == 128);
  /* (200, 100, 50): H = (100 - 50) / 150 / 6 = 0.0556 -> 14, S = 0.75 -> 191. */
  cp_rgb_to_hsv8 ((const uint8_t[]) { 200, 100, 50 }, hsv);
  CHECK (hsv[0] == 14 && hsv[1] == 191 && hsv[2] == 200);

  /* A negative shift wraps: -0.1 * 255 = -25.5 -> -25 -> H 0 + 231, which
   * lies in the last sextant (magenta side of red). */
  uint8_t r2[3] = { 255, 0, 0 };
  cp_adjust_hue (r2, 1, 1, 3, -0.1);
  CHECK_MSG (r2[0] == 255 && r2[1] == 0 && r2[2] > 100 && r2[2] < 180,
             "red - 0.1 = (%d,%d,%d)", r2[0], r2[1], r2[2]);

  /* Against a continuous (double precision) HSV rotation: the 8-bit H and
   * S quantisation of Pillow costs a few levels at most. */
  CpRng rng;
  int worst = 0;
  cp_rng_seed (&rng, 5);
  for (int n = 0; n < 20000; n++)
    {
      uint8_t p[3];
      double shift = cp_rng_uniform_range (&rng, -0.1, 0.1);
      double rgb[3], mx, mn, h, s, v, out[3];

      for (int c = 0; c < 3; c++)
        {
          p[c] = (uint8_t) cp_rng_int_range (&rng, 0, 255);
          rgb[c] = p[c] / 255.0;
        }
      mx = fmax (rgb[0], fmax (rgb[1], rgb[2]));
      mn = fmin (rgb[0], fmin (rgb[1], rgb[2]));
      v = mx;
      s = mx > 0 ? (mx - mn) / mx : 0;
      if (mx == mn)
        h = 0;
      else if (mx == rgb[0])
        h = (rgb[1] - rgb[2]) / (mx - mn);
      else if (mx == rgb[1])
        h = 2 + (rgb[2] - rgb[0]) / (mx - mn);
      else
        h = 4 + (rgb[0] - rgb[1]) / (mx - mn);
      /* torchvision adds trunc (shift * 255) to H = 255 * turn modulo 256
       * (not 255): model that wrap, and only the 8-bit rounding remains. */
      h = fmod (h / 6.0 + 1.0, 1.0) * 255.0 + (int) (shift * 255);
      h = fmod (fmod (h + 256.0, 256.0) / 255.0, 1.0) * 6.0;
      for (int c = 0; c < 3; c++)
        {
          /* the standard k-formula for HSV -> RGB */
          double k = fmod ((c == 0 ? 5.0 : c == 1 ? 3.0 : 1.0) + h, 6.0);
          out[c] = v - v * s * fmax (0.0, fmin (k, fmin (4.0 - k, 1.0)));
        }
      cp_adjust_hue (p, 1, 1, 3, shift);
      for (int c = 0; c < 3; c++)
        {
          int d = abs ((int) p[c] - (int) lround (out[c] * 255.0));
          if (d > worst)
            worst = d;
        }
    }
  /* Truncating H to 1/255 of a turn moves a channel by up to 6 levels,
   * truncating S by 1, and the final rounding by 1. */
  printf ("# hue: worst difference from continuous HSV %d levels\n", worst);
  CHECK (worst <= 8);
}

static void
test_jitter_draw (void)
{
  CpRng rng, before;
  CpJitterParams p;
  int first[4] = { 0 }, n = 20000;
  double sum[4] = { 0 };

  cp_rng_seed (&rng, 11);
  for (int i = 0; i < n; i++)
    {
      int seen = 0;

      cp_jitter_draw (&rng, 0.1, &p);
      CHECK (p.enabled);
      CHECK (p.brightness >= 0.9 && p.brightness <= 1.1);
      CHECK (p.contrast >= 0.9 && p.contrast <= 1.1);
      CHECK (p.saturation >= 0.9 && p.saturation <= 1.1);
      CHECK (p.hue >= -0.1 && p.hue <= 0.1);
      for (int k = 0; k < 4; k++)
        {
          CHECK (p.order[k] >= 0 && p.order[k] < 4);
          seen |= 1 << p.order[k];
        }
      CHECK (seen == 15);
      first[p.order[0]]++;
      sum[0] += p.brightness;
      sum[1] += p.contrast;
      sum[2] += p.saturation;
      sum[3] += p.hue;
    }
  for (int k = 0; k < 4; k++)
    CHECK_MSG (fabs (first[k] / (double) n - 0.25) < 0.02,
               "op %d first in %d of %d", k, first[k], n);
  for (int k = 0; k < 3; k++)
    CHECK_CLOSE (sum[k] / n, 1.0, 0.002, 0);
  CHECK_CLOSE (sum[3] / n, 0.0, 0.002, 0);

  /* Strength 0 is the identity and draws nothing. */
  before = rng;
  cp_jitter_draw (&rng, 0.0, &p);
  CHECK (!p.enabled);
  CHECK (memcmp (&before, &rng, sizeof rng) == 0);

  /* Apply runs the ops in the drawn order. */
  uint8_t *img = make_image (32, 3);
  uint8_t *a = malloc (32 * 32 * 3), *b = malloc (32 * 32 * 3);
  cp_jitter_draw (&rng, 0.3, &p);
  memcpy (a, img, 32 * 32 * 3);
  memcpy (b, img, 32 * 32 * 3);
  cp_jitter_apply (&p, a, 32, 32, 32 * 3);
  for (int k = 0; k < 4; k++)
    switch (p.order[k])
      {
      case CP_JITTER_BRIGHTNESS: cp_adjust_brightness (b, 32, 32, 96, p.brightness); break;
      case CP_JITTER_CONTRAST: cp_adjust_contrast (b, 32, 32, 96, p.contrast); break;
      case CP_JITTER_SATURATION: cp_adjust_saturation (b, 32, 32, 96, p.saturation); break;
      case CP_JITTER_HUE: cp_adjust_hue (b, 32, 32, 96, p.hue); break;
      }
  CHECK (memcmp (a, b, 32 * 32 * 3) == 0);
  CHECK (memcmp (a, img, 32 * 32 * 3) != 0);
  free (img);
  free (a);
  free (b);
}

static int
jitter_equal (const CpJitterParams *a, const CpJitterParams *b)
{
  return a->enabled == b->enabled && memcmp (a->order, b->order, sizeof a->order) == 0
         && a->brightness == b->brightness && a->contrast == b->contrast
         && a->saturation == b->saturation && a->hue == b->hue;
}

/* Field by field: struct padding is not part of the result. */
static int
infos_equal (const CpAugmentInfo *a, const CpAugmentInfo *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (a[i].kind != b[i].kind || a[i].src_x != b[i].src_x || a[i].src_y != b[i].src_y
        || a[i].w != b[i].w || a[i].h != b[i].h || a[i].dst_x != b[i].dst_x
        || a[i].dst_y != b[i].dst_y || a[i].paste_w != b[i].paste_w
        || a[i].paste_h != b[i].paste_h || a[i].angle != b[i].angle
        || !jitter_equal (&a[i].image_jitter, &b[i].image_jitter)
        || !jitter_equal (&a[i].patch_jitter, &b[i].patch_jitter))
      return 0;
  return 1;
}

/* Counts pixels that differ and checks they all lie in @mask. */
static int
changed_outside_mask (const uint8_t *a, const uint8_t *b, const uint8_t *mask,
                      int size, int *changed)
{
  int outside = 0;

  *changed = 0;
  for (int i = 0; i < size * size; i++)
    if (memcmp (a + 3 * i, b + 3 * i, 3) != 0)
      {
        (*changed)++;
        if (!mask[i])
          outside++;
      }
  return outside;
}

static void
check_cutpaste_sizes (int size, int draws, double patch_jitter)
{
  CpAugmentConfig cfg;
  CpAugmentInfo info;
  CpRng rng;
  CpError err;
  uint8_t *img = make_image (size, size);
  uint8_t *out = malloc ((size_t) size * size * 3);
  uint8_t *mask = malloc ((size_t) size * size);
  double sum_frac = 0, sum_log = 0, sum_log2 = 0, lo_log = 1e9, hi_log = -1e9;
  double min_frac = 1, max_frac = 0;
  int bins[4] = { 0 }, bad_outside = 0, bad_content = 0, bad_inside = 0;
  double la = log (0.3);

  cp_augment_config_init (&cfg, CP_AUGMENT_BINARY);
  cfg.patch_jitter = patch_jitter;
  cp_rng_seed (&rng, 1000 + size);
  for (int n = 0; n < draws; n++)
    {
      int changed;
      double frac, lr;

      CHECK (cp_augment_cutpaste (&cfg, &rng, img, size, out, &info, &err) == CP_OK);
      CHECK (info.kind == CP_AUGMENT_KIND_CUTPASTE);
      CHECK (info.paste_w == info.w && info.paste_h == info.h);
      if (!(info.src_x >= 0 && info.src_y >= 0 && info.src_x + info.w <= size
            && info.src_y + info.h <= size && info.dst_x >= 0 && info.dst_y >= 0
            && info.dst_x + info.w <= size && info.dst_y + info.h <= size
            && info.w >= 1 && info.h >= 1))
        bad_inside++;
      frac = (double) info.w * info.h / ((double) size * size);
      lr = log ((double) info.w / info.h);
      sum_frac += frac;
      min_frac = fmin (min_frac, frac);
      max_frac = fmax (max_frac, frac);
      sum_log += lr;
      sum_log2 += lr * lr;
      lo_log = fmin (lo_log, lr);
      hi_log = fmax (hi_log, lr);
      bins[lr < la / 2 ? 0 : lr < 0 ? 1 : lr < -la / 2 ? 2 : 3]++;

      /* Only the destination rectangle changes... */
      cp_augment_info_mask (&info, size, mask);
      bad_outside += changed_outside_mask (img, out, mask, size, &changed) != 0;
      /* ... and it holds the (jittered) source rectangle. */
      {
        uint8_t *patch = malloc ((size_t) info.w * info.h * 3);
        for (int r = 0; r < info.h; r++)
          memcpy (patch + (size_t) r * info.w * 3,
                  img + ((size_t) (info.src_y + r) * size + info.src_x) * 3,
                  (size_t) info.w * 3);
        cp_jitter_apply (&info.patch_jitter, patch, info.w, info.h, (size_t) info.w * 3);
        CHECK (patch_jitter > 0 || !info.patch_jitter.enabled);
        for (int r = 0; r < info.h; r++)
          if (memcmp (patch + (size_t) r * info.w * 3,
                      out + ((size_t) (info.dst_y + r) * size + info.dst_x) * 3,
                      (size_t) info.w * 3) != 0)
            {
              bad_content++;
              break;
            }
        free (patch);
      }
    }
  CHECK_MSG (bad_inside == 0, "%d patches outside a %d image", bad_inside, size);
  CHECK_MSG (bad_outside == 0, "%d images changed outside the rectangle", bad_outside);
  CHECK_MSG (bad_content == 0, "%d pasted rectangles differ from the source", bad_content);
  if (size >= 64)
    {
      /* The area is U(0.02, 0.15) before w and h are rounded; rounding moves
       * w * h by at most (w + h) / 2 + 1/4 pixels, a few percent at S = 64. */
      /* Rounding each side by up to half a pixel bounds how far w * h and
       * w / h stray from the drawn area and aspect; the shortest and longest
       * sides of the smallest patch set that bound. */
      double shortest = size * sqrt (0.02 * 0.3), longest = size * sqrt (0.02 / 0.3);
      double lo_area = 0.02 * (1 - 0.5 / shortest) * (1 - 0.5 / longest);
      double hi_area = 0.15 * (1 + 0.5 / (size * sqrt (0.15 * 0.3)))
                       * (1 + 0.5 / (size * sqrt (0.15 / 0.3))) + 0.25 / (size * size);
      double log_slack = log1p (0.5 / longest) - log1p (-0.5 / shortest);
      double mean = sum_frac / draws;
      double var = sum_log2 / draws - pow (sum_log / draws, 2);

      printf ("# cutpaste S=%d: area fraction %.4f..%.4f mean %.4f, "
              "log aspect %.3f..%.3f mean %.4f var %.4f, bins %d %d %d %d\n",
              size, min_frac, max_frac, mean, lo_log, hi_log, sum_log / draws,
              var, bins[0], bins[1], bins[2], bins[3]);
      CHECK_MSG (min_frac >= lo_area && max_frac <= hi_area,
                 "area fraction bounds %.4f..%.4f", lo_area, hi_area);
      CHECK (min_frac < 0.025 && max_frac > 0.14);
      CHECK_CLOSE (mean, 0.085, 0.003, 0);
      /* log aspect uniform on [ln 0.3, -ln 0.3]: mean 0, variance
       * (2 ln 0.3)^2 / 12 = 0.483, a quarter in each quarter. */
      CHECK_MSG (lo_log >= la - log_slack && hi_log <= -la + log_slack,
                 "log aspect bound %.3f", -la + log_slack);
      CHECK (lo_log < la + 0.05 && hi_log > -la - 0.05);
      CHECK_CLOSE (sum_log / draws, 0.0, 0.03, 0);
      CHECK_CLOSE (var, la * la * 4 / 12, 0.03, 0);
      /* At small sizes the rounding of w and h lumps the aspects; the
       * quarters are only meaningful at the full image size. */
      if (size >= 256)
        for (int k = 0; k < 4; k++)
          CHECK_MSG (fabs (bins[k] / (double) draws - 0.25) < 0.025,
                     "quarter %d holds %d of %d", k, bins[k], draws);
    }
  free (img);
  free (out);
  free (mask);
}

static void
test_cutpaste (void)
{
  check_cutpaste_sizes (256, 4000, 0.0);
  check_cutpaste_sizes (256, 500, 0.1);
  check_cutpaste_sizes (64, 4000, 0.1);
  check_cutpaste_sizes (16, 2000, 0.1);
}

/* Local coordinates of point (x, y) in a w x h rectangle centred at
 * (cx, cy) and rotated counter-clockwise on screen (y down) by @deg:
 * the rectangle is |u| <= w/2, |v| <= h/2. */
static void
to_local (double x, double y, double cx, double cy, double deg,
          double *u, double *v)
{
  double t = deg * M_PI / 180.0, dx = x - cx, dy = y - cy;

  /* Undo the rotation: a CCW turn on screen maps local (u, v) to
   * (u cos t + v sin t, -u sin t + v cos t). */
  *u = dx * cos (t) - dy * sin (t);
  *v = dx * sin (t) + dy * cos (t);
}

static void
check_scar (int size, int draws, double patch_jitter)
{
  CpAugmentConfig cfg;
  CpAugmentInfo info;
  CpRng rng;
  CpError err;
  uint8_t *img = make_image (size, 77 + size);
  uint8_t *out = malloc ((size_t) size * size * 3);
  uint8_t *mask = malloc ((size_t) size * size);
  int w_count[32] = { 0 }, h_count[32] = { 0 };
  int bad_size = 0, bad_angle = 0, bad_outside = 0, bad_geometry = 0;
  int bad_clip = 0, bad_content = 0, bad_area = 0, at_edge = 0;
  long content_checked = 0;
  double min_angle = 90, max_angle = -90, sum_angle = 0;

  cp_augment_config_init (&cfg, CP_AUGMENT_SCAR);
  cfg.patch_jitter = patch_jitter;
  cp_rng_seed (&rng, 2000 + size);
  for (int n = 0; n < draws; n++)
    {
      int changed, covered = 0;
      double cx, cy, e;

      CHECK (cp_augment_scar (&cfg, &rng, img, size, out, &info, &err) == CP_OK);
      CHECK (info.kind == CP_AUGMENT_KIND_SCAR);
      if (info.w < 2 || info.w > 16 || info.h < 10 || info.h > 25)
        bad_size++;
      else
        {
          w_count[info.w]++;
          h_count[info.h]++;
        }
      if (!(info.angle >= -45 && info.angle <= 45))
        bad_angle++;
      min_angle = fmin (min_angle, info.angle);
      max_angle = fmax (max_angle, info.angle);
      sum_angle += info.angle;
      CHECK (info.src_x >= 0 && info.src_x + info.w <= size
             && info.src_y >= 0 && info.src_y + info.h <= size);
      /* The whole rotated canvas lies inside the image. */
      if (!(info.dst_x >= 0 && info.dst_y >= 0 && info.dst_x + info.paste_w <= size
            && info.dst_y + info.paste_h <= size))
        bad_clip++;
      if (info.dst_x == 0 || info.dst_y == 0 || info.dst_x + info.paste_w == size
          || info.dst_y + info.paste_h == size)
        at_edge++;
      /* Bounding box of a rotated w x h rectangle, +1 for the pixel grid. */
      {
        double t = fabs (info.angle) * M_PI / 180.0;
        double bw = info.w * cos (t) + info.h * sin (t);
        double bh = info.w * sin (t) + info.h * cos (t);
        CHECK (info.paste_w >= floor (bw) && info.paste_w <= ceil (bw) + 1);
        CHECK (info.paste_h >= floor (bh) && info.paste_h <= ceil (bh) + 1);
      }

      cp_augment_info_mask (&info, size, mask);
      bad_outside += changed_outside_mask (img, out, mask, size, &changed) != 0;

      /* Independently of the implementation: a pixel is covered when its
       * centre falls inside the rotated rectangle.  Check the mask against
       * that over a window wider than the canvas, so that a scar clipped at
       * the border would show as coverage outside the image. */
      cx = info.dst_x + info.paste_w / 2.0;
      cy = info.dst_y + info.paste_h / 2.0;
      /* Pillow (and so the implementation) evaluates the map in 16.16
       * fixed point: each coefficient is off by up to 2^-17 and the error
       * grows with the distance across the canvas.  Pixels whose centre is
       * closer than that to an edge may fall either way. */
      e = (info.paste_w + info.paste_h + 2) * 0x1p-16;
      for (int y = info.dst_y - 4; y < info.dst_y + info.paste_h + 4; y++)
        for (int x = info.dst_x - 4; x < info.dst_x + info.paste_w + 4; x++)
          {
            double u, v;
            int inside_img = x >= 0 && y >= 0 && x < size && y < size;
            int m = inside_img && mask[(size_t) y * size + x];

            to_local (x + 0.5, y + 0.5, cx, cy, info.angle, &u, &v);
            covered += m;
            if (fabs (u) < info.w / 2.0 - e && fabs (v) < info.h / 2.0 - e)
              {
                /* Well inside: must be pasted, inside the image, and hold
                 * the source pixel under it (when the patch is not
                 * jittered). */
                double fx = u + info.w / 2.0, fy = v + info.h / 2.0;
                int sx = info.src_x + (int) floor (fx);
                int sy = info.src_y + (int) floor (fy);
                /* a centre on the line between two source pixels may take
                 * either */
                int sharp = fx - floor (fx) > e && ceil (fx) - fx > e
                            && fy - floor (fy) > e && ceil (fy) - fy > e;

                if (!inside_img || !m)
                  bad_geometry++;
                else if (patch_jitter == 0.0 && sharp)
                  {
                    content_checked++;
                    if (memcmp (out + ((size_t) y * size + x) * 3,
                                img + ((size_t) sy * size + sx) * 3, 3) != 0)
                      bad_content++;
                  }
              }
            else if (m && (fabs (u) > info.w / 2.0 + e || fabs (v) > info.h / 2.0 + e))
              bad_geometry++;
          }
      /* Nearest neighbour keeps the area to within the perimeter. */
      if (abs (covered - info.w * info.h) > info.w + info.h)
        bad_area++;
    }
  printf ("# scar S=%d: angle %.2f..%.2f mean %.3f, %d of %d at an edge, "
          "w=2: %d w=9: %d w=16: %d, h=10: %d h=17: %d h=25: %d\n",
          size, min_angle, max_angle, sum_angle / draws, at_edge, draws,
          w_count[2], w_count[9], w_count[16], h_count[10], h_count[17], h_count[25]);
  CHECK_MSG (bad_size == 0, "%d scar sizes out of range", bad_size);
  CHECK_MSG (bad_angle == 0, "%d angles out of range", bad_angle);
  CHECK_MSG (bad_clip == 0, "%d scars overhang the border", bad_clip);
  CHECK_MSG (bad_outside == 0, "%d scars changed pixels outside their coverage", bad_outside);
  CHECK_MSG (bad_geometry == 0, "%d pixels disagree with the rotated rectangle", bad_geometry);
  CHECK_MSG (bad_content == 0, "%d covered pixels hold the wrong source pixel", bad_content);
  /* about 200 pixels a scar, nearly all away from a pixel boundary */
  CHECK (patch_jitter > 0.0 || content_checked > 150L * draws);
  CHECK_MSG (bad_area == 0, "%d scars with the wrong area", bad_area);
  CHECK (min_angle < -44 && max_angle > 44);
  /* U(-45, 45) has standard deviation 26: four standard errors. */
  CHECK_CLOSE (sum_angle / draws, 0.0, 4 * 26.0 / sqrt (draws), 0);
  /* Each corner coordinate has about size - 20 values, so a scar touches
   * one of the four edges in about 4 / (size - 20) of the draws: the
   * border cases are exercised. */
  CHECK_MSG (at_edge > 2.0 * draws / size, "%d at an edge", at_edge);
  /* Every integer width and height occurs; the rounded uniform draw gives
   * the end values half the weight of the inner ones. */
  for (int k = 2; k <= 16; k++)
    CHECK (w_count[k] > 0);
  for (int k = 10; k <= 25; k++)
    CHECK (h_count[k] > 0);
  CHECK (w_count[2] < 0.75 * w_count[9] && w_count[16] < 0.75 * w_count[9]);
  CHECK (h_count[10] < 0.75 * h_count[17] && h_count[25] < 0.75 * h_count[17]);
  free (img);
  free (out);
  free (mask);
}

static void
test_scar (void)
{
  check_scar (256, 3000, 0.0);
  check_scar (64, 4000, 0.0);
  check_scar (64, 1000, 0.1);
}

static void
test_scar_tiny_image (void)
{
  /* At S = 16 a 25 px scar cannot fit: it is clamped and clipped, and only
   * its (clipped) coverage changes. */
  CpAugmentConfig cfg;
  CpAugmentInfo info;
  CpRng rng;
  uint8_t *img = make_image (16, 9);
  uint8_t out[16 * 16 * 3], mask[16 * 16];
  int bad = 0;

  cp_augment_config_init (&cfg, CP_AUGMENT_SCAR);
  cp_rng_seed (&rng, 4);
  for (int n = 0; n < 2000; n++)
    {
      int changed;

      CHECK (cp_augment_scar (&cfg, &rng, img, 16, out, &info, NULL) == CP_OK);
      CHECK (info.w <= 16 && info.h <= 16);
      cp_augment_info_mask (&info, 16, mask);
      bad += changed_outside_mask (img, out, mask, 16, &changed) != 0;
    }
  CHECK (bad == 0);
  free (img);
}

static void
run_batch (CpAugmentVariant variant, uint64_t seed, int b, int size,
           uint8_t *const *sources, uint8_t *out, int32_t *labels,
           CpAugmentInfo *info)
{
  CpAugmentConfig cfg;
  CpRng rng;
  CpError err;

  cp_augment_config_init (&cfg, variant);
  cp_rng_seed (&rng, seed);
  CHECK (cp_augment_batch (&cfg, &rng, (const uint8_t *const *) sources, b, size,
                           out, labels, info, &err) == CP_OK);
}

static void
test_batch_layout (void)
{
  enum { B = 5, S = 64 };
  size_t bytes = (size_t) S * S * 3;
  uint8_t *src[B];
  uint8_t *out = malloc (3 * B * bytes), *mask = malloc ((size_t) S * S);
  uint8_t *jittered = malloc (bytes);
  int32_t labels[3 * B];
  CpAugmentInfo info[3 * B];

  for (int i = 0; i < B; i++)
    src[i] = make_image (S, 300 + i);
  for (int variant = 0; variant < CP_AUGMENT_N_VARIANTS; variant++)
    {
      int views = cp_augment_variant_num_views (variant);

      memset (labels, 0xff, sizeof labels);
      run_batch (variant, 42, B, S, src, out, labels, info);
      for (int v = 0; v < views; v++)
        for (int i = 0; i < B; i++)
          {
            size_t slot = (size_t) v * B + i;
            int changed;
            CpAugmentKind want;

            CHECK (labels[slot] == v);
            if (v == 0)
              {
                /* The original is the source under the recorded jitter. */
                memcpy (jittered, src[i], bytes);
                CHECK (info[slot].image_jitter.enabled);
                cp_jitter_apply (&info[slot].image_jitter, jittered, S, S, S * 3);
                CHECK (memcmp (jittered, out + slot * bytes, bytes) == 0);
                CHECK (info[slot].kind == CP_AUGMENT_KIND_NONE);
                continue;
              }
            /* Augmented views differ from the jittered original only where
             * their patch went. */
            want = variant == CP_AUGMENT_SCAR || v == 2 ? CP_AUGMENT_KIND_SCAR
                   : CP_AUGMENT_KIND_CUTPASTE;
            if (variant == CP_AUGMENT_UNION)
              CHECK (info[slot].kind == CP_AUGMENT_KIND_SCAR
                     || info[slot].kind == CP_AUGMENT_KIND_CUTPASTE);
            else
              CHECK (info[slot].kind == want);
            CHECK (jitter_equal (&info[slot].image_jitter, &info[i].image_jitter));
            cp_augment_info_mask (&info[slot], S, mask);
            CHECK (changed_outside_mask (out + (size_t) i * bytes,
                                         out + slot * bytes, mask, S, &changed) == 0);
            CHECK (changed > 0);
          }
    }

  /* Without whole-image jitter the originals are the sources verbatim. */
  {
    CpAugmentConfig cfg;
    CpRng rng;

    cp_augment_config_init (&cfg, CP_AUGMENT_3WAY);
    cfg.image_jitter = 0.0;
    cp_rng_seed (&rng, 1);
    CHECK (cp_augment_batch (&cfg, &rng, (const uint8_t *const *) src, B, S,
                             out, NULL, NULL, NULL) == CP_OK);
    for (int i = 0; i < B; i++)
      CHECK (memcmp (out + (size_t) i * bytes, src[i], bytes) == 0);
  }
  for (int i = 0; i < B; i++)
    free (src[i]);
  free (out);
  free (mask);
  free (jittered);
}

static void
test_union_balance (void)
{
  enum { B = 100, S = 16 };
  size_t bytes = (size_t) S * S * 3;
  uint8_t *src[B];
  uint8_t *out = malloc (2 * B * bytes);
  CpAugmentInfo info[2 * B];
  int scar = 0, total = 0;

  src[0] = make_image (S, 1);
  for (int i = 1; i < B; i++)
    src[i] = src[0];       /* sources may repeat */
  for (int round = 0; round < 30; round++)
    {
      run_batch (CP_AUGMENT_UNION, 500 + round, B, S, src, out, NULL, info);
      for (int i = 0; i < B; i++)
        {
          scar += info[B + i].kind == CP_AUGMENT_KIND_SCAR;
          total++;
        }
    }
  printf ("# union: %d scar of %d\n", scar, total);
  /* 3000 fair coin flips: 5 sigma is 0.046. */
  CHECK (fabs (scar / (double) total - 0.5) < 0.046);
  free (src[0]);
  free (out);
}

static void
test_determinism (void)
{
  enum { B = 4, S = 64 };
  size_t bytes = (size_t) S * S * 3;
  uint8_t *src[B];
  uint8_t *a = malloc (3 * B * bytes), *b = malloc (3 * B * bytes);
  int32_t la[3 * B], lb[3 * B];
  CpAugmentInfo ia[3 * B], ib[3 * B];

  for (int i = 0; i < B; i++)
    src[i] = make_image (S, 900 + i);
  for (int variant = 0; variant < CP_AUGMENT_N_VARIANTS; variant++)
    {
      size_t n = cp_augment_variant_num_views (variant) * B;

      run_batch (variant, 123, B, S, src, a, la, ia);
      run_batch (variant, 123, B, S, src, b, lb, ib);
      CHECK (memcmp (a, b, n * bytes) == 0);
      CHECK (memcmp (la, lb, n * sizeof la[0]) == 0);
      CHECK (infos_equal (ia, ib, n));
      /* Any number of threads gives the same bytes. */
      for (int threads = 2; threads <= 7; threads += 5)
        {
          CpAugmentConfig cfg;
          CpRng rng;

          cp_augment_config_init (&cfg, variant);
          cp_rng_seed (&rng, 123);
          memset (b, 0, n * bytes);
          CHECK (cp_augment_batch_threaded (&cfg, &rng, (const uint8_t *const *) src,
                                            B, S, b, lb, ib, threads, NULL) == CP_OK);
          CHECK_MSG (memcmp (a, b, n * bytes) == 0, "%d threads", threads);
          CHECK (memcmp (la, lb, n * sizeof la[0]) == 0);
          CHECK (infos_equal (ia, ib, n));
        }
      run_batch (variant, 124, B, S, src, b, lb, ib);
      CHECK (memcmp (a, b, n * bytes) != 0);
      /* every block differs, not only the first */
      for (size_t v = 0; v < n / B; v++)
        CHECK (memcmp (a + v * B * bytes, b + v * B * bytes, B * bytes) != 0);
    }
  for (int i = 0; i < B; i++)
    free (src[i]);
  free (a);
  free (b);
}

static void
test_random_crop (void)
{
  enum { S = 256, C = 64 };
  uint8_t *img = make_image (S, 31);
  uint8_t crop[C * C * 3];
  CpRng rng;
  int lo = S, hi = -1, bad = 0;
  double sum = 0;

  cp_rng_seed (&rng, 8);
  for (int n = 0; n < 5000; n++)
    {
      int x, y;

      CHECK (cp_augment_random_crop (&rng, img, S, S, C, crop, &x, &y, NULL) == CP_OK);
      if (x < 0 || y < 0 || x > S - C || y > S - C)
        bad++;
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
      sum += x + y;
      for (int r = 0; r < C; r++)
        if (memcmp (crop + r * C * 3, img + ((size_t) (y + r) * S + x) * 3, C * 3) != 0)
          {
            bad++;
            break;
          }
    }
  CHECK (bad == 0);
  CHECK (lo == 0 && hi == S - C);
  CHECK_CLOSE (sum / 10000.0, (S - C) / 2.0, 2.5, 0);
  CHECK (cp_augment_random_crop (&rng, img, S, S, S + 1, crop, NULL, NULL, NULL)
         == CP_ERR_INVALID);
  /* The crops feed the batch builder at S = 64. */
  {
    CpAugmentConfig cfg;
    const uint8_t *srcs[1] = { crop };
    uint8_t *out = malloc (3 * C * C * 3);
    int32_t labels[3];

    cp_augment_config_init (&cfg, CP_AUGMENT_3WAY);
    CHECK (cp_augment_batch (&cfg, &rng, srcs, 1, C, out, labels, NULL, NULL) == CP_OK);
    CHECK (labels[0] == 0 && labels[1] == 1 && labels[2] == 2);
    free (out);
  }
  free (img);
}

static void
test_normalize (void)
{
  /* A 2 x 2 image: (0, 128, 255), (255, 255, 255), (0, 0, 0), (10, 20, 30). */
  const uint8_t img[12] = { 0, 128, 255, 255, 255, 255, 0, 0, 0, 10, 20, 30 };
  float t[2 * 12];
  uint8_t back[2 * 12];
  uint8_t two[24];

  memcpy (two, img, 12);
  for (int i = 0; i < 12; i++)
    two[12 + i] = (uint8_t) (255 - img[i]);
  cp_images_to_tensor (two, 2, 2, 2, t);
  /* (v / 255 - mean) / std, by hand */
  CHECK_CLOSE (t[0], (0.0 - 0.485) / 0.229, 1e-5, 0);          /* R of pixel 0 */
  CHECK_CLOSE (t[1], (1.0 - 0.485) / 0.229, 1e-5, 0);          /* R of pixel 1 */
  CHECK_CLOSE (t[3], (10 / 255.0 - 0.485) / 0.229, 1e-5, 0);   /* R of pixel 3 */
  CHECK_CLOSE (t[4], (128 / 255.0 - 0.456) / 0.224, 1e-5, 0);  /* G plane */
  CHECK_CLOSE (t[7], (20 / 255.0 - 0.456) / 0.224, 1e-5, 0);
  CHECK_CLOSE (t[8], (1.0 - 0.406) / 0.225, 1e-5, 0);          /* B plane */
  CHECK_CLOSE (t[10], (0.0 - 0.406) / 0.225, 1e-5, 0);
  CHECK_CLOSE (t[11], (30 / 255.0 - 0.406) / 0.225, 1e-5, 0);
  CHECK_CLOSE (t[0], -2.1179039, 1e-6, 0);     /* -0.485 / 0.229 */
  CHECK_CLOSE (t[4], 0.2051821, 1e-6, 0);      /* (0.50196 - 0.456) / 0.224 */
  CHECK_CLOSE (t[8], 2.64, 1e-6, 0);           /* 0.594 / 0.225 */
  /* second image in its own (3, 2, 2) block */
  CHECK_CLOSE (t[12], (1.0 - 0.485) / 0.229, 1e-5, 0);
  CHECK_CLOSE (t[12 + 11], (225 / 255.0 - 0.406) / 0.225, 1e-5, 0);
  cp_tensor_to_images (t, 2, 2, 2, back);
  CHECK (memcmp (back, two, 24) == 0);
}

/* ---- byte-for-byte against Pillow (fixtures/pillow.txt) ---------------- */

enum { JW = 32, JH = 24 };

/* Must match jitter_image () in make-fixtures.py. */
static void
jitter_image (uint8_t *img)
{
  static const uint8_t fixed[6][3] = {
    { 128, 128, 128 }, { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 },
    { 255, 255, 255 }, { 0, 0, 0 },
  };

  for (int y = 0; y < JH; y++)
    for (int x = 0; x < JW; x++)
      for (int c = 0; c < 3; c++)
        img[(y * JW + x) * 3 + c] = (uint8_t) ((x * 37 + y * 91 + c * 53 + x * y * 7
                                                + c * x * y * 3 + (x ^ y) * 11) % 256);
  for (int i = 0; i < 6; i++)
    memcpy (img + i * 3, fixed[i], 3);
}

/* Must match rotate_image () in make-fixtures.py. */
static void
rotate_image (uint8_t *img, int w, int h)
{
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        img[(y * w + x) * 3] = (uint8_t) (10 * x + 5);
        img[(y * w + x) * 3 + 1] = (uint8_t) (10 * y + 5);
        img[(y * w + x) * 3 + 2] = 200;
      }
}

static int
parse_hex (const char *hex, uint8_t *out, size_t count)
{
  for (size_t i = 0; i < count; i++)
    {
      unsigned v;

      if (sscanf (hex + 2 * i, "%2x", &v) != 1)
        return 0;
      out[i] = (uint8_t) v;
    }
  return hex[2 * count] == '\0' || hex[2 * count] == '\n';
}

static void
test_against_pillow (void)
{
  const char *root = getenv ("CP_SOURCE_ROOT");
  char path[4096];
  char *line = NULL;
  size_t cap = 0;
  FILE *f;
  int jitter_cases = 0, rotate_cases = 0;

  if (root == NULL)
    {
      printf ("# CP_SOURCE_ROOT not set: Pillow fixtures not checked\n");
      return;
    }
  snprintf (path, sizeof path, "%s/tests/core/augment/fixtures/pillow.txt", root);
  f = fopen (path, "r");
  CHECK_MSG (f != NULL, "cannot open %s", path);
  if (f == NULL)
    return;
  while (getline (&line, &cap, f) > 0)
    {
      char op[32];
      int n = 0;

      if (line[0] == '#')
        continue;
      if (sscanf (line, "jitter %31s %n", op, &n) == 1 && n > 0)
        {
          uint8_t img[JW * JH * 3], want[JW * JH * 3];
          char *end;
          double factor = strtod (line + n, &end);
          int bad = 0, first = -1;

          CHECK (parse_hex (end + 1, want, sizeof want));
          jitter_image (img);
          if (strcmp (op, "brightness") == 0)
            cp_adjust_brightness (img, JW, JH, JW * 3, factor);
          else if (strcmp (op, "contrast") == 0)
            cp_adjust_contrast (img, JW, JH, JW * 3, factor);
          else if (strcmp (op, "saturation") == 0)
            cp_adjust_saturation (img, JW, JH, JW * 3, factor);
          else
            cp_adjust_hue (img, JW, JH, JW * 3, factor);
          for (size_t i = 0; i < sizeof img; i++)
            if (img[i] != want[i])
              {
                if (first < 0)
                  first = (int) i;
                bad++;
              }
          CHECK_MSG (bad == 0, "%s %g: %d bytes differ from Pillow, first at %d "
                     "(%d, want %d)", op, factor, bad, first,
                     first >= 0 ? img[first] : 0, first >= 0 ? want[first] : 0);
          jitter_cases++;
        }
      else if (sscanf (line, "rotate %*d %*d %n", &n) >= 0 && n > 0)
        {
          int w, h, cw, ch, want_w, want_h, bad = 0;
          double angle;
          char *p = line + 7, *end;

          w = (int) strtol (p, &end, 10);
          h = (int) strtol (end, &end, 10);
          angle = strtod (end, &end);
          want_w = (int) strtol (end, &end, 10);
          want_h = (int) strtol (end, &end, 10);
          cp_augment_rotated_size (w, h, angle, &cw, &ch);
          CHECK_MSG (cw == want_w && ch == want_h, "rotate %dx%d by %g: canvas %dx%d, "
                     "Pillow %dx%d", w, h, angle, cw, ch, want_w, want_h);
          if (cw == want_w && ch == want_h)
            {
              uint8_t *patch = malloc ((size_t) w * h * 3);
              uint8_t *want = malloc ((size_t) cw * ch * 4);
              uint8_t *canvas = malloc ((size_t) cw * ch * 3);
              uint8_t *coverage = malloc ((size_t) cw * ch);

              CHECK (parse_hex (end + 1, want, (size_t) cw * ch * 4));
              rotate_image (patch, w, h);
              cp_augment_rotate_patch (patch, w, h, angle, canvas, coverage);
              for (int i = 0; i < cw * ch; i++)
                if (memcmp (canvas + 3 * i, want + 4 * i, 3) != 0
                    || coverage[i] != want[4 * i + 3])
                  bad++;
              CHECK_MSG (bad == 0, "rotate %dx%d by %.17g: %d of %d pixels differ "
                         "from Pillow", w, h, angle, bad, cw * ch);
              free (patch);
              free (want);
              free (canvas);
              free (coverage);
            }
          rotate_cases++;
        }
    }
  free (line);
  fclose (f);
  printf ("# Pillow fixtures: %d jitter and %d rotation cases\n",
          jitter_cases, rotate_cases);
  CHECK (jitter_cases >= 20 && rotate_cases >= 30);
}

static void
test_invalid (void)
{
  CpAugmentConfig cfg;
  CpError err;
  CpRng rng;
  uint8_t *img = make_image (16, 1), out[16 * 16 * 3];
  const uint8_t *srcs[1] = { img };

  cp_rng_seed (&rng, 1);
  cp_augment_config_init (&cfg, CP_AUGMENT_3WAY);
  err.message[0] = 0;
  CHECK (cp_augment_cutpaste (&cfg, &rng, img, 15, out, NULL, &err) == CP_ERR_INVALID);
  CHECK (strstr (err.message, "15") != NULL);
  CHECK (cp_augment_batch (&cfg, &rng, srcs, 0, 16, out, NULL, NULL, &err) == CP_ERR_INVALID);
  CHECK (cp_augment_scar (&cfg, &rng, img, 16, (uint8_t *) img, NULL, &err) == CP_ERR_INVALID);
  cfg.area_min = 0.2;
  CHECK (cp_augment_config_validate (&cfg, &err) == CP_ERR_INVALID);
  CHECK (strstr (err.message, "area") != NULL);
  cp_augment_config_init (&cfg, CP_AUGMENT_3WAY);
  cfg.aspect_min = NAN;
  CHECK (cp_augment_config_validate (&cfg, &err) == CP_ERR_INVALID);
  cp_augment_config_init (&cfg, (CpAugmentVariant) 9);
  CHECK (cp_augment_config_validate (&cfg, &err) == CP_ERR_INVALID);
  free (img);
}

static void
test_batch_speed (void)
{
  enum { B = 32, S = 256 };
  size_t bytes = (size_t) S * S * 3;
  uint8_t *src[B];
  uint8_t *out = malloc (3 * B * bytes);
  float *tensor = malloc (3 * B * bytes * sizeof (float));
  int32_t labels[3 * B];
  struct timespec t0, t1, t2;

  for (int i = 0; i < B; i++)
    src[i] = make_image (S, 50 + i);
  /* The first round touches the fresh pages; time the second. */
  for (int round = 0; round < 2; round++)
    {
      clock_gettime (CLOCK_MONOTONIC, &t0);
      run_batch (CP_AUGMENT_3WAY, 7 + round, B, S, src, out, labels, NULL);
      clock_gettime (CLOCK_MONOTONIC, &t1);
      cp_images_to_tensor (out, 3 * B, S, S, tensor);
      clock_gettime (CLOCK_MONOTONIC, &t2);
    }
  printf ("# 3way batch B=%d S=%d: augment %.1f ms, to tensor %.1f ms\n", B, S,
          (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
          (t2.tv_sec - t1.tv_sec) * 1e3 + (t2.tv_nsec - t1.tv_nsec) / 1e6);
  {
    CpAugmentConfig cfg;
    CpRng rng;

    cp_augment_config_init (&cfg, CP_AUGMENT_3WAY);
    cp_rng_seed (&rng, 9);
    clock_gettime (CLOCK_MONOTONIC, &t0);
    CHECK (cp_augment_batch_threaded (&cfg, &rng, (const uint8_t *const *) src, B, S,
                                      out, labels, NULL, 2, NULL) == CP_OK);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    printf ("# the same on 2 threads: %.1f ms\n",
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
  }
  CHECK (isfinite (tensor[0]));
  for (int i = 0; i < B; i++)
    free (src[i]);
  free (out);
  free (tensor);
}

int
main (void)
{
  RUN_TEST (test_variant_names);
  RUN_TEST (test_gray_weights);
  RUN_TEST (test_brightness);
  RUN_TEST (test_contrast);
  RUN_TEST (test_saturation);
  RUN_TEST (test_hue);
  RUN_TEST (test_jitter_draw);
  RUN_TEST (test_cutpaste);
  RUN_TEST (test_scar);
  RUN_TEST (test_scar_tiny_image);
  RUN_TEST (test_batch_layout);
  RUN_TEST (test_union_balance);
  RUN_TEST (test_determinism);
  RUN_TEST (test_random_crop);
  RUN_TEST (test_normalize);
  RUN_TEST (test_against_pillow);
  RUN_TEST (test_invalid);
  RUN_TEST (test_batch_speed);
  return harness_exit ();
}
