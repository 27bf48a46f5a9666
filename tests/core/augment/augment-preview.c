/* augment-preview.c: a grid of augmented views of one image, to look at.
 *
 *   augment-preview IN.ppm OUT.ppm [SIZE [VARIANT [SEED [COLUMNS]]]]
 *
 * Reads a binary PPM (P6, 8 or 16 bits), box-resizes it to SIZE x SIZE
 * (default 256), builds COLUMNS (default 4) batch entries of VARIANT
 * (default 3way) from it with SEED and writes one row per view (originals,
 * CutPaste, scar) as a PPM, plus OUT.outline.ppm where the edge of each
 * pasted region is drawn in red.  It prints the geometry of every patch.
 * Convert with ImageMagick: convert x.png x.ppm; convert out.ppm out.png.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/augment/augment.h"

#define GAP 4

static int
skip_space_and_comments (FILE *f)
{
  int c;

  while ((c = fgetc (f)) != EOF)
    {
      if (c == '#')
        while ((c = fgetc (f)) != EOF && c != '\n')
          ;
      else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        return ungetc (c, f);
    }
  return EOF;
}

static uint8_t *
read_ppm (const char *path, int *width, int *height)
{
  FILE *f = fopen (path, "rb");
  char magic[3] = { 0 };
  int maxval;
  uint8_t *data = NULL;

  if (f == NULL)
    return NULL;
  if (fread (magic, 1, 2, f) != 2 || strcmp (magic, "P6") != 0)
    goto out;
  skip_space_and_comments (f);
  if (fscanf (f, "%d", width) != 1)
    goto out;
  skip_space_and_comments (f);
  if (fscanf (f, "%d", height) != 1)
    goto out;
  skip_space_and_comments (f);
  if (fscanf (f, "%d", &maxval) != 1 || maxval < 1 || maxval > 65535
      || *width < 1 || *height < 1 || *width > 16384 || *height > 16384)
    goto out;
  fgetc (f);   /* the single whitespace before the raster */
  {
    size_t count = (size_t) *width * *height * 3;
    int wide = maxval > 255;   /* two big-endian bytes a sample */
    uint8_t *raw = malloc (count * (wide ? 2 : 1));

    if (raw != NULL && fread (raw, wide ? 2 : 1, count, f) == count)
      {
        data = malloc (count);
        for (size_t i = 0; data != NULL && i < count; i++)
          {
            unsigned v = wide ? (unsigned) raw[2 * i] << 8 | raw[2 * i + 1] : raw[i];
            data[i] = (uint8_t) ((v * 255u + (unsigned) maxval / 2) / (unsigned) maxval);
          }
      }
    free (raw);
  }
out:
  fclose (f);
  return data;
}

static int
write_ppm (const char *path, const uint8_t *data, int width, int height)
{
  FILE *f = fopen (path, "wb");
  int ok;

  if (f == NULL)
    return 0;
  fprintf (f, "P6\n%d %d\n255\n", width, height);
  ok = fwrite (data, 3, (size_t) width * height, f) == (size_t) width * height;
  return fclose (f) == 0 && ok;
}

/* Box filter: each output pixel averages the input pixels whose centres
 * fall in its footprint (nearest neighbour when enlarging). */
static void
resize (const uint8_t *in, int w, int h, uint8_t *out, int size)
{
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        int x0 = (int) ((double) x * w / size), x1 = (int) ((double) (x + 1) * w / size);
        int y0 = (int) ((double) y * h / size), y1 = (int) ((double) (y + 1) * h / size);
        unsigned long sum[3] = { 0, 0, 0 }, n = 0;

        if (x1 <= x0)
          x1 = x0 + 1;
        if (y1 <= y0)
          y1 = y0 + 1;
        for (int yy = y0; yy < y1 && yy < h; yy++)
          for (int xx = x0; xx < x1 && xx < w; xx++, n++)
            for (int c = 0; c < 3; c++)
              sum[c] += in[((size_t) yy * w + xx) * 3 + c];
        for (int c = 0; c < 3; c++)
          out[((size_t) y * size + x) * 3 + c] = (uint8_t) ((sum[c] + n / 2) / n);
      }
}

