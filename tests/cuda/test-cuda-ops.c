/* test-cuda-ops.c: every op of the CUDA backend against the CPU reference
 * on random inputs.
 *
 * Tolerances (normalised error: largest absolute difference over the
 * largest reference magnitude):
 *   - convolutions with TF32 (cuDNN's default math, PyTorch's default):
 *     1e-2, since TF32 keeps 10 mantissa bits (relative rounding 2^-11 per
 *     product);
 *   - convolutions in FP32 (TF32 off): 1e-4, since cuDNN may pick Winograd
 *     or FFT algorithms whose transforms lose a few more bits than the
 *     CPU's direct GEMM;
 *   - GEMM, linear layers, batch-norm outputs, loss: 1e-5;
 *   - batch-norm weight gradients and running variance: 2e-5, since the
 *     CPU reference sums each plane in float (relative error grows like
 *     sqrt(hw) * 2^-24 over 16384 values);
 *   - ops that do the same float operations in the same order (ReLU, add,
 *     max pool, average-pool backward): exactly equal.
 * Every ResNet-18 convolution shape at S = 256 (batch 2) is covered.
 */
#include <stddef.h>

#include "cuda-test-common.h"

/* An op a backend lacks would make the network refuse it: report each. */
static void
test_every_op_present (void)
{
  CpBackend *backends[2] = { cpu, gpu };

  for (int b = 0; b < 2; b++)
    {
#define CP_CHECK_OP(op) \
      CHECK_MSG (backends[b]->op != NULL, "backend %s lacks op %s", backends[b]->name, #op);
      CP_BACKEND_OPS (CP_CHECK_OP)
#undef CP_CHECK_OP
    }
  CHECK (strcmp (gpu->name, "cuda") == 0);
}

/* ---- memory ------------------------------------------------------------- */

static void
test_memory_ops (void)
{
  CpError error = { CP_OK, "" };
  float host[100], back[100], expect[100];
  float *a, *b;

  for (int i = 0; i < 100; i++)
    host[i] = (float) i - 50.0f;
  a = put (gpu, host, sizeof host);
  b = put (gpu, NULL, sizeof host);
  CHECK (((uintptr_t) a) % 64 == 0 && ((uintptr_t) b) % 64 == 0);
  CHECK (gpu->copy (gpu, b, a, sizeof host, &error) == CP_OK);
  CHECK (gpu->synchronize (gpu, &error) == CP_OK);
  CHECK (gpu->download (gpu, back, b, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, host, sizeof host) == 0);

  CHECK (gpu->zero (gpu, b, 40 * sizeof (float), &error) == CP_OK);
  CHECK (gpu->download (gpu, back, b, sizeof host, &error) == CP_OK);
  for (int i = 0; i < 100; i++)
    CHECK (back[i] == (i < 40 ? 0.0f : host[i]));

  /* Overlapping copies behave like memmove, as on the CPU. */
  memcpy (expect, host, sizeof host);
  memmove (expect + 10, expect, 50 * sizeof (float));
  CHECK (gpu->copy (gpu, a + 10, a, 50 * sizeof (float), &error) == CP_OK);
  CHECK (gpu->download (gpu, back, a, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, expect, sizeof host) == 0);
  memcpy (expect, back, sizeof back);
  memmove (expect, expect + 7, 60 * sizeof (float));
  CHECK (gpu->copy (gpu, a, a + 7, 60 * sizeof (float), &error) == CP_OK);
  CHECK (gpu->download (gpu, back, a, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, expect, sizeof host) == 0);
  drop (gpu, a);
  drop (gpu, b);

  a = gpu->alloc (gpu, 0, &error);
  CHECK (a != NULL);
  gpu->free (gpu, a);
  gpu->free (gpu, NULL);

  /* An impossible allocation fails with the out-of-memory message. */
  cp_error_clear (&error);
  a = gpu->alloc (gpu, (size_t) 1 << 52, &error);
  CHECK (a == NULL);
  CHECK (error.code == CP_ERR_NOMEM);
  CHECK_MSG (strstr (error.message, "out of GPU memory (needed") != NULL, "message: %s",
             error.message);
  printf ("  huge allocation: %s\n", error.message);
  /* ... and leaves the device usable. */
  CHECK (gpu->synchronize (gpu, &error) == CP_OK);
  a = put (gpu, host, sizeof host);
  CHECK (gpu->download (gpu, back, a, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, host, sizeof host) == 0);
  drop (gpu, a);
}

/* ---- convolutions ------------------------------------------------------- */

typedef struct
{
  const char *name;
  int         n, c_in, h, w, c_out, k, stride, pad;
} ConvCase;

static const ConvCase conv_cases[] = {
  { "conv1 7x7/2 3->64 @256", 2, 3, 256, 256, 64, 7, 2, 3 },
  { "layer1 3x3 64->64 @64", 2, 64, 64, 64, 64, 3, 1, 1 },
  { "layer2.0.conv1 3x3/2 64->128 @64", 2, 64, 64, 64, 128, 3, 2, 1 },
  { "layer2 3x3 128->128 @32", 2, 128, 32, 32, 128, 3, 1, 1 },
  { "layer2.0.downsample 1x1/2 64->128 @64", 2, 64, 64, 64, 128, 1, 2, 0 },
  { "layer3.0.conv1 3x3/2 128->256 @32", 2, 128, 32, 32, 256, 3, 2, 1 },
  { "layer3 3x3 256->256 @16", 2, 256, 16, 16, 256, 3, 1, 1 },
  { "layer3.0.downsample 1x1/2 128->256 @32", 2, 128, 32, 32, 256, 1, 2, 0 },
  { "layer4.0.conv1 3x3/2 256->512 @16", 2, 256, 16, 16, 512, 3, 2, 1 },
  { "layer4 3x3 512->512 @8", 2, 512, 8, 8, 512, 3, 1, 1 },
  { "layer4.0.downsample 1x1/2 256->512 @16", 2, 256, 16, 16, 512, 1, 2, 0 },
  /* Shapes with nothing a multiple of 4, rectangular, a 5x5 kernel. */
  { "odd 3x3/2 3->5 @37x29", 1, 3, 37, 29, 5, 3, 2, 1 },
  { "odd 1x1 7->3 @11x13", 3, 7, 11, 13, 3, 1, 1, 0 },
  { "odd 5x5 4->6 @9x9 pad 2", 2, 4, 9, 9, 6, 5, 1, 2 },
};

static void
conv_case (const ConvCase *cc)
{
  CpConvDesc d;
  size_t nx, nw, ny;
  float *x, *w, *dy;
  float *cx, *cw, *cdy, *cy, *cdx, *cdw;
  float *gx, *gw, *gdy, *gy, *gdx, *gdw;
  char what[160];

  cp_conv_desc_init (&d, cc->n, cc->c_in, cc->h, cc->w, cc->c_out, cc->k, cc->k, cc->stride,
                     cc->pad);
  nx = (size_t) d.n * d.c_in * d.h_in * d.w_in;
  nw = (size_t) d.c_out * d.c_in * d.kh * d.kw;
  ny = (size_t) d.n * d.c_out * d.h_out * d.w_out;
  x = host_uniform (nx, -1.0, 1.0);
  w = host_uniform (nw, -1.0, 1.0);
  dy = host_uniform (ny, -1.0, 1.0);

  cx = put (cpu, x, nx * 4);
  cw = put (cpu, w, nw * 4);
  cdy = put (cpu, dy, ny * 4);
  cy = put (cpu, NULL, ny * 4);
  cdx = put (cpu, NULL, nx * 4);
  cdw = put (cpu, NULL, nw * 4);
  CHECK (cpu->conv2d_forward (cpu, &d, cx, cw, cy) == CP_OK);
  CHECK (cpu->conv2d_backward_data (cpu, &d, cdy, cw, cdx) == CP_OK);
  CHECK (cpu->conv2d_backward_filter (cpu, &d, cx, cdy, cdw) == CP_OK);

  gx = put (gpu, x, nx * 4);
  gw = put (gpu, w, nw * 4);
  gdy = put (gpu, dy, ny * 4);
  gy = put (gpu, NULL, ny * 4);
  gdx = put (gpu, NULL, nx * 4);
  gdw = put (gpu, NULL, nw * 4);
  for (int tf32 = 0; tf32 <= 1; tf32++)
    {
      double tolerance = tf32 ? 1e-2 : 1e-4;
      const char *mode = tf32 ? "TF32" : "FP32";

      cp_cuda_backend_set_tf32 (gpu, tf32);
      CHECK_MSG (gpu->conv2d_forward (gpu, &d, gx, gw, gy) == CP_OK, "%s forward: %s", cc->name,
                 cp_cuda_backend_last_error (gpu));
      CHECK_MSG (gpu->conv2d_backward_data (gpu, &d, gdy, gw, gdx) == CP_OK, "%s data: %s",
                 cc->name, cp_cuda_backend_last_error (gpu));
      CHECK_MSG (gpu->conv2d_backward_filter (gpu, &d, gx, gdy, gdw) == CP_OK, "%s filter: %s",
                 cc->name, cp_cuda_backend_last_error (gpu));
      snprintf (what, sizeof what, "%s %s forward", cc->name, mode);
      expect_close_dev (what, gy, cy, ny, tolerance);
      snprintf (what, sizeof what, "%s %s backward data", cc->name, mode);
      expect_close_dev (what, gdx, cdx, nx, tolerance);
      snprintf (what, sizeof what, "%s %s backward filter", cc->name, mode);
      expect_close_dev (what, gdw, cdw, nw, tolerance);
    }
  cp_cuda_backend_set_tf32 (gpu, 1);

  drop (cpu, cx); drop (cpu, cw); drop (cpu, cdy); drop (cpu, cy); drop (cpu, cdx);
  drop (cpu, cdw);
  drop (gpu, gx); drop (gpu, gw); drop (gpu, gdy); drop (gpu, gy); drop (gpu, gdx);
  drop (gpu, gdw);
  free (x);
  free (w);
  free (dy);
}

static void
test_conv_resnet18_shapes (void)
{
  size_t cases = sizeof conv_cases / sizeof conv_cases[0];
  int plans;

  for (size_t i = 0; i < cases; i++)
    conv_case (&conv_cases[i]);
  /* One plan per shape and math mode, built once and reused. */
  plans = cp_cuda_backend_conv_plans (gpu);
  CHECK_MSG (plans == (int) (2 * cases), "%d plans for %zu shapes x 2 modes", plans, cases);
  conv_case (&conv_cases[1]);
  CHECK (cp_cuda_backend_conv_plans (gpu) == plans);
  printf ("  %d convolution plans, workspace %.1f MiB\n", plans,
          cp_cuda_backend_workspace_bytes (gpu) / 1048576.0);
}

/* ---- batch norm --------------------------------------------------------- */

static void
bn_case (const char *name, int n, int c, int hw)
{
  const size_t count = (size_t) n * c * hw, cb = (size_t) c * 4;
  const float momentum = 0.1f, eps = 1e-5f;
  /* A mean away from zero exercises the variance's cancellation. */
  float *x = host_uniform (count, -1.0, 3.0);
  float *dy = host_normal (count, 1.0);
  float *gamma = host_uniform (c, 0.5, 1.5), *beta = host_uniform (c, -0.5, 0.5);
  float *rm = host_uniform (c, -0.2, 0.2), *rv = host_uniform (c, 0.5, 2.0);
  float *cx, *cdy, *cg, *cb_, *crm, *crv, *cy, *csm, *csi, *cyi, *cdx, *cdg, *cdb;
  float *gx, *gdy, *gg, *gb, *grm, *grv, *gy, *gsm, *gsi, *gyi, *gdx, *gdg, *gdb;
  char what[160];

  printf ("  batch norm %s (n %d, c %d, hw %d)\n", name, n, c, hw);
  cx = put (cpu, x, count * 4); cdy = put (cpu, dy, count * 4);
  cg = put (cpu, gamma, cb); cb_ = put (cpu, beta, cb);
  crm = put (cpu, rm, cb); crv = put (cpu, rv, cb);
  cy = put (cpu, NULL, count * 4); cyi = put (cpu, NULL, count * 4);
  cdx = put (cpu, NULL, count * 4);
  csm = put (cpu, NULL, cb); csi = put (cpu, NULL, cb);
  cdg = put (cpu, NULL, cb); cdb = put (cpu, NULL, cb);
  CHECK (cpu->batchnorm_forward_train (cpu, n, c, hw, cx, cg, cb_, crm, crv, momentum, eps, cy,
                                       csm, csi) == CP_OK);
  CHECK (cpu->batchnorm_forward_infer (cpu, n, c, hw, cx, cg, cb_, crm, crv, eps, cyi) == CP_OK);
  CHECK (cpu->batchnorm_backward (cpu, n, c, hw, cx, cdy, cg, csm, csi, cdx, cdg, cdb) == CP_OK);

  gx = put (gpu, x, count * 4); gdy = put (gpu, dy, count * 4);
  gg = put (gpu, gamma, cb); gb = put (gpu, beta, cb);
  grm = put (gpu, rm, cb); grv = put (gpu, rv, cb);
  gy = put (gpu, NULL, count * 4); gyi = put (gpu, NULL, count * 4);
  gdx = put (gpu, NULL, count * 4);
  gsm = put (gpu, NULL, cb); gsi = put (gpu, NULL, cb);
  gdg = put (gpu, NULL, cb); gdb = put (gpu, NULL, cb);
  CHECK (gpu->batchnorm_forward_train (gpu, n, c, hw, gx, gg, gb, grm, grv, momentum, eps, gy,
                                       gsm, gsi) == CP_OK);
  CHECK (gpu->batchnorm_forward_infer (gpu, n, c, hw, gx, gg, gb, grm, grv, eps, gyi) == CP_OK);
  CHECK (gpu->batchnorm_backward (gpu, n, c, hw, gx, gdy, gg, gsm, gsi, gdx, gdg, gdb) == CP_OK);

  snprintf (what, sizeof what, "bn %s train y", name);
  expect_close_dev (what, gy, cy, count, 1e-5);
  snprintf (what, sizeof what, "bn %s save_mean", name);
  expect_close_dev (what, gsm, csm, c, 1e-5);
  snprintf (what, sizeof what, "bn %s save_invstd", name);
  expect_close_dev (what, gsi, csi, c, 1e-5);
  snprintf (what, sizeof what, "bn %s running_mean", name);
  expect_close_dev (what, grm, crm, c, 1e-5);
  snprintf (what, sizeof what, "bn %s running_var (unbiased)", name);
  expect_close_dev (what, grv, crv, c, 2e-5);
  snprintf (what, sizeof what, "bn %s infer y", name);
  expect_close_dev (what, gyi, cyi, count, 1e-5);
  snprintf (what, sizeof what, "bn %s backward dx", name);
  expect_close_dev (what, gdx, cdx, count, 1e-5);
  snprintf (what, sizeof what, "bn %s backward dgamma", name);
  expect_close_dev (what, gdg, cdg, c, 2e-5);
  snprintf (what, sizeof what, "bn %s backward dbeta", name);
  expect_close_dev (what, gdb, cdb, c, 2e-5);

  /* In place, as backend.h allows: y over x, dx over dy; no running
   * statistics and no dgamma/dbeta (NULL is allowed). */
  {
    float *ax = put (gpu, x, count * 4), *ady = put (gpu, dy, count * 4);
    CpError error;

    CHECK (gpu->upload (gpu, gx, x, count * 4, &error) == CP_OK);
    CHECK (gpu->batchnorm_forward_train (gpu, n, c, hw, ax, gg, gb, NULL, NULL, momentum, eps, ax,
                                         gsm, gsi) == CP_OK);
    snprintf (what, sizeof what, "bn %s train y in place", name);
    expect_close_dev (what, ax, cy, count, 1e-5);
    CHECK (gpu->batchnorm_backward (gpu, n, c, hw, gx, ady, gg, gsm, gsi, ady, NULL, NULL)
           == CP_OK);
    snprintf (what, sizeof what, "bn %s backward dx in place", name);
    expect_close_dev (what, ady, cdx, count, 1e-5);
    drop (gpu, ax);
    drop (gpu, ady);
  }

  drop (cpu, cx); drop (cpu, cdy); drop (cpu, cg); drop (cpu, cb_); drop (cpu, crm);
  drop (cpu, crv); drop (cpu, cy); drop (cpu, cyi); drop (cpu, cdx); drop (cpu, csm);
  drop (cpu, csi); drop (cpu, cdg); drop (cpu, cdb);
  drop (gpu, gx); drop (gpu, gdy); drop (gpu, gg); drop (gpu, gb); drop (gpu, grm);
  drop (gpu, grv); drop (gpu, gy); drop (gpu, gyi); drop (gpu, gdx); drop (gpu, gsm);
  drop (gpu, gsi); drop (gpu, gdg); drop (gpu, gdb);
  free (x); free (dy); free (gamma); free (beta); free (rm); free (rv);
}

static void
test_batchnorm (void)
{
  bn_case ("stem @256", 2, 64, 128 * 128);
  bn_case ("layer3 @256", 4, 256, 16 * 16);
  bn_case ("layer4 @256", 3, 512, 8 * 8);
  bn_case ("head 1d", 96, 512, 1);
  bn_case ("odd", 3, 5, 7);
  bn_case ("two values", 2, 3, 1);
}

/* ---- elementwise -------------------------------------------------------- */

static void
elementwise_case (size_t count, size_t offset)
{
  float *a = host_normal (count + offset, 1.0), *b = host_normal (count + offset, 1.0);
  float *ca = put (cpu, a, (count + offset) * 4), *cb = put (cpu, b, (count + offset) * 4);
  float *ga = put (gpu, a, (count + offset) * 4), *gb = put (gpu, b, (count + offset) * 4);
  float *cy = put (cpu, NULL, (count + offset) * 4), *gy = put (gpu, NULL, (count + offset) * 4);
  char what[128];

  /* relu forward, then backward through its output, then add; the offset
   * makes the pointers unaligned for 16-byte accesses. */
  CHECK (cpu->relu_forward (cpu, count, ca + offset, cy + offset) == CP_OK);
  CHECK (gpu->relu_forward (gpu, count, ga + offset, gy + offset) == CP_OK);
  snprintf (what, sizeof what, "relu forward (%zu, offset %zu)", count, offset);
  expect_close_dev (what, gy + offset, cy + offset, count, 0.0);
  CHECK (cpu->relu_backward (cpu, count, cy + offset, cb + offset, cb + offset) == CP_OK);
  CHECK (gpu->relu_backward (gpu, count, gy + offset, gb + offset, gb + offset) == CP_OK);
  snprintf (what, sizeof what, "relu backward in place (%zu, offset %zu)", count, offset);
  expect_close_dev (what, gb + offset, cb + offset, count, 0.0);
  CHECK (cpu->add (cpu, count, ca + offset, cb + offset, ca + offset) == CP_OK);
  CHECK (gpu->add (gpu, count, ga + offset, gb + offset, ga + offset) == CP_OK);
  snprintf (what, sizeof what, "add in place (%zu, offset %zu)", count, offset);
  expect_close_dev (what, ga + offset, ca + offset, count, 0.0);
  CHECK (cpu->relu_forward (cpu, count, ca + offset, ca + offset) == CP_OK);
  CHECK (gpu->relu_forward (gpu, count, ga + offset, ga + offset) == CP_OK);
  snprintf (what, sizeof what, "relu forward in place (%zu, offset %zu)", count, offset);
  expect_close_dev (what, ga + offset, ca + offset, count, 0.0);

  drop (cpu, ca); drop (cpu, cb); drop (cpu, cy);
  drop (gpu, ga); drop (gpu, gb); drop (gpu, gy);
  free (a);
  free (b);
}

static void
test_elementwise (void)
{
  elementwise_case (1000003, 0);
  elementwise_case (1000003, 1);
  elementwise_case (7, 0);
  elementwise_case (64 * 128 * 128 * 2, 0);
}

/* ---- pooling ------------------------------------------------------------ */

static void
maxpool_case (int n, int c, int h, int w, int k, int s, int p, int with_nan)
{
  const int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
  const size_t nx = (size_t) n * c * h * w, ny = (size_t) n * c * ho * wo;
  float *x = malloc (nx * 4), *dy = host_normal (ny, 1.0);
  float *cx, *cy, *cdy, *cdx, *gx, *gy, *gdy, *gdx;
  int32_t *ci, *gi, *hci, *hgi;
  char what[128];

  /* Few distinct values: many ties, where the first maximum must win. */
  for (size_t i = 0; i < nx; i++)
    x[i] = (float) (int) cp_rng_int_range (&rng, 0, 3);
  if (with_nan)
    for (size_t i = 0; i < nx; i += nx / 5 + 1)
      x[i] = NAN;

  cx = put (cpu, x, nx * 4); cdy = put (cpu, dy, ny * 4);
  cy = put (cpu, NULL, ny * 4); cdx = put (cpu, NULL, nx * 4);
  ci = put (cpu, NULL, ny * 4);
  gx = put (gpu, x, nx * 4); gdy = put (gpu, dy, ny * 4);
  gy = put (gpu, NULL, ny * 4); gdx = put (gpu, NULL, nx * 4);
  gi = put (gpu, NULL, ny * 4);
  /* dx starts as garbage: backward must overwrite all of it. */
  CHECK (gpu->upload (gpu, gdx, x, nx * 4, NULL) == CP_OK);

  CHECK (cpu->maxpool_forward (cpu, n, c, h, w, k, s, p, cx, cy, ci) == CP_OK);
  CHECK (gpu->maxpool_forward (gpu, n, c, h, w, k, s, p, gx, gy, gi) == CP_OK);
  CHECK (cpu->maxpool_backward (cpu, n, c, h, w, k, s, p, cdy, ci, cdx) == CP_OK);
  CHECK (gpu->maxpool_backward (gpu, n, c, h, w, k, s, p, gdy, gi, gdx) == CP_OK);

  snprintf (what, sizeof what, "maxpool %dx%d/%d pad %d on (%d,%d,%d,%d)%s forward", k, k, s, p,
            n, c, h, w, with_nan ? " with NaN" : "");
  expect_close_dev (what, gy, cy, ny, 0.0);
  hci = get (cpu, ci, ny * 4);
  hgi = get (gpu, gi, ny * 4);
  CHECK_MSG (memcmp (hci, hgi, ny * 4) == 0, "%s: indices differ", what);
  snprintf (what, sizeof what, "maxpool %dx%d/%d pad %d on (%d,%d,%d,%d)%s backward", k, k, s, p,
            n, c, h, w, with_nan ? " with NaN" : "");
  expect_close_dev (what, gdx, cdx, nx, 0.0);

  drop (cpu, cx); drop (cpu, cdy); drop (cpu, cy); drop (cpu, cdx); drop (cpu, ci);
  drop (gpu, gx); drop (gpu, gdy); drop (gpu, gy); drop (gpu, gdx); drop (gpu, gi);
  free (x); free (dy); free (hci); free (hgi);
}

static void
avgpool_case (int n, int c, int hw)
{
  const size_t nx = (size_t) n * c * hw, ny = (size_t) n * c;
  float *x = host_normal (nx, 1.0), *dy = host_normal (ny, 1.0);
  float *cx = put (cpu, x, nx * 4), *cdy = put (cpu, dy, ny * 4);
  float *cy = put (cpu, NULL, ny * 4), *cdx = put (cpu, NULL, nx * 4);
  float *gx = put (gpu, x, nx * 4), *gdy = put (gpu, dy, ny * 4);
  float *gy = put (gpu, NULL, ny * 4), *gdx = put (gpu, NULL, nx * 4);
  char what[128];

  CHECK (cpu->avgpool_forward (cpu, n, c, hw, cx, cy) == CP_OK);
  CHECK (gpu->avgpool_forward (gpu, n, c, hw, gx, gy) == CP_OK);
  CHECK (cpu->avgpool_backward (cpu, n, c, hw, cdy, cdx) == CP_OK);
  CHECK (gpu->avgpool_backward (gpu, n, c, hw, gdy, gdx) == CP_OK);
  snprintf (what, sizeof what, "avgpool (%d,%d,%d) forward", n, c, hw);
  expect_close_dev (what, gy, cy, ny, 1e-6);
  snprintf (what, sizeof what, "avgpool (%d,%d,%d) backward", n, c, hw);
  expect_close_dev (what, gdx, cdx, nx, 0.0);

  drop (cpu, cx); drop (cpu, cdy); drop (cpu, cy); drop (cpu, cdx);
  drop (gpu, gx); drop (gpu, gdy); drop (gpu, gy); drop (gpu, gdx);
  free (x); free (dy);
}

static void
test_pooling (void)
{
  maxpool_case (2, 64, 128, 128, 3, 2, 1, 0);   /* ResNet-18's, at S = 256 */
  maxpool_case (2, 3, 7, 9, 3, 2, 1, 0);
  maxpool_case (1, 2, 6, 6, 2, 2, 0, 0);
  maxpool_case (1, 3, 5, 5, 3, 1, 1, 0);        /* windows overlap a lot */
  maxpool_case (2, 4, 16, 16, 3, 2, 1, 1);
  avgpool_case (2, 512, 64);
  avgpool_case (96, 512, 64);
  avgpool_case (3, 5, 7);
}

/* ---- linear, gemm ------------------------------------------------------- */

static void
linear_case (int n, int in, int out, int with_bias, int with_dx)
{
  float *x = host_normal ((size_t) n * in, 1.0), *w = host_normal ((size_t) out * in, 0.05);
  float *b = host_normal (out, 0.1), *dy = host_normal ((size_t) n * out, 1.0);
  float *cx = put (cpu, x, (size_t) n * in * 4), *cw = put (cpu, w, (size_t) out * in * 4);
  float *cb = put (cpu, b, out * 4), *cdy = put (cpu, dy, (size_t) n * out * 4);
  float *cy = put (cpu, NULL, (size_t) n * out * 4), *cdx = put (cpu, NULL, (size_t) n * in * 4);
  float *cdw = put (cpu, NULL, (size_t) out * in * 4), *cdb = put (cpu, NULL, out * 4);
  float *gx = put (gpu, x, (size_t) n * in * 4), *gw = put (gpu, w, (size_t) out * in * 4);
  float *gb = put (gpu, b, out * 4), *gdy = put (gpu, dy, (size_t) n * out * 4);
  float *gy = put (gpu, NULL, (size_t) n * out * 4), *gdx = put (gpu, NULL, (size_t) n * in * 4);
  float *gdw = put (gpu, NULL, (size_t) out * in * 4), *gdb = put (gpu, NULL, out * 4);
  char what[128];

  CHECK (cpu->linear_forward (cpu, n, in, out, cx, cw, with_bias ? cb : NULL, cy) == CP_OK);
  CHECK (gpu->linear_forward (gpu, n, in, out, gx, gw, with_bias ? gb : NULL, gy) == CP_OK);
  CHECK (cpu->linear_backward (cpu, n, in, out, cx, cw, cdy, with_dx ? cdx : NULL, cdw,
                               with_bias ? cdb : NULL) == CP_OK);
  CHECK (gpu->linear_backward (gpu, n, in, out, gx, gw, gdy, with_dx ? gdx : NULL, gdw,
                               with_bias ? gdb : NULL) == CP_OK);
  snprintf (what, sizeof what, "linear %d x %d -> %d forward", n, in, out);
  expect_close_dev (what, gy, cy, (size_t) n * out, 1e-5);
  if (with_dx)
    {
      snprintf (what, sizeof what, "linear %d x %d -> %d dx", n, in, out);
      expect_close_dev (what, gdx, cdx, (size_t) n * in, 1e-5);
    }
  snprintf (what, sizeof what, "linear %d x %d -> %d dw", n, in, out);
  expect_close_dev (what, gdw, cdw, (size_t) out * in, 1e-5);
  if (with_bias)
    {
      snprintf (what, sizeof what, "linear %d x %d -> %d db", n, in, out);
      expect_close_dev (what, gdb, cdb, out, 1e-5);
    }

  drop (cpu, cx); drop (cpu, cw); drop (cpu, cb); drop (cpu, cdy); drop (cpu, cy);
  drop (cpu, cdx); drop (cpu, cdw); drop (cpu, cdb);
  drop (gpu, gx); drop (gpu, gw); drop (gpu, gb); drop (gpu, gdy); drop (gpu, gy);
  drop (gpu, gdx); drop (gpu, gdw); drop (gpu, gdb);
  free (x); free (w); free (b); free (dy);
}

static void
test_linear (void)
{
  linear_case (96, 512, 512, 1, 1);
  linear_case (96, 512, 128, 1, 1);
  linear_case (96, 128, 3, 1, 1);
  linear_case (5, 7, 3, 0, 0);
}

static void
gemm_case (int ta, int tb, int m, int n, int k, int pad, float alpha, float beta)
{
  const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const size_t na = (size_t) (ta ? k : m) * lda, nb = (size_t) (tb ? n : k) * ldb;
  const size_t nc = (size_t) m * ldc;
  float *a = host_normal (na, 1.0), *b = host_normal (nb, 1.0), *c = host_normal (nc, 1.0);
  float *ca = put (cpu, a, na * 4), *cb = put (cpu, b, nb * 4), *cc = put (cpu, c, nc * 4);
  float *ga = put (gpu, a, na * 4), *gb = put (gpu, b, nb * 4), *gc = put (gpu, c, nc * 4);
  char what[128];

  CHECK (cpu->gemm (cpu, ta, tb, m, n, k, alpha, ca, lda, cb, ldb, beta, cc, ldc) == CP_OK);
  CHECK (gpu->gemm (gpu, ta, tb, m, n, k, alpha, ga, lda, gb, ldb, beta, gc, ldc) == CP_OK);
  snprintf (what, sizeof what, "gemm %c%c m %d n %d k %d ld +%d alpha %g beta %g",
            ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, pad, alpha, beta);
  /* The whole of C, padding included: it must be left alone. */
  expect_close_dev (what, gc, cc, nc, 1e-5);

  drop (cpu, ca); drop (cpu, cb); drop (cpu, cc);
  drop (gpu, ga); drop (gpu, gb); drop (gpu, gc);
  free (a); free (b); free (c);
}

static void
test_gemm (void)
{
  for (int ta = 0; ta <= 1; ta++)
    for (int tb = 0; tb <= 1; tb++)
      {
        gemm_case (ta, tb, 37, 29, 41, 0, 1.0f, 0.0f);
        gemm_case (ta, tb, 37, 29, 41, 3, 0.7f, 0.3f);
      }
  gemm_case (0, 1, 512, 512, 96, 0, 1.0f, 0.0f);
  gemm_case (0, 0, 5, 6, 0, 1, 1.0f, 2.0f);     /* empty product: C = beta C */

  /* beta = 0 must not read C (NaN in C stays out of the result). */
  {
    float c[6] = { NAN, NAN, NAN, NAN, NAN, NAN }, back[6];
    float *gc = put (gpu, c, sizeof c);

    CHECK (gpu->gemm (gpu, 0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 0.0f, gc, 3) == CP_OK);
    CHECK (gpu->download (gpu, back, gc, sizeof back, NULL) == CP_OK);
    for (int i = 0; i < 6; i++)
      CHECK (back[i] == 0.0f);
    /* Leading dimensions too small are refused by both backends. */
    CHECK (gpu->gemm (gpu, 0, 0, 2, 3, 4, 1.0f, gc, 3, gc, 3, 0.0f, gc, 2) == CP_ERR_INVALID);
    CHECK (cpu->gemm (cpu, 0, 0, 2, 3, 4, 1.0f, c, 3, c, 3, 0.0f, c, 2) == CP_ERR_INVALID);
    drop (gpu, gc);
  }
}

/* ---- loss, SGD, L2 ------------------------------------------------------ */

static void
test_softmax_cross_entropy (void)
{
  const int n = 96, classes = 3;
  float *logits = host_normal ((size_t) n * classes, 3.0);
  int32_t labels[96];
  float *cl, *gl, *cd, *gd;
  int32_t *clab, *glab;
  float closs = 0.0f, gloss = 0.0f;

  for (int i = 0; i < n; i++)
    labels[i] = i / 32;
  /* Extreme logits must give a finite loss. */
  logits[0] = 1e4f;
  logits[1] = -1e4f;
  logits[5] = 3e4f;
  cl = put (cpu, logits, (size_t) n * classes * 4);
  gl = put (gpu, logits, (size_t) n * classes * 4);
  cd = put (cpu, NULL, (size_t) n * classes * 4);
  gd = put (gpu, NULL, (size_t) n * classes * 4);
  clab = put (cpu, labels, sizeof labels);
  glab = put (gpu, labels, sizeof labels);

  CHECK (cpu->softmax_cross_entropy (cpu, n, classes, cl, clab, &closs, cd) == CP_OK);
  CHECK (gpu->softmax_cross_entropy (gpu, n, classes, gl, glab, &gloss, gd) == CP_OK);
  printf ("  loss: cpu %.9g cuda %.9g\n", closs, gloss);
  CHECK (isfinite (gloss));
  CHECK_CLOSE (gloss, closs, 0.0, 1e-5);
  expect_close_dev ("softmax cross-entropy dlogits", gd, cd, (size_t) n * classes, 1e-5);

  /* Loss only. */
  gloss = -1.0f;
  CHECK (gpu->softmax_cross_entropy (gpu, n, classes, gl, glab, &gloss, NULL) == CP_OK);
  CHECK_CLOSE (gloss, closs, 0.0, 1e-5);

  /* An out-of-range label is refused by both. */
  labels[17] = 3;
  CHECK (cpu->upload (cpu, clab, labels, sizeof labels, NULL) == CP_OK);
  CHECK (gpu->upload (gpu, glab, labels, sizeof labels, NULL) == CP_OK);
  CHECK (cpu->softmax_cross_entropy (cpu, n, classes, cl, clab, &closs, cd) == CP_ERR_INVALID);
  CHECK (gpu->softmax_cross_entropy (gpu, n, classes, gl, glab, &gloss, gd) == CP_ERR_INVALID);

  drop (cpu, cl); drop (cpu, cd); drop (cpu, clab);
  drop (gpu, gl); drop (gpu, gd); drop (gpu, glab);
  free (logits);
}

static void
sgd_case (size_t count, size_t offset)
{
  float *p = host_normal (count + offset, 1.0), *zeros = calloc (count + offset, 4);
  float *cp_ = put (cpu, p, (count + offset) * 4), *gp = put (gpu, p, (count + offset) * 4);
  float *cbuf = put (cpu, zeros, (count + offset) * 4), *gbuf = put (gpu, zeros, (count + offset) * 4);
  char what[128];

  for (int step = 0; step < 3; step++)
    {
      float *g = host_normal (count + offset, 0.1);
      float *cg = put (cpu, g, (count + offset) * 4), *gg = put (gpu, g, (count + offset) * 4);

      CHECK (cpu->sgd_update (cpu, count, cp_ + offset, cg + offset, cbuf + offset, 0.03f, 0.9f,
                              3e-5f) == CP_OK);
      CHECK (gpu->sgd_update (gpu, count, gp + offset, gg + offset, gbuf + offset, 0.03f, 0.9f,
                              3e-5f) == CP_OK);
      drop (cpu, cg);
      drop (gpu, gg);
      free (g);
    }
  snprintf (what, sizeof what, "sgd x3 params (%zu, offset %zu)", count, offset);
  expect_close_dev (what, gp, cp_, count + offset, 1e-6);
  snprintf (what, sizeof what, "sgd x3 momentum (%zu, offset %zu)", count, offset);
  expect_close_dev (what, gbuf, cbuf, count + offset, 1e-6);

  drop (cpu, cp_); drop (cpu, cbuf); drop (gpu, gp); drop (gpu, gbuf);
  free (p); free (zeros);
}

static void
test_sgd (void)
{
  sgd_case (1000003, 0);
  sgd_case (1001, 1);
}

static void
test_l2_normalize (void)
{
  const int n = 96, dim = 512;
  float *x = host_normal ((size_t) n * dim, 2.0);
  float *cx, *gx, *cy, *gy;

  memset (x + 5 * dim, 0, dim * sizeof (float));   /* a zero row stays zero */
  cx = put (cpu, x, (size_t) n * dim * 4);
  gx = put (gpu, x, (size_t) n * dim * 4);
  cy = put (cpu, NULL, (size_t) n * dim * 4);
  gy = put (gpu, NULL, (size_t) n * dim * 4);
  CHECK (cpu->l2_normalize_rows (cpu, n, dim, cx, cy) == CP_OK);
  CHECK (gpu->l2_normalize_rows (gpu, n, dim, gx, gy) == CP_OK);
  expect_close_dev ("l2 normalise rows", gy, cy, (size_t) n * dim, 1e-6);
  CHECK (gpu->l2_normalize_rows (gpu, n, dim, gx, gx) == CP_OK);
  expect_close_dev ("l2 normalise rows in place", gx, cy, (size_t) n * dim, 1e-6);
  CHECK (gpu->l2_normalize_rows (gpu, 0, dim, gx, gx) == CP_OK);
  drop (cpu, cx); drop (cpu, cy); drop (gpu, gx); drop (gpu, gy);
  free (x);
}

/* ---- refusals ----------------------------------------------------------- */

/* Both backends refuse the same malformed calls. */
static void
test_invalid_arguments (void)
{
  CpBackend *backends[2] = { cpu, gpu };

  for (int i = 0; i < 2; i++)
    {
      CpBackend *be = backends[i];
      float *buf = put (be, NULL, 4096);
      int32_t *idx = put (be, NULL, 4096);
      CpConvDesc d;

      cp_conv_desc_init (&d, 1, 2, 8, 8, 3, 3, 3, 1, 1);
      d.h_out = 9;
      CHECK (be->conv2d_forward (be, &d, buf, buf, buf) == CP_ERR_INVALID);
      /* One value per channel: no unbiased variance. */
      CHECK (be->batchnorm_forward_train (be, 1, 2, 1, buf, buf, buf, NULL, NULL, 0.1f, 1e-5f,
                                          buf, buf, buf) == CP_ERR_INVALID);
      /* Padding more than half the kernel. */
      CHECK (be->maxpool_forward (be, 1, 1, 8, 8, 3, 2, 2, buf, buf, idx) == CP_ERR_INVALID);
      CHECK (be->linear_forward (be, 0, 4, 4, buf, buf, NULL, buf) == CP_ERR_INVALID);
      CHECK (be->relu_forward (be, 4, NULL, buf) == CP_ERR_INVALID);
      CHECK (be->l2_normalize_rows (be, -1, 4, buf, buf) == CP_ERR_INVALID);
      CHECK (be->avgpool_forward (be, 1, 0, 4, buf, buf) == CP_ERR_INVALID);
      drop (be, buf);
      drop (be, idx);
    }
}

int
main (void)
{
  open_backends_or_skip ();
  cp_rng_seed (&rng, 20210601);

  RUN_TEST (test_every_op_present);
  RUN_TEST (test_memory_ops);
  RUN_TEST (test_conv_resnet18_shapes);
  RUN_TEST (test_batchnorm);
  RUN_TEST (test_elementwise);
  RUN_TEST (test_pooling);
  RUN_TEST (test_linear);
  RUN_TEST (test_gemm);
  RUN_TEST (test_softmax_cross_entropy);
  RUN_TEST (test_sgd);
  RUN_TEST (test_l2_normalize);
  RUN_TEST (test_invalid_arguments);

  close_backends ();
  return harness_exit ();
}
