/* test-conv.c: the fast CPU convolution (im2col tiles + sgemm) against the
 * direct loops of cpu-conv-reference.c, over random shapes, strides 1..3,
 * paddings 0..3, kernels 1/3/5/7, non-square and odd images, batches > 1,
 * and the exact ResNet-18 layer shapes at a reduced size (including the
 * grouped-image tiling of the deep layers and the 1x1/2 downsample).
 *
 * Tolerance: the normalised error (max |fast - ref| / max |ref|) must stay
 * below 1e-5.  The reference sums in double; the fast path sums K <= 1600
 * float products in a different order, which costs a few float ulps.
 */
#include "harness.h"
#include "core/rng.h"
#include "core/backend.h"
#include "core/cpu/cpu-private.h"

#define CONV_TOL 1e-5

static CpBackend *be;
static CpRng rng;

static float *
random_buffer (size_t count)
{
  float *p = malloc ((count ? count : 1) * sizeof (float));

  for (size_t i = 0; i < count; i++)
    p[i] = (float) cp_rng_uniform_range (&rng, -1.0, 1.0);
  return p;
}

static void
check_shape (int n, int c_in, int h, int w, int c_out, int k, int stride, int pad)
{
  CpConvDesc d;
  size_t nx, nw, ny;
  float *x, *wt, *dy, *y, *y_ref, *dx, *dx_ref, *dw, *dw_ref;
  double e_fwd, e_data, e_filter;

  cp_conv_desc_init (&d, n, c_in, h, w, c_out, k, k, stride, pad);
  if (d.h_out <= 0 || d.w_out <= 0)
    return;
  nx = (size_t) n * c_in * h * w;
  nw = (size_t) c_out * c_in * k * k;
  ny = (size_t) n * c_out * d.h_out * d.w_out;
  x = random_buffer (nx);
  wt = random_buffer (nw);
  dy = random_buffer (ny);
  y = random_buffer (ny);           /* garbage: the op must overwrite it */
  dx = random_buffer (nx);
  dw = random_buffer (nw);
  y_ref = malloc (ny * sizeof (float));
  dx_ref = malloc (nx * sizeof (float));
  dw_ref = malloc (nw * sizeof (float));

  CHECK (be->conv2d_forward (be, &d, x, wt, y) == CP_OK);
  CHECK (be->conv2d_backward_data (be, &d, dy, wt, dx) == CP_OK);
  CHECK (be->conv2d_backward_filter (be, &d, x, dy, dw) == CP_OK);
  cp_cpu_conv2d_reference_forward (&d, x, wt, y_ref);
  cp_cpu_conv2d_reference_backward_data (&d, dy, wt, dx_ref);
  cp_cpu_conv2d_reference_backward_filter (&d, x, dy, dw_ref);

  e_fwd = harness_normalised_error (y, y_ref, ny);
  e_data = harness_normalised_error (dx, dx_ref, nx);
  e_filter = harness_normalised_error (dw, dw_ref, nw);
  CHECK_MSG (e_fwd <= CONV_TOL && e_data <= CONV_TOL && e_filter <= CONV_TOL,
             "n=%d c_in=%d %dx%d c_out=%d k=%d s=%d p=%d: errors fwd %.3g data %.3g filter %.3g",
             n, c_in, h, w, c_out, k, stride, pad, e_fwd, e_data, e_filter);

  free (x);
  free (wt);
  free (dy);
  free (y);
  free (dx);
  free (dw);
  free (y_ref);
  free (dx_ref);
  free (dw_ref);
}

static void
test_conv_random_shapes (void)
{
  static const int kernels[] = { 1, 3, 5, 7 };

  for (int iter = 0; iter < 120; iter++)
    {
      int k = kernels[cp_rng_int_range (&rng, 0, 3)];
      int stride = (int) cp_rng_int_range (&rng, 1, 3);
      int pad = (int) cp_rng_int_range (&rng, 0, 3);
      int h = (int) cp_rng_int_range (&rng, 1, 19);
      int w = (int) cp_rng_int_range (&rng, 1, 19);
      int n = (int) cp_rng_int_range (&rng, 1, 4);
      int c_in = (int) cp_rng_int_range (&rng, 1, 6);
      int c_out = (int) cp_rng_int_range (&rng, 1, 7);

      if (h + 2 * pad < k || w + 2 * pad < k)
        {
          iter--;
          continue;
        }
      check_shape (n, c_in, h, w, c_out, k, stride, pad);
    }
}

/* Every edge case of the unfolding: padding larger than the kernel's
 * reach, stride larger than the kernel (pixels no window touches), 1x1
 * stride 1 (x used directly as its own unfolding), single pixels. */
static void
test_conv_edges (void)
{
  check_shape (2, 3, 1, 1, 4, 1, 1, 0);
  check_shape (2, 3, 1, 1, 4, 3, 1, 1);
  check_shape (3, 5, 7, 9, 4, 1, 1, 0);
  check_shape (2, 4, 9, 11, 3, 1, 3, 0);
  check_shape (2, 4, 9, 11, 3, 1, 2, 2);
  check_shape (1, 2, 4, 4, 2, 3, 1, 3);
  check_shape (2, 3, 13, 6, 5, 7, 3, 3);
  check_shape (2, 3, 10, 10, 2, 3, 3, 0);
}

