/* parity-sgd.c: the SGD update (cpu-sgd.c and its twins) on backend B
 * against the CPU reference: three steps, parameters and momentum within
 * 1e-6 (fused multiply-adds may round differently).
 */
#include "parity.h"

#define STEPS 3

/* Parameters and momentum after STEPS updates with the gradients @grads;
 * @offset makes the pointers unaligned for 16-byte accesses. */
static void
sgd_run (CpBackend *be, size_t count, size_t offset, const float *p_host,
         float *const grads[STEPS], float **p_out, float **buf_out)
{
  const size_t bytes = (count + offset) * 4;
  float *p = put (be, p_host, bytes), *buf = put (be, NULL, bytes);
  CpError error;

  CHECK (be->zero (be, buf, bytes, &error) == CP_OK);
  for (int step = 0; step < STEPS; step++)
    {
      float *g = put (be, grads[step], bytes);

      CHECK (be->sgd_update (be, count, p + offset, g + offset, buf + offset, 0.03f, 0.9f, 3e-5f)
             == CP_OK);
      drop (be, g);
    }
  *p_out = take (be, p, bytes);
  *buf_out = take (be, buf, bytes);
}

static void
sgd_case (size_t count, size_t offset)
{
  float *p = host_normal (count + offset, 1.0), *grads[STEPS];
  float *ap, *abuf, *bp, *bbuf;
  char what[128];

  for (int step = 0; step < STEPS; step++)
    grads[step] = host_normal (count + offset, 0.1);
  sgd_run (be_a, count, offset, p, grads, &ap, &abuf);
  sgd_run (be_b, count, offset, p, grads, &bp, &bbuf);
  snprintf (what, sizeof what, "sgd x%d params (%zu, offset %zu)", STEPS, count, offset);
  expect_close (what, bp, ap, count + offset, 1e-6);
  snprintf (what, sizeof what, "sgd x%d momentum (%zu, offset %zu)", STEPS, count, offset);
  expect_close (what, bbuf, abuf, count + offset, 1e-6);
  for (int step = 0; step < STEPS; step++)
    free (grads[step]);
  free (ap); free (abuf); free (bp); free (bbuf);
  free (p);
}

static void
test_sgd (void)
{
  sgd_case (1000003, 0);
  sgd_case (1001, 1);
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_sgd);
  parity_close ();
  return harness_exit ();
}
