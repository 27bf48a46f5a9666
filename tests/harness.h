/* harness.h: a minimal test harness for engine-core tests (no GLib).
 *
 * Each test file defines test functions and calls RUN_TEST for each from
 * main, then returns harness_exit().  A failed CHECK prints the file, line
 * and values and marks the test failed, but the run goes on so that one
 * report shows every failure.  SKIP_ALL exits 77 (meson's "skipped").
 */
#pragma once

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed_checks;
static int harness_failed_tests;
static int harness_run_tests;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond))                                                           \
      {                                                                    \
        fprintf (stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,  \
                 #cond);                                                   \
        harness_failed_checks++;                                           \
      }                                                                    \
  } while (0)

#define CHECK_MSG(cond, ...)                                               \
  do {                                                                     \
    if (!(cond))                                                           \
      {                                                                    \
        fprintf (stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__,  \
                 #cond);                                                   \
        fprintf (stderr, __VA_ARGS__);                                     \
        fputc ('\n', stderr);                                              \
        harness_failed_checks++;                                           \
      }                                                                    \
  } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                      \
  do {                                                                     \
    double ha_ = (double) (a), hb_ = (double) (b);                         \
    if (!(fabs (ha_ - hb_) <= (atol) + (rtol) * fabs (hb_)))               \
      {                                                                    \
        fprintf (stderr, "%s:%d: CHECK_CLOSE failed: %s = %.9g, %s = %.9g\n", \
                 __FILE__, __LINE__, #a, ha_, #b, hb_);                    \
        harness_failed_checks++;                                           \
      }                                                                    \
  } while (0)

#define RUN_TEST(fn)                                                       \
  do {                                                                     \
    int before_ = harness_failed_checks;                                   \
    harness_run_tests++;                                                   \
    fn ();                                                                 \
    if (harness_failed_checks != before_)                                  \
      {                                                                    \
        harness_failed_tests++;                                            \
        printf ("not ok %d - %s\n", harness_run_tests, #fn);               \
      }                                                                    \
    else                                                                   \
      printf ("ok %d - %s\n", harness_run_tests, #fn);                     \
    fflush (stdout);                                                       \
  } while (0)

#define SKIP_ALL(reason)                                                   \
  do {                                                                     \
    printf ("skipped: %s\n", reason);                                      \
    exit (77);                                                             \
  } while (0)

static inline int
harness_exit (void)
{
  printf ("%d of %d tests failed\n", harness_failed_tests, harness_run_tests);
  return harness_failed_tests == 0 ? 0 : 1;
}

/* Largest |a - b| relative to the largest |b| (normalised error, as ggml's
 * backend tests use). */
static inline double
harness_normalised_error (const float *a, const float *b, size_t count)
{
  double num = 0.0, den = 0.0;

  for (size_t i = 0; i < count; i++)
    {
      double d = fabs ((double) a[i] - (double) b[i]);
      if (d > num)
        num = d;
      if (fabs ((double) b[i]) > den)
        den = fabs ((double) b[i]);
    }
  return den > 0.0 ? num / den : num;
}
