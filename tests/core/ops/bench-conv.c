/* bench-conv.c: GFLOP/s of the CPU backend's convolutions at every
 * ResNet-18 layer shape for S = 256, next to the machine's sgemm rate.
 *
 * Not a test (built, not registered).  Usage:
 *   bench-conv [batch=8] [repeats=3] [tile-floats]
 * (tile-floats overrides the convolution's tile size, for tuning it; the
 * environment variable CP_NUM_THREADS sets the backend's thread count).
 * Each figure is the best of @repeats runs.  The "gemm" column is one
 * plain cblas_sgemm with the layer's arithmetic, (c_out, K) x (K, n*hw):
 * the convolution's speed if unfolding cost nothing.  The last lines weigh the
 * layers by how often ResNet-18 uses them and estimate the convolution
 * share of one training step (forward + backward data + backward filter;
 * the stem needs no backward data since its input is the image).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/backend.h"
#include "core/rng.h"
#include "core/cpu/cpu-private.h"
#include "bench-clock.h"

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
sgemm_rate (CpRng *rng, int size, int repeats, double *per_cpu_second)
{
  double best_cpu = 1e30;
  float *a = random_buffer (rng, (size_t) size * size);
  float *b = random_buffer (rng, (size_t) size * size);
  float *c = random_buffer (rng, (size_t) size * size);
  double best = 1e30;

  for (int r = 0; r < repeats + 1; r++)
    {
      double t0 = bench_wall_seconds (), c0 = bench_cpu_seconds ();

      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a, size,
                   b, size, 0.0f, c, size);
      if (r > 0 && bench_wall_seconds () - t0 < best)   /* the first run warms up */
        best = bench_wall_seconds () - t0;
      if (r > 0 && bench_cpu_seconds () - c0 < best_cpu)
        best_cpu = bench_cpu_seconds () - c0;
    }
  free (a);
  free (b);
  free (c);
  *per_cpu_second = 2.0 * size * size * (double) size / best_cpu * 1e-9;
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
  double total_flops = 0.0, total_time = 0.0, total_cpu = 0.0, gemm, gemm_cpu;

  if (be == NULL || batch < 1 || repeats < 1)
    {
      fprintf (stderr, "usage: bench-conv [batch] [repeats]\n");
      return 1;
    }
  cp_rng_seed (&rng, 7);
  if (argc > 3)
    cp_cpu_conv_set_tile_floats ((size_t) atol (argv[3]));

  gemm = sgemm_rate (&rng, 2048, repeats, &gemm_cpu);
  printf ("cblas_sgemm 2048^3: %.1f GFLOP/s (%.1f GFLOP per CPU-second)\n\n", gemm, gemm_cpu);

  /* Repeats outermost, so that on a shared machine every shape sees the
   * same mix of quiet and busy moments; the best time of each is kept. */
  {
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };
    CpConvDesc d[N_SHAPES];
    float *x[N_SHAPES], *w[N_SHAPES], *y[N_SHAPES], *dx[N_SHAPES], *dw[N_SHAPES];
    float *ga[N_SHAPES], *gb[N_SHAPES], *gc[N_SHAPES];
    double best[N_SHAPES][4], best_cpu[N_SHAPES][3], flops[N_SHAPES];

    for (int s = 0; s < N_SHAPES; s++)
      {
        const Shape *sh = &shapes[s];
        size_t k = (size_t) sh->c_in * sh->k * sh->k, cols;

        cp_conv_desc_init (&d[s], batch, sh->c_in, sh->hw_in, sh->hw_in, sh->c_out, sh->k,
                           sh->k, sh->stride, sh->pad);
        cols = (size_t) batch * d[s].h_out * d[s].w_out;
        x[s] = random_buffer (&rng, (size_t) batch * sh->c_in * sh->hw_in * sh->hw_in);
        w[s] = random_buffer (&rng, (size_t) sh->c_out * k);
        y[s] = random_buffer (&rng, (size_t) sh->c_out * cols);
        dx[s] = random_buffer (&rng, (size_t) batch * sh->c_in * sh->hw_in * sh->hw_in);
        dw[s] = random_buffer (&rng, (size_t) sh->c_out * k);
        /* The same arithmetic as one plain GEMM (c_out, K) x (K, n*hw):
         * what the convolution would cost if unfolding were free. */
        ga[s] = w[s];
        gb[s] = random_buffer (&rng, k * cols);
        gc[s] = y[s];
        flops[s] = 2.0 * sh->c_out * (double) cols * (double) k;
        for (int i = 0; i < 4; i++)
          best[s][i] = 1e30;
        for (int i = 0; i < 3; i++)
          best_cpu[s][i] = 1e30;
      }

    for (int r = 0; r < repeats; r++)
      for (int s = 0; s < N_SHAPES; s++)
        {
          const Shape *sh = &shapes[s];
          int k = sh->c_in * sh->k * sh->k, cols = batch * d[s].h_out * d[s].w_out;
          double t0 = bench_wall_seconds (), t1, t2, t3, t4, c0 = bench_cpu_seconds (), c1, c2, c3;

          be->conv2d_forward (be, &d[s], x[s], w[s], y[s]);
          t1 = bench_wall_seconds ();
          c1 = bench_cpu_seconds ();
          be->conv2d_backward_data (be, &d[s], y[s], w[s], dx[s]);
          t2 = bench_wall_seconds ();
          c2 = bench_cpu_seconds ();
          be->conv2d_backward_filter (be, &d[s], x[s], y[s], dw[s]);
          t3 = bench_wall_seconds ();
          c3 = bench_cpu_seconds ();
          if (c1 - c0 < best_cpu[s][0]) best_cpu[s][0] = c1 - c0;
          if (c2 - c1 < best_cpu[s][1]) best_cpu[s][1] = c2 - c1;
          if (c3 - c2 < best_cpu[s][2]) best_cpu[s][2] = c3 - c2;
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, sh->c_out, cols, k, 1.0f,
                       ga[s], k, gb[s], cols, 0.0f, gc[s], cols);
          t4 = bench_wall_seconds ();
          if (t1 - t0 < best[s][0]) best[s][0] = t1 - t0;
          if (t2 - t1 < best[s][1]) best[s][1] = t2 - t1;
          if (t3 - t2 < best[s][2]) best[s][2] = t3 - t2;
          if (t4 - t3 < best[s][3]) best[s][3] = t4 - t3;
        }

    printf ("%-26s %8s %8s %8s %8s   (GFLOP/s, batch %d, best of %d)\n", "shape", "fwd",
            "bwd-data", "bwd-filt", "gemm", batch, repeats);
    for (int s = 0; s < N_SHAPES; s++)
      {
        const Shape *sh = &shapes[s];

        printf ("%-26s %8.1f %8.1f %8.1f %8.1f\n", sh->name, flops[s] / best[s][0] * 1e-9,
                flops[s] / best[s][1] * 1e-9, flops[s] / best[s][2] * 1e-9,
                flops[s] / best[s][3] * 1e-9);
        total_flops += sh->uses * flops[s] * (sh->needs_data ? 3.0 : 2.0);
        total_time += sh->uses * (best[s][0] + (sh->needs_data ? best[s][1] : 0.0) + best[s][2]);
        total_cpu += sh->uses * (best_cpu[s][0] + (sh->needs_data ? best_cpu[s][1] : 0.0)
                                 + best_cpu[s][2]);
        free (x[s]);
        free (w[s]);
        free (y[s]);
        free (dx[s]);
        free (dw[s]);
        free (gb[s]);
      }
  }

  printf ("\nResNet-18 convolutions of one training step (batch %d): %.1f GFLOP in %.2f s"
          " = %.1f GFLOP/s = %.0f%% of sgemm\n", batch, total_flops * 1e-9, total_time,
          total_flops / total_time * 1e-9, 100.0 * total_flops / total_time * 1e-9 / gemm);
  printf ("per CPU-second: %.1f GFLOP = %.0f%% of sgemm's %.1f\n", total_flops / total_cpu * 1e-9,
          100.0 * total_flops / total_cpu / (gemm_cpu * 1e9), gemm_cpu);

  /* The memory-bound ops at the largest activation after the stem
   * (n, 64, 128, 128): GB/s of the bytes they must read and write. */
  {
    const int c = 64, h = 128, hw = h * h;
    const size_t count = (size_t) batch * c * hw, pooled = (size_t) batch * c * 64 * 64;
    float *x = random_buffer (&rng, count), *y = random_buffer (&rng, count);
    float *dy = random_buffer (&rng, count), *p = random_buffer (&rng, pooled);
    float *gamma = random_buffer (&rng, c), *beta = random_buffer (&rng, c);
    float rm[64], rv[64], sm[64], si[64], dg[64], db[64];
    int32_t *idx = malloc (pooled * sizeof (int32_t));
    double t[6] = { 1e30, 1e30, 1e30, 1e30, 1e30, 1e30 };
    const double mb = count * 4.0;

    for (int i = 0; i < c; i++)
      {
        rm[i] = 0.0f;
        rv[i] = 1.0f;
      }
    for (int r = 0; r < repeats; r++)
      {
        double t0 = bench_wall_seconds (), t1, t2, t3, t4, t5, t6;

        be->batchnorm_forward_train (be, batch, c, hw, x, gamma, beta, rm, rv, 0.1f, 1e-5f, y,
                                     sm, si);
        t1 = bench_wall_seconds ();
        be->batchnorm_backward (be, batch, c, hw, x, dy, gamma, sm, si, y, dg, db);
        t2 = bench_wall_seconds ();
        be->relu_forward (be, count, x, y);
        t3 = bench_wall_seconds ();
        be->relu_backward (be, count, x, dy, y);
        t4 = bench_wall_seconds ();
        be->maxpool_forward (be, batch, c, h, h, 3, 2, 1, x, p, idx);
        t5 = bench_wall_seconds ();
        be->maxpool_backward (be, batch, c, h, h, 3, 2, 1, p, idx, y);
        t6 = bench_wall_seconds ();
        if (t1 - t0 < t[0]) t[0] = t1 - t0;
        if (t2 - t1 < t[1]) t[1] = t2 - t1;
        if (t3 - t2 < t[2]) t[2] = t3 - t2;
        if (t4 - t3 < t[3]) t[3] = t4 - t3;
        if (t5 - t4 < t[4]) t[4] = t5 - t4;
        if (t6 - t5 < t[5]) t[5] = t6 - t5;
      }
    /* Passes over the (n, 64, 128, 128) tensor: BN forward reads x three
     * times and writes y; backward reads x and dy twice and writes dx. */
    printf ("\nmemory-bound ops at (%d, 64, 128, 128), GB/s of compulsory traffic:\n", batch);
    printf ("  batchnorm fwd %.1f  bwd %.1f  relu fwd %.1f  bwd %.1f  maxpool fwd %.1f  bwd %.1f\n",
            4 * mb / t[0] * 1e-9, 5 * mb / t[1] * 1e-9, 2 * mb / t[2] * 1e-9,
            3 * mb / t[3] * 1e-9, (mb + 2.25 * mb / 4) / t[4] * 1e-9,
            (mb + 2.0 * mb / 4) / t[5] * 1e-9);
    free (x);
    free (y);
    free (dy);
    free (p);
    free (gamma);
    free (beta);
    free (idx);
  }

  cp_backend_free (be);
  return 0;
}
