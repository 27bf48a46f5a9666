/* local-model.c: the extractor, region vectors and region Gaussians. */
#include "local-model.h"

#include <math.h>
#include <string.h>

#include "pipeline-private.h"

#define LOCAL_PREFIX "local."
/* Images per extractor pass: the stem's map is the large one (64 x S/2 x
 * S/2 floats each, 16 MiB at S = 512). */
#define LOCAL_BATCH 8

struct _CpLocalModel
{
  CpBackend         *be;          /* borrowed */
  CpNetwork         *net;         /* the extractor: only its stem and layer1 are used */
  CpLocalFeatureSpec spec;
  CpPatchDensity    *density;
  float             *dev_input;   /* (LOCAL_BATCH, 3, S, S) */
  float             *dev_stem;    /* (LOCAL_BATCH, 64, S/2, S/2) */
  float             *dev_layer1;  /* (LOCAL_BATCH, 64, S/4, S/4) */
  float             *host_stem;
  float             *host_layer1;
  float             *scratch;     /* (S/2)^2 */
  /* Pattern models (spec.patterns): how often good images showed each
   * code, and their sum; NULL before a fit.  No extractor then. */
  double            *pattern_counts;
  double             pattern_total;
  unsigned char     *pattern_scratch; /* 2 S^2, made by the first features call */
};

/* What a fit produces, taken out and put back as one (a refit that fails
 * leaves a model as it was). */
struct _CpLocalFit
{
  CpPatchDensity *density;
  double         *pattern_counts;
  double          pattern_total;
};

/* The parameters the extractor reads: the stem and layer1, weights and
 * running statistics. */
static gboolean
is_extractor_param (const char *name)
{
  return g_str_has_prefix (name, "resnet18.conv1.") || g_str_has_prefix (name, "resnet18.bn1.")
         || g_str_has_prefix (name, "resnet18.layer1.");
}

static gboolean
set_error (GError **error, const char *path, CpError *err)
{
  if (path != NULL)
    g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: %s", path, err->message);
  else
    cp_pipeline_set_error (error, err);
  return FALSE;
}

void
cp_local_model_free (CpLocalModel *lm)
{
  if (lm == NULL)
    return;
  if (lm->be != NULL)
    {
      if (lm->dev_input)
        lm->be->free (lm->be, lm->dev_input);
      if (lm->dev_stem)
        lm->be->free (lm->be, lm->dev_stem);
      if (lm->dev_layer1)
        lm->be->free (lm->be, lm->dev_layer1);
    }
  cp_network_free (lm->net);
  cp_patch_density_free (lm->density);
  g_free (lm->pattern_counts);
  g_free (lm->pattern_scratch);
  g_free (lm->host_stem);
  g_free (lm->host_layer1);
  g_free (lm->scratch);
  g_free (lm);
}

/* Network and buffers for @spec (already checked) on @be. */
static CpLocalModel *
local_model_alloc (CpBackend *be, const CpLocalFeatureSpec *spec, const char *path, GError **error)
{
  CpLocalModel *lm = g_new0 (CpLocalModel, 1);
  CpNetworkConfig config = { .head_layers = 1, .num_classes = 3 };
  CpError err = { 0 };
  int s = spec->image_size;
  size_t stem = (size_t) LOCAL_BATCH * CP_LOCAL_STAGE_CHANNELS * (s / 2) * (s / 2);
  size_t layer1 = (size_t) LOCAL_BATCH * CP_LOCAL_STAGE_CHANNELS * (s / 4) * (s / 4);

  lm->be = be;
  lm->spec = *spec;
  if (spec->patterns)
    return lm;
  lm->net = cp_network_new (be, &config, &err);
  if (lm->net == NULL
      || (lm->dev_input = be->alloc (be, (size_t) LOCAL_BATCH * 3 * s * s * sizeof (float), &err)) == NULL
      || (lm->dev_stem = be->alloc (be, stem * sizeof (float), &err)) == NULL
      || (lm->dev_layer1 = be->alloc (be, layer1 * sizeof (float), &err)) == NULL)
    {
      set_error (error, path, &err);
      cp_local_model_free (lm);
      return NULL;
    }
  lm->host_stem = g_new (float, stem);
  lm->host_layer1 = g_new (float, layer1);
  lm->scratch = g_new (float, (gsize) (s / 2) * (s / 2));
  return lm;
}

