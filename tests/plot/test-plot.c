/* test-plot.c: every plot renders to a PNG of the requested size with ink
 * inside its plot area, geometry helpers agree with the drawing, and
 * degenerate input draws without crashing.
 *
 * With CP_PLOT_EXAMPLES=<folder> the example PNGs are kept there for
 * looking at; otherwise they go to a temporary folder that is removed. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>

#include "core/density/auroc.h"
#include "core/density/tsne.h"
#include "plot/plot.h"
#include "plot/plot-private.h"
#include "core/rng.h"

static char *out_dir;

static char *
out_path (const char *name)
{
  return g_build_filename (out_dir, name, NULL);
}

/* Loads @path, checks its size and returns the surface. */
static cairo_surface_t *
load_png (const char *path, int width, int height)
{
  cairo_surface_t *s = cairo_image_surface_create_from_png (path);

  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, width);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, height);
  return s;
}

static void
pixel (cairo_surface_t *s, int x, int y, int *r, int *g, int *b)
{
  const unsigned char *data = cairo_image_surface_get_data (s);
  uint32_t v = *(const uint32_t *) (data + (size_t) y * cairo_image_surface_get_stride (s) + 4 * x);

  *r = (v >> 16) & 0xff;
  *g = (v >> 8) & 0xff;
  *b = v & 0xff;
}

/* Pixels in the box [x0, x1) x [y0, y1) that are not the white
 * background. */
static int
ink_in (cairo_surface_t *s, int x0, int y0, int x1, int y1)
{
  int count = 0;

  for (int y = MAX (y0, 0); y < MIN (y1, cairo_image_surface_get_height (s)); y++)
    for (int x = MAX (x0, 0); x < MIN (x1, cairo_image_surface_get_width (s)); x++)
      {
        int r, g, b;
        pixel (s, x, y, &r, &g, &b);
        if (r < 235 || g < 235 || b < 235)
          count++;
      }
  return count;
}

/* Coloured (not grey) pixels: data rather than grid or text. */
static int
colour_in (cairo_surface_t *s, int x0, int y0, int x1, int y1)
{
  int count = 0;

  for (int y = MAX (y0, 0); y < MIN (y1, cairo_image_surface_get_height (s)); y++)
    for (int x = MAX (x0, 0); x < MIN (x1, cairo_image_surface_get_width (s)); x++)
      {
        int r, g, b;
        pixel (s, x, y, &r, &g, &b);
        if (MAX (r, MAX (g, b)) - MIN (r, MIN (g, b)) > 60)
          count++;
      }
  return count;
}

static void
make_scores (CpRng *rng, double *s, uint8_t *y, int n, double shift)
{
  for (int i = 0; i < n; i++)
    {
      y[i] = i % 3 == 0;
      s[i] = 10.0 + 2.0 * cp_rng_normal (rng) + (y[i] ? shift : 0.0);
    }
}