/* ResNet-18 layer types at a reduced size: the fast path has different
 * code for tiles within one image and for tiles grouping several images;
 * the 3x3 convolutions on 8x8 and 4x4 maps take the grouped one.  The
 * test runs with whatever thread count the machine gives (CP_NUM_THREADS
 * overrides it; 1, 2, 3 and 5 have been run). */
static void
test_conv_resnet_shapes (void)
{
  check_shape (2, 3, 32, 32, 8, 7, 2, 3);      /* stem */
  check_shape (2, 16, 16, 16, 16, 3, 1, 1);    /* layer1 */
  check_shape (3, 16, 16, 16, 32, 3, 2, 1);    /* layer2 transition */
  check_shape (3, 16, 16, 16, 32, 1, 2, 0);    /* downsample */
  check_shape (5, 32, 8, 8, 32, 3, 1, 1);
  check_shape (5, 64, 4, 4, 64, 3, 1, 1);
  /* Batches large enough for tiles of several images each (and so for
   * threads that each sum part of the filter gradient). */
  check_shape (12, 32, 4, 4, 16, 3, 1, 1);
  check_shape (13, 8, 4, 5, 8, 1, 1, 0);
  check_shape (17, 16, 6, 6, 8, 1, 2, 0);
}

/* A wide layer whose image is split into several tiles (a tile holds 512K
 * floats of patches, so K = 576 rows give about 910 columns per tile, far
 * fewer than the 64x64 = 4096 pixels; tiles of one image then share halo
 * rows in the data gradient). */
static void
test_conv_split_image (void)
{
  check_shape (2, 64, 64, 64, 8, 3, 1, 1);
  check_shape (1, 64, 65, 63, 4, 3, 1, 1);
}

/* The weight gradient sums over many tiles on several threads; the sum
 * must not depend on which thread took which tile, or the same seed would
 * not reproduce a training run bit for bit (SPEC section 2). */
static void
test_conv_filter_deterministic (void)
{
  const int shapes[][8] = {
    /* n, c_in, h, w, c_out, k, stride, pad */
    { 24, 16, 16, 16, 32, 3, 1, 1 },   /* grouped images */
    { 6, 8, 64, 64, 8, 3, 1, 1 },      /* several tiles per image */
    { 12, 16, 16, 16, 32, 1, 2, 0 },   /* 1x1/2 downsample */
  };

  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    {
      const int *v = shapes[s];
      CpConvDesc d;
      size_t nx, nw, ny;
      float *x, *dy, *first, *again;
      int identical = 1;

      cp_conv_desc_init (&d, v[0], v[1], v[2], v[3], v[4], v[5], v[5], v[6], v[7]);
      nx = (size_t) d.n * d.c_in * d.h_in * d.w_in;
      nw = (size_t) d.c_out * d.c_in * d.kh * d.kw;
      ny = (size_t) d.n * d.c_out * d.h_out * d.w_out;
      x = random_buffer (nx);
      dy = random_buffer (ny);
      first = malloc (nw * sizeof (float));
      again = malloc (nw * sizeof (float));
      CHECK (be->conv2d_backward_filter (be, &d, x, dy, first) == CP_OK);
      for (int r = 0; r < 12 && identical; r++)
        {
          CHECK (be->conv2d_backward_filter (be, &d, x, dy, again) == CP_OK);
          identical = memcmp (first, again, nw * sizeof (float)) == 0;
        }
      CHECK_MSG (identical, "shape %zu: weight gradient differs between identical calls", s);
      free (x);
      free (dy);
      free (first);
      free (again);
    }
}

static void
test_conv_invalid (void)
{
  CpConvDesc d;
  float buf[64] = { 0 };

  cp_conv_desc_init (&d, 1, 1, 4, 4, 1, 3, 3, 1, 0);
  d.h_out = 3;    /* inconsistent with the other fields */
  CHECK (be->conv2d_forward (be, &d, buf, buf, buf) == CP_ERR_INVALID);
  cp_conv_desc_init (&d, 0, 1, 4, 4, 1, 3, 3, 1, 0);
  CHECK (be->conv2d_backward_data (be, &d, buf, buf, buf) == CP_ERR_INVALID);
  cp_conv_desc_init (&d, 1, 1, 4, 4, 1, 3, 3, 1, 0);
  CHECK (be->conv2d_backward_filter (be, &d, NULL, buf, buf) == CP_ERR_INVALID);
}

int
main (void)
{
  CpError error;

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "cp_backend_cpu_new: %s\n", error.message);
      return 1;
    }
  cp_rng_seed (&rng, 20210601);

  RUN_TEST (test_conv_random_shapes);
  RUN_TEST (test_conv_edges);
  RUN_TEST (test_conv_resnet_shapes);
  RUN_TEST (test_conv_split_image);
  RUN_TEST (test_conv_filter_deterministic);
  RUN_TEST (test_conv_invalid);

  cp_backend_free (be);
  return harness_exit ();
}
