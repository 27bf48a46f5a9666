/* local-features.c: region vectors from the stem and layer1 maps. */
#include "local-features.h"

#include <string.h>

void
cp_local_feature_spec_init (CpLocalFeatureSpec *spec, int image_size, int grid, int n_channels,
                            CpRng *rng)
{
  int pool[CP_LOCAL_ALL_CHANNELS];

  memset (spec, 0, sizeof *spec);
  spec->image_size = image_size;
  spec->grid = grid;
  if (n_channels < 1 || n_channels > CP_LOCAL_ALL_CHANNELS)
    {
      spec->n_channels = n_channels;   /* refused by the check */
      return;
    }
  spec->n_channels = n_channels;
  for (int c = 0; c < CP_LOCAL_ALL_CHANNELS; c++)
    pool[c] = c;
  if (n_channels < CP_LOCAL_ALL_CHANNELS)
    /* A partial Fisher-Yates shuffle: the first n_channels of the pool. */
    for (int i = 0; i < n_channels; i++)
      {
        int j = i + (int) cp_rng_int_range (rng, 0, CP_LOCAL_ALL_CHANNELS - 1 - i);
        int t = pool[i];

        pool[i] = pool[j];
        pool[j] = t;
      }
  /* Ascending, so that each map is read once per image in order. */
  for (int i = 1; i < n_channels; i++)
    for (int k = i; k > 0 && pool[k - 1] > pool[k]; k--)
      {
        int t = pool[k];

        pool[k] = pool[k - 1];
        pool[k - 1] = t;
      }
  for (int i = 0; i < n_channels; i++)
    spec->channels[i] = pool[i];
}

void
cp_local_feature_spec_use_patterns (CpLocalFeatureSpec *spec)
{
  int block = spec->grid > 0 ? spec->image_size / spec->grid : 0;

  memset (spec->channels, 0, sizeof spec->channels);
  spec->patterns = 1;
  spec->n_channels = block * block;
}

CpStatus
cp_local_feature_spec_check (const CpLocalFeatureSpec *spec, CpError *error)
{
  int s = spec->image_size, g = spec->grid;

  if (s < 32 || s > 1024 || s % 32 != 0)
    return cp_error_set (error, CP_ERR_INVALID,
                         "local features: image size %d is not a multiple of 32 in 32..1024", s);
  if (g < 1 || (s / 4) % g != 0)
    return cp_error_set (error, CP_ERR_INVALID,
                         "local features: a grid of %d regions does not divide layer1's %d x %d map",
                         g, s / 4, s / 4);
  if (spec->patterns)
    {
      if (s % g != 0 || spec->n_channels != (s / g) * (s / g))
        return cp_error_set (error, CP_ERR_INVALID,
                             "local patterns: a grid of %d regions does not cut a %d-pixel image "
                             "into %d pixels each", g, s, spec->n_channels);
      return CP_OK;
    }
  if (spec->n_channels < 1 || spec->n_channels > CP_LOCAL_ALL_CHANNELS)
    return cp_error_set (error, CP_ERR_INVALID, "local features: %d channels (1..%d allowed)",
                         spec->n_channels, CP_LOCAL_ALL_CHANNELS);
  for (int i = 0; i < spec->n_channels; i++)
    if (spec->channels[i] < 0 || spec->channels[i] >= CP_LOCAL_ALL_CHANNELS
        || (i > 0 && spec->channels[i] <= spec->channels[i - 1]))
      return cp_error_set (error, CP_ERR_INVALID,
                           "local features: channel list must ascend within 0..%d (entry %d is %d)",
                           CP_LOCAL_ALL_CHANNELS - 1, i, (int) spec->channels[i]);
  return CP_OK;
}

size_t
cp_local_feature_count (const CpLocalFeatureSpec *spec)
{
  return (size_t) spec->grid * spec->grid * spec->n_channels;
}

/* 3 x 3 box sum of @map (side x side) with zero padding, into @out. */
static void
box3 (const float *map, int side, float *out)
{
  for (int y = 0; y < side; y++)
    {
      const float *up = y > 0 ? map + (size_t) (y - 1) * side : NULL;
      const float *mid = map + (size_t) y * side;
      const float *down = y + 1 < side ? map + (size_t) (y + 1) * side : NULL;
      float *o = out + (size_t) y * side;

      for (int x = 0; x < side; x++)
        {
          float col[3];

          for (int k = 0; k < 3; k++)
            {
              int xx = x + k - 1;
              float v = 0.0f;

              if (xx >= 0 && xx < side)
                {
                  v = mid[xx];
                  if (up)
                    v += up[xx];
                  if (down)
                    v += down[xx];
                }
              col[k] = v;
            }
          o[x] = col[0] + col[1] + col[2];
        }
    }
}

void
cp_local_features_compute (const CpLocalFeatureSpec *spec, const float *stem, const float *layer1,
                           float *scratch, float *out)
{
  int g = spec->grid, d = spec->n_channels;

  for (int k = 0; k < d; k++)
    {
      int c = spec->channels[k];
      int from_stem = c < CP_LOCAL_STAGE_CHANNELS;
      int side = from_stem ? spec->image_size / 2 : spec->image_size / 4;
      const float *map = from_stem ? stem + (size_t) c * side * side
                                   : layer1 + (size_t) (c - CP_LOCAL_STAGE_CHANNELS) * side * side;
      int block = side / g;
      /* The box's 1/9 and the block mean in one factor. */
      double scale = 1.0 / (9.0 * block * block);

      box3 (map, side, scratch);
      for (int gi = 0; gi < g; gi++)
        for (int gj = 0; gj < g; gj++)
          {
            double sum = 0.0;

            for (int y = gi * block; y < (gi + 1) * block; y++)
              {
                const float *row = scratch + (size_t) y * side + (size_t) gj * block;

                for (int x = 0; x < block; x++)
                  sum += row[x];
              }
            out[((size_t) gi * g + gj) * d + k] = (float) (sum * scale);
          }
    }
}
