/* localize.c: the patch model, its heatmaps and pixel AUROC (SPEC 7). */
#include "localize.h"

#include <math.h>
#include <string.h>

#include "core/density/auroc.h"
#include "core/density/threshold.h"
#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "data/png-write.h"
#include "model.h"
#include "pipeline-private.h"

struct _CpPatchModel
{
  char           *path;
  char           *category;
  GHashTable     *metadata;
  CpBackend      *be;           /* owned unless borrowed_net */
  CpNetwork      *net;
  gboolean        borrowed_net; /* the model the training run is still holding */
  CpPatchEmbedder *embedder;
  CpPatchDensity *density;
  int             size;         /* S */
  int             patch;
  int             base_stride;  /* grid of the density */
  int             stride;       /* grid of the heatmaps */
  double          low, high;
  float          *kernel;       /* patch x patch */
  float          *emb;          /* (grid^2, 512) at stride */
  float          *grid_scores;
  int            *loc_i, *loc_j;
};

void
cp_localize_options_init (CpLocalizeOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->density = -1;
  opts->cells = CP_LOCALIZE_CELLS;
  opts->patch = CP_LOCALIZE_PATCH;
  opts->stride = CP_LOCALIZE_STRIDE;
  opts->fit_stride = 2 * CP_LOCALIZE_STRIDE;
  opts->max_fit_images = 0;
  opts->batch = CP_LOCALIZE_BATCH;
  opts->measured_pixel_auroc = NAN;
}

void
cp_localize_train_setup (CpTrainOptions *train, CpLocalizeOptions *loc)
{
  if (train->crop_size == 0)
    train->crop_size = CP_LOCALIZE_CROP;
  train->fit = cp_localize_fit_patch_model;
  train->fit_data = loc;
}

void
cp_localize_profile_defaults (const char *profile, int *image_size, int *steps)
{
  gboolean paper = g_strcmp0 (profile, "paper") == 0;

  *image_size = paper ? 256 : 128;
  *steps = paper ? 0 : CP_LOCALIZE_QUICK_STEPS;
}

char *
cp_patch_model_path (const char *model_dir, const char *category)
{
  g_autofree char *name = g_strdup_printf ("%s.patch.safetensors", category);

  return g_build_filename (model_dir, name, NULL);
}

char *
cp_patch_model_path_for (const char *image_model_path)
{
  if (g_str_has_suffix (image_model_path, ".patch.safetensors"))
    return g_strdup (image_model_path);
  if (g_str_has_suffix (image_model_path, ".safetensors"))
    return g_strdup_printf ("%.*s.patch.safetensors",
                            (int) (strlen (image_model_path) - strlen (".safetensors")),
                            image_model_path);
  return g_strdup_printf ("%s.patch.safetensors", image_model_path);
}

static gboolean
set_cancelled (GError **error)
{
  g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED, "localisation cancelled");
  return FALSE;
}

static gboolean
core_error (GError **error, const CpError *err)
{
  if (err->code == CP_ERR_CANCELLED)
    return set_cancelled (error);
  return cp_pipeline_set_error (error, err);
}

/* ---- the model object ---------------------------------------------------- */

void
cp_patch_model_free (CpPatchModel *model)
{
  if (model == NULL)
    return;
  cp_patch_embedder_free (model->embedder);
  cp_patch_density_free (model->density);
  if (!model->borrowed_net)
    {
      cp_network_free (model->net);
      if (model->be)
        cp_backend_free (model->be);
    }
  if (model->metadata)
    g_hash_table_unref (model->metadata);
  g_free (model->path);
  g_free (model->category);
  g_free (model->kernel);
  g_free (model->emb);
  g_free (model->grid_scores);
  g_free (model->loc_i);
  g_free (model->loc_j);
  g_free (model);
}

const char *cp_patch_model_get_category (const CpPatchModel *m) { return m->category; }
int cp_patch_model_get_image_size (const CpPatchModel *m) { return m->size; }
int cp_patch_model_get_stride (const CpPatchModel *m) { return m->stride; }
CpPatchDensityKind cp_patch_model_get_density (const CpPatchModel *m) { return cp_patch_density_kind (m->density); }
double cp_patch_model_get_score_low (const CpPatchModel *m) { return m->low; }
double cp_patch_model_get_score_high (const CpPatchModel *m) { return m->high; }

const char *
cp_patch_model_get_metadata (const CpPatchModel *model, const char *key)
{
  return model->metadata ? g_hash_table_lookup (model->metadata, key) : NULL;
}

