/* parity.h: run an op on backend A and on backend B, compare.
 *
 * Backend A is always the CPU reference; backend B is named on the command
 * line ("cuda", or "cpu" to check the tests themselves and the CPU
 * backend's determinism).  Each tests/parity/parity-FAMILY.c covers the
 * ops of engine/core/cpu/cpu-FAMILY.c and its twins in other backends: a
 * case makes host inputs, runs the same function on A and on B (upload,
 * op, download), and compares the host results by normalised error.  A new
 * backend reuses every file by adding its name to parity_open () and to
 * tests/parity/meson.build.
 *
 * Tolerances (normalised error: largest absolute difference over the
 * largest reference magnitude) are set per output in each file, with the
 * reason; ops that do the same float operations in the same order must be
 * exactly equal.
 */
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/rng.h"
#include "core/backend.h"
#ifdef CP_HAVE_CUDA
#include "core/cuda/cuda-backend.h"
#endif

static CpBackend *be_a;   /* the CPU reference */
static CpBackend *be_b;   /* the backend under test */
static CpRng rng;

/* Opens A and B (named @name).  Exits 77 when B needs hardware this machine lacks (no
 * NVIDIA driver or no device), and fails (exit 1) when the hardware is
 * there but the backend cannot be created. */
static inline void
parity_open_named (const char *name, uint64_t seed)
{
  CpError error = { CP_OK, "" };

  if (strcmp (name, "cuda") == 0)
    {
#ifdef CP_HAVE_CUDA
      CpCudaAvailability availability = cp_cuda_probe (0, &error);

      if (availability == CP_CUDA_NO_DRIVER || availability == CP_CUDA_NO_DEVICE)
        {
          printf ("no GPU here: %s\n", error.message);
          SKIP_ALL ("the CUDA backend needs an NVIDIA GPU and driver");
        }
      be_b = cp_backend_cuda_new (0, &error);
#else
      SKIP_ALL ("this build has no CUDA backend");
#endif
    }
  else
    be_b = cp_backend_open (name, NULL, &error);
  if (be_b == NULL)
    {
      fprintf (stderr, "cannot create the %s backend: %s\n", name, error.message);
      exit (1);
    }
  be_a = cp_backend_cpu_new (&error);
  if (be_a == NULL)
    {
      fprintf (stderr, "cannot create the CPU backend: %s\n", error.message);
      exit (1);
    }
#ifdef CP_HAVE_CUDA
  if (strcmp (be_b->name, "cuda") == 0)
    printf ("# %s\n", cp_cuda_backend_describe (be_b));
#endif
  printf ("# backend A: %s, backend B: %s\n", be_a->name, be_b->name);
  fflush (stdout);
  cp_rng_seed (&rng, seed);
}

/* B named by the program's first argument, "cuda" without one. */
static inline void
parity_open (int argc, char **argv, uint64_t seed)
{
  parity_open_named (argc > 1 ? argv[1] : "cuda", seed);
}

static inline void
parity_close (void)
{
  cp_backend_free (be_b);
  cp_backend_free (be_a);
}

static inline int
parity_b_is (const char *name)
{
  return strcmp (be_b->name, name) == 0;
}

/* What B said about its last failure, for check messages ("" when B keeps
 * no such record). */
static inline const char *
parity_b_last_error (void)
{
#ifdef CP_HAVE_CUDA
  if (parity_b_is ("cuda"))
    return cp_cuda_backend_last_error (be_b);
#endif
  return "";
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

/* get () then drop (): an op's output, brought home. */
static inline void *
take (CpBackend *be, void *dev, size_t bytes)
{
  void *host = get (be, dev, bytes);

  drop (be, dev);
  return host;
}

/* Compares @got (from B) with @want (from A): the normalised error must
 * stay within @tolerance, and NaN/Inf must appear in the same places. */
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
