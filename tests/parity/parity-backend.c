/* parity-backend.c: what every backend owes beyond its arithmetic: every
 * op of the list in backend.h, memory ops that behave as the CPU's
 * (memmove semantics for overlapping copies, zero, empty allocations, a
 * clean out-of-memory failure), and the same refusals of malformed calls.
 */
#include <stdint.h>

#include "parity.h"

/* An op a backend lacks would make the network refuse it: report each. */
static void
test_every_op_present (void)
{
  CpBackend *backends[2] = { be_a, be_b };

  for (int i = 0; i < 2; i++)
    {
#define CP_CHECK_OP(op) \
      CHECK_MSG (backends[i]->op != NULL, "backend %s lacks op %s", backends[i]->name, #op);
      CP_BACKEND_OPS (CP_CHECK_OP)
#undef CP_CHECK_OP
    }
}

static void
test_memory_ops (void)
{
  CpError error = { CP_OK, "" };
  float host[100], back[100], expect[100];
  float *a, *b;

  for (int i = 0; i < 100; i++)
    host[i] = (float) i - 50.0f;
  a = put (be_b, host, sizeof host);
  b = put (be_b, NULL, sizeof host);
  CHECK (((uintptr_t) a) % 64 == 0 && ((uintptr_t) b) % 64 == 0);
  CHECK (be_b->copy (be_b, b, a, sizeof host, &error) == CP_OK);
  CHECK (be_b->synchronize (be_b, &error) == CP_OK);
  CHECK (be_b->download (be_b, back, b, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, host, sizeof host) == 0);

  CHECK (be_b->zero (be_b, b, 40 * sizeof (float), &error) == CP_OK);
  CHECK (be_b->download (be_b, back, b, sizeof host, &error) == CP_OK);
  for (int i = 0; i < 100; i++)
    CHECK (back[i] == (i < 40 ? 0.0f : host[i]));

  /* Overlapping copies behave like memmove, as on the CPU. */
  memcpy (expect, host, sizeof host);
  memmove (expect + 10, expect, 50 * sizeof (float));
  CHECK (be_b->copy (be_b, a + 10, a, 50 * sizeof (float), &error) == CP_OK);
  CHECK (be_b->download (be_b, back, a, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, expect, sizeof host) == 0);
  memcpy (expect, back, sizeof back);
  memmove (expect, expect + 7, 60 * sizeof (float));
  CHECK (be_b->copy (be_b, a, a + 7, 60 * sizeof (float), &error) == CP_OK);
  CHECK (be_b->download (be_b, back, a, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, expect, sizeof host) == 0);
  drop (be_b, a);
  drop (be_b, b);

  a = be_b->alloc (be_b, 0, &error);
  CHECK (a != NULL);
  be_b->free (be_b, a);
  be_b->free (be_b, NULL);
}

/* An impossible allocation fails with the out-of-memory code and leaves
 * the device usable.  Not asked of the CPU backend: under the sanitizers
 * its allocator aborts on such a request instead of returning NULL. */
static void
test_out_of_memory (void)
{
  CpError error = { CP_OK, "" };
  float host[100], back[100];
  void *a;

  if (parity_b_is ("cpu"))
    return;
  for (int i = 0; i < 100; i++)
    host[i] = (float) i;
  a = be_b->alloc (be_b, (size_t) 1 << 52, &error);
  CHECK (a == NULL);
  CHECK (error.code == CP_ERR_NOMEM);
  if (parity_b_is ("cuda"))
    CHECK_MSG (strstr (error.message, "out of GPU memory (needed") != NULL, "message: %s",
               error.message);
  printf ("  huge allocation: %s\n", error.message);
  CHECK (be_b->synchronize (be_b, &error) == CP_OK);
  a = put (be_b, host, sizeof host);
  CHECK (be_b->download (be_b, back, a, sizeof host, &error) == CP_OK);
  CHECK (memcmp (back, host, sizeof host) == 0);
  drop (be_b, a);
}

/* Both backends refuse the same malformed calls. */
static void
test_invalid_arguments (void)
{
  CpBackend *backends[2] = { be_a, be_b };

  for (int i = 0; i < 2; i++)
    {
      CpBackend *be = backends[i];
      float *buf = put (be, NULL, 4096);
      int32_t *idx = put (be, NULL, 4096);
      CpConvDesc d;

      cp_conv_desc_init (&d, 1, 2, 8, 8, 3, 3, 3, 1, 1);
      d.h_out = 9;
      CHECK (be->conv2d_forward (be, &d, buf, buf, buf) == CP_ERR_INVALID);
      /* One value per channel: no unbiased variance. */
      CHECK (be->batchnorm_forward_train (be, 1, 2, 1, buf, buf, buf, NULL, NULL, 0.1f, 1e-5f,
                                          buf, buf, buf) == CP_ERR_INVALID);
      /* Padding more than half the kernel. */
      CHECK (be->maxpool_forward (be, 1, 1, 8, 8, 3, 2, 2, buf, buf, idx) == CP_ERR_INVALID);
      CHECK (be->linear_forward (be, 0, 4, 4, buf, buf, NULL, buf) == CP_ERR_INVALID);
      CHECK (be->relu_forward (be, 4, NULL, buf) == CP_ERR_INVALID);
      CHECK (be->l2_normalize_rows (be, -1, 4, buf, buf) == CP_ERR_INVALID);
      CHECK (be->avgpool_forward (be, 1, 0, 4, buf, buf) == CP_ERR_INVALID);
      drop (be, buf);
      drop (be, idx);
    }
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_every_op_present);
  RUN_TEST (test_memory_ops);
  RUN_TEST (test_out_of_memory);
  RUN_TEST (test_invalid_arguments);
  parity_close ();
  return harness_exit ();
}
