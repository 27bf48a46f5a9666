/* cmd-bench.c: `cutpaste bench`: how fast this machine runs CutPaste.
 *
 * Measures, in one run: (a) the BLAS sgemm rate on large square matrices,
 * the ceiling for convolutions done as GEMMs; (b) ResNet-18 + head forward
 * throughput in inference mode and (c) the full training step (training
 * forward, loss, backward, SGD) at several image sizes with SPEC's 3-way
 * batch; (d) peak memory against what the step must keep.  The last line
 * is the training step's GFLOP/s at S = 256 as a fraction of sgemm's.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "commands.h"
#include "core/backend.h"
#include "core/rng.h"
#include "core/nn/network.h"
#include "core/nn/schedule.h"

#define MAX_SIZES 16

typedef struct
{
  int         batch;            /* images per view; 3 views */
  int         sizes[MAX_SIZES];
  int         n_sizes;
  int         steps;
  const char *device;
  int         threads;
} BenchOptions;

static double
now_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static double
peak_rss_mib (void)
{
  struct rusage ru;
  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return NAN;
  return (double) ru.ru_maxrss / 1024.0;   /* Linux reports KiB */
}

/* User + system CPU seconds of the whole process: against wall time it
 * shows how many cores the run actually got on a shared machine. */
static double
cpu_seconds (void)
{
  struct rusage ru;
  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return NAN;
  return (double) ru.ru_utime.tv_sec + 1e-6 * (double) ru.ru_utime.tv_usec
         + (double) ru.ru_stime.tv_sec + 1e-6 * (double) ru.ru_stime.tv_usec;
}

static void
print_usage (FILE *out)
{
  fprintf (out,
           "Usage: cutpaste bench [OPTIONS]\n\n"
           "Measures sgemm, ResNet-18 + head forward and training-step speed and memory.\n\n"
           "Options:\n"
           "  --batch N        images per view; the step uses 3 views (default 32 -> 96 images)\n"
           "  --sizes LIST     image sizes, comma separated, multiples of 32 (default 64,128,256)\n"
           "  --steps N        timed repetitions per size after one warm-up (default 3)\n"
           "  --device NAME    cpu, cuda or auto (default auto)\n"
           "  --threads N      threads of the CPU backend, BLAS and OpenMP\n"
           "                   (default: CP_NUM_THREADS or the libraries' own)\n"
           "  -h, --help       show this help\n");
}

static int
parse_int (const char *option, const char *value, int min, int max, int *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
    {
      fprintf (stderr, "cutpaste bench: %s expects an integer in %d..%d (got '%s')\n", option, min,
               max, value);
      return -1;
    }
  *out = (int) v;
  return 0;
}

static int
parse_sizes (const char *value, BenchOptions *o)
{
  const char *p = value;

  o->n_sizes = 0;
  while (*p != '\0')
    {
      char *end;
      long v;

      errno = 0;
      v = strtol (p, &end, 10);
      if (errno != 0 || end == p || v < 32 || v > 4096 || v % 32 != 0 || o->n_sizes == MAX_SIZES)
        {
          fprintf (stderr, "cutpaste bench: --sizes expects up to %d comma-separated multiples "
                   "of 32 in 32..4096 (got '%s')\n", MAX_SIZES, value);
          return -1;
        }
      o->sizes[o->n_sizes++] = (int) v;
      p = end;
      if (*p == ',')
        p++;
      else if (*p != '\0')
        {
          fprintf (stderr, "cutpaste bench: bad --sizes list '%s'\n", value);
          return -1;
        }
    }
  return o->n_sizes > 0 ? 0 : -1;
}

