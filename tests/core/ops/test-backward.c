/* test-backward.c: every backward op of the CPU backend against central
 * finite differences.
 *
 * For each op the test has its own double-precision forward (written here,
 * independently of the backend).  With a random r, the scalar
 * L(theta) = sum (forward(theta) * r) is differentiated numerically,
 *   dL/dtheta_i ~ (L(theta_i + h) - L(theta_i - h)) / 2h,   h = 1e-4,
 * entirely in double, so the numerical gradient is good to ~1e-8 relative.
 * The backend's backward op, fed dy = r, must then agree to a normalised
 * error (max |analytic - numeric| / max |numeric|) of at most 1e-5: the
 * backend works in float, whose rounding over these small sums is ~1e-7.
 * Each test also checks the backend's float forward against the double one,
 * which proves the double forward is the function being differentiated.
 */
#include "harness.h"
#include "core/rng.h"
#include "core/backend.h"

#define FD_STEP 1e-4
#define GRAD_TOL 1e-5
#define FWD_TOL 1e-5

static CpBackend *be;
static CpRng rng;

/* Random floats in [-1, 1), kept at least @gap away from zero (so that
 * ReLU and max-pool kinks are far from every finite-difference probe). */
static float *
random_floats (size_t count, double gap)
{
  float *p = malloc ((count ? count : 1) * sizeof (float));

  for (size_t i = 0; i < count; i++)
    {
      double v;

      do
        v = cp_rng_uniform_range (&rng, -1.0, 1.0);
      while (fabs (v) < gap);
      p[i] = (float) v;
    }
  return p;
}

static double *
to_double (const float *p, size_t count)
{
  double *d = malloc ((count ? count : 1) * sizeof (double));

  for (size_t i = 0; i < count; i++)
    d[i] = p[i];
  return d;
}

static double
dot (const double *a, const float *b, size_t count)
{
  double s = 0.0;

  for (size_t i = 0; i < count; i++)
    s += a[i] * (double) b[i];
  return s;
}

/* A forward in double: reads the parameters in @theta (one of several
 * inputs, chosen by the caller through @ctx) and writes @out. */
typedef void (*ForwardFn) (void *ctx, double *out);

/* Numerical gradient of sum (forward * r) with respect to @param (count
 * values, which the forward reads through @ctx). */
static void
numeric_gradient (ForwardFn fwd, void *ctx, double *param, size_t count, const float *r,
                  size_t out_count, float *grad)
{
  double *out = malloc (out_count * sizeof (double));

  for (size_t i = 0; i < count; i++)
    {
      double saved = param[i], lp, lm;

      param[i] = saved + FD_STEP;
      fwd (ctx, out);
      lp = dot (out, r, out_count);
      param[i] = saved - FD_STEP;
      fwd (ctx, out);
      lm = dot (out, r, out_count);
      param[i] = saved;
      grad[i] = (float) ((lp - lm) / (2.0 * FD_STEP));
    }
  free (out);
}

static void
check_forward (const float *y, ForwardFn fwd, void *ctx, size_t count, const char *what)
{
  double *out = malloc (count * sizeof (double));
  float *outf = malloc (count * sizeof (float));
  double err;

  fwd (ctx, out);
  for (size_t i = 0; i < count; i++)
    outf[i] = (float) out[i];
  err = harness_normalised_error (y, outf, count);
  CHECK_MSG (err <= FWD_TOL, "%s forward: normalised error %.3g", what, err);
  free (out);
  free (outf);
}

static void
check_gradient (const float *analytic, const float *numeric, size_t count, const char *what)
{
  double err = harness_normalised_error (analytic, numeric, count);

  CHECK_MSG (err <= GRAD_TOL, "%s: normalised error %.3g", what, err);
}

/* ---- convolution ---------------------------------------------------- */

typedef struct
{
  CpConvDesc d;
  double *x, *w;
} ConvCtx;