CpLocalModel *
cp_local_model_new (CpNetwork *source, const CpLocalFeatureSpec *spec, GError **error)
{
  CpBackend *be = cp_network_backend (source);
  CpLocalModel *lm;
  CpError err = { 0 };

  if (cp_local_feature_spec_check (spec, &err) != CP_OK)
    {
      cp_pipeline_set_error (error, &err);
      return NULL;
    }
  lm = local_model_alloc (be, spec, NULL, error);
  if (lm == NULL)
    return NULL;
  /* Same architecture, same parameter table: copy by index. */
  for (int i = 0; i < cp_network_param_count (source); i++)
    {
      const CpParam *from = cp_network_param (source, i);
      const CpParam *to = cp_network_param (lm->net, i);

      if (!is_extractor_param (from->name))
        continue;
      if (be->copy (be, to->data, from->data, from->count * sizeof (float), &err) != CP_OK)
        {
          cp_pipeline_set_error (error, &err);
          cp_local_model_free (lm);
          return NULL;
        }
    }
  cp_network_params_changed (lm->net);
  return lm;
}

gboolean
cp_local_model_present (const CpSafetensors *st)
{
  return cp_safetensors_find (st, LOCAL_PREFIX "channels") != NULL
         || cp_safetensors_find (st, LOCAL_PREFIX "pattern_counts") != NULL;
}

gboolean
cp_local_model_use_patterns (CpLocalModel *lm, GError **error)
{
  CpLocalFeatureSpec spec = lm->spec;
  CpError err = { 0 };

  cp_local_feature_spec_use_patterns (&spec);
  if (cp_local_feature_spec_check (&spec, &err) != CP_OK)
    return cp_pipeline_set_error (error, &err);
  lm->spec = spec;
  cp_patch_density_free (g_steal_pointer (&lm->density));
  return TRUE;
}

gboolean
cp_local_model_uses_patterns (const CpLocalModel *lm)
{
  return lm->spec.patterns != 0;
}

static gboolean
parse_meta_int (const CpSafetensors *st, const char *key, const char *path, int *value,
                GError **error)
{
  const char *text = cp_safetensors_metadata (st, key);
  gint64 v;
  char *end = NULL;

  if (text == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: the local model has no metadata '%s'", path, key);
      return FALSE;
    }
  v = g_ascii_strtoll (text, &end, 10);
  if (end == text || *end != '\0' || v < 0 || v > 1 << 20)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: metadata '%s' is '%s', not a size", path, key, text);
      return FALSE;
    }
  *value = (int) v;
  return TRUE;
}

/* The pattern counts of a model file: 512 non-negative whole numbers. */
static CpLocalModel *
load_patterns (CpBackend *be, const CpSafetensors *st, const char *path, GError **error)
{
  CpLocalFeatureSpec spec = { 0 };
  const CpTensorInfo *info = cp_safetensors_find (st, LOCAL_PREFIX "pattern_counts");
  int64_t shape[1] = { CP_LOCAL_PATTERN_CODES };
  int64_t counts[CP_LOCAL_PATTERN_CODES];
  CpLocalModel *lm;
  CpError err = { 0 };
  double total = 0.0;

  if (info == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: a pattern local model needs tensor local.pattern_counts", path);
      return NULL;
    }
  if (!parse_meta_int (st, "local_image_size", path, &spec.image_size, error)
      || !parse_meta_int (st, "local_grid", path, &spec.grid, error))
    return NULL;
  cp_local_feature_spec_use_patterns (&spec);
  if (cp_local_feature_spec_check (&spec, &err) != CP_OK
      || cp_safetensors_read_i64 (st, LOCAL_PREFIX "pattern_counts", shape, 1, counts, &err) != CP_OK)
    {
      set_error (error, path, &err);
      return NULL;
    }
  for (int c = 0; c < CP_LOCAL_PATTERN_CODES; c++)
    {
      if (counts[c] < 0)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                       "%s: local.pattern_counts[%d] is negative (%" G_GINT64_FORMAT ")", path, c,
                       (gint64) counts[c]);
          return NULL;
        }
      total += (double) counts[c];
    }
  if (!(total > 0.0))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: local.pattern_counts counts no pixel", path);
      return NULL;
    }
  lm = local_model_alloc (be, &spec, path, error);
  if (lm == NULL)
    return NULL;
  lm->pattern_counts = g_new (double, CP_LOCAL_PATTERN_CODES);
  for (int c = 0; c < CP_LOCAL_PATTERN_CODES; c++)
    lm->pattern_counts[c] = (double) counts[c];
  lm->pattern_total = total;
  return lm;
}

