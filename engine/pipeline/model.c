/* model.c: loading, checking, scoring with and saving trained models. */
#include "model.h"

#include <math.h>
#include <string.h>

#include "core/density/threshold.h"
#include "core/io/safetensors.h"
#include "density-fit.h"
#include "local-model.h"
#include "localize.h"
#include "pipeline-private.h"

struct _CpModel
{
  char          *path;
  CpBackend     *be;
  CpNetwork     *net;
  CpGde         *gde;
  float         *device_buf;   /* CP_PIPELINE_EMBED_BATCH input images */
  GHashTable    *metadata;     /* char * -> char *, as read (threshold updated on set) */
  char          *category;
  char          *variant;
  char          *created;
  int            image_size;
  int            head_layers;
  int            steps;
  guint64        seed;
  double         threshold;
  CpThresholdSource threshold_source;
  double         cv_threshold;  /* the cross-validated one a manual threshold replaced, or NaN */
  double         false_reject_rate;
  double         auroc;
  /* The local part (density-fit.h), NULL in a global-only model. */
  CpLocalModel  *local;
  double         global_scale;       /* NaN without a local part */
  double         local_scale;
  float         *local_buf;          /* CP_PIPELINE_EMBED_BATCH images at the local size, host */
  float         *local_features;     /* their region vectors, host */
  double        *calibration_scores; /* "calibration.scores", NULL when absent */
  int            n_calibration;
};

static int
parse_int (const char *text, int fallback)
{
  gint64 v;
  char *end = NULL;

  if (text == NULL)
    return fallback;
  v = g_ascii_strtoll (text, &end, 10);
  if (end == text || *end != '\0' || v < G_MININT || v > G_MAXINT)
    return fallback;
  return (int) v;
}

static double
parse_double (const char *text, double fallback)
{
  double v;
  char *end = NULL;

  if (text == NULL)
    return fallback;
  v = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0')
    return fallback;
  return v;
}

CpThresholdSource
cp_threshold_source_from_metadata (const char *threshold_source,
                                   const char *threshold,
                                   const char *false_reject_rate)
{
  if (isnan (parse_double (threshold, NAN)))
    return CP_THRESHOLD_SOURCE_NONE;
  if (g_strcmp0 (threshold_source, CP_THRESHOLD_SOURCE_NAME_MANUAL) == 0)
    return CP_THRESHOLD_SOURCE_MANUAL;
  if (g_strcmp0 (threshold_source, CP_THRESHOLD_SOURCE_NAME_CROSS_VALIDATION) == 0)
    return CP_THRESHOLD_SOURCE_CROSS_VALIDATION;
  /* Files from before threshold_source existed: only training wrote a
   * threshold together with its rate. */
  if (threshold_source == NULL && !isnan (parse_double (false_reject_rate, NAN)))
    return CP_THRESHOLD_SOURCE_CROSS_VALIDATION;
  return CP_THRESHOLD_SOURCE_UNKNOWN;
}

const char *
cp_threshold_source_to_string (CpThresholdSource source)
{
  switch (source)
    {
    case CP_THRESHOLD_SOURCE_NONE: return "none";
    case CP_THRESHOLD_SOURCE_CROSS_VALIDATION: return CP_THRESHOLD_SOURCE_NAME_CROSS_VALIDATION;
    case CP_THRESHOLD_SOURCE_MANUAL: return CP_THRESHOLD_SOURCE_NAME_MANUAL;
    case CP_THRESHOLD_SOURCE_UNKNOWN:
    default: return "unknown";
    }
}

void
cp_model_free (CpModel *model)
{
  if (model == NULL)
    return;
  cp_local_model_free (model->local);
  g_free (model->local_buf);
  g_free (model->local_features);
  g_free (model->calibration_scores);
  if (model->device_buf)
    model->be->free (model->be, model->device_buf);
  cp_network_free (model->net);
  cp_gde_free (model->gde);
  if (model->be)
    cp_backend_free (model->be);
  g_clear_pointer (&model->metadata, g_hash_table_unref);
  g_free (model->path);
  g_free (model->category);
  g_free (model->variant);
  g_free (model->created);
  g_free (model);
}