gboolean
cp_patch_model_set_stride (CpPatchModel *model, int stride)
{
  int g;

  if (stride < 1 || stride % model->base_stride != 0 || (model->size - model->patch) % stride != 0)
    return FALSE;
  model->stride = stride;
  g = cp_localize_grid_side (model->size, model->patch, stride);
  g_free (model->emb);
  g_free (model->grid_scores);
  g_free (model->loc_i);
  g_free (model->loc_j);
  model->emb = g_new (float, (gsize) g * g * CP_EMBEDDING_DIM);
  model->grid_scores = g_new (float, (gsize) g * g);
  model->loc_i = g_new (int, (gsize) g * g);
  model->loc_j = g_new (int, (gsize) g * g);
  /* A coarser grid is a subset of the density's grid. */
  for (int k = 0; k < g * g; k++)
    {
      model->loc_i[k] = (k / g) * (stride / model->base_stride);
      model->loc_j[k] = (k % g) * (stride / model->base_stride);
    }
  return TRUE;
}

/* Shared by loading and by the training run (which lends its network). */
static gboolean
patch_model_prepare (CpPatchModel *model, int batch, GError **error)
{
  CpError err = { 0 };

  model->kernel = g_new (float, (gsize) model->patch * model->patch);
  cp_localize_gaussian_kernel (model->patch, CP_LOCALIZE_SIGMA, model->kernel);
  model->embedder = cp_patch_embedder_new (model->net, model->patch, batch, &err);
  if (model->embedder == NULL)
    return cp_pipeline_set_error (error, &err);
  if (!cp_patch_model_set_stride (model, model->base_stride))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "patch model: stride %d does not divide image size %d minus patch %d",
                   model->base_stride, model->size, model->patch);
      return FALSE;
    }
  return TRUE;
}

gboolean
cp_patch_model_map_tensor (CpPatchModel *model, const float *tensor, float *map, double *score,
                           const volatile int *cancel, GError **error)
{
  int g = cp_localize_grid_side (model->size, model->patch, model->stride);
  CpError err = { 0 };

  if (cp_patch_embedder_run (model->embedder, tensor, model->size, model->size, model->stride,
                             model->emb, cancel, &err) != CP_OK
      || cp_patch_density_score_at (model->density, model->emb, g * g, model->loc_i, model->loc_j,
                                    CP_EMBEDDING_DIM, model->grid_scores, &err) != CP_OK
      || cp_localize_upsample (model->grid_scores, g, g, model->stride, model->kernel, model->patch,
                               CP_UPSAMPLE_INTERIOR_GAIN, map, &err) != CP_OK)
    return core_error (error, &err);
  if (score)
    {
      float best = -INFINITY;
      for (int p = 0; p < model->size * model->size; p++)
        best = MAX (best, map[p]);
      *score = best;
    }
  return TRUE;
}

/* The map of @image at its own size into @full (w * h); @score gets the
 * maximum of the S x S map. */
static gboolean
image_map (CpPatchModel *model, const CpImage *image, float *full, double *score,
           const volatile int *cancel, GError **error)
{
  int s = model->size;
  g_autofree float *tensor = g_new (float, (gsize) 3 * s * s);
  g_autofree float *map = g_new (float, (gsize) s * s);

  if (image->width == s && image->height == s)
    cp_image_to_tensor (image, tensor);
  else
    {
      g_autoptr (CpImage) resized = cp_image_resize_bicubic (image, s, s);
      if (resized == NULL)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IMAGE, "cannot resize the image");
          return FALSE;
        }
      cp_image_to_tensor (resized, tensor);
    }
  if (!cp_patch_model_map_tensor (model, tensor, map, score, cancel, error))
    return FALSE;
  cp_localize_resize_bilinear (map, s, s, full, image->width, image->height);
  return TRUE;
}

gboolean
cp_patch_model_heatmap (CpPatchModel *model, const CpImage *image, CpHeatmap *heatmap,
                        const volatile int *cancel, GError **error)
{
  memset (heatmap, 0, sizeof *heatmap);
  heatmap->width = image->width;
  heatmap->height = image->height;
  heatmap->map = g_new (float, (gsize) image->width * image->height);
  if (!image_map (model, image, heatmap->map, &heatmap->score, cancel, error))
    {
      cp_heatmap_clear (heatmap);
      return FALSE;
    }
  heatmap->low = model->low;
  heatmap->high = model->high;
  heatmap->overlay = g_new (uint8_t, (gsize) image->width * image->height * 4);
  cp_heatmap_blend (heatmap->map, image->width, image->height, model->low, model->high, 0.6,
                    image->pixels, image->stride, heatmap->overlay);
  return TRUE;
}

