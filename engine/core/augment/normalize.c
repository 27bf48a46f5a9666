/* normalize.c: ImageNet normalisation between uint8 HWC and float NCHW. */
#include "normalize.h"

#include <math.h>

const float cp_imagenet_mean[3] = { 0.485f, 0.456f, 0.406f };
const float cp_imagenet_std[3] = { 0.229f, 0.224f, 0.225f };

void
cp_images_to_tensor (const uint8_t *images,
                     int            n,
                     int            height,
                     int            width,
                     float         *out)
{
  size_t plane = (size_t) height * width;
  float lut[3][256];

  /* Only 256 inputs per channel: a table keeps the per-pixel work to a
   * load, with exactly torch's float arithmetic (divide, subtract,
   * divide). */
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++)
      lut[c][v] = ((float) v / 255.0f - cp_imagenet_mean[c]) / cp_imagenet_std[c];

  for (int i = 0; i < n; i++)
    {
      const uint8_t *src = images + (size_t) i * plane * 3;
      float *r = out + (size_t) i * plane * 3;
      float *g = r + plane;
      float *b = g + plane;

      for (size_t p = 0; p < plane; p++)
        {
          r[p] = lut[0][src[3 * p]];
          g[p] = lut[1][src[3 * p + 1]];
          b[p] = lut[2][src[3 * p + 2]];
        }
    }
}

void
cp_tensor_to_images (const float *tensor,
                     int          n,
                     int          height,
                     int          width,
                     uint8_t     *images)
{
  size_t plane = (size_t) height * width;

  for (int i = 0; i < n; i++)
    {
      const float *t = tensor + (size_t) i * plane * 3;
      uint8_t *dst = images + (size_t) i * plane * 3;

      for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < plane; p++)
          {
            float v = (t[c * plane + p] * cp_imagenet_std[c]
                       + cp_imagenet_mean[c]) * 255.0f;
            long q = lrintf (v);

            dst[3 * p + c] = (uint8_t) (q < 0 ? 0 : q > 255 ? 255 : q);
          }
    }
}
