/* auroc.c: ROC AUC (exact with ties) for image scores and pixel maps. */
#include "auroc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  double  score;
  uint8_t positive;
} ScoredLabel;

static int
compare_descending (const void *a, const void *b)
{
  double sa = ((const ScoredLabel *) a)->score, sb = ((const ScoredLabel *) b)->score;

  return (sa < sb) - (sa > sb);
}

void
cp_roc_curve_clear (CpRocCurve *curve)
{
  if (curve == NULL)
    return;
  free (curve->fpr);
  free (curve->tpr);
  free (curve->thresholds);
  memset (curve, 0, sizeof *curve);
}

static CpStatus
curve_alloc (CpRocCurve *curve, size_t count, CpError *error)
{
  memset (curve, 0, sizeof *curve);
  curve->fpr = malloc (sizeof (double) * count);
  curve->tpr = malloc (sizeof (double) * count);
  curve->thresholds = malloc (sizeof (double) * count);
  if (curve->fpr == NULL || curve->tpr == NULL || curve->thresholds == NULL)
    {
      cp_roc_curve_clear (curve);
      return cp_error_set (error, CP_ERR_NOMEM, "roc: out of memory for %zu curve points", count);
    }
  return CP_OK;
}

/* Twice the area under the step-free ROC polygon in units of (1/P)(1/N):
 * each block of tied scores adds dfp * (tp_before + tp_after).  Integer, so
 * exact while 2 P N < 2^64. */
static double
finish_auroc (uint64_t twice_area, uint64_t positives, uint64_t negatives)
{
  return (double) twice_area / (2.0 * (double) positives * (double) negatives);
}

CpStatus
cp_roc_curve (const double *scores, const uint8_t *labels, size_t n, int drop_intermediate,
              CpRocCurve *curve, CpError *error)
{
  ScoredLabel *items;
  size_t groups = 0, positives = 0, negatives = 0, kept;
  uint64_t *tps, *fps;
  double *thr;
  uint64_t twice_area = 0;
  CpStatus status;

  if (curve != NULL)
    memset (curve, 0, sizeof *curve);
  if (scores == NULL || labels == NULL || curve == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "roc: scores, labels and an output are required");
  for (size_t i = 0; i < n; i++)
    {
      if (isnan (scores[i]))
        return cp_error_set (error, CP_ERR_NUMERIC, "roc: score %zu is NaN", i);
      if (labels[i])
        positives++;
      else
        negatives++;
    }
  if (positives == 0 || negatives == 0)
    return cp_error_set (error, CP_ERR_INVALID,
                         "roc: AUROC needs both classes (%zu anomalous, %zu normal samples)",
                         positives, negatives);

  items = malloc (sizeof *items * n);
  tps = malloc (sizeof *tps * (n + 1));
  fps = malloc (sizeof *fps * (n + 1));
  thr = malloc (sizeof *thr * (n + 1));
  if (items == NULL || tps == NULL || fps == NULL || thr == NULL)
    {
      free (items);
      free (tps);
      free (fps);
      free (thr);
      return cp_error_set (error, CP_ERR_NOMEM, "roc: out of memory for %zu scores", n);
    }
  for (size_t i = 0; i < n; i++)
    {
      items[i].score = scores[i];
      items[i].positive = labels[i] != 0;
    }
  qsort (items, n, sizeof *items, compare_descending);

  /* One point per distinct score, from the highest down; point 0 is the
   * origin at threshold +inf. */
  tps[0] = fps[0] = 0;
  thr[0] = INFINITY;
  for (size_t i = 0; i < n;)
    {
      size_t j = i;
      uint64_t tp = tps[groups], fp = fps[groups];

      while (j < n && items[j].score == items[i].score)
        {
          if (items[j].positive)
            tp++;
          else
            fp++;
          j++;
        }
      twice_area += (fp - fps[groups]) * (tp + tps[groups]);
      groups++;
      tps[groups] = tp;
      fps[groups] = fp;
      thr[groups] = items[i].score;
      i = j;
    }

  status = curve_alloc (curve, groups + 1, error);
  if (status == CP_OK)
    {
      kept = 0;
      for (size_t g = 0; g <= groups; g++)
        {
          /* scikit-learn keeps a point unless both second differences of
           * (fps, tps) vanish there; the origin and the ends always stay. */
          if (drop_intermediate && g >= 2 && g < groups)
            {
              int64_t dfp2 = (int64_t) (fps[g + 1] - fps[g]) - (int64_t) (fps[g] - fps[g - 1]);
              int64_t dtp2 = (int64_t) (tps[g + 1] - tps[g]) - (int64_t) (tps[g] - tps[g - 1]);
              if (dfp2 == 0 && dtp2 == 0)
                continue;
            }
          curve->fpr[kept] = (double) fps[g] / (double) negatives;
          curve->tpr[kept] = (double) tps[g] / (double) positives;
          curve->thresholds[kept] = thr[g];
          kept++;
        }
      curve->count = kept;
      curve->auroc = finish_auroc (twice_area, positives, negatives);
    }
  free (items);
  free (tps);
  free (fps);
  free (thr);
  return status;
}