void
cp_heatmap_clear (CpHeatmap *heatmap)
{
  g_free (heatmap->map);
  g_free (heatmap->overlay);
  memset (heatmap, 0, sizeof *heatmap);
}

gboolean
cp_heatmap_write_png (const CpHeatmap *heatmap, const char *path, GError **error)
{
  gsize pixels = (gsize) heatmap->width * heatmap->height;
  g_autofree uint8_t *rgb = g_new (uint8_t, pixels * 3);
  g_autoptr (GError) local = NULL;

  for (gsize p = 0; p < pixels; p++)
    memcpy (rgb + p * 3, heatmap->overlay + p * 4, 3);
  if (!cp_png_write (path, rgb, heatmap->width, heatmap->height, heatmap->width * 3, 3, &local))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot write heatmap %s: %s",
                   path, local->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- loading --------------------------------------------------------------- */

static int
meta_int (const CpSafetensors *st, const char *key, int fallback)
{
  const char *v = cp_safetensors_metadata (st, key);
  char *end = NULL;
  gint64 x;

  if (v == NULL)
    return fallback;
  x = g_ascii_strtoll (v, &end, 10);
  if (end == v || *end != '\0' || x < G_MININT || x > G_MAXINT)
    return G_MININT;
  return (int) x;
}

static double
meta_double (const CpSafetensors *st, const char *key)
{
  const char *v = cp_safetensors_metadata (st, key);

  return v ? g_ascii_strtod (v, NULL) : NAN;
}

CpPatchModel *
cp_patch_model_load (const char *path, const char *device, GError **error)
{
  g_autoptr (CpPatchModel) model = g_new0 (CpPatchModel, 1);
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (path, &err);
  const char *format, *density_name;
  const CpTensorInfo *out_w, *mean_info;
  CpPatchDensityKind kind;
  CpNetworkConfig config;
  int grid, cells, count;
  gboolean ok = FALSE;
  g_autofree float *mean = NULL, *precision = NULL;

#define BAD(...) do { g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, __VA_ARGS__); goto out; } while (0)
  if (st == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR,
                   err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : CP_PIPELINE_ERROR_MODEL,
                   "cannot read patch model %s", err.message);
      return NULL;
    }
  model->path = g_strdup (path);
  model->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
    g_hash_table_insert (model->metadata, g_strdup (cp_safetensors_metadata_key (st, i)),
                         g_strdup (cp_safetensors_metadata_value (st, i)));
  format = cp_safetensors_metadata (st, "format");
  if (format == NULL || strcmp (format, CP_PATCH_MODEL_FORMAT) != 0)
    BAD ("%s: format is '%s', expected '%s' (train one with 'cutpaste train --localize')", path,
         format ? format : "(none)", CP_PATCH_MODEL_FORMAT);
  if (meta_int (st, "format_version", -1) < 1 || meta_int (st, "format_version", -1) > CP_PATCH_MODEL_FORMAT_VERSION)
    BAD ("%s: format_version %s is not supported (this program reads up to %d)", path,
         cp_safetensors_metadata (st, "format_version"), CP_PATCH_MODEL_FORMAT_VERSION);
  model->size = meta_int (st, "image_size", -1);
  model->patch = meta_int (st, "patch_size", CP_LOCALIZE_PATCH);
  model->base_stride = meta_int (st, "stride", CP_LOCALIZE_STRIDE);
  cells = meta_int (st, "cells", 1);
  if (model->size < 32 || model->size > 1024 || model->size % 32 != 0)
    BAD ("%s: image_size %s is not a multiple of 32 between 32 and 1024", path,
         cp_safetensors_metadata (st, "image_size"));
  if (model->patch < 32 || model->patch % 32 != 0 || model->patch > model->size)
    BAD ("%s: patch_size %d is not a multiple of 32 up to the image size", path, model->patch);
  if (model->base_stride < 1 || (model->size - model->patch) % model->base_stride != 0)
    BAD ("%s: stride %d does not divide image size minus patch size", path, model->base_stride);
  density_name = cp_safetensors_metadata (st, "density");
  if (!cp_patch_density_kind_from_string (density_name, &kind))
    BAD ("%s: density '%s' is neither shared nor per-location", path, density_name ? density_name : "(none)");
  grid = cp_localize_grid_side (model->size, model->patch, model->base_stride);
  model->density = cp_patch_density_new (kind, grid, grid, cells, &err);
  if (model->density == NULL)
    BAD ("%s: %s", path, err.message);
  count = cp_patch_density_count (model->density);
  if (kind == CP_PATCH_DENSITY_PER_LOCATION && cp_patch_density_cells (model->density) != cells)
    BAD ("%s: %d cells do not fit a %d x %d grid", path, cells, grid, grid);
  mean_info = cp_safetensors_find (st, "patch.mean");
  if (mean_info == NULL || mean_info->ndim != 2 || mean_info->shape[0] != count
      || mean_info->shape[1] != CP_EMBEDDING_DIM)
    BAD ("%s: tensor patch.mean is missing or not [%d, %d]", path, count, CP_EMBEDDING_DIM);
  mean = g_new (float, (gsize) count * CP_EMBEDDING_DIM);
  precision = g_try_new (float, (gsize) count * CP_EMBEDDING_DIM * CP_EMBEDDING_DIM);
  if (precision == NULL)
    BAD ("%s: out of memory for %d Gaussians", path, count);
  {
    int64_t s2[2] = { count, CP_EMBEDDING_DIM }, s3[3] = { count, CP_EMBEDDING_DIM, CP_EMBEDDING_DIM };
    if (cp_safetensors_read_f32 (st, "patch.mean", s2, 2, mean, &err) != CP_OK
        || cp_safetensors_read_f32 (st, "patch.precision", s3, 3, precision, &err) != CP_OK)
      BAD ("%s: %s", path, err.message);
  }
  for (int g = 0; g < count; g++)
    if (cp_patch_density_set (model->density, g, mean + (gsize) g * CP_EMBEDDING_DIM,
                              precision + (gsize) g * CP_EMBEDDING_DIM * CP_EMBEDDING_DIM,
                              CP_EMBEDDING_DIM, &err) != CP_OK)
      BAD ("%s: Gaussian %d: %s", path, g, err.message);
  g_clear_pointer (&precision, g_free);

  out_w = cp_safetensors_find (st, "out.weight");
  if (out_w == NULL || out_w->ndim != 2 || out_w->shape[0] < 2 || out_w->shape[0] > 3)
    BAD ("%s: tensor out.weight is missing or not [2 or 3, 128]", path);
  config.num_classes = (int) out_w->shape[0];
  config.head_layers = meta_int (st, "head_layers", 1);
  if (config.head_layers < 0 || config.head_layers > 8)
    BAD ("%s: head_layers %s is out of range", path, cp_safetensors_metadata (st, "head_layers"));
  model->be = cp_pipeline_open_backend (device ? device : "auto", NULL, error);
  if (model->be == NULL)
    goto out;
  model->net = cp_network_new (model->be, &config, &err);
  if (model->net == NULL || cp_network_load (model->net, st, CP_LOAD_ALL, &err) != CP_OK)
    BAD ("%s: %s", path, err.message);
  model->low = meta_double (st, "score_low");
  model->high = meta_double (st, "score_high");
  if (!isfinite (model->low) || !isfinite (model->high) || model->high <= model->low)
    BAD ("%s: score_low / score_high are missing or not an increasing pair", path);
  model->category = g_strdup (cp_safetensors_metadata (st, "category"));
  if (model->category == NULL)
    model->category = g_path_get_basename (path);
  if (!patch_model_prepare (model, CP_LOCALIZE_BATCH, error))
    goto out;
  ok = TRUE;
#undef BAD
out:
  cp_safetensors_close (st);
  return ok ? g_steal_pointer (&model) : NULL;
}