static void
conv_forward_double (void *p, double *y)
{
  ConvCtx *c = p;
  const CpConvDesc *d = &c->d;

  for (int b = 0; b < d->n; b++)
    for (int co = 0; co < d->c_out; co++)
      for (int oh = 0; oh < d->h_out; oh++)
        for (int ow = 0; ow < d->w_out; ow++)
          {
            double s = 0.0;

            for (int ci = 0; ci < d->c_in; ci++)
              for (int ki = 0; ki < d->kh; ki++)
                for (int kj = 0; kj < d->kw; kj++)
                  {
                    int ih = oh * d->stride - d->pad + ki, iw = ow * d->stride - d->pad + kj;

                    if (ih >= 0 && ih < d->h_in && iw >= 0 && iw < d->w_in)
                      s += c->x[((b * d->c_in + ci) * d->h_in + ih) * d->w_in + iw]
                           * c->w[((co * d->c_in + ci) * d->kh + ki) * d->kw + kj];
                  }
            y[((b * d->c_out + co) * d->h_out + oh) * d->w_out + ow] = s;
          }
}

static void
check_conv (int n, int c_in, int h, int w, int c_out, int k, int stride, int pad)
{
  ConvCtx c;
  size_t nx, nw, ny;
  float *x, *wt, *r, *y, *dx, *dw, *num_dx, *num_dw;
  char what[128];

  cp_conv_desc_init (&c.d, n, c_in, h, w, c_out, k, k, stride, pad);
  nx = (size_t) n * c_in * h * w;
  nw = (size_t) c_out * c_in * k * k;
  ny = (size_t) n * c_out * c.d.h_out * c.d.w_out;
  x = random_floats (nx, 0.0);
  wt = random_floats (nw, 0.0);
  r = random_floats (ny, 0.0);
  y = malloc (ny * sizeof (float));
  dx = malloc (nx * sizeof (float));
  dw = malloc (nw * sizeof (float));
  num_dx = malloc (nx * sizeof (float));
  num_dw = malloc (nw * sizeof (float));
  c.x = to_double (x, nx);
  c.w = to_double (wt, nw);

  snprintf (what, sizeof what, "conv n=%d c_in=%d %dx%d c_out=%d k=%d s=%d p=%d",
            n, c_in, h, w, c_out, k, stride, pad);
  CHECK (be->conv2d_forward (be, &c.d, x, wt, y) == CP_OK);
  check_forward (y, conv_forward_double, &c, ny, what);
  CHECK (be->conv2d_backward_data (be, &c.d, r, wt, dx) == CP_OK);
  CHECK (be->conv2d_backward_filter (be, &c.d, x, r, dw) == CP_OK);
  numeric_gradient (conv_forward_double, &c, c.x, nx, r, ny, num_dx);
  numeric_gradient (conv_forward_double, &c, c.w, nw, r, ny, num_dw);
  check_gradient (dx, num_dx, nx, what);
  check_gradient (dw, num_dw, nw, what);

  free (x); free (wt); free (r); free (y); free (dx); free (dw);
  free (num_dx); free (num_dw); free (c.x); free (c.w);
}

static void
test_conv_backward (void)
{
  check_conv (2, 3, 7, 6, 4, 3, 1, 1);
  check_conv (2, 2, 9, 8, 3, 3, 2, 1);
  check_conv (1, 3, 11, 9, 2, 7, 2, 3);
  check_conv (2, 4, 6, 7, 3, 1, 2, 0);
  check_conv (2, 4, 5, 5, 3, 1, 1, 0);
  check_conv (1, 2, 8, 7, 2, 5, 3, 2);
  /* Grouped tiles: small images, many of them in one tile. */
  check_conv (3, 8, 3, 3, 4, 3, 1, 1);
}

/* ---- batch norm (training) ------------------------------------------ */

typedef struct
{
  int n, c, hw;
  double eps;
  double *x, *gamma, *beta;
} BnCtx;