/* 0 on success, 2 on a usage error, -1 when --help was printed. */
static int
parse_options (int argc, char **argv, BenchOptions *o)
{
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      const char *value = NULL;
      char name[32];
      const char *eq = strchr (arg, '=');

      if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0)
        {
          print_usage (stdout);
          return -1;
        }
      if (strncmp (arg, "--", 2) != 0)
        {
          fprintf (stderr, "cutpaste bench: unexpected argument '%s'\n", arg);
          return 2;
        }
      if (eq != NULL)
        {
          snprintf (name, sizeof name, "%.*s", (int) (eq - arg), arg);
          value = eq + 1;
        }
      else
        {
          snprintf (name, sizeof name, "%s", arg);
          if (i + 1 >= argc)
            {
              fprintf (stderr, "cutpaste bench: %s needs a value\n", arg);
              return 2;
            }
          value = argv[++i];
        }

      if (strcmp (name, "--batch") == 0)
        {
          if (parse_int (name, value, 1, 4096, &o->batch) < 0)
            return 2;
        }
      else if (strcmp (name, "--steps") == 0)
        {
          if (parse_int (name, value, 1, 1000, &o->steps) < 0)
            return 2;
        }
      else if (strcmp (name, "--threads") == 0)
        {
          if (parse_int (name, value, 1, 1024, &o->threads) < 0)
            return 2;
        }
      else if (strcmp (name, "--sizes") == 0)
        {
          if (parse_sizes (value, o) < 0)
            return 2;
        }
      else if (strcmp (name, "--device") == 0)
        {
          if (strcmp (value, "cpu") != 0 && strcmp (value, "cuda") != 0
              && strcmp (value, "auto") != 0)
            {
              fprintf (stderr, "cutpaste bench: --device expects cpu, cuda or auto (got '%s')\n",
                       value);
              return 2;
            }
          o->device = value;
        }
      else
        {
          fprintf (stderr, "cutpaste bench: unknown option '%s'\n", name);
          return 2;
        }
    }
  return 0;
}

static void
fill_random (float *m, size_t count, CpRng *rng)
{
  for (size_t i = 0; i < count; i++)
    m[i] = (float) cp_rng_uniform_range (rng, -1.0, 1.0);
}

/* (a) Best-of-several cblas_sgemm rate on square matrices; returns the
 * best GFLOP/s over all sizes. */
static double
bench_sgemm (CpRng *rng)
{
  static const int sizes[] = { 512, 1024, 2048 };
  double best_all = 0.0;

  printf ("(a) sgemm: cblas_sgemm, C = A B, square, best of several\n");
  printf ("    %6s  %10s  %8s\n", "n", "GFLOP/s", "best s");
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    {
      int n = sizes[s];
      size_t count = (size_t) n * n;
      float *a = malloc (count * sizeof (float));
      float *b = malloc (count * sizeof (float));
      float *c = malloc (count * sizeof (float));
      double best = INFINITY, flops = 2.0 * n * (double) n * n;
      int reps = n >= 2048 ? 3 : 5;

      if (a == NULL || b == NULL || c == NULL)
        {
          free (a);
          free (b);
          free (c);
          printf ("    %6d  (out of memory)\n", n);
          continue;
        }
      fill_random (a, count, rng);
      fill_random (b, count, rng);
      /* One untimed call lets BLAS start its threads and fault pages in. */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f,
                   c, n);
      for (int r = 0; r < reps; r++)
        {
          double t0 = now_seconds ();
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                       0.0f, c, n);
          best = fmin (best, now_seconds () - t0);
        }
      printf ("    %6d  %10.1f  %8.4f\n", n, flops / best / 1e9, best);
      best_all = fmax (best_all, flops / best / 1e9);
      free (a);
      free (b);
      free (c);
    }
  printf ("    best: %.1f GFLOP/s\n\n", best_all);
  return best_all;
}

