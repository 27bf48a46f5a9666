/* cuda-test-common.h: helpers shared by the CUDA tests: opening both
 * backends (skipping when the machine has no GPU), moving arrays between
 * them, and comparing results by normalised error.
 */
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rng.h"
#include "backend.h"
#include "cuda/cuda-backend.h"

static CpBackend *cpu;
static CpBackend *gpu;
static CpRng rng;

/* Exits 77 when the machine has no NVIDIA driver or no device, and fails
 * (exit 1) when a GPU is there but the backend cannot be created. */
static inline void
open_backends_or_skip (void)
{
  CpError error = { CP_OK, "" };
  CpCudaAvailability availability = cp_cuda_probe (0, &error);

  if (availability == CP_CUDA_NO_DRIVER || availability == CP_CUDA_NO_DEVICE)
    {
      printf ("no GPU here: %s\n", error.message);
      SKIP_ALL ("the CUDA backend needs an NVIDIA GPU and driver");
    }
  gpu = cp_backend_cuda_new (0, &error);
  if (gpu == NULL)
    {
      fprintf (stderr, "cannot create the CUDA backend: %s\n", error.message);
      exit (1);
    }
  cpu = cp_backend_cpu_new (&error);
  if (cpu == NULL)
    {
      fprintf (stderr, "cannot create the CPU backend: %s\n", error.message);
      exit (1);
    }
  printf ("# %s\n", cp_cuda_backend_describe (gpu));
  fflush (stdout);
}

static inline void
close_backends (void)
{
  cp_backend_free (gpu);
  cp_backend_free (cpu);
}

static inline float *
host_uniform (size_t count, double low, double high)
{
  float *p = malloc ((count ? count : 1) * sizeof (float));

  for (size_t i = 0; i < count; i++)
    p[i] = (float) cp_rng_uniform_range (&rng, low, high);
  return p;
}

static inline float *
host_normal (size_t count, double scale)
{
  float *p = malloc ((count ? count : 1) * sizeof (float));

  for (size_t i = 0; i < count; i++)
    p[i] = (float) (scale * cp_rng_normal (&rng));
  return p;
}

/* Backend memory holding a copy of @host (or uninitialised when @host is
 * NULL).  Aborts the test run on failure: nothing else can be checked. */
static inline void *
put (CpBackend *be, const void *host, size_t bytes)
{
  CpError error = { CP_OK, "" };
  void *dev = be->alloc (be, bytes, &error);

  if (dev == NULL)
    {
      fprintf (stderr, "%s: alloc of %zu bytes failed: %s\n", be->name, bytes, error.message);
      exit (1);
    }
  if (host != NULL && be->upload (be, dev, host, bytes, &error) != CP_OK)
    {
      fprintf (stderr, "%s: upload failed: %s\n", be->name, error.message);
      exit (1);
    }
  return dev;
}

/* A fresh host array with the contents of backend memory @dev. */
static inline void *
get (CpBackend *be, const void *dev, size_t bytes)
{
  CpError error = { CP_OK, "" };
  void *host = malloc (bytes ? bytes : 1);

  if (be->download (be, host, dev, bytes, &error) != CP_OK)
    {
      fprintf (stderr, "%s: download failed: %s\n", be->name, error.message);
      CHECK (0);
      memset (host, 0, bytes);
    }
  return host;
}

static inline void
drop (CpBackend *be, void *dev)
{
  be->free (be, dev);
}

/* Compares @got (CUDA) with @want (CPU): the normalised error (largest
 * absolute difference over the largest reference magnitude) must stay
 * within @tolerance, and NaN/Inf must appear in the same places. */
static inline double
expect_close (const char *what, const float *got, const float *want, size_t count,
              double tolerance)
{
  size_t mismatched = 0;
  double error;

  for (size_t i = 0; i < count; i++)
    if (isfinite (got[i]) != isfinite (want[i]) || isnan (got[i]) != isnan (want[i]))
      mismatched++;
  error = harness_normalised_error (got, want, count);
  printf ("  %-58s normalised error %.2e (tolerance %.0e)%s\n", what, error, tolerance,
          mismatched ? "  NON-FINITE MISMATCH" : "");
  CHECK_MSG (mismatched == 0 && error <= tolerance,
             "%s: normalised error %.3g (tolerance %.3g), %zu non-finite mismatches", what, error,
             tolerance, mismatched);
  return error;
}

/* Compares backend arrays directly: downloads both. */
static inline double
expect_close_dev (const char *what, const float *got_gpu, const float *want_cpu, size_t count,
                  double tolerance)
{
  float *g = get (gpu, got_gpu, count * sizeof (float));
  float *w = get (cpu, want_cpu, count * sizeof (float));
  double error = expect_close (what, g, w, count, tolerance);

  free (g);
  free (w);
  return error;
}