CpLocalModel *
cp_local_model_load (CpBackend *be, const CpSafetensors *st, const char *path, GError **error)
{
  CpLocalFeatureSpec spec = { 0 };
  CpPatchDensityKind kind;
  const CpTensorInfo *info = cp_safetensors_find (st, LOCAL_PREFIX "channels");
  CpLocalModel *lm = NULL;
  CpError err = { 0 };
  int64_t channels[CP_LOCAL_ALL_CHANNELS];
  int count, dim;

  if (g_strcmp0 (cp_safetensors_metadata (st, "local_density"), "pattern") == 0)
    return load_patterns (be, st, path, error);
  if (info == NULL || info->ndim != 1 || info->shape[0] < 1
      || info->shape[0] > CP_LOCAL_ALL_CHANNELS)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: tensor local.channels must hold 1 to %d channel indices", path,
                   CP_LOCAL_ALL_CHANNELS);
      return NULL;
    }
  dim = (int) info->shape[0];
  if (cp_safetensors_read_i64 (st, LOCAL_PREFIX "channels", info->shape, 1, channels, &err) != CP_OK)
    {
      set_error (error, path, &err);
      return NULL;
    }
  if (!parse_meta_int (st, "local_image_size", path, &spec.image_size, error)
      || !parse_meta_int (st, "local_grid", path, &spec.grid, error))
    return NULL;
  spec.n_channels = dim;
  for (int i = 0; i < dim; i++)
    spec.channels[i] = channels[i] < 0 || channels[i] >= CP_LOCAL_ALL_CHANNELS ? -1 : (int32_t) channels[i];
  if (cp_local_feature_spec_check (&spec, &err) != CP_OK)
    {
      set_error (error, path, &err);
      return NULL;
    }
  if (!cp_patch_density_kind_from_string (cp_safetensors_metadata (st, "local_density"), &kind))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: metadata local_density must be 'per-location', 'shared' or 'pattern'", path);
      return NULL;
    }

  lm = local_model_alloc (be, &spec, path, error);
  if (lm == NULL)
    return NULL;
  for (int i = 0; i < cp_network_param_count (lm->net); i++)
    {
      const CpParam *p = cp_network_param (lm->net, i);
      g_autofree char *name = NULL;
      g_autofree float *host = NULL;

      if (!is_extractor_param (p->name))
        continue;
      name = g_strconcat (LOCAL_PREFIX, p->name, NULL);
      host = g_new (float, p->count);
      if (cp_safetensors_read_f32 (st, name, p->shape, p->ndim, host, &err) != CP_OK
          || be->upload (be, p->data, host, p->count * sizeof (float), &err) != CP_OK)
        goto fail;
    }
  cp_network_params_changed (lm->net);

  lm->density = cp_patch_density_new (kind, spec.grid, spec.grid, spec.grid, &err);
  if (lm->density == NULL)
    goto fail;
  cp_patch_density_set_input (lm->density, CP_GDE_RAW);
  count = cp_patch_density_count (lm->density);
  {
    int64_t mshape[2] = { count, dim }, pshape[3] = { count, dim, dim };
    g_autofree float *mean = g_new (float, (gsize) count * dim);
    g_autofree float *precision = g_new (float, (gsize) count * dim * dim);

    if (cp_safetensors_read_f32 (st, LOCAL_PREFIX "mean", mshape, 2, mean, &err) != CP_OK
        || cp_safetensors_read_f32 (st, LOCAL_PREFIX "precision", pshape, 3, precision, &err) != CP_OK)
      goto fail;
    for (int g = 0; g < count; g++)
      if (cp_patch_density_set (lm->density, g, mean + (gsize) g * dim,
                                precision + (gsize) g * dim * dim, dim, &err) != CP_OK)
        {
          cp_error_prefix (&err, "local Gaussian %d", g);
          goto fail;
        }
  }
  return lm;

fail:
  set_error (error, path, &err);
  cp_local_model_free (lm);
  return NULL;
}

const CpLocalFeatureSpec *cp_local_model_spec (const CpLocalModel *lm) { return &lm->spec; }

CpLocalFit *
cp_local_model_steal_fit (CpLocalModel *lm)
{
  CpLocalFit *fit = g_new0 (CpLocalFit, 1);

  fit->density = g_steal_pointer (&lm->density);
  fit->pattern_counts = g_steal_pointer (&lm->pattern_counts);
  fit->pattern_total = lm->pattern_total;
  return fit;
}