static void
bn_forward_double (void *p, double *y)
{
  BnCtx *b = p;
  double m = (double) b->n * b->hw;

  for (int ch = 0; ch < b->c; ch++)
    {
      double mean = 0.0, var = 0.0;

      for (int i = 0; i < b->n; i++)
        for (int j = 0; j < b->hw; j++)
          mean += b->x[(i * b->c + ch) * b->hw + j];
      mean /= m;
      for (int i = 0; i < b->n; i++)
        for (int j = 0; j < b->hw; j++)
          {
            double dv = b->x[(i * b->c + ch) * b->hw + j] - mean;
            var += dv * dv;
          }
      var /= m;
      for (int i = 0; i < b->n; i++)
        for (int j = 0; j < b->hw; j++)
          {
            size_t k = (size_t) (i * b->c + ch) * b->hw + j;
            y[k] = (b->x[k] - mean) / sqrt (var + b->eps) * b->gamma[ch] + b->beta[ch];
          }
    }
}

static void
check_bn (int n, int c, int hw, int alias)
{
  BnCtx b = { n, c, hw, 1e-5, NULL, NULL, NULL };
  size_t nx = (size_t) n * c * hw;
  float *x = random_floats (nx, 0.0), *gamma = random_floats (c, 0.1);
  float *beta = random_floats (c, 0.0), *r = random_floats (nx, 0.0);
  float *y = malloc (nx * sizeof (float)), *dx = malloc (nx * sizeof (float));
  float *rm = calloc (c, sizeof (float)), *rv = calloc (c, sizeof (float));
  float *sm = malloc (c * sizeof (float)), *si = malloc (c * sizeof (float));
  float *dg = malloc (c * sizeof (float)), *db = malloc (c * sizeof (float));
  float *num_dx = malloc (nx * sizeof (float)), *num_dg = malloc (c * sizeof (float));
  float *num_db = malloc (c * sizeof (float));
  char what[96];

  b.x = to_double (x, nx);
  b.gamma = to_double (gamma, c);
  b.beta = to_double (beta, c);
  snprintf (what, sizeof what, "batchnorm n=%d c=%d hw=%d%s", n, c, hw, alias ? " (dx = dy)" : "");

  CHECK (be->batchnorm_forward_train (be, n, c, hw, x, gamma, beta, rm, rv, 0.1f, 1e-5f, y,
                                      sm, si) == CP_OK);
  check_forward (y, bn_forward_double, &b, nx, what);
  numeric_gradient (bn_forward_double, &b, b.x, nx, r, nx, num_dx);
  numeric_gradient (bn_forward_double, &b, b.gamma, c, r, nx, num_dg);
  numeric_gradient (bn_forward_double, &b, b.beta, c, r, nx, num_db);
  if (alias)
    {
      /* dx written over dy, as the documentation allows. */
      float *buf = malloc (nx * sizeof (float));

      memcpy (buf, r, nx * sizeof (float));
      CHECK (be->batchnorm_backward (be, n, c, hw, x, buf, gamma, sm, si, buf, dg, db) == CP_OK);
      memcpy (dx, buf, nx * sizeof (float));
      free (buf);
    }
  else
    CHECK (be->batchnorm_backward (be, n, c, hw, x, r, gamma, sm, si, dx, dg, db) == CP_OK);
  check_gradient (dx, num_dx, nx, what);
  check_gradient (dg, num_dg, c, what);
  check_gradient (db, num_db, c, what);

  free (x); free (gamma); free (beta); free (r); free (y); free (dx); free (rm); free (rv);
  free (sm); free (si); free (dg); free (db); free (num_dx); free (num_dg); free (num_db);
  free (b.x); free (b.gamma); free (b.beta);
}

static void
test_batchnorm_backward (void)
{
  check_bn (3, 4, 5, 0);
  check_bn (4, 3, 1, 0);   /* BatchNorm1d: hw = 1 */
  check_bn (2, 5, 9, 1);
}

/* ---- ReLU ------------------------------------------------------------ */