/* ---- evaluation ------------------------------------------------------------- */

void
cp_localize_eval_result_init (CpLocalizeEvalResult *result)
{
  memset (result, 0, sizeof *result);
  result->pixel_auroc = NAN;
  result->image_auroc = NAN;
  result->skipped_images = g_ptr_array_new_with_free_func (g_free);
}

void
cp_localize_eval_result_clear (CpLocalizeEvalResult *result)
{
  if (result->skipped_images)
    g_ptr_array_unref (result->skipped_images);
  cp_localize_eval_result_init (result);
}

/* A ground-truth mask at @width x @height: the mean of R, G and B above
 * 127 (masks are 0 / 255), nearest-resized when its size differs. */
static uint8_t *
load_mask (const char *path, int width, int height, GError **error)
{
  g_autoptr (CpImage) image = NULL;
  g_autoptr (CpImage) resized = NULL;
  const CpImage *m;
  uint8_t *mask;

  if (!cp_image_load (path, &image, error))
    return NULL;
  m = image;
  if (image->width != width || image->height != height)
    {
      resized = cp_image_resize_nearest (image, width, height);
      if (resized == NULL)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IMAGE, "%s: cannot resize mask", path);
          return NULL;
        }
      m = resized;
    }
  mask = g_new (uint8_t, (gsize) width * height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        const uint8_t *px = m->pixels + (gsize) y * m->stride + (gsize) x * 3;
        mask[(gsize) y * width + x] = (px[0] + px[1] + px[2]) > 3 * 127;
      }
  return mask;
}

