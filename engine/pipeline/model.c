/* model.c: loading, checking, scoring with and saving trained models. */
#include "model.h"

#include <math.h>
#include <string.h>

#include "core/io/safetensors.h"
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
cp_model_replace_density (CpModel *model, CpGde *gde, double threshold, double false_reject_rate,
                          int train_images)
{
  cp_gde_free (model->gde);
  model->gde = gde;
  model->threshold = threshold;
  model->threshold_source = CP_THRESHOLD_SOURCE_CROSS_VALIDATION;
  model->cv_threshold = NAN;
  model->false_reject_rate = false_reject_rate;
  g_hash_table_insert (model->metadata, g_strdup ("threshold"), cp_pipeline_format_double (threshold));
  g_hash_table_insert (model->metadata, g_strdup ("threshold_source"),
                       g_strdup (CP_THRESHOLD_SOURCE_NAME_CROSS_VALIDATION));
  g_hash_table_insert (model->metadata, g_strdup ("false_reject_rate"),
                       cp_pipeline_format_double (false_reject_rate));
  g_hash_table_insert (model->metadata, g_strdup ("train_images"), g_strdup_printf ("%d", train_images));
  g_hash_table_remove (model->metadata, "cross_validation_threshold");
}

void
cp_model_set_metadata (CpModel *model, const char *key, const char *value)
{
  if (value)
    g_hash_table_insert (model->metadata, g_strdup (key), g_strdup (value));
  else
    g_hash_table_remove (model->metadata, key);
}

/* Scores @n tensors already prepared in @tensors (host). */
static gboolean
score_tensors (CpModel *model, const float *tensors, int n, double *scores, float *embeddings,
               GError **error)
{
  g_autofree float *emb = g_new (float, (gsize) n * CP_EMBEDDING_DIM);
  CpError err = { 0 };

  if (!cp_pipeline_embed_tensors (model->net, model->device_buf, tensors, n, model->image_size,
                                  emb, error))
    return FALSE;
  if (cp_gde_score (model->gde, emb, n, scores, &err) != CP_OK)
    return cp_pipeline_set_error (error, &err);
  if (embeddings)
    {
      memcpy (embeddings, emb, (gsize) n * CP_EMBEDDING_DIM * sizeof (float));
      cp_embeddings_l2_normalize (embeddings, n, CP_EMBEDDING_DIM);
    }
  return TRUE;
}

static void
image_to_model_tensor (const CpModel *model, const CpImage *image, float *dst)
{
  int s = model->image_size;

  if (image->width == s && image->height == s)
    cp_image_to_tensor (image, dst);
  else
    {
      g_autoptr (CpImage) resized = cp_image_resize_bicubic (image, s, s);
      cp_image_to_tensor (resized, dst);
    }
}

gboolean
cp_model_score_images (CpModel *model, const CpImage *const *images, int n, double *scores,
                       float *embeddings, GError **error)
{
  size_t per_image = (size_t) 3 * model->image_size * model->image_size;
  g_autofree float *tensors = NULL;

  if (n <= 0)
    return TRUE;
  tensors = g_new (float, per_image * CP_PIPELINE_EMBED_BATCH);
  for (int start = 0; start < n; start += CP_PIPELINE_EMBED_BATCH)
    {
      int count = MIN (CP_PIPELINE_EMBED_BATCH, n - start);

      for (int i = 0; i < count; i++)
        image_to_model_tensor (model, images[start + i], tensors + i * per_image);
      if (!score_tensors (model, tensors, count, scores + start,
                          embeddings ? embeddings + (gsize) start * CP_EMBEDDING_DIM : NULL, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
cp_model_score_files (CpModel *model, const char *const *paths, int n, double *scores,
                      float *embeddings, char **messages, const volatile int *cancel,
                      GError **error)
{
  size_t per_image = (size_t) 3 * model->image_size * model->image_size;
  g_autofree float *tensors = g_new (float, per_image * CP_PIPELINE_EMBED_BATCH);
  int index[CP_PIPELINE_EMBED_BATCH];
  double batch_scores[CP_PIPELINE_EMBED_BATCH];
  g_autofree float *batch_emb = g_new (float, (gsize) CP_PIPELINE_EMBED_BATCH * CP_EMBEDDING_DIM);
  int filled = 0;

  for (int i = 0; i <= n; i++)
    {
      if (i < n)
        {
          g_autoptr (CpImage) image = NULL;
          g_autoptr (GError) local = NULL;

          if (cp_pipeline_cancelled (cancel))
            {
              g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED, "cancelled");
              return FALSE;
            }
          if (messages)
            messages[i] = NULL;
          scores[i] = NAN;
          if (embeddings)
            memset (embeddings + (gsize) i * CP_EMBEDDING_DIM, 0, CP_EMBEDDING_DIM * sizeof (float));
          if (!cp_image_load_resized (paths[i], model->image_size, &image, &local))
            {
              if (messages)
                messages[i] = g_strdup (local->message);
              continue;
            }
          cp_image_to_tensor (image, tensors + filled * per_image);
          index[filled++] = i;
        }
      if (filled == CP_PIPELINE_EMBED_BATCH || (i == n && filled > 0))
        {
          if (!score_tensors (model, tensors, filled, batch_scores, batch_emb, error))
            return FALSE;
          for (int k = 0; k < filled; k++)
            {
              scores[index[k]] = batch_scores[k];
              if (embeddings)
                memcpy (embeddings + (gsize) index[k] * CP_EMBEDDING_DIM,
                        batch_emb + (gsize) k * CP_EMBEDDING_DIM, CP_EMBEDDING_DIM * sizeof (float));
            }
          filled = 0;
        }
    }
  return TRUE;
}

gboolean
cp_model_score_image_file (CpModel *model, const char *path, double *score, GError **error)
{
  g_autoptr (CpImage) image = NULL;

  if (!cp_image_load_resized (path, model->image_size, &image, error))
    return FALSE;
  return cp_model_score_images (model, (const CpImage *const *) &image, 1, score, NULL, error);
}

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

gboolean
cp_model_save (CpModel *model, const char *path, GError **error)
{
  g_autoptr (GPtrArray) pairs = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_insert (model->metadata, g_strdup ("format"), g_strdup (CP_MODEL_FORMAT));
  g_hash_table_insert (model->metadata, g_strdup ("format_version"),
                       g_strdup_printf ("%d", CP_MODEL_FORMAT_VERSION));
  g_autoptr (GPtrArray) keys = g_ptr_array_new ();

  g_hash_table_iter_init (&iter, model->metadata);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (keys, key);
  /* Sorted keys: the same model always gives the same bytes. */
  g_ptr_array_sort (keys, compare_keys);
  for (guint i = 0; i < keys->len; i++)
    {
      g_ptr_array_add (pairs, keys->pdata[i]);
      g_ptr_array_add (pairs, g_hash_table_lookup (model->metadata, keys->pdata[i]));
    }
  g_ptr_array_add (pairs, NULL);
  g_ptr_array_add (pairs, NULL);
  return cp_pipeline_save_model (model->net, model->gde, (const char *const *) pairs->pdata, path, error);
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
