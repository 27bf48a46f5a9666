/* test-conv-fused.c: the inference fast path's convolution
 * (conv2d_bias_act_forward: folded weights in (c_out, kh, kw, c_in)
 * layout, bias, residual, ReLU, padding taps skipped) against the direct
 * loops of cpu-conv-reference.c followed by the bias, the residual add and
 * the ReLU, on random shapes (1x1, 2x2, 4x4 and odd maps, strides 1..3,
 * paddings 0..3, kernels 1/3/5/7, batch 1 and more), with the small-map
 * split by valid taps forced on and off, several tile sizes (so that
 * small classes are grouped several images to a task and large ones cut
 * into several tasks per image), and every ResNet-18 layer shape of a
 * 32 x 32 patch and of a 64 x 64 image.
 *
 * Tolerance: normalised error (max |fast - ref| / max |ref|) <= 1e-5, as
 * for the plain convolution: the reference sums in double, the fast path
 * sums up to K = 3136 float products in another order.
 */
#include "harness.h"
#include "core/rng.h"
#include "core/backend.h"
#include "core/cpu/cpu-private.h"

#define FUSED_TOL 1e-5

static CpBackend *be;
static CpRng rng;
static int checked;

static float *
random_buffer (size_t count)
{
  float *p = malloc ((count ? count : 1) * sizeof (float));

  for (size_t i = 0; i < count; i++)
    p[i] = (float) cp_rng_uniform_range (&rng, -1.0, 1.0);
  return p;
}

/* (c_out, c_in, kh, kw) -> (c_out, kh, kw, c_in) */
static float *
to_ohwi (const float *w, int c_out, int c_in, int kh, int kw)
{
  float *o = malloc ((size_t) c_out * c_in * kh * kw * sizeof (float));

  for (int co = 0; co < c_out; co++)
    for (int ci = 0; ci < c_in; ci++)
      for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++)
          o[(((size_t) co * kh + i) * kw + j) * c_in + ci]
            = w[(((size_t) co * c_in + ci) * kh + i) * kw + j];
  return o;
}

/* (n, c, h, w) <-> (n, h, w, c) */
static float *
to_nhwc (const float *x, int n, int c, int hw)
{
  float *o = malloc ((size_t) n * c * hw * sizeof (float) + sizeof (float));

  for (int b = 0; b < n; b++)
    for (int ch = 0; ch < c; ch++)
      for (int p = 0; p < hw; p++)
        o[((size_t) b * hw + p) * c + ch] = x[((size_t) b * c + ch) * hw + p];
  return o;
}

/* The channels-last variant (backends that have it), with the input
 * channels last and, as for the stem, NCHW; compared with @ref (NCHW). */
static void
check_nhwc (const CpConvDesc *d, const float *x, const float *wt_ohwi, const float *bias,
            const float *res, int relu, const float *ref)
{
  const size_t hw_in = (size_t) d->h_in * d->w_in, hw = (size_t) d->h_out * d->w_out;
  const size_t ny = (size_t) d->n * d->c_out * hw;
  float *x_nhwc, *res_nhwc = NULL, *ref_nhwc, *y;

  if (be->conv2d_bias_act_forward_nhwc == NULL)
    return;
  x_nhwc = to_nhwc (x, d->n, d->c_in, (int) hw_in);
  if (res != NULL)
    res_nhwc = to_nhwc (res, d->n, d->c_out, (int) hw);
  ref_nhwc = to_nhwc (ref, d->n, d->c_out, (int) hw);
  y = random_buffer (ny);
  for (int x_nchw = 0; x_nchw < 2; x_nchw++)
    {
      double e;

      CHECK (be->conv2d_bias_act_forward_nhwc (be, d, x_nchw ? x : x_nhwc, x_nchw, wt_ohwi, bias,
                                               res_nhwc, relu, y) == CP_OK);
      e = harness_normalised_error (y, ref_nhwc, ny);
      CHECK_MSG (e <= FUSED_TOL,
                 "nhwc (x nchw %d) n=%d c_in=%d %dx%d c_out=%d k=%d s=%d p=%d res=%d relu=%d: "
                 "error %.3g", x_nchw, d->n, d->c_in, d->h_in, d->w_in, d->c_out, d->kh,
                 d->stride, d->pad, res != NULL, relu, e);
    }
  free (x_nhwc);
  free (res_nhwc);
  free (ref_nhwc);
  free (y);
}