static void
test_roc (void)
{
  enum { N = 300 };
  double s[N];
  uint8_t y[N];
  CpRng rng;
  CpRocCurve curve;
  CpError err = { 0 };
  CpPlotRoc roc = { 0 };
  GError *error = NULL;
  char *path = out_path ("roc.png");
  cairo_surface_t *png;
  double x0, y0, x1, y1;

  cp_rng_seed (&rng, 1);
  make_scores (&rng, s, y, N, 3.0);
  g_assert_cmpint (cp_roc_curve (s, y, N, 1, &curve, &err), ==, CP_OK);
  roc = (CpPlotRoc) { curve.fpr, curve.tpr, curve.count, curve.auroc, "bottle" };
  g_assert_true (cp_plot_roc_write_png (path, 640, 480, &roc, &error));
  g_assert_no_error (error);
  png = load_png (path, 640, 480);
  cp_plot_roc_to_pixel (&roc, 640, 480, 0, 0, &x0, &y0);
  cp_plot_roc_to_pixel (&roc, 640, 480, 1, 1, &x1, &y1);
  g_assert_cmpfloat (x1 - x0, >, 200);
  g_assert_cmpfloat (y0 - y1, >, 200);
  /* Curve and shading in the upper-left half, coloured. */
  g_assert_cmpint (colour_in (png, (int) x0 + 3, (int) y1 + 3, (int) x1 - 3, (int) y0 - 3), >, 1000);
  cairo_surface_destroy (png);
  cp_roc_curve_clear (&curve);
  g_free (path);

  /* A perfect classifier's curve passes through (0, 1): the corner of the
   * plot area is drawn in the curve's blue. */
  for (int i = 0; i < N; i++)
    s[i] = y[i] ? 20.0 + i : (double) i / N;
  g_assert_cmpint (cp_roc_curve (s, y, N, 1, &curve, &err), ==, CP_OK);
  g_assert_cmpfloat (curve.auroc, ==, 1.0);
  roc = (CpPlotRoc) { curve.fpr, curve.tpr, curve.count, curve.auroc, "perfect" };
  path = out_path ("roc-perfect.png");
  g_assert_true (cp_plot_roc_write_png (path, 500, 500, &roc, &error));
  png = load_png (path, 500, 500);
  cp_plot_roc_to_pixel (&roc, 500, 500, 0, 1, &x0, &y0);
  {
    int r, g, b;
    pixel (png, (int) floor (x0), (int) floor (y0), &r, &g, &b);
    g_assert_cmpint (b, >, r + 80);
    /* Halfway along the top edge too: the curve runs along tpr = 1. */
    cp_plot_roc_to_pixel (&roc, 500, 500, 0.5, 1, &x1, &y1);
    pixel (png, (int) floor (x1), (int) floor (y1), &r, &g, &b);
    g_assert_cmpint (b, >, r + 80);
  }
  cairo_surface_destroy (png);
  cp_roc_curve_clear (&curve);
  g_free (path);
}

static void
test_histogram (void)
{
  enum { N = 240 };
  double s[N], good[N], defect[N];
  uint8_t y[N];
  int ng = 0, nd = 0;
  CpRng rng;
  GError *error = NULL;
  char *path = out_path ("histogram.png");
  cairo_surface_t *png;
  CpPlotHistogram hist;

  cp_rng_seed (&rng, 2);
  make_scores (&rng, s, y, N, 5.0);
  for (int i = 0; i < N; i++)
    {
      if (y[i])
        defect[nd++] = s[i];
      else
        good[ng++] = s[i];
    }
  hist = (CpPlotHistogram) { good, ng, defect, nd, 13.2, 0, "screw" };
  g_assert_true (cp_plot_histogram_write_png (path, 800, 500, &hist, &error));
  g_assert_no_error (error);
  png = load_png (path, 800, 500);
  g_assert_cmpint (colour_in (png, 80, 60, 760, 440), >, 5000);
  cairo_surface_destroy (png);
  g_free (path);
}

