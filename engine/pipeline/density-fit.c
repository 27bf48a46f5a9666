/* density-fit.c: calibration split, part scales, threshold and the final
 * fit of a model's densities. */
#include "density-fit.h"

#include <math.h>
#include <string.h>

#include "core/density/threshold.h"
#include "core/rng.h"
#include "pipeline-private.h"

#define CALIBRATION_FRACTION 0.15
#define CALIBRATION_MIN      8

int
cp_calibration_count (int n)
{
  int held = (int) ceil (CALIBRATION_FRACTION * n);

  if (held < CALIBRATION_MIN)
    held = CALIBRATION_MIN;
  return n - held >= CALIBRATION_MIN ? held : 0;
}

int
cp_calibration_split (int n, guint64 seed, gboolean *held_out)
{
  int held = cp_calibration_count (n);
  g_autofree int *order = g_new (int, MAX (n, 1));
  CpRng rng;

  for (int i = 0; i < n; i++)
    {
      order[i] = i;
      held_out[i] = FALSE;
    }
  /* A generator of its own (not the training one), so that the split does
   * not move when training draws more or fewer numbers. */
  cp_rng_seed (&rng, seed ^ 0x6361C1B7A0F5E3D1ULL);
  for (int i = 0; i < held; i++)
    {
      int j = i + (int) cp_rng_int_range (&rng, 0, n - 1 - i);
      int t = order[i];

      order[i] = order[j];
      order[j] = t;
      held_out[order[i]] = TRUE;
    }
  return held;
}

/* Standard normal quantile (Acklam's rational approximation, relative
 * error below 1.2e-9), for 0 < p < 1. */
static double
normal_quantile (double p)
{
  static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02,
                              -2.759285104469687e+02, 1.383577518672690e+02,
                              -3.066479806614716e+01, 2.506628277459239e+00 };
  static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02,
                              -1.556989798598866e+02, 6.680131188771972e+01,
                              -1.328068155288572e+01 };
  static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01,
                              -2.400758277161838e+00, -2.549732539343734e+00,
                              4.374664141464968e+00, 2.938163982698783e+00 };
  static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01,
                              2.445134137142996e+00, 3.754408661907416e+00 };
  const double low = 0.02425;
  double q, r;

  if (p < low || p > 1.0 - low)
    {
      q = sqrt (-2.0 * log (p < low ? p : 1.0 - p));
      r = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
          / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
      return p < low ? r : -r;
    }
  q = p - 0.5;
  r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
         / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

double
cp_calibration_threshold (const double *scores, int n, double rate)
{
  double mean = 0.0, var = 0.0;

  if (n < 2 || !(rate > 0.0 && rate < 1.0))
    return NAN;
  for (int i = 0; i < n; i++)
    {
      if (!(scores[i] > 0.0) || !isfinite (scores[i]))
        return NAN;
      mean += log (scores[i]);
    }
  mean /= n;
  for (int i = 0; i < n; i++)
    {
      double d = log (scores[i]) - mean;
      var += d * d;
    }
  var /= n - 1;
  /* The empirical quantile as well: with many calibration images it knows
   * the tail better than the log-normal does, and it never lets through
   * a larger share of them than asked. */
  return MAX (exp (mean + normal_quantile (1.0 - rate) * sqrt (var)),
              cp_quantile_linear (scores, n, 1.0 - rate));
}

double
cp_density_combine (double global, double local, double global_scale, double local_scale)
{
  if (isnan (local_scale))
    return global;
  return MAX (global / global_scale, local / local_scale);
}

void
cp_density_fit_clear (CpDensityFit *fit)
{
  cp_gde_free (fit->gde);
  g_free (fit->calibration_scores);
  g_free (fit->calibration_global);
  g_free (fit->calibration_local);
  g_free (fit->calibration_maps);
  memset (fit, 0, sizeof *fit);
}

/* The rows of @src (n, width) whose @take[i] equals @want, copied into a
 * new array; *@count receives how many. */