static void
check_shape (int n, int c_in, int h, int w, int c_out, int k, int stride, int pad, int residual,
             int relu)
{
  CpConvDesc d;
  size_t nx, nw, ny, hw;
  float *x, *wt, *wt_ohwi, *bias, *res = NULL, *y, *ref;
  double e;

  cp_conv_desc_init (&d, n, c_in, h, w, c_out, k, k, stride, pad);
  if (cp_cpu_conv_desc_check (&d) != CP_OK)
    return;
  nx = (size_t) n * c_in * h * w;
  nw = (size_t) c_out * c_in * k * k;
  hw = (size_t) d.h_out * d.w_out;
  ny = (size_t) n * c_out * hw;
  x = random_buffer (nx);
  wt = random_buffer (nw);
  wt_ohwi = to_ohwi (wt, c_out, c_in, k, k);
  bias = random_buffer ((size_t) c_out);
  if (residual)
    res = random_buffer (ny);
  y = random_buffer (ny);            /* garbage: the op must overwrite it */
  ref = malloc (ny * sizeof (float));

  CHECK (be->conv2d_bias_act_forward (be, &d, x, wt_ohwi, bias, res, relu, y) == CP_OK);
  cp_cpu_conv2d_reference_forward (&d, x, wt, ref);
  for (size_t i = 0; i < ny; i++)
    {
      float v = ref[i] + bias[(i / hw) % (size_t) c_out];

      if (res != NULL)
        v += res[i];
      ref[i] = relu && !(v > 0.0f) ? 0.0f : v;
    }
  e = harness_normalised_error (y, ref, ny);
  CHECK_MSG (e <= FUSED_TOL,
             "n=%d c_in=%d %dx%d c_out=%d k=%d s=%d p=%d res=%d relu=%d: error %.3g", n, c_in, h,
             w, c_out, k, stride, pad, residual, relu, e);
  check_nhwc (&d, x, wt_ohwi, bias, res, relu, ref);
  checked++;

  free (x);
  free (wt);
  free (wt_ohwi);
  free (bias);
  free (res);
  free (y);
  free (ref);
}

static void
test_random_shapes (void)
{
  static const int kernels[] = { 1, 3, 5, 7 };
  static const int split[] = { 0, 8, 1000 };
  static const size_t tiles[] = { 4096, 64 * 1024, 512 * 1024 };

  checked = 0;
  for (int si = 0; si < 3; si++)
    for (int ti = 0; ti < 3; ti++)
      {
        cp_cpu_conv_fused_set_split_max (split[si]);
        cp_cpu_conv_set_tile_floats (tiles[ti]);
        for (int trial = 0; trial < 40; trial++)
          {
            int k = kernels[(int) cp_rng_int_range (&rng, 0, 3)];
            int pad = (int) cp_rng_int_range (&rng, 0, 3);
            int stride = 1 + (int) cp_rng_int_range (&rng, 0, 2);
            int h = 1 + (int) cp_rng_int_range (&rng, 0, 11);
            int w = trial % 3 == 0 ? h : 1 + (int) cp_rng_int_range (&rng, 0, 11);
            int n = trial % 4 == 0 ? 1 : 1 + (int) cp_rng_int_range (&rng, 0, 8);

            check_shape (n, 1 + (int) cp_rng_int_range (&rng, 0, 11), h, w,
                         1 + (int) cp_rng_int_range (&rng, 0, 11), k, stride, pad,
                         (int) cp_rng_int_range (&rng, 0, 1), (int) cp_rng_int_range (&rng, 0, 1));
          }
      }
  printf ("# %d random shapes checked\n", checked);
  CHECK (checked > 200);
  cp_cpu_conv_fused_set_split_max (8);
  cp_cpu_conv_set_tile_floats (512 * 1024);
}

/* The small maps the split is for, and a larger one that is not split. */
static void
test_small_maps (void)
{
  static const int sides[] = { 1, 2, 4, 8, 20 };

  for (int si = 0; si < 2; si++)
    {
      cp_cpu_conv_fused_set_split_max (si == 0 ? 0 : 8);
      cp_cpu_conv_set_tile_floats (si == 0 ? 4096 : 512 * 1024);
      for (int i = 0; i < 5; i++)
        for (int n = 1; n <= 13; n += 12)
          {
            int s = sides[i];

            check_shape (n, 24, s, s, 20, 3, 1, 1, 1, 1);
            check_shape (n, 24, s, s, 20, 3, 1, 1, 0, 1);
            check_shape (n, 24, s, s, 20, 3, 1, 1, 0, 0);
            check_shape (n, 24, s, s, 20, 3, 2, 1, 0, 1);
            check_shape (n, 24, s, s, 20, 1, 2, 0, 0, 0);
          }
    }
  cp_cpu_conv_fused_set_split_max (8);
  cp_cpu_conv_set_tile_floats (512 * 1024);
}

/* Every convolution of ResNet-18 on a 32 x 32 patch (stem 32 -> 16, then
 * 8, 4, 2, 1) and at S = 64, batch 1 and a batch that spreads over the
 * threads. */