static gboolean
model_error (GError **error, const char *path, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
model_error (GError **error, const char *path, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: %s", path, msg);
  return FALSE;
}

/* Counts the 512-wide head layers from the tensors: the head is
 * [Linear, BN, ReLU] per width, so Linear k sits at "head.<3k>.weight". */
static int
count_head_linears (const CpSafetensors *st)
{
  int k = 0;

  for (;;)
    {
      g_autofree char *name = g_strdup_printf ("head.%d.weight", 3 * k);
      if (cp_safetensors_find (st, name) == NULL)
        return k;
      k++;
    }
}

/* Reads @path as safetensors, with cp_model_load's message. */
static CpSafetensors *
open_safetensors (const char *path, GError **error)
{
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (path, &err);

  if (st == NULL)
    g_set_error (error, CP_PIPELINE_ERROR,
                 err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : CP_PIPELINE_ERROR_MODEL,
                 "cannot read model %s", err.message);
  return st;
}

/* The checks that need only the header: format, version, image size, head
 * layers against the tensors, out.weight and the Gaussian's presence.
 * Shared by cp_model_load and cp_model_file_open so that both refuse the
 * same files with the same words. */
static gboolean
check_header (const CpSafetensors *st, const char *path, int *image_size, int *head_layers,
              GError **error)
{
  const char *format, *version;
  const CpTensorInfo *out_w;
  int linears, meta_head;

  /* A file without our format name is accepted (the reference's state dict
   * carries no metadata) but one naming another format or a newer version
   * is refused rather than misread. */
  format = cp_safetensors_metadata (st, "format");
  version = cp_safetensors_metadata (st, "format_version");
  if (format != NULL && strcmp (format, CP_MODEL_FORMAT) != 0)
    return model_error (error, path, "format is '%s', expected '%s'", format, CP_MODEL_FORMAT);
  if (version != NULL && (parse_int (version, -1) < 1 || parse_int (version, -1) > CP_MODEL_FORMAT_VERSION))
    return model_error (error, path, "format_version %s is not supported (this program reads up to %d)",
                        version, CP_MODEL_FORMAT_VERSION);

  *image_size = parse_int (cp_safetensors_metadata (st, "image_size"), 256);
  if (*image_size < 32 || *image_size > 1024 || *image_size % 32 != 0)
    return model_error (error, path, "image_size %s is not a multiple of 32 between 32 and 1024",
                        cp_safetensors_metadata (st, "image_size"));

  linears = count_head_linears (st);
  if (linears < 1)
    return model_error (error, path, "no projection head (tensor head.0.weight is missing)");
  meta_head = parse_int (cp_safetensors_metadata (st, "head_layers"), linears - 1);
  if (meta_head != linears - 1)
    return model_error (error, path, "head_layers is %d in the metadata but the tensors hold %d head layers",
                        meta_head, linears - 1);
  *head_layers = meta_head;

  out_w = cp_safetensors_find (st, "out.weight");
  if (out_w == NULL || out_w->ndim != 2 || out_w->shape[0] < 2 || out_w->shape[0] > 3)
    return model_error (error, path, "tensor out.weight is missing or not [2 or 3, 128]");

  if (cp_safetensors_find (st, "gde.mean") == NULL || cp_safetensors_find (st, "gde.precision") == NULL)
    return model_error (error, path, "no Gaussian (gde.mean / gde.precision): not a trained model");
  return TRUE;
}

CpModel *
cp_model_load (const char *path, const char *device, GError **error)
{
  g_autoptr (CpModel) model = g_new0 (CpModel, 1);
  CpSafetensors *st;
  CpError err = { 0 };
  const CpTensorInfo *out_w;
  CpNetworkConfig config;
  g_autofree float *mean = NULL, *precision = NULL;

  model->path = g_strdup (path);
  model->auroc = NAN;
  st = open_safetensors (path, error);
  if (st == NULL)
    return NULL;

  model->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
    g_hash_table_insert (model->metadata, g_strdup (cp_safetensors_metadata_key (st, i)),
                         g_strdup (cp_safetensors_metadata_value (st, i)));

  if (!check_header (st, path, &model->image_size, &model->head_layers, error))
    goto fail;
  out_w = cp_safetensors_find (st, "out.weight");

  mean = g_new (float, CP_EMBEDDING_DIM);
  precision = g_new (float, (gsize) CP_EMBEDDING_DIM * CP_EMBEDDING_DIM);
  {
    int64_t s1[1] = { CP_EMBEDDING_DIM }, s2[2] = { CP_EMBEDDING_DIM, CP_EMBEDDING_DIM };
    if (cp_safetensors_read_f32 (st, "gde.mean", s1, 1, mean, &err) != CP_OK
        || cp_safetensors_read_f32 (st, "gde.precision", s2, 2, precision, &err) != CP_OK)
      {
        model_error (error, path, "%s", err.message);
        goto fail;
      }
  }
  model->gde = cp_gde_new_from_f32 (mean, precision, CP_EMBEDDING_DIM, &err);
  if (model->gde == NULL)
    {
      model_error (error, path, "%s", err.message);
      goto fail;
    }

  /* A NaN or infinity in a network weight does not stop scoring: every
   * image gets the same finite score and is called anomalous (found with
   * tests/faults/test-bad-input.sh).  Refuse such a file as damaged. */
  for (int i = 0; i < cp_safetensors_count (st); i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      gsize n = (gsize) (info->nbytes / cp_dtype_size (info->dtype));
      g_autofree float *values = NULL;

      if (info->dtype != CP_DTYPE_F32 && info->dtype != CP_DTYPE_F16
          && info->dtype != CP_DTYPE_BF16 && info->dtype != CP_DTYPE_F64)
        continue;
      values = g_new (float, MAX (n, 1));
      if (cp_safetensors_read_f32 (st, info->name, info->shape, info->ndim, values, &err) != CP_OK)
        {
          model_error (error, path, "%s", err.message);
          goto fail;
        }
      for (gsize k = 0; k < n; k++)
        if (!isfinite (values[k]))
          {
            model_error (error, path, "tensor %s: element %" G_GSIZE_FORMAT " is not finite "
                         "(the file is damaged)", info->name, k);
            goto fail;
          }
    }

  {
    g_autofree char *notice = NULL;
    model->be = cp_pipeline_open_backend (device, &notice, error);
    if (model->be == NULL)
      goto fail;
  }
  config.head_layers = model->head_layers;
  config.num_classes = (int) out_w->shape[0];
  model->net = cp_network_new (model->be, &config, &err);
  if (model->net == NULL || cp_network_load (model->net, st, CP_LOAD_ALL, &err) != CP_OK)
    {
      model_error (error, path, "%s", err.message);
      goto fail;
    }
  model->device_buf = model->be->alloc (model->be, (size_t) CP_PIPELINE_EMBED_BATCH * 3
                                        * model->image_size * model->image_size * sizeof (float), &err);
  if (model->device_buf == NULL)
    {
      cp_pipeline_set_error (error, &err);
      goto fail;
    }

  model->global_scale = model->local_scale = NAN;
  if (cp_local_model_present (st))
    {
      const CpLocalFeatureSpec *spec;

      model->local = cp_local_model_load (model->be, st, path, error);
      if (model->local == NULL)
        goto fail;
      model->global_scale = parse_double (cp_safetensors_metadata (st, "global_scale"), NAN);
      model->local_scale = parse_double (cp_safetensors_metadata (st, "local_scale"), NAN);
      if (!(model->global_scale > 0.0 && isfinite (model->global_scale))
          || !(model->local_scale > 0.0 && isfinite (model->local_scale)))
        {
          model_error (error, path, "a model with a local part needs positive metadata "
                       "global_scale and local_scale (found '%s' and '%s')",
                       cp_safetensors_metadata (st, "global_scale") ?: "(none)",
                       cp_safetensors_metadata (st, "local_scale") ?: "(none)");
          goto fail;
        }
      spec = cp_local_model_spec (model->local);
      model->local_buf = g_new (float, (gsize) CP_PIPELINE_EMBED_BATCH * 3 * spec->image_size
                                       * spec->image_size);
      model->local_features = g_new (float, CP_PIPELINE_EMBED_BATCH * cp_local_feature_count (spec));
    }
  {
    const CpTensorInfo *info = cp_safetensors_find (st, "calibration.scores");

    if (info != NULL)
      {
        g_autofree float *values = NULL;

        if (info->ndim != 1 || info->shape[0] < 1 || info->shape[0] > 1 << 24)
          {
            model_error (error, path, "tensor calibration.scores must be a list of scores");
            goto fail;
          }
        values = g_new (float, info->shape[0]);
        if (cp_safetensors_read_f32 (st, "calibration.scores", info->shape, 1, values, &err) != CP_OK)
          {
            model_error (error, path, "%s", err.message);
            goto fail;
          }
        model->n_calibration = (int) info->shape[0];
        model->calibration_scores = g_new (double, model->n_calibration);
        for (int i = 0; i < model->n_calibration; i++)
          model->calibration_scores[i] = values[i];
      }
  }

  model->category = g_strdup (cp_safetensors_metadata (st, "category"));
  if (model->category == NULL)
    model->category = g_path_get_basename (path);
  model->variant = g_strdup (cp_safetensors_metadata (st, "variant"));
  if (model->variant == NULL)
    model->variant = g_strdup (config.num_classes == 3 ? "3way" : "binary");
  model->created = g_strdup (cp_safetensors_metadata (st, "created"));
  if (model->created == NULL)
    model->created = g_strdup ("");
  model->steps = parse_int (cp_safetensors_metadata (st, "steps"), 0);
  model->seed = g_ascii_strtoull (cp_safetensors_metadata (st, "seed") ? cp_safetensors_metadata (st, "seed") : "0",
                                  NULL, 10);
  model->threshold = parse_double (cp_safetensors_metadata (st, "threshold"), NAN);
  model->false_reject_rate = parse_double (cp_safetensors_metadata (st, "false_reject_rate"), NAN);
  model->threshold_source = cp_threshold_source_from_metadata (cp_safetensors_metadata (st, "threshold_source"),
                                                               cp_safetensors_metadata (st, "threshold"),
                                                               cp_safetensors_metadata (st, "false_reject_rate"));
  model->cv_threshold = parse_double (cp_safetensors_metadata (st, "cross_validation_threshold"), NAN);
  model->auroc = parse_double (cp_safetensors_metadata (st, "auroc"), NAN);
  cp_safetensors_close (st);
  return g_steal_pointer (&model);

fail:
  cp_safetensors_close (st);
  return NULL;
}

const char *cp_model_get_path (const CpModel *model) { return model->path; }
const char *cp_model_get_category (const CpModel *model) { return model->category; }
const char *cp_model_get_variant (const CpModel *model) { return model->variant; }
int cp_model_get_image_size (const CpModel *model) { return model->image_size; }
int cp_model_get_head_layers (const CpModel *model) { return model->head_layers; }
int cp_model_get_steps (const CpModel *model) { return model->steps; }
guint64 cp_model_get_seed (const CpModel *model) { return model->seed; }
double cp_model_get_threshold (const CpModel *model) { return model->threshold; }
CpThresholdSource cp_model_get_threshold_source (const CpModel *model) { return model->threshold_source; }
double cp_model_get_false_reject_rate (const CpModel *model) { return model->false_reject_rate; }

double
cp_model_get_cross_validation_threshold (const CpModel *model)
{
  if (model->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    return model->threshold;
  return model->cv_threshold;
}
double cp_model_get_auroc (const CpModel *model) { return model->auroc; }
const char *cp_model_get_created (const CpModel *model) { return model->created; }
const char *cp_model_get_device_name (const CpModel *model) { return model->be->name; }

const char *
cp_model_get_metadata (const CpModel *model, const char *key)
{
  return g_hash_table_lookup (model->metadata, key);
}

gboolean
cp_model_is_anomalous (const CpModel *model, double score)
{
  /* Without a threshold (a reference model) nothing is called anomalous
   * rather than everything. */
  return !isnan (model->threshold) && score > model->threshold;
}

void
cp_model_set_threshold (CpModel *model, double threshold)
{
  /* The first hand-set threshold keeps the cross-validated one, so that
   * false_reject_rate still names the value it was measured for. */
  if (model->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    {
      model->cv_threshold = model->threshold;
      g_hash_table_insert (model->metadata, g_strdup ("cross_validation_threshold"),
                           cp_pipeline_format_double (model->threshold));
    }
  model->threshold = threshold;
  model->threshold_source = CP_THRESHOLD_SOURCE_MANUAL;
  g_hash_table_insert (model->metadata, g_strdup ("threshold"), cp_pipeline_format_double (threshold));
  g_hash_table_insert (model->metadata, g_strdup ("threshold_source"),
                       g_strdup (CP_THRESHOLD_SOURCE_NAME_MANUAL));
}

void
cp_model_set_metadata (CpModel *model, const char *key, const char *value)
{
  if (value)
    g_hash_table_insert (model->metadata, g_strdup (key), g_strdup (value));
  else
    g_hash_table_remove (model->metadata, key);
}

/* Scores @n images prepared as tensors at the model's size (@tensors,
 * host) and, with a local part, at the local model's size
 * (@local_tensors).  Every output may be NULL. */
static gboolean
score_tensors (CpModel *model, const float *tensors, const float *local_tensors, int n,
               double *scores, float *embeddings, double *global, double *local, float *maps,
               GError **error)
{
  g_autofree float *emb = g_new (float, (gsize) n * CP_EMBEDDING_DIM);
  g_autofree double *g = g_new (double, n);
  g_autofree double *l = g_new (double, n);
  CpError err = { 0 };

  if (!cp_pipeline_embed_tensors (model->net, model->device_buf, tensors, n, model->image_size,
                                  emb, error))
    return FALSE;
  if (cp_gde_score (model->gde, emb, n, g, &err) != CP_OK)
    return cp_pipeline_set_error (error, &err);
  for (int i = 0; i < n; i++)
    l[i] = NAN;
  if (model->local != NULL)
    {
      int regions = cp_local_model_regions (model->local);

      for (int start = 0; start < n; start += CP_PIPELINE_EMBED_BATCH)
        {
          int count = MIN (CP_PIPELINE_EMBED_BATCH, n - start);
          const CpLocalFeatureSpec *spec = cp_local_model_spec (model->local);
          size_t per_local = (size_t) 3 * spec->image_size * spec->image_size;

          if (!cp_local_model_features (model->local, local_tensors + start * per_local, count,
                                        model->local_features, error)
              || !cp_local_model_score (model->local, model->local_features, count,
                                        maps ? maps + (gsize) start * regions : NULL, l + start,
                                        error))
            return FALSE;
        }
    }
  for (int i = 0; i < n; i++)
    {
      if (scores)
        scores[i] = cp_density_combine (g[i], l[i], model->global_scale, model->local_scale);
      if (global)
        global[i] = g[i];
      if (local)
        local[i] = l[i];
    }
  if (embeddings)
    {
      memcpy (embeddings, emb, (gsize) n * CP_EMBEDDING_DIM * sizeof (float));
      cp_embeddings_l2_normalize (embeddings, n, CP_EMBEDDING_DIM);
    }
  return TRUE;
}

/* @image as a tensor at @size (resized with the bicubic of data/image.h
 * when it has another size). */
static void
image_to_tensor_at (const CpImage *image, int size, float *dst)
{
  if (image->width == size && image->height == size)
    cp_image_to_tensor (image, dst);
  else
    {
      g_autoptr (CpImage) resized = cp_image_resize_bicubic (image, size, size);
      cp_image_to_tensor (resized, dst);
    }
}

/* The tensors of image slot @slot of a batch: at the model's size into
 * @tensors, and, with @regions (only for a model with a local part), at
 * the local size into model->local_buf. */
static void
prepare_image (CpModel *model, const CpImage *image, float *tensors, int slot, gboolean regions)
{
  int s = model->image_size;

  image_to_tensor_at (image, s, tensors + (size_t) slot * 3 * s * s);
  if (regions)
    {
      int ls = cp_local_model_spec (model->local)->image_size;

      image_to_tensor_at (image, ls, model->local_buf + (size_t) slot * 3 * ls * ls);
    }
}

gboolean
cp_model_has_local (const CpModel *model)
{
  return model->local != NULL;
}

int
cp_model_get_local_grid (const CpModel *model)
{
  return model->local ? cp_local_model_spec (model->local)->grid : 0;
}

const double *
cp_model_get_calibration_scores (const CpModel *model, int *n)
{
  *n = model->n_calibration;
  return model->calibration_scores;
}

gboolean
cp_model_score_images_full (CpModel *model, const CpImage *const *images, int n, double *scores,
                            float *embeddings, double *global, double *local, float *maps,
                            GError **error)
{
  size_t per_image = (size_t) 3 * model->image_size * model->image_size;
  int regions = model->local ? cp_local_model_regions (model->local) : 0;
  g_autofree float *tensors = NULL;

  if (n <= 0)
    return TRUE;
  tensors = g_new (float, per_image * CP_PIPELINE_EMBED_BATCH);
  for (int start = 0; start < n; start += CP_PIPELINE_EMBED_BATCH)
    {
      int count = MIN (CP_PIPELINE_EMBED_BATCH, n - start);

      for (int i = 0; i < count; i++)
        prepare_image (model, images[start + i], tensors, i, model->local != NULL);
      if (!score_tensors (model, tensors, model->local_buf, count, scores ? scores + start : NULL,
                          embeddings ? embeddings + (gsize) start * CP_EMBEDDING_DIM : NULL,
                          global ? global + start : NULL, local ? local + start : NULL,
                          maps ? maps + (gsize) start * regions : NULL, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
cp_model_score_images (CpModel *model, const CpImage *const *images, int n, double *scores,
                       float *embeddings, GError **error)
{
  return cp_model_score_images_full (model, images, n, scores, embeddings, NULL, NULL, NULL, error);
}

/* Images read from files, a batch at a time, into the model's input
 * tensors (and, with @regions, its local-size tensors). */
typedef struct
{
  CpModel           *model;
  const char *const *paths;
  int                n;
  int                next;        /* the next path to read */
  gboolean           regions;
  float             *tensors;     /* CP_PIPELINE_EMBED_BATCH images */
  int                index[CP_PIPELINE_EMBED_BATCH];   /* each slot's path */
} FileBatches;

/* Called for each path taken, in order: @message is NULL when the image
 * was read, else why it was not (it is then left out of the batch). */
typedef void (*FileSeenFunc) (int i, const char *message, gpointer data);

/* Fills the next batch: how many images it holds (0 once every path is
 * taken), or -1 (@error set) when @cancel was raised before a read. */
static int
file_batches_next (FileBatches *fb, const volatile int *cancel, FileSeenFunc seen, gpointer data,
                   GError **error)
{
  int filled = 0;

  while (filled < CP_PIPELINE_EMBED_BATCH && fb->next < fb->n)
    {
      int i = fb->next++;
      g_autoptr (CpImage) image = NULL;
      g_autoptr (GError) local = NULL;

      if (cp_pipeline_cancelled (cancel))
        {
          g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED, "cancelled");
          return -1;
        }
      if (!cp_image_load (fb->paths[i], &image, &local))
        {
          seen (i, local->message, data);
          continue;
        }
      seen (i, NULL, data);
      prepare_image (fb->model, image, fb->tensors, filled, fb->regions);
      fb->index[filled++] = i;
    }
  return filled;
}

typedef struct
{
  double *scores;
  float  *embeddings;
  char  **messages;
} ScoreFilesSeen;

static void
score_files_seen (int i, const char *message, gpointer data)
{
  ScoreFilesSeen *out = data;

  if (out->messages)
    out->messages[i] = g_strdup (message);
  out->scores[i] = NAN;
  if (out->embeddings)
    memset (out->embeddings + (gsize) i * CP_EMBEDDING_DIM, 0, CP_EMBEDDING_DIM * sizeof (float));
}

gboolean
cp_model_score_files (CpModel *model, const char *const *paths, int n, double *scores,
                      float *embeddings, char **messages, const volatile int *cancel,
                      GError **error)
{
  size_t per_image = (size_t) 3 * model->image_size * model->image_size;
  g_autofree float *tensors = g_new (float, per_image * CP_PIPELINE_EMBED_BATCH);
  double batch_scores[CP_PIPELINE_EMBED_BATCH];
  g_autofree float *batch_emb = g_new (float, (gsize) CP_PIPELINE_EMBED_BATCH * CP_EMBEDDING_DIM);
  FileBatches fb = { model, paths, n, 0, model->local != NULL, tensors, { 0 } };
  ScoreFilesSeen out = { scores, embeddings, messages };
  int filled;

  while ((filled = file_batches_next (&fb, cancel, score_files_seen, &out, error)) > 0)
    {
      if (!score_tensors (model, tensors, model->local_buf, filled, batch_scores, batch_emb,
                          NULL, NULL, NULL, error))
        return FALSE;
      for (int k = 0; k < filled; k++)
        {
          scores[fb.index[k]] = batch_scores[k];
          if (embeddings)
            memcpy (embeddings + (gsize) fb.index[k] * CP_EMBEDDING_DIM,
                    batch_emb + (gsize) k * CP_EMBEDDING_DIM, CP_EMBEDDING_DIM * sizeof (float));
        }
    }
  return filled == 0;
}

static void
good_parts_seen (int i, const char *message, gpointer data)
{
  GPtrArray *skipped = data;

  if (message != NULL && skipped != NULL)
    g_ptr_array_add (skipped, g_strdup (message));
}

gboolean
cp_model_good_parts (CpModel *model, const char *const *paths, int n, const volatile int *cancel,
                     float **embeddings, float **features, int *index, int *n_read,
                     GPtrArray *skipped, GError **error)
{
  /* Region vectors only for a caller that wants them. */
  const gboolean regions = model->local != NULL && features != NULL;
  size_t per_image = (size_t) 3 * model->image_size * model->image_size;
  size_t per_out = regions ? cp_local_feature_count (cp_local_model_spec (model->local)) : 0;
  g_autofree float *tensors = g_new (float, per_image * CP_PIPELINE_EMBED_BATCH);
  g_autofree float *emb = g_new (float, (gsize) MAX (n, 1) * CP_EMBEDDING_DIM);
  g_autofree float *feat = regions ? g_try_new (float, per_out * MAX (n, 1)) : NULL;
  FileBatches fb = { model, paths, n, 0, regions, tensors, { 0 } };
  int kept = 0, filled;

  if (regions && feat == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
                   "out of memory for the region vectors of %d images", n);
      return FALSE;
    }
  while ((filled = file_batches_next (&fb, cancel, good_parts_seen, skipped, error)) > 0)
    {
      if (!cp_pipeline_embed_tensors (model->net, model->device_buf, tensors, filled,
                                      model->image_size, emb + (gsize) kept * CP_EMBEDDING_DIM,
                                      error))
        return FALSE;
      if (regions
          && !cp_local_model_features (model->local, model->local_buf, filled,
                                       feat + per_out * kept, error))
        return FALSE;
      memcpy (index + kept, fb.index, filled * sizeof (int));
      kept += filled;
    }
  if (filled < 0)
    return FALSE;
  *n_read = kept;
  *embeddings = g_steal_pointer (&emb);
  if (features != NULL)
    *features = g_steal_pointer (&feat);
  return TRUE;
}

gboolean
cp_model_refit_densities (CpModel *model, const float *embeddings, const float *features, int n,
                          const gboolean *held_out, double false_reject_rate, CpDensityFit *fit,
                          GError **error)
{
  CpLocalFit *saved = model->local ? cp_local_model_steal_fit (model->local) : NULL;
  CpDensityFitInput in = {
    .embeddings = embeddings,
    .features = model->local ? features : NULL,
    .local = model->local,
    .local_kind = cp_local_fit_kind (saved),
    .n = n,
    .held_out = held_out,
    .folds = 5,
    .false_reject_rate = false_reject_rate,
  };

  if (!cp_density_fit (&in, fit, error))
    {
      if (model->local)
        cp_local_model_set_fit (model->local, saved);
      cp_density_fit_clear (fit);
      return FALSE;
    }
  cp_local_fit_free (saved);
  cp_gde_free (model->gde);
  model->gde = g_steal_pointer (&fit->gde);
  model->global_scale = fit->global_scale;
  model->local_scale = fit->local_scale;
  g_free (model->calibration_scores);
  model->calibration_scores = g_memdup2 (fit->calibration_scores, sizeof (double) * fit->n_calibration);
  model->n_calibration = fit->n_calibration;
  model->threshold = fit->threshold;
  model->threshold_source = CP_THRESHOLD_SOURCE_CROSS_VALIDATION;
  model->cv_threshold = NAN;
  model->false_reject_rate = false_reject_rate;
#define META(key, value) g_hash_table_insert (model->metadata, g_strdup (key), (value))
  META ("threshold", cp_pipeline_format_double (fit->threshold));
  META ("threshold_source", g_strdup (CP_THRESHOLD_SOURCE_NAME_CROSS_VALIDATION));
  META ("false_reject_rate", cp_pipeline_format_double (false_reject_rate));
  META ("train_images", g_strdup_printf ("%d", n));
  META ("threshold_method", g_strdup (fit->held_out ? "held-out" : "cross-validation"));
  META ("calibration_images", g_strdup_printf ("%d", fit->n_calibration));
  if (model->local)
    {
      META ("global_scale", cp_pipeline_format_double (fit->global_scale));
      META ("local_scale", cp_pipeline_format_double (fit->local_scale));
    }
#undef META
  g_hash_table_remove (model->metadata, "cross_validation_threshold");
  return TRUE;
}

gboolean
cp_model_region_heatmap (CpModel *model, const CpImage *image, CpHeatmap *heatmap,
                         GError **error)
{
  int grid = cp_model_get_local_grid (model);
  g_autofree float *map = NULL;
  double score, global, local;
  const char *low = cp_model_get_metadata (model, "heatmap_low");
  const char *high = cp_model_get_metadata (model, "heatmap_high");

  memset (heatmap, 0, sizeof *heatmap);
  if (model->local == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s has no region scores (a model trained with --local none or before they "
                   "existed): train it again, or train a patch model with --localize",
                   model->path);
      return FALSE;
    }
  map = g_new (float, grid * grid);
  if (!cp_model_score_images_full (model, &image, 1, &score, NULL, &global, &local, map, error))
    return FALSE;
  heatmap->width = image->width;
  heatmap->height = image->height;
  heatmap->map = g_new (float, (gsize) image->width * image->height);
  /* Each region's score at its centre, bilinear in between: the grid is
   * the image cut into grid x grid blocks, which is what the half-pixel
   * convention of the resize assumes. */
  cp_localize_resize_bilinear (map, grid, grid, heatmap->map, image->width, image->height);
  heatmap->score = local;
  heatmap->low = low ? g_ascii_strtod (low, NULL) : 0.0;
  heatmap->high = high ? g_ascii_strtod (high, NULL) : local;
  if (!(heatmap->high > heatmap->low))
    heatmap->high = heatmap->low + 1.0;
  heatmap->overlay = g_new (uint8_t, (gsize) image->width * image->height * 4);
  cp_heatmap_blend (heatmap->map, image->width, image->height, heatmap->low, heatmap->high, 0.6,
                    image->pixels, image->stride, heatmap->overlay);
  return TRUE;
}

gboolean
cp_model_score_image_file (CpModel *model, const char *path, double *score, GError **error)
{
  g_autoptr (CpImage) image = NULL;

  if (!cp_image_load (path, &image, error))
    return FALSE;
  return cp_model_score_images (model, (const CpImage *const *) &image, 1, score, NULL, error);
}

/* Writes a model file (see cp_pipeline_write_model ()) stamped with this
 * format and version. */
static gboolean
model_write (CpNetwork *net, const CpGde *gde, CpLocalModel *local, const double *calibration,
             int n_calibration, GHashTable *metadata, const char *path, GError **error)
{
  g_hash_table_insert (metadata, g_strdup ("format"), g_strdup (CP_MODEL_FORMAT));
  g_hash_table_insert (metadata, g_strdup ("format_version"),
                       g_strdup_printf ("%d", CP_MODEL_FORMAT_VERSION));
  return cp_pipeline_write_model (net, gde, local, calibration, n_calibration, metadata, path,
                                  error);
}

gboolean
cp_model_save (CpModel *model, const char *path, GError **error)
{
  return model_write (model->net, model->gde, model->local, model->calibration_scores,
                      model->n_calibration, model->metadata, path, error);
}

gboolean
cp_model_parts_save (CpNetwork *net, const CpDensityFit *fit, CpLocalModel *local,
                     GHashTable *metadata, const char *path, GError **error)
{
  g_hash_table_insert (metadata, g_strdup ("threshold_method"),
                       g_strdup (fit->held_out ? "held-out" : "cross-validation"));
  g_hash_table_insert (metadata, g_strdup ("calibration_images"),
                       g_strdup_printf ("%d", fit->n_calibration));
  if (local != NULL)
    {
      int regions = cp_local_model_regions (local);
      double high = 0.0;
      g_autofree double *all = g_new (double, (gsize) fit->n_calibration * regions);

      g_hash_table_insert (metadata, g_strdup ("score_parts"), g_strdup ("global+local"));
      g_hash_table_insert (metadata, g_strdup ("global_scale"),
                           cp_pipeline_format_double (fit->global_scale));
      g_hash_table_insert (metadata, g_strdup ("local_scale"),
                           cp_pipeline_format_double (fit->local_scale));
      /* The heatmap's colour range, in region-score units: from the typical
       * region of a good image to the local part's threshold, so a map of a
       * good part stays in the low colours and the hottest colour says
       * "this region alone fails the part". */
      for (gsize k = 0; k < (gsize) fit->n_calibration * regions; k++)
        all[k] = fit->calibration_maps[k];
      high = fit->local_scale;
      g_hash_table_insert (metadata, g_strdup ("heatmap_low"),
                           cp_pipeline_format_double (cp_quantile_linear (all, fit->n_calibration * regions, 0.5)));
      g_hash_table_insert (metadata, g_strdup ("heatmap_high"), cp_pipeline_format_double (high));
    }
  return model_write (net, fit->gde, local, fit->calibration_scores, fit->n_calibration, metadata,
                      path, error);
}

/* ---- threshold metadata without the network ------------------------------ */

struct _CpModelFile
{
  char             *path;
  CpSafetensors    *st;          /* as read; NULL once a store replaced the file */
  double            threshold;
  CpThresholdSource threshold_source;
  double            cv_threshold;
  double            false_reject_rate;
};

/* Reads @file->path and checks it as a model header. */
static gboolean
model_file_read (CpModelFile *file, GError **error)
{
  CpSafetensors *st = open_safetensors (file->path, error);
  int image_size, head_layers;

  if (st == NULL)
    return FALSE;
  if (!check_header (st, file->path, &image_size, &head_layers, error))
    {
      cp_safetensors_close (st);
      return FALSE;
    }
  cp_safetensors_close (file->st);
  file->st = st;
  /* Read as cp_model_load reads them. */
  file->threshold = parse_double (cp_safetensors_metadata (st, "threshold"), NAN);
  file->false_reject_rate = parse_double (cp_safetensors_metadata (st, "false_reject_rate"), NAN);
  file->threshold_source = cp_threshold_source_from_metadata (cp_safetensors_metadata (st, "threshold_source"),
                                                              cp_safetensors_metadata (st, "threshold"),
                                                              cp_safetensors_metadata (st, "false_reject_rate"));
  file->cv_threshold = parse_double (cp_safetensors_metadata (st, "cross_validation_threshold"), NAN);
  return TRUE;
}

CpModelFile *
cp_model_file_open (const char *path, GError **error)
{
  g_autoptr (CpModelFile) file = g_new0 (CpModelFile, 1);

  file->path = g_strdup (path);
  if (!model_file_read (file, error))
    return NULL;
  return g_steal_pointer (&file);
}

void
cp_model_file_free (CpModelFile *file)
{
  if (file == NULL)
    return;
  cp_safetensors_close (file->st);
  g_free (file->path);
  g_free (file);
}

const char *cp_model_file_get_path (const CpModelFile *file) { return file->path; }
double cp_model_file_get_threshold (const CpModelFile *file) { return file->threshold; }
CpThresholdSource cp_model_file_get_threshold_source (const CpModelFile *file) { return file->threshold_source; }
double cp_model_file_get_false_reject_rate (const CpModelFile *file) { return file->false_reject_rate; }

double
cp_model_file_get_cross_validation_threshold (const CpModelFile *file)
{
  if (file->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    return file->threshold;
  return file->cv_threshold;
}

gboolean
cp_model_file_store_threshold (CpModelFile *file, double threshold, double expected, GError **error)
{
  g_autofree char *threshold_text = NULL, *cv_text = NULL, *version_text = NULL;
  const char *pairs[12];
  int n = 0;
  CpError err = { 0 };

  if (!isfinite (threshold) || threshold < 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                   "%s: threshold %g is not a finite number >= 0", file->path, threshold);
      return FALSE;
    }
  /* After a store the tensors to copy are those now in the file. */
  if (file->st == NULL && !model_file_read (file, error))
    return FALSE;
  /* != also refuses a file that lost its threshold (NaN) meanwhile. */
  if (!isnan (expected) && file->threshold != expected)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CHANGED,
                   "%s: the stored threshold is %g, not %g as expected", file->path,
                   file->threshold, expected);
      return FALSE;
    }

  /* The changes cp_model_set_threshold () and cp_model_save () make, in
   * the sorted order cp_model_save () writes new keys in. */
  if (file->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    {
      cv_text = cp_pipeline_format_double (file->threshold);
      pairs[n++] = "cross_validation_threshold";
      pairs[n++] = cv_text;
    }
  version_text = g_strdup_printf ("%d", CP_MODEL_FORMAT_VERSION);
  threshold_text = cp_pipeline_format_double (threshold);
  pairs[n++] = "format";
  pairs[n++] = CP_MODEL_FORMAT;
  pairs[n++] = "format_version";
  pairs[n++] = version_text;
  pairs[n++] = "threshold";
  pairs[n++] = threshold_text;
  pairs[n++] = "threshold_source";
  pairs[n++] = CP_THRESHOLD_SOURCE_NAME_MANUAL;
  pairs[n] = NULL;

  if (cp_safetensors_save_with_metadata (file->st, file->path, pairs, &err) != CP_OK)
    {
      /* As cp_pipeline_save_model reports a failed save. */
      g_set_error (error, CP_PIPELINE_ERROR,
                   err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : cp_pipeline_error_from_status (err.code),
                   "cannot write model %s: %s", file->path, err.message);
      return FALSE;
    }
  if (file->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    file->cv_threshold = file->threshold;
  file->threshold = threshold;
  file->threshold_source = CP_THRESHOLD_SOURCE_MANUAL;
  /* What was read no longer matches the file. */
  g_clear_pointer (&file->st, cp_safetensors_close);
  return TRUE;
}

gboolean
cp_model_file_set_threshold (const char *path, double threshold, double expected, GError **error)
{
  g_autoptr (CpModelFile) file = cp_model_file_open (path, error);

  return file != NULL && cp_model_file_store_threshold (file, threshold, expected, error);
}
