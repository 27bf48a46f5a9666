/* test-localize-core.c: the engine-core pieces of localisation (SPEC 7)
 * against direct computations: the upsampling kernel and transposed
 * convolution, the bilinear resize, the dense patch embedding against
 * patches run alone, the patch Gaussians, and pixel AUROC. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/backend.h"
#include "core/density/auroc.h"
#include "core/localize/localize.h"
#include "core/rng.h"

static void
test_grid_side (void)
{
  CHECK (cp_localize_grid_side (256, 32, 4) == 57);
  CHECK (cp_localize_grid_side (128, 32, 4) == 25);
  CHECK (cp_localize_grid_side (256, 32, 8) == 29);
  CHECK (cp_localize_grid_side (32, 32, 4) == 1);
  CHECK (cp_localize_grid_side (31, 32, 4) == 0);
}

static void
test_kernel (void)
{
  float k[32 * 32];
  double sum = 0;

  cp_localize_gaussian_kernel (32, 10.0, k);
  for (int i = 0; i < 32 * 32; i++)
    sum += k[i];
  CHECK_CLOSE (sum, 1.0, 1e-5, 0);
  /* Symmetric about the centre 15.5 and Gaussian in the distance to it. */
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 32; x++)
      {
        double dy = y - 15.5, dx = x - 15.5;
        double expect = k[15 * 32 + 15] * exp (-(dx * dx + dy * dy - 0.5) / 200.0);
        CHECK_CLOSE (k[y * 32 + x], k[(31 - y) * 32 + x], 1e-9, 1e-6);
        CHECK_CLOSE (k[y * 32 + x], k[x * 32 + y], 1e-9, 1e-6);
        CHECK_CLOSE (k[y * 32 + x], expect, 1e-9, 1e-5);
      }
}

/* map[y][x] computed pixel by pixel: the sum over every window that
 * covers (y, x), the opposite loop order of the implementation. */
static void
direct_upsample (const float *scores, int gh, int gw, int stride, const float *kernel, int k,
                 int normalize, double *map)
{
  int mh = (gh - 1) * stride + k, mw = (gw - 1) * stride + k;
  double most = 0;

  for (int y = 0; y < mh; y++)
    for (int x = 0; x < mw; x++)
      {
        double acc = 0, mass = 0;
        for (int i = 0; i < gh; i++)
          for (int j = 0; j < gw; j++)
            {
              int ky = y - i * stride, kx = x - j * stride;
              if (ky < 0 || ky >= k || kx < 0 || kx >= k)
                continue;
              acc += (double) scores[i * gw + j] * kernel[ky * k + kx];
              mass += kernel[ky * k + kx];
            }
        map[y * mw + x] = normalize == CP_UPSAMPLE_AVERAGE ? acc / mass : acc;
        most = fmax (most, mass);
      }
  /* Interior gain: the plain sums over the largest mass of any pixel. */
  if (normalize == CP_UPSAMPLE_INTERIOR_GAIN)
    for (int p = 0; p < mh * mw; p++)
      map[p] /= most;
}

static void
test_upsample_direct (void)
{
  const int gh = 9, gw = 7, stride = 4, k = 32;
  int mh = (gh - 1) * stride + k, mw = (gw - 1) * stride + k;
  float kernel[32 * 32], scores[9 * 7];
  float *map = malloc (sizeof (float) * mh * mw);
  double *direct = malloc (sizeof (double) * mh * mw);
  CpRng rng;
  CpError err = { 0 };

  cp_rng_seed (&rng, 7);
  cp_localize_gaussian_kernel (k, 10.0, kernel);
  for (int i = 0; i < gh * gw; i++)
    scores[i] = (float) cp_rng_uniform_range (&rng, 0.5, 30.0);
  for (int normalize = CP_UPSAMPLE_SUM; normalize <= CP_UPSAMPLE_INTERIOR_GAIN; normalize++)
    {
      double worst = 0;
      CHECK (cp_localize_upsample (scores, gh, gw, stride, kernel, k, normalize, map, &err) == CP_OK);
      direct_upsample (scores, gh, gw, stride, kernel, k, normalize, direct);
      for (int p = 0; p < mh * mw; p++)
        {
          double e = fabs (map[p] - direct[p]) / fmax (fabs (direct[p]), 1e-3);
          worst = fmax (worst, e);
        }
      printf ("# upsample normalize=%d: worst relative error %.3g\n", normalize, worst);
      CHECK (worst < 1e-5);
    }
  /* A constant grid gives a constant normalised map, borders included. */
  for (int i = 0; i < gh * gw; i++)
    scores[i] = 3.25f;
  CHECK (cp_localize_upsample (scores, gh, gw, stride, kernel, k, CP_UPSAMPLE_AVERAGE, map, &err) == CP_OK);
  for (int p = 0; p < mh * mw; p++)
    CHECK_CLOSE (map[p], 3.25, 1e-5, 0);
  /* With interior gain the centre keeps the score and the border fades. */
  CHECK (cp_localize_upsample (scores, gh, gw, stride, kernel, k, CP_UPSAMPLE_INTERIOR_GAIN, map, &err) == CP_OK);
  CHECK_CLOSE (map[(mh / 2) * mw + mw / 2], 3.25, 0.05, 0);
  CHECK (map[0] < 0.1 * 3.25);
  /* 57 x 57 at stride 4 with a 32 x 32 kernel is 256 x 256 (SPEC 7). */
  CHECK ((cp_localize_grid_side (256, 32, 4) - 1) * 4 + 32 == 256);
  CHECK (cp_localize_upsample (scores, 0, 3, 4, kernel, 32, 1, map, &err) == CP_ERR_INVALID);
  free (map);
  free (direct);
}