gboolean
cp_patch_model_evaluate (CpPatchModel *model, const char *data_dir, const char *category,
                         CpLocalizeProgressFunc progress, gpointer user_data,
                         const volatile int *cancel, CpLocalizeEvalResult *result, GError **error)
{
  g_autoptr (CpCategory) cat = NULL;
  g_autoptr (GError) local = NULL;
  CpPixelRoc *roc = NULL;
  g_autofree double *scores = NULL;
  g_autofree uint8_t *labels = NULL;
  CpError err = { 0 };
  gboolean ok = FALSE;
  gint64 start = g_get_monotonic_time ();
  int n = 0;

  cat = cp_dataset_scan_category (data_dir, category, &local);
  if (cat == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA, "category '%s': %s", category,
                   local->message);
      return FALSE;
    }
  if (cat->n_test_good == 0 || cat->n_test_defect == 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "category '%s': pixel AUROC needs good and defect test images", category);
      return FALSE;
    }
  roc = cp_pixel_roc_new ();
  scores = g_new (double, cat->n_test);
  labels = g_new (uint8_t, cat->n_test);
  for (size_t i = 0; i < cat->n_test; i++)
    {
      const CpSample *sample = &cat->test[i];
      g_autoptr (CpImage) image = NULL;
      g_autofree float *map = NULL;
      g_autofree uint8_t *mask = NULL;
      gsize pixels;
      double score;

      if (cp_pipeline_cancelled (cancel))
        {
          set_cancelled (error);
          goto out;
        }
      g_clear_error (&local);
      if (sample->label == CP_LABEL_DEFECT && sample->mask_path == NULL)
        {
          g_ptr_array_add (result->skipped_images, g_strdup_printf ("%s: no ground-truth mask", sample->path));
          continue;
        }
      if (!cp_image_load (sample->path, &image, &local))
        {
          g_ptr_array_add (result->skipped_images, g_strdup (local->message));
          continue;
        }
      pixels = (gsize) image->width * image->height;
      if (sample->label == CP_LABEL_DEFECT)
        {
          mask = load_mask (sample->mask_path, image->width, image->height, &local);
          if (mask == NULL)
            {
              g_ptr_array_add (result->skipped_images, g_strdup (local->message));
              continue;
            }
        }
      else
        mask = g_new0 (uint8_t, pixels);
      map = g_new (float, pixels);
      if (!image_map (model, image, map, &score, cancel, error))
        goto out;
      if (cp_pixel_roc_add (roc, map, mask, pixels, &err) != CP_OK)
        {
          core_error (error, &err);
          goto out;
        }
      if (sample->label == CP_LABEL_DEFECT)
        {
          gsize best = 0;
          gboolean any = FALSE;
          for (gsize p = 0; p < pixels; p++)
            {
              any |= mask[p] != 0;
              if (map[p] > map[best])
                best = p;
            }
          if (any)
            {
              result->defect_with_mask++;
              result->max_in_mask += mask[best] != 0;
            }
          result->defect_images++;
        }
      scores[n] = score;
      labels[n] = sample->label == CP_LABEL_DEFECT;
      n++;
      if (progress)
        progress ((int) i + 1, (int) cat->n_test, user_data);
    }
  result->images = n;
  if (cp_pixel_roc_positives (roc) == 0 || cp_pixel_roc_negatives (roc) == 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "category '%s': no defect pixels in the masks of the scored images", category);
      goto out;
    }
  if (cp_pixel_roc_auroc (roc, &result->pixel_auroc, &err) != CP_OK)
    {
      core_error (error, &err);
      goto out;
    }
  if (result->defect_images > 0 && result->defect_images < n
      && cp_auroc (scores, labels, n, &result->image_auroc, &err) != CP_OK)
    {
      core_error (error, &err);
      goto out;
    }
  result->seconds_per_image = n > 0 ? (g_get_monotonic_time () - start) / 1e6 / n : NAN;
  ok = TRUE;