static float *
gather_rows (const float *src, int n, size_t width, const int *group, int want, gboolean equal,
             int *count)
{
  float *out;
  int k = 0;

  for (int i = 0; i < n; i++)
    if ((group[i] == want) == equal)
      k++;
  out = g_new (float, MAX ((size_t) k * width, 1));
  k = 0;
  for (int i = 0; i < n; i++)
    if ((group[i] == want) == equal)
      memcpy (out + (size_t) k++ * width, src + (size_t) i * width, width * sizeof (float));
  *count = k;
  return out;
}

/* A part's threshold for @rate from its calibration scores; with a rate
 * of 0 (or degenerate scores) the largest score seen. */
static double
part_threshold (const double *scores, int n, double rate)
{
  double t = cp_calibration_threshold (scores, n, rate);

  if (isnan (t))
    for (int k = 0; k < n; k++)
      t = isnan (t) ? scores[k] : MAX (t, scores[k]);
  return t;
}

/* Region scores of all @n images, k-fold: each fold scored by the local
 * Gaussians fitted on the other folds.  Unbiased for every image, held
 * out or not: the extractor never trained on any of them. */
static gboolean
local_k_fold (const CpDensityFitInput *in, int folds, double *scores, float *maps, GError **error)
{
  int n = in->n, regions = cp_local_model_regions (in->local);
  size_t fwidth = (size_t) regions * cp_local_model_spec (in->local)->n_channels;
  g_autofree int *group = g_new (int, n);
  g_autofree double *fold_scores = g_new (double, n);
  g_autofree float *fold_maps = g_new (float, (size_t) n * regions);

  if (folds > n)
    folds = n;
  for (int i = 0; i < n; i++)
    group[i] = i % folds;
  for (int f = 0; f < folds; f++)
    {
      int n_fit, n_eval;
      g_autofree float *fit_feat = gather_rows (in->features, n, fwidth, group, f, FALSE, &n_fit);
      g_autofree float *eval_feat = gather_rows (in->features, n, fwidth, group, f, TRUE, &n_eval);

      if (!cp_local_model_fit (in->local, fit_feat, n_fit, in->local_kind, error)
          || !cp_local_model_score (in->local, eval_feat, n_eval, fold_maps, fold_scores, error))
        return FALSE;
      for (int i = 0, k = 0; i < n; i++)
        if (group[i] == f)
          {
            scores[i] = fold_scores[k];
            memcpy (maps + (size_t) i * regions, fold_maps + (size_t) k * regions,
                    regions * sizeof (float));
            k++;
          }
    }
  return TRUE;
}