static void
test_resize (void)
{
  float src[3 * 2] = { 0, 1, 2, 10, 11, 12 };   /* 3 wide, 2 high */
  float dst[6 * 4], same[6];
  float grid[5 * 5], up[10 * 10];

  cp_localize_resize_bilinear (src, 3, 2, same, 3, 2);
  CHECK (memcmp (src, same, sizeof same) == 0);
  /* Doubling with half-pixel centres: x' = (x + 0.5) / 2 - 0.5. */
  cp_localize_resize_bilinear (src, 3, 2, dst, 6, 4);
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 6; x++)
      {
        double sx = fmin (fmax ((x + 0.5) / 2 - 0.5, 0), 2);
        double sy = fmin (fmax ((y + 0.5) / 2 - 0.5, 0), 1);
        /* src is linear: value = sx + 10 sy. */
        CHECK_CLOSE (dst[y * 6 + x], sx + 10 * sy, 1e-5, 0);
      }
  for (int i = 0; i < 25; i++)
    grid[i] = 4.5f;
  cp_localize_resize_bilinear (grid, 5, 5, up, 10, 10);
  for (int i = 0; i < 100; i++)
    CHECK_CLOSE (up[i], 4.5, 1e-6, 0);
}

static void
test_colormap (void)
{
  uint8_t lo[3], hi[3], mid[3], nan_rgb[3];
  float map[2] = { 0.0f, 10.0f };
  uint8_t image[6] = { 200, 200, 200, 200, 200, 200 }, rgba[8];

  cp_colormap_viridis (0, lo);
  cp_colormap_viridis (1, hi);
  cp_colormap_viridis (0.5, mid);
  cp_colormap_viridis (NAN, nan_rgb);
  CHECK (lo[0] == 0x44 && lo[1] == 0x01 && lo[2] == 0x54);
  CHECK (hi[0] == 0xfd && hi[1] == 0xe7 && hi[2] == 0x25);
  CHECK (memcmp (nan_rgb, lo, 3) == 0);
  /* Perceptual order: lightness rises along the map. */
  {
    double l0 = 0.299 * lo[0] + 0.587 * lo[1] + 0.114 * lo[2];
    double l1 = 0.299 * mid[0] + 0.587 * mid[1] + 0.114 * mid[2];
    double l2 = 0.299 * hi[0] + 0.587 * hi[1] + 0.114 * hi[2];
    CHECK (l0 < l1 && l1 < l2);
  }
  cp_heatmap_blend (map, 2, 1, 0, 10, 0.6, image, 6, rgba);
  CHECK (rgba[3] == 255 && rgba[7] == 255);
  /* Low values keep more of the image than high ones. */
  CHECK (abs (rgba[0] - 200) < abs (rgba[4] - hi[0]) + 200);
  CHECK (rgba[4] == (uint8_t) lround (0.4 * 200 + 0.6 * hi[0]));
  CHECK (rgba[0] == (uint8_t) lround (0.85 * 200 + 0.15 * lo[0]));
}

/* The embedding of every grid patch equals the embedding of that patch
 * cut out and run alone (batch of one), across batch boundaries. */
