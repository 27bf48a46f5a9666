/* parity-loss.c: softmax cross-entropy (cpu-loss.c and its twins) on
 * backend B against the CPU reference: loss and gradient 1e-5, and the
 * same refusal of an out-of-range label.
 */
#include "parity.h"

#define N 96
#define CLASSES 3

typedef struct
{
  CpStatus with_grad, loss_only;
  float    loss, loss_only_value;
  float   *dlogits;
} LossResult;

static void
loss_run (CpBackend *be, const float *logits_host, const int32_t *labels_host, LossResult *r)
{
  const size_t bytes = (size_t) N * CLASSES * 4;
  float *logits = put (be, logits_host, bytes), *dlogits = put (be, NULL, bytes);
  int32_t *labels = put (be, labels_host, N * sizeof (int32_t));

  r->loss = r->loss_only_value = -1.0f;
  r->with_grad = be->softmax_cross_entropy (be, N, CLASSES, logits, labels, &r->loss, dlogits);
  r->loss_only = be->softmax_cross_entropy (be, N, CLASSES, logits, labels, &r->loss_only_value,
                                            NULL);
  r->dlogits = take (be, dlogits, bytes);
  drop (be, logits);
  drop (be, labels);
}

static void
test_softmax_cross_entropy (void)
{
  float *logits = host_normal ((size_t) N * CLASSES, 3.0);
  int32_t labels[N];
  LossResult a, b;

  for (int i = 0; i < N; i++)
    labels[i] = i / 32;
  /* Extreme logits must give a finite loss. */
  logits[0] = 1e4f;
  logits[1] = -1e4f;
  logits[5] = 3e4f;

  loss_run (be_a, logits, labels, &a);
  loss_run (be_b, logits, labels, &b);
  CHECK (a.with_grad == CP_OK && b.with_grad == CP_OK);
  CHECK (a.loss_only == CP_OK && b.loss_only == CP_OK);
  printf ("  loss: %s %.9g %s %.9g\n", be_a->name, a.loss, be_b->name, b.loss);
  CHECK (isfinite (b.loss));
  CHECK_CLOSE (b.loss, a.loss, 0.0, 1e-5);
  CHECK_CLOSE (b.loss_only_value, a.loss, 0.0, 1e-5);
  expect_close ("softmax cross-entropy dlogits", b.dlogits, a.dlogits, (size_t) N * CLASSES, 1e-5);
  free (a.dlogits);
  free (b.dlogits);

  /* An out-of-range label is refused by both. */
  labels[17] = 3;
  loss_run (be_a, logits, labels, &a);
  loss_run (be_b, logits, labels, &b);
  CHECK (a.with_grad == CP_ERR_INVALID && b.with_grad == CP_ERR_INVALID);
  CHECK (a.loss_only == CP_ERR_INVALID && b.loss_only == CP_ERR_INVALID);
  free (a.dlogits);
  free (b.dlogits);
  free (logits);
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_softmax_cross_entropy);
  parity_close ();
  return harness_exit ();
}
