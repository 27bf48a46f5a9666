/* bench-infer.c: images per second of the network's inference forward
 * (what embedding, prediction and bench-onnx run) with the backend's
 * fused inference path and with the unfused fallback, alternating so that
 * both see the same machine load.
 *
 * Not a test (built, not registered).  Usage:
 *   bench-infer [batch=32] [repeats=3] [sizes=64,128,256]
 * Each figure is the best of @repeats forwards after one warm-up; the CPU
 * column is the process CPU time of that forward over its wall time (how
 * many cores it got).  CP_NUM_THREADS sets the backend's threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend.h"
#include "core/nn/network.h"
#include "core/rng.h"
#include "bench-clock.h"

static void
time_forward (CpNetwork *net, const float *images, int n, int size, double *best,
              double *best_cores)
{
  CpError err = { 0 };
  double t0 = bench_wall_seconds (), c0 = bench_cpu_seconds (), t;

  if (cp_network_forward (net, images, n, size, size, 0, &err) != CP_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      exit (1);
    }
  t = bench_wall_seconds () - t0;
  if (t < *best)
    {
      *best = t;
      *best_cores = (bench_cpu_seconds () - c0) / t;
    }
}

int
main (int argc, char **argv)
{
  int n = argc > 1 ? atoi (argv[1]) : 32;
  int repeats = argc > 2 ? atoi (argv[2]) : 3;
  char *sizes = strdup (argc > 3 ? argv[3] : "64,128,256");
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpBackend plain;
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *fast, *slow;
  CpRng rng;

  if (be == NULL || n < 1 || repeats < 1)
    {
      fprintf (stderr, "usage: bench-infer [batch] [repeats] [sizes]\n");
      return 2;
    }
  plain = *be;
  plain.conv2d_bias_act_forward = NULL;
  fast = cp_network_new (be, &config, &err);
  slow = fast != NULL ? cp_network_new (&plain, &config, &err) : NULL;
  if (slow == NULL)
    {
      fprintf (stderr, "%s\n", err.message);
      return 1;
    }
  cp_rng_seed (&rng, 1);
  cp_network_init (fast, &rng);
  cp_rng_seed (&rng, 1);
  cp_network_init (slow, &rng);

  printf ("batch %d, best of %d; fused: %s\n", n, repeats,
          be->conv2d_bias_act_forward != NULL ? "yes" : "no (both columns unfused)");
  printf ("%6s %14s %8s %14s %8s\n", "S", "fused img/s", "cores", "unfused img/s", "cores");
  for (char *tok = strtok (sizes, ","); tok != NULL; tok = strtok (NULL, ","))
    {
      int size = atoi (tok);
      size_t count = (size_t) n * 3 * size * size;
      float *images = be->alloc (be, count * sizeof (float), &err);
      double bf = 1e30, bs = 1e30, cf = 0, cs = 0;

      if (images == NULL)
        {
          fprintf (stderr, "%s\n", err.message);
          return 1;
        }
      for (size_t i = 0; i < count; i++)
        images[i] = (float) cp_rng_normal (&rng);
      for (int r = -1; r < repeats; r++)    /* r = -1: warm-up */
        {
          double wf = 1e30, ws = 1e30, x;

          time_forward (fast, images, n, size, r < 0 ? &wf : &bf, r < 0 ? &x : &cf);
          time_forward (slow, images, n, size, r < 0 ? &ws : &bs, r < 0 ? &x : &cs);
        }
      printf ("%6d %14.1f %8.2f %14.1f %8.2f\n", size, n / bf, cf, n / bs, cs);
      fflush (stdout);
      be->free (be, images);
    }
  cp_network_free (fast);
  cp_network_free (slow);
  cp_backend_free (be);
  free (sizes);
  return 0;
}