static void
test_dense_embedding (void)
{
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net = cp_network_new (be, &config, &err);
  const int h = 72, w = 64, stride = 4, batch = 7;
  int gh = cp_localize_grid_side (h, 32, stride), gw = cp_localize_grid_side (w, 32, stride);
  float *image = malloc (sizeof (float) * 3 * h * w);
  float *dense = malloc (sizeof (float) * gh * gw * CP_EMBEDDING_DIM);
  float *alone = be->alloc (be, sizeof (float) * 3 * 32 * 32, &err);
  CpPatchEmbedder *pe;
  CpRng rng;
  double worst = 0;
  int checked = 0;

  CHECK (net != NULL);
  cp_rng_seed (&rng, 11);
  cp_network_init (net, &rng);
  for (int i = 0; i < 3 * h * w; i++)
    image[i] = (float) cp_rng_normal (&rng);
  pe = cp_patch_embedder_new (net, 32, batch, &err);
  CHECK (pe != NULL);
  CHECK (gh == 11 && gw == 9);
  CHECK (cp_patch_embedder_run (pe, image, h, w, stride, dense, NULL, &err) == CP_OK);
  for (int loc = 0; loc < gh * gw; loc += 5)
    {
      int y0 = (loc / gw) * stride, x0 = (loc % gw) * stride;
      const float *e;
      double norm = 0;

      for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
          memcpy (alone + (c * 32 + y) * 32, image + (size_t) c * h * w + (size_t) (y0 + y) * w + x0,
                  32 * sizeof (float));
      CHECK (cp_network_forward (net, alone, 1, 32, 32, 0, &err) == CP_OK);
      e = cp_network_embedding (net);
      for (int d = 0; d < CP_EMBEDDING_DIM; d++)
        norm = fmax (norm, fabs (e[d]));
      for (int d = 0; d < CP_EMBEDDING_DIM; d++)
        worst = fmax (worst, fabs (dense[(size_t) loc * CP_EMBEDDING_DIM + d] - e[d]) / fmax (norm, 1e-6));
      checked++;
    }
  printf ("# dense embedding: %d patches checked, worst error %.3g of the largest component\n",
          checked, worst);
  CHECK (checked >= 15);
  CHECK (worst < 1e-5);
  /* A cancelled run stops. */
  {
    volatile int cancel = 1;
    CHECK (cp_patch_embedder_run (pe, image, h, w, stride, dense, &cancel, &err) == CP_ERR_CANCELLED);
  }
  CHECK (cp_patch_embedder_run (pe, image, 16, 16, stride, dense, NULL, &err) == CP_ERR_INVALID);
  cp_patch_embedder_free (pe);
  be->free (be, alone);
  cp_network_free (net);
  cp_backend_free (be);
  free (image);
  free (dense);
}

/* Per-location Gaussians: each block's Gaussian is the one cp_gde_fit
 * makes from that block's rows alone, and scores use it. */
static void
test_patch_density (void)
{
  const int grid = 6, dim = 8, n_images = 5, cells = 2;
  int m = grid * grid;
  float *x = malloc (sizeof (float) * n_images * m * dim);
  int li[36], lj[36];
  float scores[36];
  CpError err = { 0 };
  CpRng rng;
  CpPatchDensity *d = cp_patch_density_new (CP_PATCH_DENSITY_PER_LOCATION, grid, grid, cells, &err);
  CpPatchDensity *shared = cp_patch_density_new (CP_PATCH_DENSITY_SHARED, grid, grid, 5, &err);
  CpPatchDensityKind kind;

  CHECK (cp_patch_density_count (d) == 4 && cp_patch_density_count (shared) == 1);
  CHECK (cp_patch_density_index (d, 0, 0) == 0 && cp_patch_density_index (d, 2, 3) == 1);
  CHECK (cp_patch_density_index (d, 3, 2) == 2 && cp_patch_density_index (d, 5, 5) == 3);
  CHECK (cp_patch_density_kind_from_string ("per-location", &kind) && kind == CP_PATCH_DENSITY_PER_LOCATION);
  CHECK (cp_patch_density_kind_from_string ("Shared", &kind) && kind == CP_PATCH_DENSITY_SHARED);
  CHECK (!cp_patch_density_kind_from_string ("global", &kind));
  cp_rng_seed (&rng, 3);
  for (int k = 0; k < m; k++)
    {
      li[k] = k / grid;
      lj[k] = k % grid;
    }
  /* Each block centred somewhere else: a per-location model must tell. */
  for (int im = 0; im < n_images; im++)
    for (int k = 0; k < m; k++)
      for (int c = 0; c < dim; c++)
        x[((size_t) im * m + k) * dim + c] = (float) (cp_rng_normal (&rng) * 0.1
                                                      + (c == cp_patch_density_index (d, li[k], lj[k]) ? 3 : 1));
  CHECK (cp_patch_density_fit (d, x, n_images, m, li, lj, dim, &err) == CP_OK);
  CHECK (cp_patch_density_fit (shared, x, n_images, m, li, lj, dim, &err) == CP_OK);
  for (int g = 0; g < 4; g++)
    {
      /* Rows of block g, gathered here independently. */
      float *rows = malloc (sizeof (float) * n_images * m * dim);
      int n = 0;
      CpGde *ref;
      for (int im = 0; im < n_images; im++)
        for (int k = 0; k < m; k++)
          if ((li[k] * cells / grid) * cells + lj[k] * cells / grid == g)
            memcpy (rows + (size_t) n++ * dim, x + ((size_t) im * m + k) * dim, dim * sizeof (float));
      CHECK (n == n_images * 9);
      ref = cp_gde_fit (rows, n, dim, &err);
      for (int i = 0; i < dim * dim; i++)
        CHECK_CLOSE (cp_gde_precision (cp_patch_density_gde (d, g))[i], cp_gde_precision (ref)[i], 1e-9, 1e-9);
      cp_gde_free (ref);
      free (rows);
    }
  /* Score a grid where location (0, 0) carries the pattern of block 3. */
  {
    float *probe = malloc (sizeof (float) * m * dim);
    double one;
    memcpy (probe, x, sizeof (float) * m * dim);
    for (int c = 0; c < dim; c++)
      probe[c] = x[(size_t) (m - 1) * dim + c];
    CHECK (cp_patch_density_score (d, probe, dim, scores, &err) == CP_OK);
    for (int k = 1; k < m; k++)
      CHECK (scores[0] > 3 * scores[k]);
    CHECK (cp_gde_score (cp_patch_density_gde (d, 3), probe + (size_t) (m - 1) * dim, 1, &one, &err) == CP_OK);
    CHECK_CLOSE (scores[m - 1], one, 1e-5, 1e-5);
    /* The shared Gaussian sees no anomaly there: every block is normal somewhere. */
    CHECK (cp_patch_density_score (shared, probe, dim, scores, &err) == CP_OK);
    free (probe);
  }
  CHECK (cp_patch_density_fit (d, x, 1, 1, li, lj, dim, &err) == CP_ERR_INVALID);
  li[0] = grid;
  CHECK (cp_patch_density_fit (d, x, n_images, m, li, lj, dim, &err) == CP_ERR_INVALID);
  cp_patch_density_free (d);
  cp_patch_density_free (shared);
  free (x);
}

