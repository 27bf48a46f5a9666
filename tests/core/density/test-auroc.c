/* test-auroc.c: AUROC and ROC curves against scikit-learn's roc_auc_score
 * and roc_curve, the pixel variant against a brute-force pair count. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../harness.h"
#include "core/density/auroc.h"
#include "fixture.h"

static void
test_sklearn_cases (void)
{
  Fixture fx;
  int cases;

  if (!fixture_load (&fx, "auroc.bin"))
    {
      CHECK_MSG (0, "auroc.bin unreadable");
      return;
    }
  cases = (int) FIXTURE_F64 (&fx, "count")[0];
  CHECK (cases >= 6);
  for (int c = 0; c < cases; c++)
    {
      char name[32];
      const FixtureArray *s, *fpr, *full;
      const double *tpr, *thr, *fulltpr;
      double auc = -1;
      CpRocCurve curve;
      CpError err = { 0 };

      snprintf (name, sizeof name, "s%d", c);
      s = fixture_get (&fx, name, 0);
      snprintf (name, sizeof name, "y%d", c);
      const uint8_t *y = FIXTURE_U8 (&fx, name);
      snprintf (name, sizeof name, "auc%d", c);
      double ref = FIXTURE_F64 (&fx, name)[0];

      CHECK_MSG (cp_auroc (s->data, y, s->count, &auc, &err) == CP_OK, "case %d: %s", c, err.message);
      /* Exact counts on both sides: only the final division rounds. */
      CHECK_CLOSE (auc, ref, 1e-14, 0.0);

      /* scikit-learn's default curve (intermediate points dropped). */
      snprintf (name, sizeof name, "fpr%d", c);
      fpr = fixture_get (&fx, name, 0);
      snprintf (name, sizeof name, "tpr%d", c);
      tpr = FIXTURE_F64 (&fx, name);
      snprintf (name, sizeof name, "thr%d", c);
      thr = FIXTURE_F64 (&fx, name);
      CHECK (cp_roc_curve (s->data, y, s->count, 1, &curve, &err) == CP_OK);
      CHECK_MSG (curve.count == fpr->count, "case %d: %zu points, sklearn %zu", c, curve.count, fpr->count);
      if (curve.count == fpr->count)
        for (size_t i = 0; i < curve.count; i++)
          {
            CHECK_CLOSE (curve.fpr[i], ((const double *) fpr->data)[i], 1e-15, 0.0);
            CHECK_CLOSE (curve.tpr[i], tpr[i], 1e-15, 0.0);
            /* sklearn 1.2 writes max + 1 at the origin, we write +inf. */
            if (i > 0)
              CHECK (curve.thresholds[i] == thr[i]);
          }
      CHECK (isinf (curve.thresholds[0]));
      CHECK_CLOSE (curve.auroc, ref, 1e-14, 0.0);
      cp_roc_curve_clear (&curve);

      /* Every distinct threshold. */
      snprintf (name, sizeof name, "fullfpr%d", c);
      full = fixture_get (&fx, name, 0);
      snprintf (name, sizeof name, "fulltpr%d", c);
      fulltpr = FIXTURE_F64 (&fx, name);
      CHECK (cp_roc_curve (s->data, y, s->count, 0, &curve, &err) == CP_OK);
      CHECK (curve.count == full->count);
      if (curve.count == full->count)
        for (size_t i = 0; i < curve.count; i++)
          {
            CHECK_CLOSE (curve.fpr[i], ((const double *) full->data)[i], 1e-15, 0.0);
            CHECK_CLOSE (curve.tpr[i], fulltpr[i], 1e-15, 0.0);
          }
      cp_roc_curve_clear (&curve);
    }
  fixture_free (&fx);
}

static void
test_errors (void)
{
  double s[4] = { 1, 2, NAN, 4 };
  uint8_t y[4] = { 0, 1, 0, 1 }, same[4] = { 1, 1, 1, 1 };
  double auc = 0;
  CpError err = { 0 };
  float map[3] = { 0.5f, NAN, 1.0f };
  uint8_t mask[3] = { 0, 255, 255 };

  CHECK (cp_auroc (s, y, 4, &auc, &err) == CP_ERR_NUMERIC);
  CHECK (strstr (err.message, "score 2") != NULL);
  CHECK (isnan (auc));
  s[2] = 3;
  CHECK (cp_auroc (s, same, 4, &auc, &err) == CP_ERR_INVALID);
  CHECK (cp_auroc (s, y, 0, &auc, &err) == CP_ERR_INVALID);
  CHECK (cp_auroc_pixels (map, mask, 3, &auc, &err) == CP_ERR_NUMERIC);
  map[1] = 0.2f;
  CHECK (cp_auroc_pixels (map, mask, 1, &auc, &err) == CP_ERR_INVALID);
  CHECK (cp_auroc_pixels (map, mask, 3, &auc, &err) == CP_OK);
  CHECK_CLOSE (auc, 0.5, 0, 0);
}