static void
test_tsne (void)
{
  enum { PER = 40, GROUPS = 5, N = PER * GROUPS, D = 20 };
  static float x[N * D], xy[N * 2];
  CpPlotPointKind kinds[N];
  int defect_type[N];
  static const char *const names[] = { "crack", "scratch" };
  CpRng rng;
  CpError err = { 0 };
  GError *error = NULL;
  char *path = out_path ("tsne.png");
  cairo_surface_t *png;
  CpPlotTsne t;

  cp_rng_seed (&rng, 3);
  for (int i = 0; i < N; i++)
    {
      int g = i % GROUPS;
      for (int k = 0; k < D; k++)
        x[i * D + k] = (float) (cp_rng_normal (&rng) + (k == g ? 6.0 : 0.0) + (g == 0 && k == 1 ? 5.0 : 0.0));
      /* Group 0: train good, 1: test good (near train), 2, 3: defects,
       * 4: CutPaste. */
      kinds[i] = g == 0 ? CP_PLOT_POINT_TRAIN_GOOD : g == 1 ? CP_PLOT_POINT_TEST_GOOD
                 : g == 4 ? (i % 2 ? CP_PLOT_POINT_CUTPASTE : CP_PLOT_POINT_SCAR) : CP_PLOT_POINT_TEST_DEFECT;
      defect_type[i] = g == 3 ? 1 : 0;
    }
  g_assert_cmpint (cp_tsne (x, N, D, NULL, &rng, xy, NULL, &err), ==, CP_OK);
  t = (CpPlotTsne) { xy, N, kinds, defect_type, names, 2, "capsule" };
  g_assert_true (cp_plot_tsne_write_png (path, 800, 600, &t, &error));
  g_assert_no_error (error);
  png = load_png (path, 800, 600);
  g_assert_cmpint (colour_in (png, 0, 40, 800, 600), >, 2000);
  cairo_surface_destroy (png);
  g_free (path);

  /* Nearest-point lookup: each point found at its own pixel (when no
   * other point is drawn on the very same spot), and nothing far away. */
  {
    int found = 0, checked = 0;
    for (int i = 0; i < N; i++)
      {
        double px, py;
        int hit;
        g_assert_true (cp_plot_tsne_to_pixel (&t, 800, 600, i, &px, &py));
        g_assert_cmpfloat (px, >=, 0);
        g_assert_cmpfloat (px, <, 800);
        hit = cp_plot_tsne_hit (&t, 800, 600, px + 0.3, py - 0.2, 6.0);
        g_assert_cmpint (hit, >=, 0);
        {
          double hx, hy;
          cp_plot_tsne_to_pixel (&t, 800, 600, hit, &hx, &hy);
          /* Whatever was found is at least as near as point i. */
          g_assert_cmpfloat (hypot (hx - px - 0.3, hy - py + 0.2), <=, hypot (0.3, 0.2) + 1e-9);
        }
        found += hit == i;
        checked++;
      }
    g_assert_cmpint (found, >=, checked * 9 / 10);
    g_assert_cmpint (cp_plot_tsne_hit (&t, 800, 600, 2, 2, 6.0), ==, -1);
  }
  /* Small hand-made map: exact indices. */
  {
    float pts[8] = { 0, 0, 10, 0, 0, 10, 10, 10 };
    CpPlotPointKind k4[4] = { CP_PLOT_POINT_TEST_GOOD, CP_PLOT_POINT_TEST_DEFECT, CP_PLOT_POINT_TRAIN_GOOD,
                              CP_PLOT_POINT_SCAR };
    CpPlotTsne small = { pts, 4, k4, NULL, NULL, 0, NULL };
    for (int i = 0; i < 4; i++)
      {
        double px, py;
        g_assert_true (cp_plot_tsne_to_pixel (&small, 400, 300, i, &px, &py));
        g_assert_cmpint (cp_plot_tsne_hit (&small, 400, 300, px + 3, py + 2, 8.0), ==, i);
      }
    {
      double ax, ay, bx, by;
      cp_plot_tsne_to_pixel (&small, 400, 300, 0, &ax, &ay);
      cp_plot_tsne_to_pixel (&small, 400, 300, 3, &bx, &by);
      g_assert_cmpint (cp_plot_tsne_hit (&small, 400, 300, (ax + bx) / 2, (ay + by) / 2, 8.0), ==, -1);
      /* Screen y grows downwards: data y = 10 is above y = 0. */
      g_assert_cmpfloat (by, <, ay);
    }
  }
}

static void
test_loss (void)
{
  enum { STEPS = 2000 };
  static double steps[STEPS], loss[STEPS], lr[STEPS];
  CpRng rng;
  GError *error = NULL;
  char *path;
  cairo_surface_t *png;
  CpPlotLoss l;

  cp_rng_seed (&rng, 4);
  for (int i = 0; i < STEPS; i++)
    {
      steps[i] = i + 1;
      loss[i] = 1.1 * exp (-i / 400.0) + 0.02 + 0.08 * fabs (cp_rng_normal (&rng)) * exp (-i / 800.0);
      lr[i] = 0.03 * 0.5 * (1 + cos (G_PI * i / STEPS));
    }
  l = (CpPlotLoss) { steps, loss, lr, STEPS, FALSE, "3way" };
  path = out_path ("loss.png");
  g_assert_true (cp_plot_loss_write_png (path, 800, 480, &l, &error));
  g_assert_no_error (error);
  png = load_png (path, 800, 480);
  g_assert_cmpint (colour_in (png, 80, 50, 720, 420), >, 1500);
  cairo_surface_destroy (png);
  g_free (path);

  l.log_y = TRUE;
  path = out_path ("loss-log.png");
  g_assert_true (cp_plot_loss_write_png (path, 640, 400, &l, &error));
  png = load_png (path, 640, 400);
  g_assert_cmpint (colour_in (png, 60, 40, 580, 340), >, 1000);
  cairo_surface_destroy (png);
  g_free (path);
}

