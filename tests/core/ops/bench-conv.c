/* bench-conv.c: GFLOP/s of the CPU backend's convolutions at every
 * ResNet-18 layer shape for S = 256, next to the machine's sgemm rate.
 *
 * Not a test (built, not registered).  Usage:
 *   bench-conv [batch=8] [repeats=3]
 * Each figure is the best of @repeats runs.  The last lines weigh the
 * layers by how often ResNet-18 uses them and estimate the convolution
 * share of one training step (forward + backward data + backward filter;
 * the stem needs no backward data since its input is the image).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend.h"
#include "rng.h"

typedef struct
{
  const char *name;
  int c_in, hw_in, c_out, k, stride, pad;
  int uses;          /* how many convolutions of this shape ResNet-18 has */
  int needs_data;    /* backward data needed in training */
} Shape;

static const Shape shapes[] = {
  { "stem 7x7/2 3->64 @256",     3, 256,  64, 7, 2, 3, 1, 0 },
  { "l1 3x3 64->64 @64",        64,  64,  64, 3, 1, 1, 4, 1 },
  { "l2 3x3/2 64->128 @64",     64,  64, 128, 3, 2, 1, 1, 1 },
  { "l2 3x3 128->128 @32",     128,  32, 128, 3, 1, 1, 3, 1 },
  { "l2 ds 1x1/2 64->128",      64,  64, 128, 1, 2, 0, 1, 1 },
  { "l3 3x3/2 128->256 @32",   128,  32, 256, 3, 2, 1, 1, 1 },
  { "l3 3x3 256->256 @16",     256,  16, 256, 3, 1, 1, 3, 1 },
  { "l3 ds 1x1/2 128->256",    128,  32, 256, 1, 2, 0, 1, 1 },
  { "l4 3x3/2 256->512 @16",   256,  16, 512, 3, 2, 1, 1, 1 },
  { "l4 3x3 512->512 @8",      512,   8, 512, 3, 1, 1, 3, 1 },
  { "l4 ds 1x1/2 256->512",    256,  16, 512, 1, 2, 0, 1, 1 },
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *
random_buffer (CpRng *rng, size_t count)
{
  float *p = malloc (count * sizeof (float));

  if (p == NULL)
    {
      fprintf (stderr, "out of memory\n");
      exit (1);
    }
  for (size_t i = 0; i < count; i++)
    p[i] = (float) cp_rng_uniform_range (rng, -1.0, 1.0);
  return p;
}

static double
sgemm_rate (CpRng *rng, int size, int repeats)
{
  float *a = random_buffer (rng, (size_t) size * size);
  float *b = random_buffer (rng, (size_t) size * size);
  float *c = random_buffer (rng, (size_t) size * size);
  double best = 1e30;

  for (int r = 0; r < repeats + 1; r++)
    {
      double t0 = now ();

      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a, size,
                   b, size, 0.0f, c, size);
      if (r > 0 && now () - t0 < best)   /* the first run warms up */
        best = now () - t0;
    }
  free (a);
  free (b);
  free (c);
  return 2.0 * size * size * (double) size / best * 1e-9;
}

int
main (int argc, char **argv)
{
  int batch = argc > 1 ? atoi (argv[1]) : 8;
  int repeats = argc > 2 ? atoi (argv[2]) : 3;
  CpError error;
  CpBackend *be = cp_backend_cpu_new (&error);
  CpRng rng;
  double total_flops = 0.0, total_time = 0.0, gemm;

  if (be == NULL || batch < 1 || repeats < 1)
    {
      fprintf (stderr, "usage: bench-conv [batch] [repeats]\n");
      return 1;
    }
  cp_rng_seed (&rng, 7);

  gemm = sgemm_rate (&rng, 2048, repeats);
  printf ("cblas_sgemm 2048^3: %.1f GFLOP/s\n\n", gemm);
  printf ("%-26s %8s %8s %8s   (GFLOP/s, batch %d)\n", "shape", "fwd", "bwd-data", "bwd-filt",
          batch);

  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    {
      const Shape *sh = &shapes[s];
      CpConvDesc d;
      float *x, *w, *y, *dx, *dw;
      double best[3] = { 1e30, 1e30, 1e30 }, flops;

      cp_conv_desc_init (&d, batch, sh->c_in, sh->hw_in, sh->hw_in, sh->c_out, sh->k, sh->k,
                         sh->stride, sh->pad);
      x = random_buffer (&rng, (size_t) batch * sh->c_in * sh->hw_in * sh->hw_in);
      w = random_buffer (&rng, (size_t) sh->c_out * sh->c_in * sh->k * sh->k);
      y = random_buffer (&rng, (size_t) batch * sh->c_out * d.h_out * d.w_out);
      dx = random_buffer (&rng, (size_t) batch * sh->c_in * sh->hw_in * sh->hw_in);
      dw = random_buffer (&rng, (size_t) sh->c_out * sh->c_in * sh->k * sh->k);
      flops = 2.0 * batch * sh->c_out * d.h_out * d.w_out * (double) sh->c_in * sh->k * sh->k;

      for (int r = 0; r < repeats; r++)
        {
          double t0 = now (), t1, t2, t3;

          be->conv2d_forward (be, &d, x, w, y);
          t1 = now ();
          be->conv2d_backward_data (be, &d, y, w, dx);
          t2 = now ();
          be->conv2d_backward_filter (be, &d, x, y, dw);
          t3 = now ();
          if (t1 - t0 < best[0]) best[0] = t1 - t0;
          if (t2 - t1 < best[1]) best[1] = t2 - t1;
          if (t3 - t2 < best[2]) best[2] = t3 - t2;
        }
      printf ("%-26s %8.1f %8.1f %8.1f\n", sh->name, flops / best[0] * 1e-9,
              flops / best[1] * 1e-9, flops / best[2] * 1e-9);
      total_flops += sh->uses * flops * (sh->needs_data ? 3.0 : 2.0);
      total_time += sh->uses * (best[0] + (sh->needs_data ? best[1] : 0.0) + best[2]);
      free (x);
      free (w);
      free (y);
      free (dx);
      free (dw);
    }

  printf ("\nResNet-18 convolutions of one training step (batch %d): %.1f GFLOP in %.2f s"
          " = %.1f GFLOP/s = %.0f%% of sgemm\n", batch, total_flops * 1e-9, total_time,
          total_flops / total_time * 1e-9, 100.0 * total_flops / total_time * 1e-9 / gemm);
  cp_backend_free (be);
  return 0;
}