static void
test_resnet_shapes (void)
{
  static const int layers[][6] = {
    /* c_in, side, c_out, k, stride, pad */
    { 3, 32, 64, 7, 2, 3 },
    { 64, 8, 64, 3, 1, 1 },
    { 64, 8, 128, 3, 2, 1 },
    { 64, 8, 128, 1, 2, 0 },
    { 128, 4, 128, 3, 1, 1 },
    { 128, 4, 256, 3, 2, 1 },
    { 128, 4, 256, 1, 2, 0 },
    { 256, 2, 256, 3, 1, 1 },
    { 256, 2, 512, 3, 2, 1 },
    { 256, 2, 512, 1, 2, 0 },
    { 512, 1, 512, 3, 1, 1 },
    { 3, 64, 64, 7, 2, 3 },
    { 64, 16, 64, 3, 1, 1 },
    { 512, 2, 512, 3, 1, 1 },
  };

  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
    for (int n = 1; n <= 9; n += 8)
      check_shape (n, layers[i][0], layers[i][1], layers[i][1], layers[i][2], layers[i][3],
                   layers[i][4], layers[i][5], layers[i][3] == 3 && layers[i][4] == 1, 1);
}

/* The channels-last pools against the NCHW ops, on odd sizes and batch 1;
 * both the backend's ops (oneDNN's when built with it) and the plain
 * loops of cpu-pool-nhwc.c.  Max is exact; the mean within 1e-6. */
static void
test_pools_nhwc (void)
{
  if (be->maxpool_forward_nhwc == NULL)
    {
      printf ("# no channels-last ops in this build\n");
      return;
    }
  for (int trial = 0; trial < 30; trial++)
    {
      int n = trial % 3 == 0 ? 1 : 1 + (int) cp_rng_int_range (&rng, 0, 4);
      int c = 1 + (int) cp_rng_int_range (&rng, 0, 70);
      int h = 3 + (int) cp_rng_int_range (&rng, 0, 14), w = 3 + (int) cp_rng_int_range (&rng, 0, 14);
      int ho = (h + 2 - 3) / 2 + 1, wo = (w + 2 - 3) / 2 + 1;
      size_t nx = (size_t) n * c * h * w, ny = (size_t) n * c * ho * wo;
      float *x = random_buffer (nx), *x_nhwc = to_nhwc (x, n, c, h * w);
      float *y = malloc (ny * sizeof (float)), *y_ref = malloc (ny * sizeof (float));
      float *y_nhwc = malloc (ny * sizeof (float)), *y_loop = malloc (ny * sizeof (float));
      float *ref_nhwc, *m = malloc ((size_t) n * c * sizeof (float));
      float *m_nhwc = malloc ((size_t) n * c * sizeof (float));
      float *m_loop = malloc ((size_t) n * c * sizeof (float));
      int32_t *idx = malloc (ny * sizeof (int32_t));

      CHECK (be->maxpool_forward (be, n, c, h, w, 3, 2, 1, x, y_ref, idx) == CP_OK);
      ref_nhwc = to_nhwc (y_ref, n, c, ho * wo);
      CHECK (be->maxpool_forward_nhwc (be, n, c, h, w, 3, 2, 1, x_nhwc, y_nhwc) == CP_OK);
      CHECK (cp_cpu_maxpool_forward_nhwc (be, n, c, h, w, 3, 2, 1, x_nhwc, y_loop) == CP_OK);
      CHECK_MSG (memcmp (y_nhwc, ref_nhwc, ny * sizeof (float)) == 0
                 && memcmp (y_loop, ref_nhwc, ny * sizeof (float)) == 0,
                 "max pool n=%d c=%d %dx%d", n, c, h, w);

      CHECK (be->avgpool_forward (be, n, c, h * w, x, m) == CP_OK);
      CHECK (be->avgpool_forward_nhwc (be, n, c, h * w, x_nhwc, m_nhwc) == CP_OK);
      CHECK (cp_cpu_avgpool_forward_nhwc (be, n, c, h * w, x_nhwc, m_loop) == CP_OK);
      CHECK_MSG (harness_normalised_error (m_nhwc, m, (size_t) n * c) <= 1e-6
                 && harness_normalised_error (m_loop, m, (size_t) n * c) <= 1e-6,
                 "average pool n=%d c=%d %dx%d", n, c, h, w);
      free (x);
      free (x_nhwc);
      free (y);
      free (y_ref);
      free (y_nhwc);
      free (y_loop);
      free (ref_nhwc);
      free (m);
      free (m_nhwc);
      free (m_loop);
      free (idx);
    }
}

static void
test_bad_arguments (void)
{
  CpConvDesc d;
  float buf[64] = { 0 };

  cp_conv_desc_init (&d, 1, 1, 4, 4, 1, 3, 3, 1, 1);
  CHECK (be->conv2d_bias_act_forward (be, &d, buf, buf, NULL, NULL, 0, buf) == CP_ERR_INVALID);
  d.h_out = 7;
  CHECK (be->conv2d_bias_act_forward (be, &d, buf, buf, buf, NULL, 0, buf + 32)
         == CP_ERR_INVALID);
}

int
main (void)
{
  CpError error = { 0 };

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  cp_rng_seed (&rng, 2024);
  RUN_TEST (test_random_shapes);
  RUN_TEST (test_small_maps);
  RUN_TEST (test_resnet_shapes);
  RUN_TEST (test_pools_nhwc);
  RUN_TEST (test_bad_arguments);
  cp_backend_free (be);
  return harness_exit ();
}