typedef struct
{
  size_t count;
  double *x;
} VecCtx;

static void
relu_forward_double (void *p, double *y)
{
  VecCtx *v = p;

  for (size_t i = 0; i < v->count; i++)
    y[i] = v->x[i] > 0.0 ? v->x[i] : 0.0;
}

static void
test_relu_backward (void)
{
  const size_t count = 257;
  VecCtx v = { count, NULL };
  float *x = random_floats (count, 0.01), *r = random_floats (count, 0.0);
  float *y = malloc (count * sizeof (float)), *dx = malloc (count * sizeof (float));
  float *num = malloc (count * sizeof (float));

  v.x = to_double (x, count);
  CHECK (be->relu_forward (be, count, x, y) == CP_OK);
  check_forward (y, relu_forward_double, &v, count, "relu");
  CHECK (be->relu_backward (be, count, y, r, dx) == CP_OK);
  numeric_gradient (relu_forward_double, &v, v.x, count, r, count, num);
  check_gradient (dx, num, count, "relu");
  /* In place, as the network calls it. */
  CHECK (be->relu_backward (be, count, y, r, r) == CP_OK);
  check_gradient (r, num, count, "relu (dx = dy)");

  free (x); free (r); free (y); free (dx); free (num); free (v.x);
}

/* ---- max pool ---------------------------------------------------------- */

typedef struct
{
  int n, c, h, w, k, s, p, ho, wo;
  double *x;
} PoolCtx;

static void
maxpool_forward_double (void *ctx, double *y)
{
  PoolCtx *p = ctx;

  for (int pl = 0; pl < p->n * p->c; pl++)
    for (int oh = 0; oh < p->ho; oh++)
      for (int ow = 0; ow < p->wo; ow++)
        {
          double best = -INFINITY;

          for (int ki = 0; ki < p->k; ki++)
            for (int kj = 0; kj < p->k; kj++)
              {
                int ih = oh * p->s - p->p + ki, iw = ow * p->s - p->p + kj;

                if (ih >= 0 && ih < p->h && iw >= 0 && iw < p->w
                    && p->x[(size_t) pl * p->h * p->w + ih * p->w + iw] > best)
                  best = p->x[(size_t) pl * p->h * p->w + ih * p->w + iw];
              }
          y[((size_t) pl * p->ho + oh) * p->wo + ow] = best;
        }
}