out:
  cp_pixel_roc_free (roc);
  return ok;
}

/* ---- training: the fit hook --------------------------------------------------- */

static void
fit_report (CpTrainProgressFunc progress, gpointer data, CpTrainPhase phase, int done, int total)
{
  CpTrainProgress p = { 0 };

  if (progress == NULL)
    return;
  p.phase = phase;
  p.step = done;
  p.total_steps = total;
  p.loss = p.lr = p.images_per_sec = p.eta_seconds = NAN;
  progress (&p, data);
}

typedef struct
{
  CpTrainProgressFunc progress;
  gpointer            data;
} EvalRelay;

static void
eval_relay (int done, int total, gpointer user_data)
{
  EvalRelay *r = user_data;

  fit_report (r->progress, r->data, CP_TRAIN_PHASE_EVALUATING, done, total);
}

static int
compare_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;

  return (x > y) - (x < y);
}

gboolean
cp_localize_fit_patch_model (CpNetwork *net, const uint8_t *images, int n, int size,
                             const CpTrainOptions *opts, CpTrainProgressFunc progress,
                             gpointer progress_data, const volatile int *cancel,
                             CpTrainResult *result, GError **error)
{
  CpLocalizeOptions defaults, *loc = opts->fit_data;
  g_autoptr (CpPatchModel) model = g_new0 (CpPatchModel, 1);
  CpPatchDensityKind kind;
  CpError err = { 0 };
  int grid, fit_grid, m, n_fit, step;
  g_autofree float *tensor = NULL, *emb = NULL, *fit_scores = NULL;
  g_autofree int *li = NULL, *lj = NULL;
  g_autofree char *path = NULL;
  double pixel_auroc = NAN, image_auroc = NAN;

  if (loc == NULL)
    {
      cp_localize_options_init (&defaults);
      loc = &defaults;
    }
  loc->measured_pixel_auroc = NAN;
  if (loc->patch < 32 || loc->patch % 32 != 0 || loc->patch > size || loc->stride < 1
      || (size - loc->patch) % loc->stride != 0 || loc->fit_stride < loc->stride
      || loc->fit_stride % loc->stride != 0 || (size - loc->patch) % loc->fit_stride != 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                   "localisation: patch %d, stride %d and fitting stride %d do not tile a %d x %d "
                   "image (the patch a multiple of 32, the strides dividing S - patch, the fitting "
                   "stride a multiple of the stride)", loc->patch, loc->stride, loc->fit_stride,
                   size, size);
      return FALSE;
    }
  if (loc->density >= 0)
    kind = (CpPatchDensityKind) loc->density;
  else
    kind = cp_category_uses_shared_gaussian (opts->category) ? CP_PATCH_DENSITY_SHARED
                                                             : CP_PATCH_DENSITY_PER_LOCATION;
  grid = cp_localize_grid_side (size, loc->patch, loc->stride);
  fit_grid = cp_localize_grid_side (size, loc->patch, loc->fit_stride);
  m = fit_grid * fit_grid;
  step = loc->fit_stride / loc->stride;
  n_fit = loc->max_fit_images > 0 ? MIN (n, loc->max_fit_images) : n;

  model->net = net;
  model->be = cp_network_backend (net);
  model->borrowed_net = TRUE;
  model->size = size;
  model->patch = loc->patch;
  model->base_stride = loc->stride;
  model->category = g_strdup (opts->category);
  /* The Gaussians are fitted on the coarser fitting grid: with more cells
   * per side than fitting locations (S = 64: a 5 x 5 fitting grid) some
   * cells would get no embedding at all. */
  model->density = cp_patch_density_new (kind, grid, grid, MIN (loc->cells, fit_grid), &err);
  if (model->density == NULL)
    return cp_pipeline_set_error (error, &err);
  if (!patch_model_prepare (model, loc->batch, error))
    return FALSE;

  /* Embeddings of train/good patches on the fitting grid. */
  tensor = g_new (float, (gsize) 3 * size * size);
  emb = g_try_new (float, (gsize) n_fit * m * CP_EMBEDDING_DIM);
  if (emb == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
                   "localisation: out of memory for %d x %d patch embeddings (lower the number of "
                   "fitting images or raise the fitting stride)", n_fit, m);
      return FALSE;
    }
  li = g_new (int, m);
  lj = g_new (int, m);
  for (int k = 0; k < m; k++)
    {
      li[k] = (k / fit_grid) * step;
      lj[k] = (k % fit_grid) * step;
    }
  {
    CpPatchEmbedder *pe = cp_patch_embedder_new (net, loc->patch, loc->batch, &err);
    if (pe == NULL)
      return cp_pipeline_set_error (error, &err);
    for (int k = 0; k < n_fit; k++)
      {
        /* Evenly spread over the set when only some images are used. */
        int i = (int) ((gint64) k * n / n_fit);
        cp_rgb_to_tensor (images + (gsize) i * size * size * 3, size, size, tensor);
        if (cp_patch_embedder_run (pe, tensor, size, size, loc->fit_stride,
                                   emb + (gsize) k * m * CP_EMBEDDING_DIM, cancel, &err) != CP_OK)
          {
            cp_patch_embedder_free (pe);
            return core_error (error, &err);
          }
        fit_report (progress, progress_data, CP_TRAIN_PHASE_FITTING, k + 1, n_fit);
      }
    cp_patch_embedder_free (pe);
  }
  if (cp_patch_density_fit (model->density, emb, n_fit, m, li, lj, CP_EMBEDDING_DIM, &err) != CP_OK)
    return core_error (error, &err);

  /* Colour range from the train patches' own scores (fitted on, so biased
   * low: the range is for display, not a verdict). */
  fit_scores = g_new (float, (gsize) n_fit * m);
  {
    g_autofree int *ai = g_new (int, (gsize) n_fit * m);
    g_autofree int *aj = g_new (int, (gsize) n_fit * m);
    for (int k = 0; k < n_fit * m; k++)
      {
        ai[k] = li[k % m];
        aj[k] = lj[k % m];
      }
    if (cp_patch_density_score_at (model->density, emb, n_fit * m, ai, aj, CP_EMBEDDING_DIM,
                                   fit_scores, &err) != CP_OK)
      return core_error (error, &err);
  }
  g_clear_pointer (&emb, g_free);
  qsort (fit_scores, (gsize) n_fit * m, sizeof (float), compare_float);
  {
    gsize total = (gsize) n_fit * m;
    double median = fit_scores[total / 2];
    double p999 = fit_scores[MIN (total - 1, (gsize) (0.999 * (total - 1) + 0.5))];
    model->low = median;
    model->high = median + 2 * MAX (p999 - median, 1e-6);
  }

  if (opts->evaluate_test)
    {
      g_autoptr (CpCategory) cat = cp_dataset_scan_category (opts->data_dir, opts->category, NULL);
      if (cat != NULL && cat->n_test_good > 0 && cat->n_test_defect > cat->n_missing_masks)
        {
          CpLocalizeEvalResult ev;
          EvalRelay relay = { progress, progress_data };
          cp_localize_eval_result_init (&ev);
          if (!cp_patch_model_evaluate (model, opts->data_dir, opts->category, eval_relay, &relay,
                                        cancel, &ev, error))
            {
              cp_localize_eval_result_clear (&ev);
              return FALSE;
            }
          pixel_auroc = ev.pixel_auroc;
          image_auroc = ev.image_auroc;
          result->test_images = ev.images;
          for (guint k = 0; k < ev.skipped_images->len; k++)
            g_ptr_array_add (result->skipped_images, g_strdup (ev.skipped_images->pdata[k]));
          cp_localize_eval_result_clear (&ev);
        }
    }

  fit_report (progress, progress_data, CP_TRAIN_PHASE_SAVING, 0, 1);
  if (cp_pipeline_cancelled (cancel))
    return set_cancelled (error);
  path = cp_patch_model_path (opts->model_dir, opts->category);
  {
    CpSafetensorsWriter *w = cp_safetensors_writer_new ();
    int count = cp_patch_density_count (model->density);
    int64_t s2[2] = { count, CP_EMBEDDING_DIM }, s3[3] = { count, CP_EMBEDDING_DIM, CP_EMBEDDING_DIM };
    g_autofree float *means = g_try_new (float, (gsize) count * CP_EMBEDDING_DIM);
    g_autofree float *precisions = g_try_new (float, (gsize) count * CP_EMBEDDING_DIM * CP_EMBEDDING_DIM);
    g_autofree char *s_version = g_strdup_printf ("%d", CP_PATCH_MODEL_FORMAT_VERSION);
    g_autofree char *s_size = g_strdup_printf ("%d", size);
    g_autofree char *s_crop = g_strdup_printf ("%d", opts->crop_size);
    g_autofree char *s_patch = g_strdup_printf ("%d", loc->patch);
    g_autofree char *s_stride = g_strdup_printf ("%d", loc->stride);
    g_autofree char *s_fit_stride = g_strdup_printf ("%d", loc->fit_stride);
    g_autofree char *s_cells = g_strdup_printf ("%d", cp_patch_density_cells (model->density));
    g_autofree char *s_grid = g_strdup_printf ("%d", grid);
    g_autofree char *s_head = g_strdup_printf ("%d", opts->head_layers);
    g_autofree char *s_steps = g_strdup_printf ("%d", opts->steps);
    g_autofree char *s_batch = g_strdup_printf ("%d", opts->batch_size);
    g_autofree char *s_lr = cp_pipeline_format_double (opts->lr);
    g_autofree char *s_seed = g_strdup_printf ("%" G_GUINT64_FORMAT, opts->seed);
    g_autofree char *s_ntrain = g_strdup_printf ("%d", n_fit);
    g_autofree char *s_low = cp_pipeline_format_double (model->low);
    g_autofree char *s_high = cp_pipeline_format_double (model->high);
    g_autofree char *s_pixel = cp_pipeline_format_double (pixel_auroc);
    g_autofree char *s_image = cp_pipeline_format_double (image_auroc);
    const char *deterministic = g_getenv ("CP_DETERMINISTIC_DATE");
    g_autofree char *created = deterministic ? g_strdup (deterministic) : cp_pipeline_now_iso8601 ();
    const char *meta[] = {
      "backbone_init", result->backbone_init ? result->backbone_init : "unknown",
      "batch_size", s_batch, "category", opts->category, "cells", s_cells, "created", created,
      "crop_size", s_crop, "density", cp_patch_density_kind_to_string (kind),
      "fit_stride", s_fit_stride, "format", CP_PATCH_MODEL_FORMAT, "format_version", s_version,
      "grid", s_grid, "head_layers", s_head, "image_auroc", s_image, "image_size", s_size,
      "lr", s_lr, "patch_size", s_patch, "pixel_auroc", s_pixel,
      "pretrained", opts->weights_path ? "imagenet" : "none", "score_high", s_high,
      "score_low", s_low, "seed", s_seed, "steps", s_steps, "stride", s_stride,
      "train_images", s_ntrain, "variant", cp_augment_variant_to_string (opts->variant), NULL, NULL
    };
    gboolean saved = means != NULL && precisions != NULL;

    for (int g = 0; saved && g < count; g++)
      {
        const CpGde *gde = cp_patch_density_gde (model->density, g);
        memcpy (means + (gsize) g * CP_EMBEDDING_DIM, cp_gde_mean_f32 (gde), CP_EMBEDDING_DIM * sizeof (float));
        memcpy (precisions + (gsize) g * CP_EMBEDDING_DIM * CP_EMBEDDING_DIM, cp_gde_precision_f32 (gde),
                (gsize) CP_EMBEDDING_DIM * CP_EMBEDDING_DIM * sizeof (float));
      }
    if (!saved)
      cp_error_set (&err, CP_ERR_NOMEM, "out of memory for %d Gaussians", count);
    saved = saved && cp_network_save (net, w, &err) == CP_OK
            && cp_safetensors_writer_add (w, "patch.mean", CP_DTYPE_F32, s2, 2, means, &err) == CP_OK
            && cp_safetensors_writer_add (w, "patch.precision", CP_DTYPE_F32, s3, 3, precisions, &err) == CP_OK;
    for (int i = 0; saved && meta[i]; i += 2)
      saved = cp_safetensors_writer_set_metadata (w, meta[i], meta[i + 1], &err) == CP_OK;
    saved = saved && cp_safetensors_writer_save (w, path, &err) == CP_OK;
    cp_safetensors_writer_free (w);
    if (!saved)
      {
        g_set_error (error, CP_PIPELINE_ERROR,
                     err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : cp_pipeline_error_from_status (err.code),
                     "cannot write patch model %s: %s", path, err.message);
        return FALSE;
      }
  }
  fit_report (progress, progress_data, CP_TRAIN_PHASE_SAVING, 1, 1);
  loc->measured_pixel_auroc = pixel_auroc;
  result->auroc = image_auroc;
  result->model_path = g_steal_pointer (&path);
  return TRUE;
}