/* Pixels: scikit-learn on 73k pixels with ties and signed zeros. */
static void
test_pixels_sklearn (void)
{
  Fixture fx;
  const FixtureArray *maps;
  double auc = -1;
  CpError err = { 0 };

  if (!fixture_load (&fx, "auroc-pixels.bin"))
    {
      CHECK_MSG (0, "auroc-pixels.bin unreadable");
      return;
    }
  maps = fixture_get (&fx, "maps", 1);
  CHECK_MSG (cp_auroc_pixels (maps->data, FIXTURE_U8 (&fx, "masks"), maps->count, &auc, &err) == CP_OK,
             "%s", err.message);
  CHECK_CLOSE (auc, FIXTURE_F64 (&fx, "auc")[0], 1e-14, 0.0);
  fixture_free (&fx);
}

/* Pixels added image by image, against an O(P N) pair count over a value
 * range that crosses zero and spans many exponents (all radix passes). */
static void
test_pixels_bruteforce (void)
{
  enum { IMAGES = 6, PIXELS = 700 };
  float map[IMAGES * PIXELS];
  uint8_t mask[IMAGES * PIXELS];
  uint64_t state = 7;
  double twice = 0, np = 0, nn = 0, auc = -1, direct = -1;
  CpPixelRoc *acc = cp_pixel_roc_new ();
  CpError err = { 0 };
  CpRocCurve curve;

  for (int i = 0; i < IMAGES * PIXELS; i++)
    {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      int r = (int) ((state >> 33) % 2000) - 1000;
      mask[i] = (state >> 20) % 5 == 0 ? 1 : 0;
      /* Quantised values (ties) times powers of ten. */
      map[i] = (float) ((r / 10) * pow (10.0, (int) ((state >> 40) % 7) - 3)) + (mask[i] ? 0.3f : 0.0f);
    }
  for (int i = 0; i < IMAGES * PIXELS; i++)
    {
      if (mask[i])
        np++;
      else
        nn++;
      if (!mask[i])
        continue;
      for (int j = 0; j < IMAGES * PIXELS; j++)
        if (!mask[j])
          twice += map[i] > map[j] ? 2 : map[i] == map[j] ? 1 : 0;
    }
  for (int k = 0; k < IMAGES; k++)
    CHECK (cp_pixel_roc_add (acc, map + k * PIXELS, mask + k * PIXELS, PIXELS, &err) == CP_OK);
  CHECK (cp_pixel_roc_positives (acc) == (size_t) np);
  CHECK (cp_pixel_roc_auroc (acc, &auc, &err) == CP_OK);
  CHECK_CLOSE (auc, twice / (2 * np * nn), 1e-14, 0.0);
  CHECK (cp_auroc_pixels (map, mask, IMAGES * PIXELS, &direct, &err) == CP_OK);
  CHECK (direct == auc);

  /* A thinned curve for plotting: monotone, from (0, 0) to (1, 1). */
  CHECK (cp_pixel_roc_curve (acc, 50, &curve, &err) == CP_OK);
  CHECK (curve.count >= 3 && curve.count <= 51);
  CHECK (curve.fpr[0] == 0.0 && curve.tpr[0] == 0.0);
  CHECK (curve.fpr[curve.count - 1] == 1.0 && curve.tpr[curve.count - 1] == 1.0);
  for (size_t i = 1; i < curve.count; i++)
    {
      CHECK (curve.fpr[i] >= curve.fpr[i - 1] && curve.tpr[i] >= curve.tpr[i - 1]);
      CHECK (curve.thresholds[i] < curve.thresholds[i - 1]);
    }
  CHECK (curve.auroc == auc);
  cp_roc_curve_clear (&curve);
  cp_pixel_roc_free (acc);
}

/* Millions of pixels: the sort-based path must stay fast. */
static void
test_pixels_large (void)
{
  size_t count = 4u << 20;
  float *map = malloc (sizeof (float) * count);
  uint8_t *mask = malloc (count);
  uint64_t state = 3;
  double auc = -1;
  CpError err = { 0 };

  for (size_t i = 0; i < count; i++)
    {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      mask[i] = (state >> 60) == 0;          /* 1 in 16 */
      map[i] = (float) ((state >> 40) & 0xffff) / 65536.0f;
    }
  /* Independent scores and labels: AUROC 0.5 up to sampling noise
   * (sd ~ 0.0006 here). */
  CHECK (cp_auroc_pixels (map, mask, count, &auc, &err) == CP_OK);
  CHECK_CLOSE (auc, 0.5, 0.005, 0.0);
  for (size_t i = 0; i < count; i++)
    if (mask[i])
      map[i] += 1.0f;
  CHECK (cp_auroc_pixels (map, mask, count, &auc, &err) == CP_OK);
  CHECK (auc == 1.0);
  free (map);
  free (mask);
}

int
main (void)
{
  RUN_TEST (test_sklearn_cases);
  RUN_TEST (test_errors);
  RUN_TEST (test_pixels_sklearn);
  RUN_TEST (test_pixels_bruteforce);
  RUN_TEST (test_pixels_large);
  return harness_exit ();
}