/* The same for the backend's own GEMM when it is not the CPU's BLAS. */
static double
bench_backend_gemm (CpBackend *be, CpRng *rng)
{
  const int n = 4096;
  size_t count = (size_t) n * n;
  float *host = malloc (count * sizeof (float));
  float *a = be->alloc (be, count * sizeof (float), NULL);
  float *b = be->alloc (be, count * sizeof (float), NULL);
  float *c = be->alloc (be, count * sizeof (float), NULL);
  double best = INFINITY;

  if (host == NULL || a == NULL || b == NULL || c == NULL || be->gemm == NULL)
    best = NAN;
  else
    {
      fill_random (host, count, rng);
      be->upload (be, a, host, count * sizeof (float), NULL);
      be->upload (be, b, host, count * sizeof (float), NULL);
      be->gemm (be, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
      be->synchronize (be, NULL);
      for (int r = 0; r < 5; r++)
        {
          double t0 = now_seconds ();
          be->gemm (be, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
          be->synchronize (be, NULL);
          best = fmin (best, now_seconds () - t0);
        }
      best = 2.0 * n * (double) n * n / best / 1e9;
    }
  if (a != NULL)
    be->free (be, a);
  if (b != NULL)
    be->free (be, b);
  if (c != NULL)
    be->free (be, c);
  free (host);
  printf ("    %s backend gemm, n = %d: %.1f GFLOP/s\n\n", be->name, n, best);
  return best;
}

typedef struct
{
  int    size;
  double fwd_flops;         /* per image */
  double infer_s, train_s;  /* per batch, mean of the timed repetitions */
  double train_cores;       /* CPU seconds / wall seconds of the timed steps */
  double infer_best, train_best;
  double weights_mib, saved_mib, arena_mib, infer_arena_mib, network_mib, rss_mib;
  float  loss;
} SizeResult;

static int
bench_size (CpBackend *be, CpNetwork *net, const BenchOptions *o, int size, CpRng *rng,
            SizeResult *r)
{
  CpError error = { 0 };
  int n = 3 * o->batch;
  size_t image_floats = (size_t) n * 3 * size * size;
  float *host = malloc (image_floats * sizeof (float));
  int32_t *labels = malloc ((size_t) n * sizeof (int32_t));
  float *images = be->alloc (be, image_floats * sizeof (float), &error);
  int32_t *labels_dev = images ? be->alloc (be, (size_t) n * sizeof (int32_t), &error) : NULL;
  size_t weights = cp_network_weight_count (net);
  size_t all_params = 0;
  int status = -1;

  memset (r, 0, sizeof *r);
  r->size = size;
  r->fwd_flops = cp_network_forward_flops (net, size, size);
  r->infer_best = r->train_best = INFINITY;
  if (host == NULL || labels == NULL || images == NULL || labels_dev == NULL)
    {
      fprintf (stderr, "cutpaste bench: S = %d: %s\n", size,
               error.message[0] ? error.message : "out of memory");
      goto out;
    }
  /* Normalised-image statistics; labels as the 3-way batch lays them out. */
  for (size_t i = 0; i < image_floats; i++)
    host[i] = (float) cp_rng_normal (rng);
  for (int i = 0; i < n; i++)
    labels[i] = i / o->batch;
  if (be->upload (be, images, host, image_floats * sizeof (float), &error) != CP_OK
      || be->upload (be, labels_dev, labels, (size_t) n * sizeof (int32_t), &error) != CP_OK)
    {
      fprintf (stderr, "cutpaste bench: %s\n", error.message);
      goto out;
    }

  /* (c) training steps first: they size the activation arena, which
   * inference then reuses.  One warm-up, then the timed ones. */
  for (int rep = 0; rep <= o->steps; rep++)
    {
      double t0 = now_seconds (), c0 = cpu_seconds (), dt;
      float lr = (float) cp_lr_cosine (0.03, rep, o->steps + 1);

      if (cp_network_forward (net, images, n, size, size, 1, &error) != CP_OK
          || cp_network_loss_backward (net, labels_dev, 1, 0, &r->loss, &error) != CP_OK
          || cp_network_sgd_step (net, lr, 0.9f, 3e-5f, 0, &error) != CP_OK
          || be->synchronize (be, &error) != CP_OK)
        {
          fprintf (stderr, "cutpaste bench: training step at S = %d: %s\n", size, error.message);
          goto out;
        }
      dt = now_seconds () - t0;
      if (rep > 0)
        {
          r->train_s += dt / o->steps;
          r->train_best = fmin (r->train_best, dt);
          r->train_cores += (cpu_seconds () - c0) / dt / o->steps;
        }
    }

  /* (b) inference forward. */
  for (int rep = 0; rep <= o->steps; rep++)
    {
      double t0 = now_seconds (), dt;

      if (cp_network_forward (net, images, n, size, size, 0, &error) != CP_OK
          || be->synchronize (be, &error) != CP_OK)
        {
          fprintf (stderr, "cutpaste bench: inference at S = %d: %s\n", size, error.message);
          goto out;
        }
      dt = now_seconds () - t0;
      if (rep > 0)
        {
          r->infer_s += dt / o->steps;
          r->infer_best = fmin (r->infer_best, dt);
        }
    }

  /* (d) memory.  What the step must keep: every parameter and running
   * statistic, a gradient and a momentum buffer per trained weight, and
   * the activations backward reads, all from the layer shapes. */
  for (int i = 0; i < cp_network_param_count (net); i++)
    all_params += cp_network_param (net, i)->count;
  r->weights_mib = (double) (all_params + 2 * weights) * sizeof (float) / 1048576.0;
  r->saved_mib = (double) cp_network_saved_activation_bytes (net, n, size, size) / 1048576.0;
  r->arena_mib = (double) cp_network_arena_bytes (net, n, size, size, 1) / 1048576.0;
  r->infer_arena_mib = (double) cp_network_arena_bytes (net, n, size, size, 0) / 1048576.0;
  r->network_mib = (double) cp_network_memory_bytes (net) / 1048576.0;
  r->rss_mib = peak_rss_mib ();
  status = 0;

out:
  if (images != NULL)
    be->free (be, images);
  if (labels_dev != NULL)
    be->free (be, labels_dev);
  free (host);
  free (labels);
  return status;
}

int
cp_cmd_bench (int argc, char **argv)
{
  BenchOptions o = { 32, { 64, 128, 256 }, 3, 3, "auto", 0 };
  CpError error = { 0 }, notice = { 0 };
  CpNetworkConfig config = { 1, 3 };
  SizeResult results[MAX_SIZES];
  CpBackend *be;
  CpNetwork *net;
  CpRng rng;
  double gemm_rate, ratio_size_rate = NAN;
  int ratio_size = 0, rc, status = 0;

  rc = parse_options (argc, argv, &o);
  if (rc == -1)
    return 0;
  if (rc != 0)
    return rc;

  if (o.threads > 0)
    {
      char value[16];

      /* The CPU backend sizes its own thread pool from CP_NUM_THREADS when
       * it is created; BLAS and OpenMP are told directly. */
      snprintf (value, sizeof value, "%d", o.threads);
      setenv ("CP_NUM_THREADS", value, 1);
#ifdef OPENBLAS_VERSION
      openblas_set_num_threads (o.threads);
#endif
#ifdef _OPENMP
      omp_set_num_threads (o.threads);
#endif
    }

  be = cp_backend_open (o.device, &notice, &error);
  if (be == NULL)
    {
      fprintf (stderr, "cutpaste bench: %s\n", error.message);
      return 1;
    }
  if (notice.message[0] != '\0')
    fprintf (stderr, "cutpaste bench: %s\n", notice.message);

  printf ("cutpaste bench: device %s", be->name);
#ifdef OPENBLAS_VERSION
  {
    /* OpenBLAS pads its version string with spaces. */
    const char *v = OPENBLAS_VERSION;
    size_t len;
    while (*v == ' ')
      v++;
    len = strlen (v);
    while (len > 0 && v[len - 1] == ' ')
      len--;
    printf (", %.*s, BLAS threads %d", (int) len, v, openblas_get_num_threads ());
  }
#endif
#ifdef _OPENMP
  printf (", OpenMP threads %d", omp_get_max_threads ());
#endif
  printf ("\n\n");

  cp_rng_seed (&rng, 1);
  gemm_rate = bench_sgemm (&rng);
  if (strcmp (be->name, "cpu") != 0)
    {
      /* The ratio compares the network with the GEMM of the device it
       * runs on. */
      double device_rate = bench_backend_gemm (be, &rng);
      if (isfinite (device_rate))
        gemm_rate = device_rate;
    }

  net = cp_network_new (be, &config, &error);
  if (net == NULL || cp_network_init_checked (net, &rng, &error) != CP_OK)
    {
      fprintf (stderr, "cutpaste bench: %s\n", error.message);
      cp_network_free (net);
      cp_backend_free (be);
      return 1;
    }

  printf ("(b, c) ResNet-18 + head (head_layers 1, 3 classes), batch %d = 3 x %d, "
          "%d timed step%s after one warm-up; FLOPs from layer shapes, backward = 2 x forward\n",
          3 * o.batch, o.batch, o.steps, o.steps == 1 ? "" : "s");
  printf ("    (cores = CPU seconds / wall seconds of the training steps: what the run got)\n");
  printf ("    %5s  %9s  %11s  %11s  %9s  %11s  %11s  %9s  %6s  %8s\n", "S", "GFLOP/img",
          "infer img/s", "infer GF/s", "infer s", "train img/s", "train GF/s", "step s",
          "cores", "loss");
  for (int i = 0; i < o.n_sizes; i++)
    {
      SizeResult *r = &results[i];
      int n = 3 * o.batch;

      if (bench_size (be, net, &o, o.sizes[i], &rng, r) != 0)
        {
          status = 1;
          break;
        }
      printf ("    %5d  %9.3f  %11.1f  %11.1f  %9.3f  %11.1f  %11.1f  %9.3f  %6.2f  %8.4f\n",
              r->size, r->fwd_flops / 1e9, n / r->infer_s, r->fwd_flops * n / r->infer_s / 1e9,
              r->infer_s, n / r->train_s, 3.0 * r->fwd_flops * n / r->train_s / 1e9, r->train_s,
              r->train_cores, (double) r->loss);
      fflush (stdout);
      /* The ratio line uses S = 256, else the largest size measured. */
      if (r->size == 256 || (ratio_size != 256 && r->size > ratio_size))
        {
          ratio_size = r->size;
          ratio_size_rate = 3.0 * r->fwd_flops * n / r->train_s / 1e9;
        }
    }

  if (status == 0)
    {
      printf ("\n(d) memory, MiB: parameters + grads + momentum; activations backward needs "
              "(from shapes); their sum, what a step must keep; the network's training arena "
              "(saved + gradient scratch) and inference arena; cp_network_memory_bytes; "
              "peak RSS (getrusage, whole process so far)\n");
      printf ("    %5s  %12s  %11s  %11s  %11s  %11s  %13s  %13s\n", "S", "params+opt",
              "saved act", "must keep", "train arena", "infer arena", "network", "peak RSS");
      for (int i = 0; i < o.n_sizes; i++)
        {
          const SizeResult *r = &results[i];
          printf ("    %5d  %12.1f  %11.1f  %11.1f  %11.1f  %11.1f  %13.1f  %13.1f\n", r->size,
                  r->weights_mib, r->saved_mib, r->weights_mib + r->saved_mib, r->arena_mib,
                  r->infer_arena_mib, r->network_mib, r->rss_mib);
        }
      printf ("    (the network holds the arena of the largest size run; peak RSS also counts "
              "the BLAS and convolution workspaces, the images and the sgemm matrices, but not "
              "arena pages a CPU run never writes, such as the input-gradient buffer)\n\n");
      printf ("training-step GFLOP/s at S=%d / sgemm GFLOP/s = %.1f / %.1f = %.3f%s\n", ratio_size,
              ratio_size_rate, gemm_rate, ratio_size_rate / gemm_rate,
              ratio_size == 256 ? "" : " (S=256 not measured: largest size used)");
    }

  cp_network_free (net);
  cp_backend_free (be);
  return status;
}