void
cp_local_model_set_fit (CpLocalModel *lm, CpLocalFit *fit)
{
  cp_patch_density_free (lm->density);
  g_free (lm->pattern_counts);
  lm->density = g_steal_pointer (&fit->density);
  lm->pattern_counts = g_steal_pointer (&fit->pattern_counts);
  lm->pattern_total = fit->pattern_total;
  cp_local_fit_free (fit);
}

void
cp_local_fit_free (CpLocalFit *fit)
{
  if (fit == NULL)
    return;
  cp_patch_density_free (fit->density);
  g_free (fit->pattern_counts);
  g_free (fit);
}

CpPatchDensityKind
cp_local_fit_kind (const CpLocalFit *fit)
{
  return fit && fit->density ? cp_patch_density_kind (fit->density) : CP_PATCH_DENSITY_PER_LOCATION;
}

const char *
cp_local_model_kind_name (const CpLocalModel *lm)
{
  if (lm->spec.patterns)
    return "pattern";
  return lm->density ? cp_patch_density_kind_to_string (cp_patch_density_kind (lm->density)) : NULL;
}
const CpPatchDensity *cp_local_model_density (const CpLocalModel *lm) { return lm->density; }
int cp_local_model_regions (const CpLocalModel *lm) { return lm->spec.grid * lm->spec.grid; }

gboolean
cp_local_model_features (CpLocalModel *lm, const float *tensors, int n, float *features,
                         GError **error)
{
  CpBackend *be = lm->be;
  int s = lm->spec.image_size;
  size_t per_image = (size_t) 3 * s * s;
  size_t stem = (size_t) CP_LOCAL_STAGE_CHANNELS * (s / 2) * (s / 2);
  size_t layer1 = (size_t) CP_LOCAL_STAGE_CHANNELS * (s / 4) * (s / 4);
  size_t per_out = cp_local_feature_count (&lm->spec);
  float *taps[5] = { lm->dev_stem, lm->dev_layer1, NULL, NULL, NULL };
  CpError err = { 0 };

  if (lm->spec.patterns)
    {
      if (lm->pattern_scratch == NULL)
        lm->pattern_scratch = g_new (unsigned char, (gsize) 2 * s * s);
      for (int i = 0; i < n; i++)
        cp_local_pattern_codes (tensors + (size_t) i * per_image, s, lm->spec.grid,
                                lm->pattern_scratch, features + (size_t) i * per_out);
      return TRUE;
    }
  for (int start = 0; start < n; start += LOCAL_BATCH)
    {
      int count = MIN (LOCAL_BATCH, n - start);

      if (be->upload (be, lm->dev_input, tensors + (size_t) start * per_image,
                      (size_t) count * per_image * sizeof (float), &err) != CP_OK
          || cp_network_forward_stages (lm->net, lm->dev_input, count, s, s, 1, taps, &err) != CP_OK
          || be->download (be, lm->host_stem, lm->dev_stem, (size_t) count * stem * sizeof (float),
                           &err) != CP_OK
          || be->download (be, lm->host_layer1, lm->dev_layer1,
                           (size_t) count * layer1 * sizeof (float), &err) != CP_OK)
        return cp_pipeline_set_error (error, &err);
      for (int i = 0; i < count; i++)
        cp_local_features_compute (&lm->spec, lm->host_stem + i * stem, lm->host_layer1 + i * layer1,
                                   lm->scratch, features + (size_t) (start + i) * per_out);
    }
  return TRUE;
}

double
cp_local_features_alignment (const float *features, int n, int regions, int dim)
{
  g_autofree double *region_mean = g_new0 (double, (gsize) regions * dim);
  g_autofree double *mean = g_new0 (double, dim);
  double between = 0.0, within = 0.0;

  if (n < 2 || regions < 1 || dim < 1)
    return NAN;
  for (int i = 0; i < n; i++)
    for (int r = 0; r < regions; r++)
      for (int k = 0; k < dim; k++)
        region_mean[(gsize) r * dim + k] += features[((gsize) i * regions + r) * dim + k];
  for (gsize j = 0; j < (gsize) regions * dim; j++)
    region_mean[j] /= n;
  for (int r = 0; r < regions; r++)
    for (int k = 0; k < dim; k++)
      mean[k] += region_mean[(gsize) r * dim + k] / regions;
  for (int r = 0; r < regions; r++)
    for (int k = 0; k < dim; k++)
      {
        double d = region_mean[(gsize) r * dim + k] - mean[k];
        between += d * d;
      }
  for (int i = 0; i < n; i++)
    for (int r = 0; r < regions; r++)
      for (int k = 0; k < dim; k++)
        {
          double d = features[((gsize) i * regions + r) * dim + k] - region_mean[(gsize) r * dim + k];
          within += d * d;
        }
  between /= regions;
  within /= (double) n * regions;
  return within > 0.0 ? between / within : INFINITY;
}

