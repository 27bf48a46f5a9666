/* local-patterns.c: Otsu binarisation and 3 x 3 pattern codes. */
#include "local-patterns.h"

#include <math.h>

#include "core/augment/normalize.h"

#define LEVELS 256

/* The grey image of @tensor in 0..255 levels, into @grey (size^2). */
static void
grey_levels (const float *tensor, int size, unsigned char *grey)
{
  size_t plane = (size_t) size * size;

  for (size_t i = 0; i < plane; i++)
    {
      double v = 0.0;

      for (int c = 0; c < 3; c++)
        v += tensor[c * plane + i] * cp_imagenet_std[c] + cp_imagenet_mean[c];
      v = v / 3.0 * 255.0 + 0.5;
      grey[i] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : (unsigned char) v;
    }
}

/* Otsu's level of @grey (the largest value of the lower level) and the
 * separation it reaches. */
static int
otsu_level (const unsigned char *grey, size_t count, double *separation)
{
  double hist[LEVELS] = { 0 };
  double total_mean = 0.0, total_var = 0.0, w = 0.0, mu = 0.0, best = 0.0;
  int level = LEVELS / 2 - 1;

  for (size_t i = 0; i < count; i++)
    hist[grey[i]] += 1.0;
  for (int v = 0; v < LEVELS; v++)
    {
      hist[v] /= (double) count;
      total_mean += v * hist[v];
    }
  for (int v = 0; v < LEVELS; v++)
    total_var += (v - total_mean) * (v - total_mean) * hist[v];
  for (int v = 0; v < LEVELS - 1; v++)
    {
      double between;

      w += hist[v];
      mu += v * hist[v];
      if (w <= 0.0 || w >= 1.0)
        continue;
      between = (total_mean * w - mu) * (total_mean * w - mu) / (w * (1.0 - w));
      if (between > best)
        {
          best = between;
          level = v;
        }
    }
  *separation = total_var > 0.0 ? best / total_var : 0.0;
  return level;
}

double
cp_local_pattern_separation (const float *tensor, int size, unsigned char *scratch)
{
  double separation;

  grey_levels (tensor, size, scratch);
  otsu_level (scratch, (size_t) size * size, &separation);
  return separation;
}

void
cp_local_pattern_codes (const float *tensor, int size, int grid, unsigned char *scratch,
                        float *out)
{
  unsigned char *grey = scratch, *bits = scratch + (size_t) size * size;
  int block = size / grid;
  double separation;
  int level;

  grey_levels (tensor, size, grey);
  level = otsu_level (grey, (size_t) size * size, &separation);
  for (size_t i = 0; i < (size_t) size * size; i++)
    bits[i] = grey[i] > level;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        unsigned code = 0, bit = 0;
        int region = (y / block) * grid + x / block;
        size_t at = (size_t) region * block * block + (size_t) (y % block) * block + x % block;

        for (int dy = -1; dy <= 1; dy++)
          for (int dx = -1; dx <= 1; dx++, bit++)
            {
              int yy = y + dy < 0 ? 0 : y + dy >= size ? size - 1 : y + dy;
              int xx = x + dx < 0 ? 0 : x + dx >= size ? size - 1 : x + dx;

              code |= (unsigned) bits[(size_t) yy * size + xx] << bit;
            }
        out[at] = (float) code;
      }
}

double
cp_local_pattern_rarity (double count, double total)
{
  return -log ((count + 1.0) / (total + 1.0));
}
