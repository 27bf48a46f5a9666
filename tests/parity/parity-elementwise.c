/* parity-elementwise.c: ReLU, add and L2 row normalisation
 * (cpu-elementwise.c and its twins) on backend B against the CPU
 * reference.
 *
 * ReLU and add do the same float operation per element on every backend:
 * exactly equal.  L2 normalisation sums a row in a backend's own order:
 * 1e-6.
 */
#include "parity.h"

typedef struct
{
  float *relu, *relu_grad, *sum, *relu_of_sum;
} ElementwiseResult;

/* relu forward, then backward through its output (dx over dy), then add
 * (y over a), then relu in place; @offset makes the pointers unaligned for
 * 16-byte accesses. */
static void
elementwise_run (CpBackend *be, size_t count, size_t offset, const float *a_host,
                 const float *b_host, ElementwiseResult *out)
{
  const size_t bytes = (count + offset) * 4;
  float *a = put (be, a_host, bytes), *b = put (be, b_host, bytes), *y = put (be, NULL, bytes);

  CHECK (be->relu_forward (be, count, a + offset, y + offset) == CP_OK);
  CHECK (be->relu_backward (be, count, y + offset, b + offset, b + offset) == CP_OK);
  out->relu = get (be, y, bytes);
  out->relu_grad = get (be, b, bytes);
  CHECK (be->add (be, count, a + offset, b + offset, a + offset) == CP_OK);
  out->sum = get (be, a, bytes);
  CHECK (be->relu_forward (be, count, a + offset, a + offset) == CP_OK);
  out->relu_of_sum = take (be, a, bytes);
  drop (be, b);
  drop (be, y);
}

static void
elementwise_case (size_t count, size_t offset)
{
  float *a_host = host_normal (count + offset, 1.0), *b_host = host_normal (count + offset, 1.0);
  ElementwiseResult a, b;
  char what[128];

  elementwise_run (be_a, count, offset, a_host, b_host, &a);
  elementwise_run (be_b, count, offset, a_host, b_host, &b);
  snprintf (what, sizeof what, "relu forward (%zu, offset %zu)", count, offset);
  expect_close (what, b.relu + offset, a.relu + offset, count, 0.0);
  snprintf (what, sizeof what, "relu backward in place (%zu, offset %zu)", count, offset);
  expect_close (what, b.relu_grad + offset, a.relu_grad + offset, count, 0.0);
  snprintf (what, sizeof what, "add in place (%zu, offset %zu)", count, offset);
  expect_close (what, b.sum + offset, a.sum + offset, count, 0.0);
  snprintf (what, sizeof what, "relu forward in place (%zu, offset %zu)", count, offset);
  expect_close (what, b.relu_of_sum + offset, a.relu_of_sum + offset, count, 0.0);
  free (a.relu); free (a.relu_grad); free (a.sum); free (a.relu_of_sum);
  free (b.relu); free (b.relu_grad); free (b.sum); free (b.relu_of_sum);
  free (a_host);
  free (b_host);
}

static void
test_elementwise (void)
{
  elementwise_case (1000003, 0);
  elementwise_case (1000003, 1);
  elementwise_case (7, 0);
  elementwise_case (64 * 128 * 128 * 2, 0);
}

/* Normalised out of place and in place. */
static void
l2_run (CpBackend *be, int n, int dim, const float *x_host, float **y_out, float **in_place_out)
{
  const size_t bytes = (size_t) n * dim * 4;
  float *x = put (be, x_host, bytes), *y = put (be, NULL, bytes);

  CHECK (be->l2_normalize_rows (be, n, dim, x, y) == CP_OK);
  CHECK (be->l2_normalize_rows (be, n, dim, x, x) == CP_OK);
  /* No rows: nothing to do, and no complaint. */
  CHECK (be->l2_normalize_rows (be, 0, dim, x, x) == CP_OK);
  *y_out = take (be, y, bytes);
  *in_place_out = take (be, x, bytes);
}

static void
test_l2_normalize (void)
{
  const int n = 96, dim = 512;
  float *x = host_normal ((size_t) n * dim, 2.0);
  float *ay, *ay_in_place, *by, *by_in_place;

  memset (x + 5 * dim, 0, dim * sizeof (float));   /* a zero row stays zero */
  l2_run (be_a, n, dim, x, &ay, &ay_in_place);
  l2_run (be_b, n, dim, x, &by, &by_in_place);
  expect_close ("l2 normalise rows", by, ay, (size_t) n * dim, 1e-6);
  expect_close ("l2 normalise rows in place", by_in_place, ay, (size_t) n * dim, 1e-6);
  free (ay); free (ay_in_place); free (by); free (by_in_place);
  free (x);
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_elementwise);
  RUN_TEST (test_l2_normalize);
  parity_close ();
  return harness_exit ();
}