gboolean
cp_local_model_fit (CpLocalModel *lm, const float *features, int n, CpPatchDensityKind kind,
                    GError **error)
{
  int g = lm->spec.grid, regions = g * g;
  g_autofree int *loc_i = g_new (int, regions);
  g_autofree int *loc_j = g_new (int, regions);
  CpPatchDensity *d;
  CpError err = { 0 };

  if (lm->spec.patterns)
    {
      size_t values = (size_t) n * cp_local_feature_count (&lm->spec);
      double *counts = g_new0 (double, CP_LOCAL_PATTERN_CODES);

      for (size_t i = 0; i < values; i++)
        {
          int code = (int) features[i];

          if (code >= 0 && code < CP_LOCAL_PATTERN_CODES)
            counts[code] += 1.0;
        }
      g_free (lm->pattern_counts);
      lm->pattern_counts = counts;
      lm->pattern_total = (double) values;
      return TRUE;
    }
  for (int r = 0; r < regions; r++)
    {
      loc_i[r] = r / g;
      loc_j[r] = r % g;
    }
  d = cp_patch_density_new (kind, g, g, g, &err);
  if (d == NULL)
    return cp_pipeline_set_error (error, &err);
  cp_patch_density_set_input (d, CP_GDE_RAW);
  if (cp_patch_density_fit (d, features, n, regions, loc_i, loc_j, lm->spec.n_channels, &err) != CP_OK)
    {
      cp_patch_density_free (d);
      return cp_pipeline_set_error (error, &err);
    }
  cp_patch_density_free (lm->density);
  lm->density = d;
  return TRUE;
}

/* A region's score is the rarity of the least common pattern among its
 * pixels: one pixel of a never-seen boundary shape is a defect. */
static gboolean
score_patterns (CpLocalModel *lm, const float *features, int n, float *maps, double *max_scores,
                GError **error)
{
  int regions = cp_local_model_regions (lm), per_region = lm->spec.n_channels;
  double rarity[CP_LOCAL_PATTERN_CODES];

  if (lm->pattern_counts == NULL)
    {
      g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                           "local model: scored before it was fitted");
      return FALSE;
    }
  for (int c = 0; c < CP_LOCAL_PATTERN_CODES; c++)
    rarity[c] = cp_local_pattern_rarity (lm->pattern_counts[c], lm->pattern_total);
  for (int i = 0; i < n; i++)
    {
      double top = 0.0;

      for (int r = 0; r < regions; r++)
        {
          const float *codes = features + ((size_t) i * regions + r) * per_region;
          double worst = 0.0;

          for (int k = 0; k < per_region; k++)
            {
              int code = (int) codes[k];

              if (code >= 0 && code < CP_LOCAL_PATTERN_CODES)
                worst = MAX (worst, rarity[code]);
            }
          if (maps)
            maps[(size_t) i * regions + r] = (float) worst;
          top = MAX (top, worst);
        }
      if (max_scores)
        max_scores[i] = top;
    }
  return TRUE;
}

gboolean
cp_local_model_score (CpLocalModel *lm, const float *features, int n, float *maps,
                      double *max_scores, GError **error)
{
  int regions = cp_local_model_regions (lm), dim = lm->spec.n_channels;
  g_autofree float *map = g_new (float, regions);
  CpError err = { 0 };

  if (lm->spec.patterns)
    return score_patterns (lm, features, n, maps, max_scores, error);
  if (lm->density == NULL)
    {
      g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                           "local model: scored before it was fitted");
      return FALSE;
    }
  for (int i = 0; i < n; i++)
    {
      double top = -INFINITY;

      if (cp_patch_density_score (lm->density, features + (gsize) i * regions * dim, dim, map, &err)
          != CP_OK)
        return cp_pipeline_set_error (error, &err);
      for (int r = 0; r < regions; r++)
        top = MAX (top, map[r]);
      if (maps)
        memcpy (maps + (gsize) i * regions, map, regions * sizeof (float));
      if (max_scores)
        max_scores[i] = top;
    }
  return TRUE;
}