static void
paint_yield (cairo_t *cr, int width, int height, gconstpointer data)
{
  cp_plot_yield_draw (cr, width, height, data);
}

static void
paint_scores (cairo_t *cr, int width, int height, gconstpointer data)
{
  cp_plot_scores_draw (cr, width, height, data);
}

/* The line's charts: yield per bucket over time, and scores over time
 * with the threshold and the reference band; the time axis ticks on round
 * clock times. */
static void
test_line_plots (void)
{
  enum { N = 300 };
  gint64 hour = 3600LL * G_USEC_PER_SEC, t0 = 1767254400LL * G_USEC_PER_SEC;  /* 2026-01-01T08:00Z */
  gint64 start[4] = { t0, t0 + hour, t0 + 2 * hour, t0 + 3 * hour };
  gint64 total[4] = { 40, 0, 50, 45 }, passed[4] = { 39, 0, 45, 45 };
  static gint64 times[N];
  static double scores[N];
  static gboolean failed[N];
  CpRng rng;
  GError *error = NULL;
  char *path = out_path ("yield.png");
  cairo_surface_t *png;
  CpPlotYield yield = { start, total, passed, 4, hour, NULL };
  CpPlotScores sc = { times, scores, failed, N, 14.0, 10.5, 12.0, "weave" };
  double ticks[32], step;
  int n;

  g_assert_true (cp_plot_write_png (path, 800, 400, paint_yield, &yield, &error));
  g_assert_no_error (error);
  png = load_png (path, 800, 400);
  g_assert_cmpint (colour_in (png, 60, 40, 780, 360), >, 5000);
  cairo_surface_destroy (png);
  g_free (path);

  cp_rng_seed (&rng, 5);
  for (int i = 0; i < N; i++)
    {
      times[i] = t0 + (gint64) i * 30 * G_USEC_PER_SEC;
      scores[i] = 10.0 + fabs (cp_rng_normal (&rng)) * 2 + (i > 200 ? 2.0 : 0.0);
      failed[i] = scores[i] > 14.0;
    }
  path = out_path ("scores.png");
  g_assert_true (cp_plot_write_png (path, 800, 400, paint_scores, &sc, &error));
  png = load_png (path, 800, 400);
  g_assert_cmpint (colour_in (png, 60, 40, 780, 360), >, 3000);
  cairo_surface_destroy (png);
  g_free (path);

  /* Three hours with about six ticks: every 30 minutes, on the half hour
   * of the clock (UTC here). */
  n = plot_time_ticks (t0 / 1e6 + 60, t0 / 1e6 + 3 * 3600, 6, ticks, &step);
  g_assert_cmpfloat (step, ==, 1800);
  g_assert_cmpint (n, ==, 6);
  g_assert_cmpfloat (fmod (ticks[0], 1800), ==, 0);
  g_assert_cmpfloat (ticks[0], ==, t0 / 1e6 + 1800);
  {
    char buf[32];
    plot_format_time (ticks[0], step, 3 * 3600, buf, sizeof buf);
    g_assert_cmpstr (buf, ==, "08:30");
    plot_format_time (ticks[0], 86400, 10 * 86400, buf, sizeof buf);
    g_assert_cmpstr (buf, ==, "2026-01-01");
  }

  /* Degenerate: nothing, one part, NaN, tiny surfaces. */
  {
    double nan_score[2] = { NAN, 3.0 };
    gint64 two[2] = { t0, t0 };
    gboolean no[2] = { FALSE, TRUE };
    CpPlotYield y_empty = { NULL, NULL, NULL, 0, hour, NULL };
    CpPlotYield y_zero = { start + 1, total + 1, passed + 1, 1, hour, NULL };
    CpPlotScores s_empty = { NULL, NULL, NULL, 0, NAN, NAN, NAN, NULL };
    CpPlotScores s_nan = { two, nan_score, no, 2, NAN, NAN, NAN, NULL };
    int sizes[][2] = { { 640, 480 }, { 1, 1 }, { 30, 20 } };

    path = out_path ("line-degenerate.png");
    for (size_t k = 0; k < G_N_ELEMENTS (sizes); k++)
      {
        g_assert_true (cp_plot_write_png (path, sizes[k][0], sizes[k][1], paint_yield, &y_empty, &error));
        g_assert_true (cp_plot_write_png (path, sizes[k][0], sizes[k][1], paint_yield, &y_zero, &error));
        g_assert_true (cp_plot_write_png (path, sizes[k][0], sizes[k][1], paint_yield, NULL, &error));
        g_assert_true (cp_plot_write_png (path, sizes[k][0], sizes[k][1], paint_scores, &s_empty, &error));
        g_assert_true (cp_plot_write_png (path, sizes[k][0], sizes[k][1], paint_scores, &s_nan, &error));
        g_assert_true (cp_plot_write_png (path, sizes[k][0], sizes[k][1], paint_scores, NULL, &error));
        g_assert_no_error (error);
      }
    g_free (path);
  }
}