CpStatus
cp_auroc (const double *scores, const uint8_t *labels, size_t n, double *auroc, CpError *error)
{
  CpRocCurve curve;
  CpStatus status;

  if (auroc == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "auroc: an output is required");
  *auroc = NAN;
  status = cp_roc_curve (scores, labels, n, 0, &curve, error);
  if (status != CP_OK)
    return status;
  *auroc = curve.auroc;
  cp_roc_curve_clear (&curve);
  return CP_OK;
}

/* ---- pixels ---- */

typedef struct
{
  uint32_t *keys;
  size_t    count;
  size_t    capacity;
  int       sorted;
} KeyArray;

struct CpPixelRoc
{
  KeyArray pos;
  KeyArray neg;
};

/* Order-preserving map from float to uint32: flip all bits of negatives,
 * set the sign bit of positives.  -0 is folded onto +0 first because they
 * compare equal. */
static inline uint32_t
float_key (float f)
{
  uint32_t u;

  if (f == 0.0f)
    f = 0.0f;
  memcpy (&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float
key_float (uint32_t key)
{
  uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float f;

  memcpy (&f, &u, sizeof f);
  return f;
}

CpPixelRoc *
cp_pixel_roc_new (void)
{
  return calloc (1, sizeof (CpPixelRoc));
}

void
cp_pixel_roc_free (CpPixelRoc *acc)
{
  if (acc == NULL)
    return;
  free (acc->pos.keys);
  free (acc->neg.keys);
  free (acc);
}

size_t cp_pixel_roc_positives (const CpPixelRoc *acc) { return acc->pos.count; }
size_t cp_pixel_roc_negatives (const CpPixelRoc *acc) { return acc->neg.count; }

static int
key_array_reserve (KeyArray *a, size_t extra)
{
  size_t need = a->count + extra, cap = a->capacity;
  uint32_t *keys;

  if (need <= cap)
    return 1;
  if (cap < 4096)
    cap = 4096;
  while (cap < need)
    cap += cap / 2;
  keys = realloc (a->keys, sizeof (uint32_t) * cap);
  if (keys == NULL)
    return 0;
  a->keys = keys;
  a->capacity = cap;
  return 1;
}

CpStatus
cp_pixel_roc_add (CpPixelRoc *acc, const float *map, const uint8_t *mask, size_t count, CpError *error)
{
  size_t npos = 0;

  if (acc == NULL || (count > 0 && (map == NULL || mask == NULL)))
    return cp_error_set (error, CP_ERR_INVALID, "pixel roc: an accumulator, a map and a mask are required");
  for (size_t i = 0; i < count; i++)
    {
      if (isnan (map[i]))
        return cp_error_set (error, CP_ERR_NUMERIC, "pixel roc: score of pixel %zu is NaN", i);
      npos += mask[i] != 0;
    }
  if (!key_array_reserve (&acc->pos, npos) || !key_array_reserve (&acc->neg, count - npos))
    return cp_error_set (error, CP_ERR_NOMEM, "pixel roc: out of memory adding %zu pixels", count);
  for (size_t i = 0; i < count; i++)
    {
      KeyArray *a = mask[i] ? &acc->pos : &acc->neg;
      a->keys[a->count++] = float_key (map[i]);
    }
  if (npos > 0)
    acc->pos.sorted = 0;
  if (count - npos > 0)
    acc->neg.sorted = 0;
  return CP_OK;
}

/* LSD radix sort, four byte passes; a pass where every key shares the byte
 * is skipped, which is common for maps in a narrow range. */
static int
key_array_sort (KeyArray *a)
{
  uint32_t *tmp, *src, *dst;
  size_t counts[4][256];

  if (a->sorted || a->count < 2)
    {
      a->sorted = 1;
      return 1;
    }
  tmp = malloc (sizeof (uint32_t) * a->count);
  if (tmp == NULL)
    return 0;
  memset (counts, 0, sizeof counts);
  for (size_t i = 0; i < a->count; i++)
    {
      uint32_t k = a->keys[i];
      counts[0][k & 0xff]++;
      counts[1][(k >> 8) & 0xff]++;
      counts[2][(k >> 16) & 0xff]++;
      counts[3][k >> 24]++;
    }
  src = a->keys;
  dst = tmp;
  for (int pass = 0; pass < 4; pass++)
    {
      size_t offsets[256], sum = 0;
      int shift = 8 * pass, trivial = 0;

      for (int b = 0; b < 256; b++)
        {
          if (counts[pass][b] == a->count)
            trivial = 1;
          offsets[b] = sum;
          sum += counts[pass][b];
        }
      if (trivial)
        continue;
      for (size_t i = 0; i < a->count; i++)
        dst[offsets[(src[i] >> shift) & 0xff]++] = src[i];
      {
        uint32_t *swap = src;
        src = dst;
        dst = swap;
      }
    }
  if (src != a->keys)
    memcpy (a->keys, src, sizeof (uint32_t) * a->count);
  free (tmp);
  a->sorted = 1;
  return 1;
}

static CpStatus
pixel_roc_prepare (CpPixelRoc *acc, CpError *error)
{
  if (acc == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "pixel roc: no accumulator");
  if (acc->pos.count == 0 || acc->neg.count == 0)
    return cp_error_set (error, CP_ERR_INVALID,
                         "pixel roc: AUROC needs both classes (%zu defect, %zu normal pixels)",
                         acc->pos.count, acc->neg.count);
  if (!key_array_sort (&acc->pos) || !key_array_sort (&acc->neg))
    return cp_error_set (error, CP_ERR_NOMEM, "pixel roc: out of memory sorting %zu pixels",
                         acc->pos.count + acc->neg.count);
  return CP_OK;
}

CpStatus
cp_pixel_roc_auroc (CpPixelRoc *acc, double *auroc, CpError *error)
{
  CpStatus status;
  const uint32_t *pk, *nk;
  size_t np, nn, j = 0;
  long double twice_area = 0.0L;
  uint64_t chunk = 0;

  if (auroc == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "pixel roc: an output is required");
  *auroc = NAN;
  status = pixel_roc_prepare (acc, error);
  if (status != CP_OK)
    return status;
  pk = acc->pos.keys;
  nk = acc->neg.keys;
  np = acc->pos.count;
  nn = acc->neg.count;
  /* For each run of equal positive keys: negatives strictly below count
   * one, equal ones count a half (so 2x is an integer).  Per-run products
   * fit in 64 bits; the total is flushed into a long double before it
   * could overflow, which keeps it exact far beyond any real dataset. */
  for (size_t i = 0; i < np;)
    {
      uint32_t key = pk[i];
      size_t run = 0, equal = 0, below;

      while (i < np && pk[i] == key)
        {
          i++;
          run++;
        }
      while (j < nn && nk[j] < key)
        j++;
      below = j;
      while (j + equal < nn && nk[j + equal] == key)
        equal++;
      {
        uint64_t add = (uint64_t) run * (2 * (uint64_t) below + equal);
        if (chunk > UINT64_MAX - add)
          {
            twice_area += (long double) chunk;
            chunk = 0;
          }
        chunk += add;
      }
    }
  twice_area += (long double) chunk;
  *auroc = (double) (twice_area / (2.0L * (long double) np * (long double) nn));
  return CP_OK;
}

CpStatus
cp_auroc_pixels (const float *maps, const uint8_t *masks, size_t count, double *auroc, CpError *error)
{
  CpPixelRoc *acc = cp_pixel_roc_new ();
  CpStatus status;

  if (auroc != NULL)
    *auroc = NAN;
  if (acc == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "pixel roc: out of memory");
  status = cp_pixel_roc_add (acc, maps, masks, count, error);
  if (status == CP_OK)
    status = cp_pixel_roc_auroc (acc, auroc, error);
  cp_pixel_roc_free (acc);
  return status;
}

CpStatus
cp_pixel_roc_curve (CpPixelRoc *acc, size_t max_points, CpRocCurve *curve, CpError *error)
{
  CpStatus status;
  size_t np, nn, total, i, j, emitted = 0, done = 0, next_target, step;
  const uint32_t *pk, *nk;

  if (curve != NULL)
    memset (curve, 0, sizeof *curve);
  if (curve == NULL || max_points < 2)
    return cp_error_set (error, CP_ERR_INVALID, "pixel roc: a curve needs an output and >= 2 points");
  status = pixel_roc_prepare (acc, error);
  if (status != CP_OK)
    return status;
  np = acc->pos.count;
  nn = acc->neg.count;
  total = np + nn;
  pk = acc->pos.keys;
  nk = acc->neg.keys;
  status = curve_alloc (curve, max_points + 1, error);
  if (status != CP_OK)
    return status;
  status = cp_pixel_roc_auroc (acc, &curve->auroc, error);
  if (status != CP_OK)
    {
      cp_roc_curve_clear (curve);
      return status;
    }

  curve->fpr[0] = curve->tpr[0] = 0.0;
  curve->thresholds[0] = INFINITY;
  emitted = 1;
  /* Walk distinct keys from the top; emit the point after a block of ties
   * once the pixels passed reach the next evenly spaced target. */
  i = np;
  j = nn;
  step = total / (max_points - 1) > 0 ? total / (max_points - 1) : 1;
  next_target = step;
  while (i > 0 || j > 0)
    {
      uint32_t key = 0;

      if (i > 0)
        key = pk[i - 1];
      if (j > 0 && (i == 0 || nk[j - 1] > key))
        key = nk[j - 1];
      while (i > 0 && pk[i - 1] == key)
        i--;
      while (j > 0 && nk[j - 1] == key)
        j--;
      done = (np - i) + (nn - j);
      if (done == total || (done >= next_target && emitted < max_points))
        {
          /* The final block (ending at (1, 1)) always gets a slot. */
          size_t k = emitted < max_points + 1 ? emitted++ : emitted - 1;

          curve->fpr[k] = (double) (nn - j) / (double) nn;
          curve->tpr[k] = (double) (np - i) / (double) np;
          curve->thresholds[k] = key_float (key);
          while (next_target <= done)
            next_target += step;
        }
    }
  curve->count = emitted;
  return CP_OK;
}