static gboolean
save_patterns (CpLocalModel *lm, CpSafetensorsWriter *w, GHashTable *metadata, GError **error)
{
  int64_t counts[CP_LOCAL_PATTERN_CODES];
  int64_t shape[1] = { CP_LOCAL_PATTERN_CODES };
  CpError err = { 0 };

  if (lm->pattern_counts == NULL)
    {
      g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                           "local model: saved before it was fitted");
      return FALSE;
    }
  for (int c = 0; c < CP_LOCAL_PATTERN_CODES; c++)
    counts[c] = (int64_t) lm->pattern_counts[c];
  if (cp_safetensors_writer_add (w, LOCAL_PREFIX "pattern_counts", CP_DTYPE_I64, shape, 1, counts,
                                 &err) != CP_OK)
    return cp_pipeline_set_error (error, &err);
  g_hash_table_insert (metadata, g_strdup ("local_image_size"),
                       g_strdup_printf ("%d", lm->spec.image_size));
  g_hash_table_insert (metadata, g_strdup ("local_grid"), g_strdup_printf ("%d", lm->spec.grid));
  g_hash_table_insert (metadata, g_strdup ("local_density"), g_strdup ("pattern"));
  return TRUE;
}

gboolean
cp_local_model_save (CpLocalModel *lm, CpSafetensorsWriter *w, GHashTable *metadata,
                     GError **error)
{
  CpError err = { 0 };
  int dim = lm->spec.n_channels, count;
  int64_t channels[CP_LOCAL_ALL_CHANNELS];
  int64_t cshape[1] = { dim };

  if (lm->spec.patterns)
    return save_patterns (lm, w, metadata, error);
  if (lm->density == NULL)
    {
      g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                           "local model: saved before it was fitted");
      return FALSE;
    }
  for (int i = 0; i < cp_network_param_count (lm->net); i++)
    {
      const CpParam *p = cp_network_param (lm->net, i);
      g_autofree char *name = NULL;
      g_autofree float *host = NULL;

      if (!is_extractor_param (p->name))
        continue;
      name = g_strconcat (LOCAL_PREFIX, p->name, NULL);
      host = g_new (float, p->count);
      if (lm->be->download (lm->be, host, p->data, p->count * sizeof (float), &err) != CP_OK
          || cp_safetensors_writer_add (w, name, CP_DTYPE_F32, p->shape, p->ndim, host, &err) != CP_OK)
        return cp_pipeline_set_error (error, &err);
    }
  for (int i = 0; i < dim; i++)
    channels[i] = lm->spec.channels[i];
  if (cp_safetensors_writer_add (w, LOCAL_PREFIX "channels", CP_DTYPE_I64, cshape, 1, channels, &err)
      != CP_OK)
    return cp_pipeline_set_error (error, &err);
  count = cp_patch_density_count (lm->density);
  {
    int64_t mshape[2] = { count, dim }, pshape[3] = { count, dim, dim };
    g_autofree float *mean = g_new (float, (gsize) count * dim);
    g_autofree float *precision = g_new (float, (gsize) count * dim * dim);

    for (int g = 0; g < count; g++)
      {
        const CpGde *gde = cp_patch_density_gde (lm->density, g);

        memcpy (mean + (gsize) g * dim, cp_gde_mean_f32 (gde), dim * sizeof (float));
        memcpy (precision + (gsize) g * dim * dim, cp_gde_precision_f32 (gde),
                (gsize) dim * dim * sizeof (float));
      }
    if (cp_safetensors_writer_add (w, LOCAL_PREFIX "mean", CP_DTYPE_F32, mshape, 2, mean, &err) != CP_OK
        || cp_safetensors_writer_add (w, LOCAL_PREFIX "precision", CP_DTYPE_F32, pshape, 3, precision,
                                      &err) != CP_OK)
      return cp_pipeline_set_error (error, &err);
  }
  g_hash_table_insert (metadata, g_strdup ("local_image_size"),
                       g_strdup_printf ("%d", lm->spec.image_size));
  g_hash_table_insert (metadata, g_strdup ("local_grid"), g_strdup_printf ("%d", lm->spec.grid));
  g_hash_table_insert (metadata, g_strdup ("local_density"),
                       g_strdup (cp_patch_density_kind_to_string (cp_patch_density_kind (lm->density))));
  return TRUE;
}
