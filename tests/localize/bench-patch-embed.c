/* bench-patch-embed.c: time of the dense patch embedding of one image
 * (the part of a heatmap that costs), with an optional per-op profile.
 *
 * Not a test (built, not registered).  Usage:
 *   bench-patch-embed [size=256] [stride=4] [batch=0 (CP_LOCALIZE_BATCH)]
 *                     [repeats=3] [profile=0] [split-max] [tile-floats]
 * The network is randomly initialised (the time does not depend on the
 * weights).  Prints the best wall time of @repeats runs and the CPU time
 * of that run, for the backend as it is and (without profile) for the
 * unfused fallback (conv2d_bias_act_forward NULL), the two alternating so
 * that both see the same load; on a shared machine the best of several is
 * the figure to quote.  With profile = 1 every backend op the network calls is wrapped
 * in a timer and the time is summed per op and shape (wall time, caller
 * thread), largest first.  split-max and tile-floats override the CPU
 * fused convolution's tuning (cp_cpu_conv_fused_set_split_max,
 * cp_cpu_conv_set_tile_floats).  CP_NUM_THREADS sets the backend's threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend.h"
#include "core/localize/localize.h"
#include "core/rng.h"
#include "core/cpu/cpu-private.h"
#include "bench-clock.h"

/* ---- profile: the backend's ops wrapped in timers ----------------------- */

#define MAX_ENTRIES 256

typedef struct
{
  char   key[96];
  double seconds;
  double cpu;
  long   calls;
} Entry;

static Entry entries[MAX_ENTRIES];
static int n_entries;
static CpBackend original;

static double cpu_mark;

/* Adds the time since @t (wall) and since the last mark (CPU time of the
 * whole process, all threads: on a loaded machine the steadier figure). */
static void
record (const char *key, double seconds)
{
  double c = bench_cpu_seconds () - cpu_mark;

  for (int i = 0; i < n_entries; i++)
    if (strcmp (entries[i].key, key) == 0)
      {
        entries[i].seconds += seconds;
        entries[i].cpu += c;
        entries[i].calls++;
        return;
      }
  if (n_entries < MAX_ENTRIES)
    {
      snprintf (entries[n_entries].key, sizeof entries[n_entries].key, "%s", key);
      entries[n_entries].seconds = seconds;
      entries[n_entries].cpu = c;
      entries[n_entries].calls = 1;
      n_entries++;
    }
}

