/* parity-batchnorm.c: the batch-norm ops (cpu-batchnorm.c and its twins)
 * on backend B against the CPU reference.
 *
 * Tolerances: outputs and saved statistics 1e-5; weight gradients and the
 * running variance 2e-5, since the CPU reference sums each plane in float
 * (relative error grows like sqrt(hw) * 2^-24 over 16384 values).
 */
#include "parity.h"

typedef struct
{
  int n, c, hw;
  float *x, *dy, *gamma, *beta, *running_mean, *running_var;
} BnInput;

typedef struct
{
  float *y, *save_mean, *save_invstd, *running_mean, *running_var;
  float *y_infer, *dx, *dgamma, *dbeta;
  float *y_in_place, *dx_in_place;
} BnResult;

static const float momentum = 0.1f, eps = 1e-5f;

static void
bn_run (CpBackend *be, const BnInput *in, BnResult *out)
{
  const int n = in->n, c = in->c, hw = in->hw;
  const size_t bytes = (size_t) n * c * hw * 4, cb = (size_t) c * 4;
  float *x = put (be, in->x, bytes), *dy = put (be, in->dy, bytes);
  float *gamma = put (be, in->gamma, cb), *beta = put (be, in->beta, cb);
  float *rm = put (be, in->running_mean, cb), *rv = put (be, in->running_var, cb);
  float *y = put (be, NULL, bytes), *yi = put (be, NULL, bytes), *dx = put (be, NULL, bytes);
  float *sm = put (be, NULL, cb), *si = put (be, NULL, cb);
  float *dg = put (be, NULL, cb), *db = put (be, NULL, cb);
  float *ax, *ady;

  CHECK_MSG (be->batchnorm_forward_train (be, n, c, hw, x, gamma, beta, rm, rv, momentum, eps, y,
                                          sm, si) == CP_OK, "%s train", be->name);
  CHECK_MSG (be->batchnorm_forward_infer (be, n, c, hw, x, gamma, beta, rm, rv, eps, yi) == CP_OK,
             "%s infer", be->name);
  CHECK_MSG (be->batchnorm_backward (be, n, c, hw, x, dy, gamma, sm, si, dx, dg, db) == CP_OK,
             "%s backward", be->name);

  /* In place, as backend.h allows: y over x, dx over dy; no running
   * statistics and no dgamma/dbeta (NULL is allowed). */
  ax = put (be, in->x, bytes);
  ady = put (be, in->dy, bytes);
  CHECK_MSG (be->batchnorm_forward_train (be, n, c, hw, ax, gamma, beta, NULL, NULL, momentum, eps,
                                          ax, sm, si) == CP_OK, "%s train in place", be->name);
  CHECK_MSG (be->batchnorm_backward (be, n, c, hw, x, ady, gamma, sm, si, ady, NULL, NULL)
             == CP_OK, "%s backward in place", be->name);

  out->y = take (be, y, bytes);
  out->save_mean = take (be, sm, cb);
  out->save_invstd = take (be, si, cb);
  out->running_mean = take (be, rm, cb);
  out->running_var = take (be, rv, cb);
  out->y_infer = take (be, yi, bytes);
  out->dx = take (be, dx, bytes);
  out->dgamma = take (be, dg, cb);
  out->dbeta = take (be, db, cb);
  out->y_in_place = take (be, ax, bytes);
  out->dx_in_place = take (be, ady, bytes);
  drop (be, x);
  drop (be, dy);
  drop (be, gamma);
  drop (be, beta);
}

static void
bn_result_free (BnResult *r)
{
  float *all[] = { r->y, r->save_mean, r->save_invstd, r->running_mean, r->running_var,
                   r->y_infer, r->dx, r->dgamma, r->dbeta, r->y_in_place, r->dx_in_place };

  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    free (all[i]);
}

static void
bn_case (const char *name, int n, int c, int hw)
{
  const size_t count = (size_t) n * c * hw;
  /* A mean away from zero exercises the variance's cancellation. */
  BnInput in = {
    .n = n, .c = c, .hw = hw,
    .x = host_uniform (count, -1.0, 3.0),
    .dy = host_normal (count, 1.0),
    .gamma = host_uniform (c, 0.5, 1.5),
    .beta = host_uniform (c, -0.5, 0.5),
    .running_mean = host_uniform (c, -0.2, 0.2),
    .running_var = host_uniform (c, 0.5, 2.0),
  };
  BnResult a, b;
  char what[160];

  printf ("  batch norm %s (n %d, c %d, hw %d)\n", name, n, c, hw);
  bn_run (be_a, &in, &a);
  bn_run (be_b, &in, &b);
  {
    const struct
    {
      const char  *what;
      const float *got, *want;
      size_t       count;
      double       tolerance;
    } outputs[] = {
      { "train y", b.y, a.y, count, 1e-5 },
      { "save_mean", b.save_mean, a.save_mean, c, 1e-5 },
      { "save_invstd", b.save_invstd, a.save_invstd, c, 1e-5 },
      { "running_mean", b.running_mean, a.running_mean, c, 1e-5 },
      { "running_var (unbiased)", b.running_var, a.running_var, c, 2e-5 },
      { "infer y", b.y_infer, a.y_infer, count, 1e-5 },
      { "backward dx", b.dx, a.dx, count, 1e-5 },
      { "backward dgamma", b.dgamma, a.dgamma, c, 2e-5 },
      { "backward dbeta", b.dbeta, a.dbeta, c, 2e-5 },
      /* In place on B against out of place on A. */
      { "train y in place", b.y_in_place, a.y, count, 1e-5 },
      { "backward dx in place", b.dx_in_place, a.dx, count, 1e-5 },
    };

    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
      {
        snprintf (what, sizeof what, "bn %s %s", name, outputs[i].what);
        expect_close (what, outputs[i].got, outputs[i].want, outputs[i].count,
                      outputs[i].tolerance);
      }
  }
  bn_result_free (&a);
  bn_result_free (&b);
  free (in.x);
  free (in.dy);
  free (in.gamma);
  free (in.beta);
  free (in.running_mean);
  free (in.running_var);
}

static void
test_batchnorm (void)
{
  bn_case ("stem @256", 2, 64, 128 * 128);
  bn_case ("layer3 @256", 4, 256, 16 * 16);
  bn_case ("layer4 @256", 3, 512, 8 * 8);
  bn_case ("head 1d", 96, 512, 1);
  bn_case ("odd", 3, 5, 7);
  bn_case ("two values", 2, 3, 1);
}

int
main (int argc, char **argv)
{
  parity_open (argc, argv, 20210601);
  RUN_TEST (test_batchnorm);
  parity_close ();
  return harness_exit ();
}