static void
check_maxpool (int n, int c, int h, int w, int k, int s, int pad)
{
  PoolCtx p = { n, c, h, w, k, s, pad, (h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1, NULL };
  size_t nx = (size_t) n * c * h * w, ny = (size_t) n * c * p.ho * p.wo;
  float *x = malloc (nx * sizeof (float)), *r = random_floats (ny, 0.0);
  float *y = malloc (ny * sizeof (float)), *dx = malloc (nx * sizeof (float));
  float *num = malloc (nx * sizeof (float));
  int32_t *idx = malloc (ny * sizeof (int32_t));
  char what[96];

  /* Distinct values at least 1e-3 apart (a random permutation of a
   * grid): no ties, and every probe of +-h keeps the argmax. */
  for (size_t i = 0; i < nx; i++)
    x[i] = (float) ((double) i * 1e-3 - 0.5 * nx * 1e-3);
  for (size_t i = nx - 1; i > 0; i--)
    {
      size_t j = (size_t) cp_rng_int_range (&rng, 0, (int64_t) i);
      float t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  p.x = to_double (x, nx);
  snprintf (what, sizeof what, "maxpool %dx%d k=%d s=%d p=%d", h, w, k, s, pad);

  CHECK (be->maxpool_forward (be, n, c, h, w, k, s, pad, x, y, idx) == CP_OK);
  check_forward (y, maxpool_forward_double, &p, ny, what);
  CHECK (be->maxpool_backward (be, n, c, h, w, k, s, pad, r, idx, dx) == CP_OK);
  numeric_gradient (maxpool_forward_double, &p, p.x, nx, r, ny, num);
  check_gradient (dx, num, nx, what);

  free (x); free (r); free (y); free (dx); free (num); free (idx); free (p.x);
}

static void
test_maxpool_backward (void)
{
  check_maxpool (2, 3, 9, 8, 3, 2, 1);   /* ResNet's stem pool, odd sizes */
  check_maxpool (1, 2, 6, 6, 2, 2, 0);
  check_maxpool (1, 2, 7, 5, 3, 1, 1);   /* heavy overlap */
}

/* ---- average pool ------------------------------------------------------ */

typedef struct
{
  int n, c, hw;
  double *x;
} AvgCtx;

static void
avgpool_forward_double (void *ctx, double *y)
{
  AvgCtx *a = ctx;

  for (int pl = 0; pl < a->n * a->c; pl++)
    {
      double s = 0.0;

      for (int i = 0; i < a->hw; i++)
        s += a->x[(size_t) pl * a->hw + i];
      y[pl] = s / a->hw;
    }
}

static void
test_avgpool_backward (void)
{
  AvgCtx a = { 3, 4, 10, NULL };
  size_t nx = 120, ny = 12;
  float *x = random_floats (nx, 0.0), *r = random_floats (ny, 0.0);
  float *y = malloc (ny * sizeof (float)), *dx = malloc (nx * sizeof (float));
  float *num = malloc (nx * sizeof (float));

  a.x = to_double (x, nx);
  CHECK (be->avgpool_forward (be, 3, 4, 10, x, y) == CP_OK);
  check_forward (y, avgpool_forward_double, &a, ny, "avgpool");
  CHECK (be->avgpool_backward (be, 3, 4, 10, r, dx) == CP_OK);
  numeric_gradient (avgpool_forward_double, &a, a.x, nx, r, ny, num);
  check_gradient (dx, num, nx, "avgpool");

  free (x); free (r); free (y); free (dx); free (num); free (a.x);
}

/* ---- linear ------------------------------------------------------------ */

typedef struct
{
  int n, in, out;
  double *x, *w, *b;
} LinCtx;

static void
linear_forward_double (void *ctx, double *y)
{
  LinCtx *l = ctx;

  for (int i = 0; i < l->n; i++)
    for (int o = 0; o < l->out; o++)
      {
        double s = l->b[o];

        for (int k = 0; k < l->in; k++)
          s += l->x[i * l->in + k] * l->w[o * l->in + k];
        y[i * l->out + o] = s;
      }
}

static void
test_linear_backward (void)
{
  LinCtx l = { 5, 7, 3, NULL, NULL, NULL };
  size_t nx = 35, nw = 21, ny = 15;
  float *x = random_floats (nx, 0.0), *w = random_floats (nw, 0.0), *b = random_floats (3, 0.0);
  float *r = random_floats (ny, 0.0), *y = malloc (ny * sizeof (float));
  float dx[35], dw[21], db[3], ndx[35], ndw[21], ndb[3];

  l.x = to_double (x, nx);
  l.w = to_double (w, nw);
  l.b = to_double (b, 3);
  CHECK (be->linear_forward (be, 5, 7, 3, x, w, b, y) == CP_OK);
  check_forward (y, linear_forward_double, &l, ny, "linear");
  CHECK (be->linear_backward (be, 5, 7, 3, x, w, r, dx, dw, db) == CP_OK);
  numeric_gradient (linear_forward_double, &l, l.x, nx, r, ny, ndx);
  numeric_gradient (linear_forward_double, &l, l.w, nw, r, ny, ndw);
  numeric_gradient (linear_forward_double, &l, l.b, 3, r, ny, ndb);
  check_gradient (dx, ndx, nx, "linear dx");
  check_gradient (dw, ndw, nw, "linear dw");
  check_gradient (db, ndb, 3, "linear db");

  /* dx and db may be NULL (first layer, no bias); dw is unchanged. */
  memset (dw, 0, sizeof dw);
  CHECK (be->linear_backward (be, 5, 7, 3, x, w, r, NULL, dw, NULL) == CP_OK);
  check_gradient (dw, ndw, nw, "linear dw without dx/db");

  free (x); free (w); free (b); free (r); free (y); free (l.x); free (l.w); free (l.b);
}

/* ---- add --------------------------------------------------------------- */

typedef struct
{
  size_t count;
  double *a, *b;
} AddCtx;

static void
add_forward_double (void *ctx, double *y)
{
  AddCtx *a = ctx;

  for (size_t i = 0; i < a->count; i++)
    y[i] = a->a[i] + a->b[i];
}

/* add has no backward op: its gradient is dy for both branches, which the
 * network passes on unchanged.  Check that this is the derivative of the
 * backend's forward, and that the aliased residual form y = a + y works. */
static void
test_add_backward (void)
{
  const size_t count = 100;
  AddCtx a = { count, NULL, NULL };
  float *x = random_floats (count, 0.0), *z = random_floats (count, 0.0);
  float *r = random_floats (count, 0.0), *y = malloc (count * sizeof (float));
  float *na = malloc (count * sizeof (float)), *nb = malloc (count * sizeof (float));

  a.a = to_double (x, count);
  a.b = to_double (z, count);
  CHECK (be->add (be, count, x, z, y) == CP_OK);
  check_forward (y, add_forward_double, &a, count, "add");
  numeric_gradient (add_forward_double, &a, a.a, count, r, count, na);
  numeric_gradient (add_forward_double, &a, a.b, count, r, count, nb);
  check_gradient (r, na, count, "add da");
  check_gradient (r, nb, count, "add db");
  CHECK (be->add (be, count, x, z, z) == CP_OK);
  check_forward (z, add_forward_double, &a, count, "add (y = b)");

  free (x); free (z); free (r); free (y); free (na); free (nb); free (a.a); free (a.b);
}

/* ---- softmax cross-entropy --------------------------------------------- */

typedef struct
{
  int n, classes;
  const int32_t *labels;
  double *z;
} CeCtx;

static void
ce_forward_double (void *ctx, double *loss)
{
  CeCtx *c = ctx;
  double total = 0.0;

  for (int i = 0; i < c->n; i++)
    {
      double s = 0.0;

      for (int j = 0; j < c->classes; j++)
        s += exp (c->z[i * c->classes + j]);
      total += log (s) - c->z[i * c->classes + c->labels[i]];
    }
  *loss = total / c->n;
}

static void
test_softmax_ce_backward (void)
{
  const int32_t labels[6] = { 0, 2, 1, 3, 3, 0 };
  CeCtx c = { 6, 4, labels, NULL };
  float *z = random_floats (24, 0.0), one = 1.0f, loss;
  float dz[24], num[24];
  double ref;

  for (int i = 0; i < 24; i++)
    z[i] *= 3.0f;
  c.z = to_double (z, 24);
  CHECK (be->softmax_cross_entropy (be, 6, 4, z, labels, &loss, dz) == CP_OK);
  ce_forward_double (&c, &ref);
  CHECK_CLOSE (loss, ref, 0.0, 1e-6);
  numeric_gradient (ce_forward_double, &c, c.z, 24, &one, 1, num);
  check_gradient (dz, num, 24, "softmax cross-entropy");

  free (z);
  free (c.z);
}

int
main (void)
{
  CpError error;

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "cp_backend_cpu_new: %s\n", error.message);
      return 1;
    }
  cp_rng_seed (&rng, 1234);

  RUN_TEST (test_conv_backward);
  RUN_TEST (test_batchnorm_backward);
  RUN_TEST (test_relu_backward);
  RUN_TEST (test_maxpool_backward);
  RUN_TEST (test_avgpool_backward);
  RUN_TEST (test_linear_backward);
  RUN_TEST (test_add_backward);
  RUN_TEST (test_softmax_ce_backward);

  cp_backend_free (be);
  return harness_exit ();
}
