/* colormap.c: viridis and the heatmap overlay. */
#include "localize.h"

#include <math.h>

/* matplotlib's viridis at 0, 1/7, ..., 1 (its published 8-colour
 * sampling: #440154 #46337e #365c8d #277f8e #1fa187 #4ac16d #9fda3a
 * #fde725). */
static const uint8_t viridis8[8][3] = {
  { 0x44, 0x01, 0x54 }, { 0x46, 0x33, 0x7e }, { 0x36, 0x5c, 0x8d }, { 0x27, 0x7f, 0x8e },
  { 0x1f, 0xa1, 0x87 }, { 0x4a, 0xc1, 0x6d }, { 0x9f, 0xda, 0x3a }, { 0xfd, 0xe7, 0x25 },
};

void
cp_colormap_viridis (double t, uint8_t rgb[3])
{
  double pos;
  int i;

  if (!(t > 0))   /* NaN too */
    t = 0;
  if (t > 1)
    t = 1;
  pos = t * 7;
  i = (int) pos;
  if (i > 6)
    i = 6;
  for (int c = 0; c < 3; c++)
    {
      double v = viridis8[i][c] + (pos - i) * (viridis8[i + 1][c] - viridis8[i][c]);
      rgb[c] = (uint8_t) lround (v);
    }
}

void
cp_heatmap_blend (const float *map, int width, int height, double lo, double hi, double alpha,
                  const uint8_t *image, size_t image_stride, uint8_t *rgba)
{
  double range = hi > lo ? hi - lo : 1;

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        double t = (map[(size_t) y * width + x] - lo) / range, a;
        const uint8_t *src = image + (size_t) y * image_stride + (size_t) x * 3;
        uint8_t *dst = rgba + ((size_t) y * width + x) * 4;
        uint8_t col[3];

        if (!(t > 0))
          t = 0;
        if (t > 1)
          t = 1;
        cp_colormap_viridis (t, col);
        a = alpha * (0.25 + 0.75 * t);
        for (int c = 0; c < 3; c++)
          dst[c] = (uint8_t) lround ((1 - a) * src[c] + a * col[c]);
        dst[3] = 255;
      }
}