gboolean
cp_density_fit (const CpDensityFitInput *in, CpDensityFit *out, GError **error)
{
  int n = in->n, folds, regions = 0;
  gboolean local = in->features != NULL;
  g_autofree int *group = g_new (int, MAX (n, 1));
  g_autofree double *scored_global = g_new (double, MAX (n, 1));
  g_autofree int *scored_index = g_new (int, MAX (n, 1));
  g_autofree double *local_all = NULL;
  g_autofree float *maps_all = NULL;
  int n_scored = 0;
  CpError err = { 0 };

  memset (out, 0, sizeof *out);
  out->global_scale = out->local_scale = out->threshold = NAN;
  if (n < 3)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "%d good images; at least 3 are needed to fit the Gaussian and choose a "
                   "threshold", n);
      return FALSE;
    }
  folds = in->folds > 1 ? in->folds : CP_THRESHOLD_DEFAULT_FOLDS;

  /* The global part: held-out images scored by the Gaussian of the
   * others (group 0 = calibration, -1 = fit), or k-fold (group i % folds,
   * each scored by a fit on the others). */
  if (in->held_out != NULL)
    {
      for (int i = 0; i < n; i++)
        group[i] = in->held_out[i] ? 0 : -1;
    }
  else
    {
      folds = MIN (folds, n);
      for (int i = 0; i < n; i++)
        group[i] = i % folds;
    }
  for (int f = 0; f < (in->held_out != NULL ? 1 : folds); f++)
    {
      int n_fit, n_eval;
      g_autofree float *fit_emb = gather_rows (in->embeddings, n, CP_EMBEDDING_DIM, group, f, FALSE, &n_fit);
      g_autofree float *eval_emb = gather_rows (in->embeddings, n, CP_EMBEDDING_DIM, group, f, TRUE, &n_eval);
      CpGde *gde;

      if (n_fit < 2 || n_eval < 1)
        continue;
      gde = cp_gde_fit (fit_emb, n_fit, CP_EMBEDDING_DIM, &err);
      if (gde == NULL || cp_gde_score (gde, eval_emb, n_eval, scored_global + n_scored, &err) != CP_OK)
        {
          cp_gde_free (gde);
          return cp_pipeline_set_error (error, &err);
        }
      cp_gde_free (gde);
      for (int i = 0, k = 0; i < n; i++)
        if (group[i] == f)
          scored_index[n_scored + k++] = i;
      n_scored += n_eval;
    }
  if (n_scored < 2)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "only %d good images could be scored for calibration", n_scored);
      return FALSE;
    }

  /* The local part: every image, k-fold. */
  if (local)
    {
      regions = cp_local_model_regions (in->local);
      local_all = g_new (double, n);
      maps_all = g_new (float, (size_t) n * regions);
      if (!local_k_fold (in, in->folds > 1 ? in->folds : CP_THRESHOLD_DEFAULT_FOLDS, local_all,
                         maps_all, error))
        return FALSE;
    }

  /* Back to image order, so that the stored scores follow train/good. */
  out->n_calibration = n_scored;
  out->held_out = in->held_out != NULL;
  out->calibration_scores = g_new (double, n_scored);
  out->calibration_global = g_new (double, n_scored);
  if (local)
    {
      out->calibration_local = g_new (double, n_scored);
      out->calibration_maps = g_new (float, (size_t) n_scored * regions);
    }
  {
    g_autofree int *rank = g_new (int, n);
    int k = 0;

    for (int i = 0; i < n; i++)
      rank[i] = -1;
    for (int s = 0; s < n_scored; s++)
      rank[scored_index[s]] = s;
    for (int i = 0; i < n; i++)
      if (rank[i] >= 0)
        {
          out->calibration_global[k] = scored_global[rank[i]];
          if (local)
            {
              out->calibration_local[k] = local_all[i];
              memcpy (out->calibration_maps + (size_t) k * regions,
                      maps_all + (size_t) i * regions, regions * sizeof (float));
            }
          k++;
        }
  }
  if (local)
    {
      /* Each part gets its own threshold at half the target rate (a
       * good part fails when either part exceeds its threshold, so the
       * rates add up to at most the target), from its own unbiased
       * calibration scores: the global part's from the held-out images,
       * the local part's from all images.  The scales are those
       * thresholds, and the combined threshold is 1. */
      out->global_scale = part_threshold (out->calibration_global, n_scored,
                                          in->false_reject_rate / 2);
      out->local_scale = part_threshold (local_all, n, in->false_reject_rate / 2);
      if (!(out->global_scale > 0.0) || !(out->local_scale > 0.0))
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_NUMERIC,
                       "calibration scores are zero (global %g, local %g): the good images are "
                       "all alike", out->global_scale, out->local_scale);
          return FALSE;
        }
    }
  for (int k = 0; k < n_scored; k++)
    out->calibration_scores[k] = cp_density_combine (out->calibration_global[k],
                                                     local ? out->calibration_local[k] : NAN,
                                                     out->global_scale, out->local_scale);
  out->threshold = local ? 1.0
                         : part_threshold (out->calibration_scores, n_scored, in->false_reject_rate);

  /* The stored densities: every good image. */
  out->gde = cp_gde_fit (in->embeddings, n, CP_EMBEDDING_DIM, &err);
  if (out->gde == NULL)
    return cp_pipeline_set_error (error, &err);
  if (local && !cp_local_model_fit (in->local, in->features, n, in->local_kind, error))
    return FALSE;
  return TRUE;
}