int
main (int argc, char **argv)
{
  CpAugmentConfig cfg;
  CpAugmentVariant variant = CP_AUGMENT_3WAY;
  CpRng rng;
  CpError err;
  int w, h, size = 256, cols = 4, views, gw, gh;
  unsigned long long seed = 1;
  uint8_t *in, *img, *out, *grid, *outline, *mask;
  const uint8_t **srcs;
  CpAugmentInfo *info;
  char *outline_path;

  if (argc < 3)
    {
      fprintf (stderr, "usage: %s IN.ppm OUT.ppm [SIZE [VARIANT [SEED [COLUMNS]]]]\n",
               argv[0]);
      return 2;
    }
  if (argc > 3)
    size = atoi (argv[3]);
  if (argc > 4 && !cp_augment_variant_from_string (argv[4], &variant))
    {
      fprintf (stderr, "unknown variant %s\n", argv[4]);
      return 2;
    }
  if (argc > 5)
    seed = strtoull (argv[5], NULL, 10);
  if (argc > 6)
    cols = atoi (argv[6]);
  if (size < 16 || size > 4096 || cols < 1 || cols > 64)
    {
      fprintf (stderr, "bad size or column count\n");
      return 2;
    }
  in = read_ppm (argv[1], &w, &h);
  if (in == NULL)
    {
      fprintf (stderr, "%s: not a readable binary PPM (P6)\n", argv[1]);
      return 1;
    }
  img = malloc ((size_t) size * size * 3);
  resize (in, w, h, img, size);

  cp_augment_config_init (&cfg, variant);
  views = cp_augment_variant_num_views (variant);
  out = malloc ((size_t) views * cols * size * size * 3);
  srcs = malloc (sizeof *srcs * cols);
  info = malloc (sizeof *info * views * cols);
  for (int i = 0; i < cols; i++)
    srcs[i] = img;
  cp_rng_seed (&rng, seed);
  if (cp_augment_batch (&cfg, &rng, srcs, cols, size, out, NULL, info, &err) != CP_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      return 1;
    }

  gw = cols * size + (cols - 1) * GAP;
  gh = views * size + (views - 1) * GAP;
  grid = calloc ((size_t) gw * gh, 3);
  outline = calloc ((size_t) gw * gh, 3);
  mask = malloc ((size_t) size * size);
  for (int v = 0; v < views; v++)
    for (int i = 0; i < cols; i++)
      {
        const CpAugmentInfo *in_info = &info[v * cols + i];
        const uint8_t *src = out + ((size_t) v * cols + i) * size * size * 3;
        int ox = i * (size + GAP), oy = v * (size + GAP);

        cp_augment_info_mask (in_info, size, mask);
        for (int y = 0; y < size; y++)
          for (int x = 0; x < size; x++)
            {
              size_t g = ((size_t) (oy + y) * gw + ox + x) * 3;
              const uint8_t *p = src + ((size_t) y * size + x) * 3;
              int m = mask[(size_t) y * size + x];
              /* the edge of the pasted region: a masked pixel next to an
               * unmasked one */
              int edge = m && (x == 0 || y == 0 || x == size - 1 || y == size - 1
                               || !mask[(size_t) y * size + x - 1]
                               || !mask[(size_t) y * size + x + 1]
                               || !mask[(size_t) (y - 1) * size + x]
                               || !mask[(size_t) (y + 1) * size + x]);

              memcpy (grid + g, p, 3);
              if (edge)
                {
                  outline[g] = 255;
                  outline[g + 1] = 0;
                  outline[g + 2] = 0;
                }
              else
                memcpy (outline + g, p, 3);
            }
        if (v > 0)
          printf ("view %d col %d: %s src (%d,%d) %dx%d -> dst (%d,%d) canvas %dx%d angle %.1f\n",
                  v, i, in_info->kind == CP_AUGMENT_KIND_SCAR ? "scar" : "cutpaste",
                  in_info->src_x, in_info->src_y, in_info->w, in_info->h,
                  in_info->dst_x, in_info->dst_y, in_info->paste_w, in_info->paste_h,
                  in_info->angle);
      }
  outline_path = malloc (strlen (argv[2]) + 16);
  sprintf (outline_path, "%s.outline.ppm", argv[2]);
  if (!write_ppm (argv[2], grid, gw, gh) || !write_ppm (outline_path, outline, gw, gh))
    {
      fprintf (stderr, "cannot write %s\n", argv[2]);
      return 1;
    }
  free (outline_path);
  free (in);
  free (img);
  free (out);
  free (srcs);
  free (info);
  free (grid);
  free (outline);
  free (mask);
  return 0;
}
