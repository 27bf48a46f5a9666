/* parity-conv.c: the convolutions (cpu-conv.c, cuda-conv.c) on backend B
 * against the CPU reference, at every ResNet-18 shape at S = 256 (batch 2)
 * and at odd shapes.
 *
 * Tolerances: with TF32 (cuDNN's default math, PyTorch's default) 1e-2,
 * since TF32 keeps 10 mantissa bits (relative rounding 2^-11 per product);
 * in FP32 1e-4, since cuDNN may pick Winograd or FFT algorithms whose
 * transforms lose a few more bits than the CPU's direct GEMM.
 */
#include "parity.h"

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

typedef struct
{
  float *y, *dx, *dw;
} ConvResult;

/* The three convolution ops on one backend. */
static void
conv_run (CpBackend *be, const CpConvDesc *d, const float *x, const float *w, const float *dy,
          ConvResult *out)
{
  const size_t nx = (size_t) d->n * d->c_in * d->h_in * d->w_in;
  const size_t nw = (size_t) d->c_out * d->c_in * d->kh * d->kw;
  const size_t ny = (size_t) d->n * d->c_out * d->h_out * d->w_out;
  float *bx = put (be, x, nx * 4), *bw = put (be, w, nw * 4), *bdy = put (be, dy, ny * 4);
  float *by = put (be, NULL, ny * 4), *bdx = put (be, NULL, nx * 4), *bdw = put (be, NULL, nw * 4);

  CHECK_MSG (be->conv2d_forward (be, d, bx, bw, by) == CP_OK, "%s forward", be->name);
  CHECK_MSG (be->conv2d_backward_data (be, d, bdy, bw, bdx) == CP_OK, "%s data", be->name);
  CHECK_MSG (be->conv2d_backward_filter (be, d, bx, bdy, bdw) == CP_OK, "%s filter", be->name);
  out->y = take (be, by, ny * 4);
  out->dx = take (be, bdx, nx * 4);
  out->dw = take (be, bdw, nw * 4);
  drop (be, bx);
  drop (be, bw);
  drop (be, bdy);
}

static void
conv_result_free (ConvResult *r)
{
  free (r->y);
  free (r->dx);
  free (r->dw);
}

/* B's math modes: CUDA twice (FP32, then TF32), every other backend once. */
static int
b_modes (void)
{
  return parity_b_is ("cuda") ? 2 : 1;
}

static const char *
b_set_mode (int mode, double *tolerance)
{
#ifdef CP_HAVE_CUDA
  if (parity_b_is ("cuda"))
    {
      cp_cuda_backend_set_tf32 (be_b, mode);
      *tolerance = mode ? 1e-2 : 1e-4;
      return mode ? "TF32" : "FP32";
    }
#endif
  (void) mode;
  *tolerance = 1e-4;
  return "FP32";
}

static void
conv_case (const ConvCase *cc)
{
  CpConvDesc d;
  size_t nx, nw, ny;
  float *x, *w, *dy;
  ConvResult a, b;
  char what[160];

  cp_conv_desc_init (&d, cc->n, cc->c_in, cc->h, cc->w, cc->c_out, cc->k, cc->k, cc->stride,
                     cc->pad);
  nx = (size_t) d.n * d.c_in * d.h_in * d.w_in;
  nw = (size_t) d.c_out * d.c_in * d.kh * d.kw;
  ny = (size_t) d.n * d.c_out * d.h_out * d.w_out;
  x = host_uniform (nx, -1.0, 1.0);
  w = host_uniform (nw, -1.0, 1.0);
  dy = host_uniform (ny, -1.0, 1.0);

  conv_run (be_a, &d, x, w, dy, &a);
  for (int mode = 0; mode < b_modes (); mode++)
    {
      double tolerance;
      const char *name = b_set_mode (mode, &tolerance);

      conv_run (be_b, &d, x, w, dy, &b);
      if (*parity_b_last_error () != '\0')
        printf ("  %s: last error of B: %s\n", cc->name, parity_b_last_error ());
      snprintf (what, sizeof what, "%s %s forward", cc->name, name);
      expect_close (what, b.y, a.y, ny, tolerance);
      snprintf (what, sizeof what, "%s %s backward data", cc->name, name);
      expect_close (what, b.dx, a.dx, nx, tolerance);
      snprintf (what, sizeof what, "%s %s backward filter", cc->name, name);
      expect_close (what, b.dw, a.dw, nw, tolerance);
      conv_result_free (&b);
    }
  conv_result_free (&a);
  free (x);
  free (w);
  free (dy);
}

static void
test_conv_resnet18_shapes (void)
{
  size_t cases = sizeof conv_cases / sizeof conv_cases[0];

  for (size_t i = 0; i < cases; i++)
    conv_case (&conv_cases[i]);
#ifdef CP_HAVE_CUDA
  /* cuDNN plans: one per shape and math mode, built once and reused. */
  if (parity_b_is ("cuda"))
    {
      int plans = cp_cuda_backend_conv_plans (be_b);

      CHECK_MSG (plans == (int) (2 * cases), "%d plans for %zu shapes x 2 modes", plans, cases);
      conv_case (&conv_cases[1]);
      CHECK (cp_cuda_backend_conv_plans (be_b) == plans);
      printf ("  %d convolution plans, workspace %.1f MiB\n", plans,
              cp_cuda_backend_workspace_bytes (be_b) / 1048576.0);
      cp_cuda_backend_set_tf32 (be_b, 1);
    }
#endif
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_conv_resnet18_shapes);
  parity_close ();
  return harness_exit ();
}