/* Pixel AUROC of heatmap-like data (many ties) against the Mann-Whitney
 * statistic counted pair by pair. */
static void
test_pixel_auroc (void)
{
  const int images = 4, side = 24, pixels = side * side;
  float *maps = malloc (sizeof (float) * images * pixels);
  uint8_t *masks = malloc (images * pixels);
  CpPixelRoc *acc = cp_pixel_roc_new ();
  CpError err = { 0 };
  CpRng rng;
  double fast, whole, wins = 0, pos = 0, neg = 0;

  cp_rng_seed (&rng, 5);
  for (int im = 0; im < images; im++)
    for (int y = 0; y < side; y++)
      for (int x = 0; x < side; x++)
        {
          int p = im * pixels + y * side + x;
          int defect = im > 0 && abs (x - 6 * im) < 3 && abs (y - 12) < 4;
          masks[p] = defect ? 255 : 0;
          /* Quantised to 0.25 so that ties are frequent. */
          maps[p] = (float) (floor ((cp_rng_uniform (&rng) * 3 + (defect ? 1.5 : 0)) * 4) / 4);
        }
  for (int im = 0; im < images; im++)
    CHECK (cp_pixel_roc_add (acc, maps + im * pixels, masks + im * pixels, pixels, &err) == CP_OK);
  CHECK (cp_pixel_roc_auroc (acc, &fast, &err) == CP_OK);
  CHECK (cp_auroc_pixels (maps, masks, (size_t) images * pixels, &whole, &err) == CP_OK);
  for (int a = 0; a < images * pixels; a++)
    {
      if (!masks[a])
        {
          neg++;
          continue;
        }
      pos++;
      for (int b = 0; b < images * pixels; b++)
        if (!masks[b])
          wins += maps[a] > maps[b] ? 1 : maps[a] == maps[b] ? 0.5 : 0;
    }
  printf ("# pixel AUROC %.6f, pairwise %.6f\n", fast, wins / (pos * neg));
  CHECK_CLOSE (fast, wins / (pos * neg), 1e-12, 0);
  CHECK_CLOSE (whole, fast, 1e-12, 0);
  CHECK (fast > 0.8 && fast < 1.0);
  cp_pixel_roc_free (acc);
  free (maps);
  free (masks);
}

int
main (void)
{
  RUN_TEST (test_grid_side);
  RUN_TEST (test_kernel);
  RUN_TEST (test_upsample_direct);
  RUN_TEST (test_resize);
  RUN_TEST (test_colormap);
  RUN_TEST (test_dense_embedding);
  RUN_TEST (test_patch_density);
  RUN_TEST (test_pixel_auroc);
  return harness_exit ();
}