/* Everything that can be empty, equal, NaN or tiny. */
static void
test_degenerate (void)
{
  GError *error = NULL;
  char *path = out_path ("degenerate.png");
  double equal[5] = { 2, 2, 2, 2, 2 }, nan_scores[3] = { NAN, 1.0, INFINITY }, one[1] = { 0.3 };
  double nan_loss[4] = { NAN, NAN, NAN, NAN }, neg_loss[3] = { -1, 0, 2 };
  float nan_xy[4] = { NAN, 0, 1, NAN }, one_xy[2] = { 5, 5 };
  CpPlotPointKind kinds[2] = { CP_PLOT_POINT_TEST_GOOD, CP_PLOT_POINT_TEST_GOOD };
  int sizes[][2] = { { 640, 480 }, { 1, 1 }, { 30, 20 } };

  for (size_t k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      int w = sizes[k][0], h = sizes[k][1];
      CpPlotRoc roc_empty = { NULL, NULL, 0, NAN, NULL };
      CpPlotRoc roc_one = { one, one, 1, NAN, "one point" };
      CpPlotHistogram no_defects = { equal, 5, NULL, 0, 2.0, 0, "all equal, no defects" };
      CpPlotHistogram nothing = { NULL, 0, NULL, 0, NAN, 0, NULL };
      CpPlotHistogram nans = { nan_scores, 3, nan_scores, 3, NAN, 0, "NaN" };
      CpPlotHistogram only_thr = { nan_scores, 1, NULL, 0, 4.0, 3, NULL };
      CpPlotTsne tsne_empty = { NULL, 0, NULL, NULL, NULL, 0, NULL };
      CpPlotTsne tsne_nan = { nan_xy, 2, kinds, NULL, NULL, 0, "NaN" };
      CpPlotTsne tsne_one = { one_xy, 1, kinds, NULL, NULL, 0, "one" };
      CpPlotLoss loss_empty = { NULL, NULL, NULL, 0, TRUE, NULL };
      CpPlotLoss loss_nan = { NULL, nan_loss, nan_loss, 4, FALSE, "NaN" };
      CpPlotLoss loss_neg_log = { NULL, neg_loss, NULL, 3, TRUE, "log of <= 0" };
      CpPlotLoss loss_one = { NULL, one, one, 1, FALSE, NULL };

      g_assert_true (cp_plot_roc_write_png (path, w, h, &roc_empty, &error));
      g_assert_true (cp_plot_roc_write_png (path, w, h, &roc_one, &error));
      g_assert_true (cp_plot_roc_write_png (path, w, h, NULL, &error));
      g_assert_true (cp_plot_histogram_write_png (path, w, h, &no_defects, &error));
      if (w == 640)
        {
          cairo_surface_t *png = load_png (path, w, h);
          g_assert_cmpint (ink_in (png, 100, 100, 540, 400), >, 500);
          cairo_surface_destroy (png);
          g_autofree char *keep = out_path ("histogram-equal.png");
          g_assert_true (cp_plot_histogram_write_png (keep, w, h, &no_defects, &error));
        }
      g_assert_true (cp_plot_histogram_write_png (path, w, h, &nothing, &error));
      g_assert_true (cp_plot_histogram_write_png (path, w, h, &nans, &error));
      g_assert_true (cp_plot_histogram_write_png (path, w, h, &only_thr, &error));
      g_assert_true (cp_plot_histogram_write_png (path, w, h, NULL, &error));
      g_assert_true (cp_plot_tsne_write_png (path, w, h, &tsne_empty, &error));
      g_assert_true (cp_plot_tsne_write_png (path, w, h, &tsne_nan, &error));
      g_assert_true (cp_plot_tsne_write_png (path, w, h, &tsne_one, &error));
      g_assert_true (cp_plot_tsne_write_png (path, w, h, NULL, &error));
      g_assert_cmpint (cp_plot_tsne_hit (&tsne_empty, w, h, 0, 0, 10), ==, -1);
      g_assert_cmpint (cp_plot_tsne_hit (&tsne_nan, w, h, 0, 0, 1e9), ==, -1);
      g_assert_cmpint (cp_plot_tsne_hit (&tsne_one, w, h, w / 2.0, h / 2.0, 1e9), ==, 0);
      g_assert_true (cp_plot_loss_write_png (path, w, h, &loss_empty, &error));
      g_assert_true (cp_plot_loss_write_png (path, w, h, &loss_nan, &error));
      g_assert_true (cp_plot_loss_write_png (path, w, h, &loss_neg_log, &error));
      g_assert_true (cp_plot_loss_write_png (path, w, h, &loss_one, &error));
      g_assert_true (cp_plot_loss_write_png (path, w, h, NULL, &error));
      g_assert_no_error (error);
    }
  /* Bad sizes and unwritable folders are errors, not crashes; nothing is
   * left behind. */
  {
    CpPlotRoc roc_empty = { NULL, NULL, 0, NAN, NULL };
    g_assert_false (cp_plot_roc_write_png (path, 0, 10, &roc_empty, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    g_assert_false (cp_plot_roc_write_png ("/nonexistent-folder/x.png", 10, 10, &roc_empty, &error));
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
  g_free (path);
}

/* Text in a small plot (a plot on the Evaluation page of a 900 x 600
 * window) stays legible: its tick labels are drawn no smaller than
 * CP_PLOT_MIN_TEXT_PX (10 px, against 10.8 px at 640 x 480), where they
 * used to shrink with the plot down to 7.6 px; and text grows again with
 * a larger plot. */
static double
tick_label_height (int width,
                   int height)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create (surface);
  PlotFrame f;
  double h;

  plot_frame_begin (&f, cr, width, height, "Title", FALSE, 0);
  plot_text_size (&f, "0.25", 0.9, FALSE, NULL, &h);
  cairo_destroy (cr);
  cairo_surface_destroy (surface);
  return h;
}

static void
test_min_text (void)
{
  double reference = tick_label_height (640, 480);   /* 10.8 px text */
  double floor_ratio = CP_PLOT_MIN_TEXT_PX / 10.8;

  g_assert_cmpfloat (tick_label_height (280, 230) / reference, >=, floor_ratio - 0.03);
  g_assert_cmpfloat (tick_label_height (200, 150) / reference, >=, floor_ratio - 0.03);
  g_assert_cmpfloat (cp_plot_min_text_px (200, 150), >=, CP_PLOT_MIN_TEXT_PX);
  g_assert_cmpfloat (tick_label_height (1600, 1200), >, reference);
}

int
main (int argc, char **argv)
{
  const char *keep = g_getenv ("CP_PLOT_EXAMPLES");
  int status;

  g_test_init (&argc, &argv, NULL);
  /* Time axes are in local time: fix the zone. */
  g_setenv ("TZ", "UTC", TRUE);
  if (keep != NULL && keep[0] != '\0')
    {
      g_mkdir_with_parents (keep, 0755);
      out_dir = g_strdup (keep);
    }
  else
    out_dir = g_dir_make_tmp ("cp-plot-XXXXXX", NULL);
  g_assert_nonnull (out_dir);

  g_test_add_func ("/plot/roc", test_roc);
  g_test_add_func ("/plot/histogram", test_histogram);
  g_test_add_func ("/plot/tsne", test_tsne);
  g_test_add_func ("/plot/loss", test_loss);
  g_test_add_func ("/plot/line", test_line_plots);
  g_test_add_func ("/plot/degenerate", test_degenerate);
  g_test_add_func ("/plot/min-text", test_min_text);
  status = g_test_run ();

  if (keep == NULL || keep[0] == '\0')
    {
      GDir *dir = g_dir_open (out_dir, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *p = g_build_filename (out_dir, name, NULL);
          g_unlink (p);
        }
      if (dir != NULL)
        g_dir_close (dir);
      g_rmdir (out_dir);
    }
  g_free (out_dir);
  return status;
}
