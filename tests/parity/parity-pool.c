/* parity-pool.c: max pool and global average pool (cpu-pool.c and its
 * twins) on backend B against the CPU reference.
 *
 * Max pool picks values, never computes them: forward, indices and
 * backward exactly equal.  Average-pool forward sums in a backend's own
 * order (1e-6); its backward is one multiplication per element (exact).
 */
#include "parity.h"

typedef struct
{
  float   *y, *dx;
  int32_t *indices;
} PoolResult;

static void
maxpool_run (CpBackend *be, int n, int c, int h, int w, int k, int s, int p, const float *x_host,
             const float *dy_host, PoolResult *out)
{
  const int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
  const size_t nx = (size_t) n * c * h * w, ny = (size_t) n * c * ho * wo;
  float *x = put (be, x_host, nx * 4), *dy = put (be, dy_host, ny * 4);
  float *y = put (be, NULL, ny * 4);
  /* dx starts as garbage: backward must overwrite all of it. */
  float *dx = put (be, x_host, nx * 4);
  int32_t *indices = put (be, NULL, ny * 4);

  CHECK (be->maxpool_forward (be, n, c, h, w, k, s, p, x, y, indices) == CP_OK);
  CHECK (be->maxpool_backward (be, n, c, h, w, k, s, p, dy, indices, dx) == CP_OK);
  out->y = take (be, y, ny * 4);
  out->dx = take (be, dx, nx * 4);
  out->indices = take (be, indices, ny * 4);
  drop (be, x);
  drop (be, dy);
}

static void
pool_result_free (PoolResult *r)
{
  free (r->y);
  free (r->dx);
  free (r->indices);
}

static void
maxpool_case (int n, int c, int h, int w, int k, int s, int p, int with_nan)
{
  const int ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
  const size_t nx = (size_t) n * c * h * w, ny = (size_t) n * c * ho * wo;
  float *x = malloc (nx * 4), *dy = host_normal (ny, 1.0);
  PoolResult a, b;
  char what[128];

  /* Few distinct values: many ties, where the first maximum must win. */
  for (size_t i = 0; i < nx; i++)
    x[i] = (float) (int) cp_rng_int_range (&rng, 0, 3);
  if (with_nan)
    for (size_t i = 0; i < nx; i += nx / 5 + 1)
      x[i] = NAN;

  maxpool_run (be_a, n, c, h, w, k, s, p, x, dy, &a);
  maxpool_run (be_b, n, c, h, w, k, s, p, x, dy, &b);
  snprintf (what, sizeof what, "maxpool %dx%d/%d pad %d on (%d,%d,%d,%d)%s forward", k, k, s, p,
            n, c, h, w, with_nan ? " with NaN" : "");
  expect_close (what, b.y, a.y, ny, 0.0);
  CHECK_MSG (memcmp (a.indices, b.indices, ny * 4) == 0, "%s: indices differ", what);
  snprintf (what, sizeof what, "maxpool %dx%d/%d pad %d on (%d,%d,%d,%d)%s backward", k, k, s, p,
            n, c, h, w, with_nan ? " with NaN" : "");
  expect_close (what, b.dx, a.dx, nx, 0.0);
  pool_result_free (&a);
  pool_result_free (&b);
  free (x);
  free (dy);
}

static void
avgpool_run (CpBackend *be, int n, int c, int hw, const float *x_host, const float *dy_host,
             PoolResult *out)
{
  const size_t nx = (size_t) n * c * hw, ny = (size_t) n * c;
  float *x = put (be, x_host, nx * 4), *dy = put (be, dy_host, ny * 4);
  float *y = put (be, NULL, ny * 4), *dx = put (be, NULL, nx * 4);

  CHECK (be->avgpool_forward (be, n, c, hw, x, y) == CP_OK);
  CHECK (be->avgpool_backward (be, n, c, hw, dy, dx) == CP_OK);
  out->y = take (be, y, ny * 4);
  out->dx = take (be, dx, nx * 4);
  out->indices = NULL;
  drop (be, x);
  drop (be, dy);
}

static void
avgpool_case (int n, int c, int hw)
{
  const size_t nx = (size_t) n * c * hw, ny = (size_t) n * c;
  float *x = host_normal (nx, 1.0), *dy = host_normal (ny, 1.0);
  PoolResult a, b;
  char what[128];

  avgpool_run (be_a, n, c, hw, x, dy, &a);
  avgpool_run (be_b, n, c, hw, x, dy, &b);
  snprintf (what, sizeof what, "avgpool (%d,%d,%d) forward", n, c, hw);
  expect_close (what, b.y, a.y, ny, 1e-6);
  snprintf (what, sizeof what, "avgpool (%d,%d,%d) backward", n, c, hw);
  expect_close (what, b.dx, a.dx, nx, 0.0);
  pool_result_free (&a);
  pool_result_free (&b);
  free (x);
  free (dy);
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

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_pooling);
  parity_close ();
  return harness_exit ();
}
