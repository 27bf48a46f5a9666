/* test-local-patterns.c: the binary pattern codes of local-patterns.h
 * against direct computations: Otsu's separation of two-level and graded
 * images, each pixel's code and where it lands among the regions, and the
 * rarity of a count. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/augment/normalize.h"
#include "core/localize/local-patterns.h"

/* A normalised (3, size, size) tensor of the grey image @grey (0..255). */
static float *
tensor_of_grey (const uint8_t *grey, int size)
{
  size_t plane = (size_t) size * size;
  uint8_t *rgb = malloc (plane * 3);
  float *tensor = malloc (plane * 3 * sizeof (float));

  for (size_t i = 0; i < plane; i++)
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
  cp_images_to_tensor (rgb, 1, size, size, tensor);
  free (rgb);
  return tensor;
}

/* Two levels only: separation 1.  A ramp over all 256 levels: Otsu's
 * between-class variance of a uniform histogram is 3/4 of the total
 * (halves of a uniform distribution), within a level of rounding.  A flat
 * image: 0. */
static void
test_separation (void)
{
  const int size = 32;
  uint8_t grey[32 * 32];
  unsigned char scratch[2 * 32 * 32];
  float *t;
  double s;

  for (int i = 0; i < size * size; i++)
    grey[i] = (i / size) % 4 == 0 ? 30 : 220;
  t = tensor_of_grey (grey, size);
  s = cp_local_pattern_separation (t, size, scratch);
  CHECK_MSG (fabs (s - 1.0) < 1e-9, "two levels: %g", s);
  free (t);

  for (int i = 0; i < size * size; i++)
    grey[i] = (uint8_t) (i / 4);                 /* 0..255, 4 pixels each */
  t = tensor_of_grey (grey, size);
  s = cp_local_pattern_separation (t, size, scratch);
  CHECK_MSG (fabs (s - 0.75) < 0.01, "ramp: %g", s);
  CHECK (s < CP_LOCAL_PATTERN_SEPARATION);
  free (t);

  memset (grey, 90, sizeof grey);
  t = tensor_of_grey (grey, size);
  CHECK (cp_local_pattern_separation (t, size, scratch) == 0.0);
  free (t);
}

/* The code of pixel (y, x) of two-level @grey computed directly: bit k of
 * the 3 x 3 neighbourhood (row-major from the top left, edges replicated)
 * is set where the pixel is the bright level. */
static unsigned
direct_code (const uint8_t *grey, int size, int y, int x)
{
  unsigned code = 0, bit = 0;

  for (int dy = -1; dy <= 1; dy++)
    for (int dx = -1; dx <= 1; dx++, bit++)
      {
        int yy = y + dy < 0 ? 0 : y + dy >= size ? size - 1 : y + dy;
        int xx = x + dx < 0 ? 0 : x + dx >= size ? size - 1 : x + dx;

        if (grey[yy * size + xx] > 128)
          code |= 1u << bit;
      }
  return code;
}

/* Random two-level pixels with dark and bright specks: every code equals
 * the direct one, in its region's block (grid 4: 8 x 8 pixels each); a
 * single dark pixel in a bright field has all bits but the centre. */
static void
test_codes (void)
{
  const int size = 32, grid = 4, block = size / grid;
  uint8_t grey[32 * 32];
  unsigned char scratch[2 * 32 * 32];
  float out[32 * 32];
  float *t;
  uint32_t state = 12345;

  for (int i = 0; i < size * size; i++)
    {
      state = state * 1664525u + 1013904223u;
      grey[i] = (state >> 24) < 90 ? 20 : 235;
    }
  t = tensor_of_grey (grey, size);
  cp_local_pattern_codes (t, size, grid, scratch, out);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        int region = (y / block) * grid + x / block;
        size_t at = (size_t) region * block * block + (size_t) (y % block) * block + x % block;

        CHECK_MSG (out[at] == (float) direct_code (grey, size, y, x), "pixel (%d, %d): %g, not %u",
                   y, x, out[at], direct_code (grey, size, y, x));
      }
  free (t);

  memset (grey, 235, sizeof grey);
  grey[10 * size + 13] = 20;
  t = tensor_of_grey (grey, size);
  cp_local_pattern_codes (t, size, grid, scratch, out);
  {
    int region = (10 / block) * grid + 13 / block;

    CHECK (out[region * block * block + (10 % block) * block + 13 % block] == (float) (511 & ~(1u << 4)));
    CHECK (out[0] == 511.0f);
  }
  free (t);
}

static void
test_rarity (void)
{
  CHECK (fabs (cp_local_pattern_rarity (99.0, 99.0)) < 1e-12);
  CHECK (fabs (cp_local_pattern_rarity (0.0, 99.0) - log (100.0)) < 1e-12);
  CHECK (fabs (cp_local_pattern_rarity (9.0, 99.0) - log (10.0)) < 1e-12);
  CHECK (cp_local_pattern_rarity (1.0, 1000.0) > cp_local_pattern_rarity (2.0, 1000.0));
}

int
main (void)
{
  RUN_TEST (test_separation);
  RUN_TEST (test_codes);
  RUN_TEST (test_rarity);
  return harness_exit ();
}