static CpStatus
prof_conv (CpBackend *be, const CpConvDesc *d, const float *x, const float *w, float *y)
{
  char key[96];
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.conv2d_forward (be, d, x, w, y);

  snprintf (key, sizeof key, "conv %dx%d/%d %d->%d @%d", d->kh, d->kw, d->stride, d->c_in,
            d->c_out, d->h_in);
  record (key, bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_conv_bias (CpBackend *be, const CpConvDesc *d, const float *x, const float *w,
                const float *bias, const float *residual, int relu, float *y)
{
  char key[96];
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.conv2d_bias_act_forward (be, d, x, w, bias, residual, relu, y);

  snprintf (key, sizeof key, "conv+bias%s%s %dx%d/%d %d->%d @%d", residual ? "+res" : "",
            relu ? "+relu" : "", d->kh, d->kw, d->stride, d->c_in, d->c_out, d->h_in);
  record (key, bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_bn (CpBackend *be, int n, int c, int hw, const float *x, const float *gamma,
         const float *beta, const float *mean, const float *var, float eps, float *y)
{
  char key[96];
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.batchnorm_forward_infer (be, n, c, hw, x, gamma, beta, mean, var, eps, y);

  snprintf (key, sizeof key, "bn c=%d hw=%d", c, hw);
  record (key, bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_relu (CpBackend *be, size_t count, const float *x, float *y)
{
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.relu_forward (be, count, x, y);

  record ("relu", bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_add (CpBackend *be, size_t count, const float *a, const float *b, float *y)
{
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.add (be, count, a, b, y);

  record ("add", bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_maxpool (CpBackend *be, int n, int c, int h, int w, int kernel, int stride, int pad,
              const float *x, float *y, int32_t *indices)
{
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.maxpool_forward (be, n, c, h, w, kernel, stride, pad, x, y, indices);

  record ("maxpool", bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_avgpool (CpBackend *be, int n, int c, int hw, const float *x, float *y)
{
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.avgpool_forward (be, n, c, hw, x, y);

  record ("avgpool", bench_wall_seconds () - t);
  return st;
}

static CpStatus
prof_linear (CpBackend *be, int n, int in, int out, const float *x, const float *w,
             const float *b, float *y)
{
  double t = (cpu_mark = bench_cpu_seconds (), bench_wall_seconds ());
  CpStatus st = original.linear_forward (be, n, in, out, x, w, b, y);

  record ("linear (head)", bench_wall_seconds () - t);
  return st;
}

static void
profile_backend (CpBackend *be)
{
  original = *be;
  be->conv2d_forward = prof_conv;
  if (be->conv2d_bias_act_forward != NULL)
    be->conv2d_bias_act_forward = prof_conv_bias;
  be->batchnorm_forward_infer = prof_bn;
  be->relu_forward = prof_relu;
  be->add = prof_add;
  be->maxpool_forward = prof_maxpool;
  be->avgpool_forward = prof_avgpool;
  be->linear_forward = prof_linear;
}

static int
by_time (const void *a, const void *b)
{
  double ta = ((const Entry *) a)->seconds, tb = ((const Entry *) b)->seconds;

  return ta < tb ? 1 : ta > tb ? -1 : 0;
}

/* ---- main --------------------------------------------------------------- */

/* Best wall time (and its CPU time) of one embedding run of @pe. */
static void
time_run (CpPatchEmbedder *pe, const float *image, int size, int stride, float *out,
          double *best, double *best_cpu, double *total)
{
  CpError err = { 0 };
  double t0 = bench_wall_seconds (), c0 = bench_cpu_seconds (), t;

  if (cp_patch_embedder_run (pe, image, size, size, stride, out, NULL, &err) != CP_OK)
    {
      fprintf (stderr, "%s\n", err.message);
      exit (1);
    }
  t = bench_wall_seconds () - t0;
  *total += t;
  if (t < *best)
    {
      *best = t;
      *best_cpu = bench_cpu_seconds () - c0;
    }
}

int
main (int argc, char **argv)
{
  int size = argc > 1 ? atoi (argv[1]) : 256;
  int stride = argc > 2 ? atoi (argv[2]) : 4;
  int batch = argc > 3 ? atoi (argv[3]) : 0;
  int repeats = argc > 4 ? atoi (argv[4]) : 3;
  int profile = argc > 5 ? atoi (argv[5]) : 0;
  int split_max = argc > 6 ? atoi (argv[6]) : -1;
  int tile_floats = argc > 7 ? atoi (argv[7]) : 0;
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpBackend plain;
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net, *net_plain = NULL;
  CpPatchEmbedder *pe, *pe_plain = NULL;
  CpRng rng;
  int grid = cp_localize_grid_side (size, CP_LOCALIZE_PATCH, stride);
  float *image, *out;
  double best = 1e30, best_cpu = 0, total = 0;
  double pbest = 1e30, pbest_cpu = 0, ptotal = 0;

  if (be == NULL || grid < 1 || repeats < 1)
    {
      fprintf (stderr, "usage: bench-patch-embed [size] [stride] [batch] [repeats] [profile]\n");
      return 2;
    }
  if (profile)
    profile_backend (be);
  /* The same network on the backend without the fused op: the unfused
   * path every backend falls back to (and the CPU's before it had one). */
  plain = *be;
  plain.conv2d_bias_act_forward = NULL;
  net = cp_network_new (be, &config, &err);
  if (net != NULL && be->conv2d_bias_act_forward != NULL && !profile)
    net_plain = cp_network_new (&plain, &config, &err);
  if (net == NULL || (be->conv2d_bias_act_forward != NULL && !profile && net_plain == NULL))
    {
      fprintf (stderr, "%s\n", err.message);
      return 1;
    }
  cp_rng_seed (&rng, 5);
  cp_network_init (net, &rng);
  if (net_plain != NULL)
    {
      cp_rng_seed (&rng, 5);
      cp_network_init (net_plain, &rng);
    }
  image = malloc (sizeof (float) * 3 * size * size);
  out = malloc (sizeof (float) * grid * grid * CP_EMBEDDING_DIM);
  for (int i = 0; i < 3 * size * size; i++)
    image[i] = (float) cp_rng_normal (&rng);
  pe = cp_patch_embedder_new (net, CP_LOCALIZE_PATCH, batch, &err);
  if (pe != NULL && net_plain != NULL)
    pe_plain = cp_patch_embedder_new (net_plain, CP_LOCALIZE_PATCH, batch, &err);
  if (pe == NULL || (net_plain != NULL && pe_plain == NULL))
    {
      fprintf (stderr, "%s\n", err.message);
      return 1;
    }
  if (split_max >= 0)
    cp_cpu_conv_fused_set_split_max (split_max);
  if (tile_floats > 0)
    cp_cpu_conv_set_tile_floats ((size_t) tile_floats);

  /* One warm-up run each (workspaces, arena, folded weights), then the
   * two paths alternate so that both see the same machine load. */
  {
    double ignore = 1e30, ignore_cpu, ignore_total = 0;

    time_run (pe, image, size, stride, out, &ignore, &ignore_cpu, &ignore_total);
    if (pe_plain != NULL)
      time_run (pe_plain, image, size, stride, out, &ignore, &ignore_cpu, &ignore_total);
  }
  n_entries = 0;
  for (int r = 0; r < repeats; r++)
    {
      time_run (pe, image, size, stride, out, &best, &best_cpu, &total);
      if (pe_plain != NULL)
        time_run (pe_plain, image, size, stride, out, &pbest, &pbest_cpu, &ptotal);
    }
  printf ("%dx%d, stride %d, %d patches, batch %d: best %.3f s (cpu %.3f s), mean %.3f s of %d\n",
          size, size, stride, grid * grid, batch > 0 ? batch : CP_LOCALIZE_BATCH, best, best_cpu,
          total / repeats, repeats);
  if (pe_plain != NULL)
    printf ("  unfused ops (fallback):        best %.3f s (cpu %.3f s), mean %.3f s of %d\n",
            pbest, pbest_cpu, ptotal / repeats, repeats);
  if (profile)
    {
      double sum = 0;

      qsort (entries, (size_t) n_entries, sizeof *entries, by_time);
      for (int i = 0; i < n_entries; i++)
        sum += entries[i].seconds;
      for (int i = 0; i < n_entries; i++)
        printf ("  %-44s %8.3f s/run %5.1f%%  cpu %7.3f s/run  (%ld calls)\n", entries[i].key,
                entries[i].seconds / repeats, 100.0 * entries[i].seconds / sum,
                entries[i].cpu / repeats, entries[i].calls);
      printf ("  %-44s %8.3f s/run\n", "all ops", sum / repeats);
    }
  cp_patch_embedder_free (pe);
  cp_patch_embedder_free (pe_plain);
  cp_network_free (net);
  cp_network_free (net_plain);
  cp_backend_free (be);
  free (image);
  free (out);
  return 0;
}
