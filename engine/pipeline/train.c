/* train.c: one CutPaste model per category, from images to model file.
 *
 * Determinism: the network is initialised from the seed; the batch of step
 * t is drawn from a generator seeded from (seed, t) alone.  So the batch a
 * worker thread prepares never depends on thread timing, and a resumed run
 * needs nothing but the step number, the weights, BN statistics and the
 * momentum buffers to continue exactly where the interrupted run was.
 */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/augment/cutpaste.h"
#include "core/density/auroc.h"
#include "core/density/threshold.h"
#include "core/io/safetensors.h"
#include "core/nn/schedule.h"
#include "data/dataset.h"
#include "density-fit.h"
#include "local-model.h"
#include "model.h"
#include "pipeline-private.h"
#include "weights.h"

#define CHECKPOINT_FORMAT "cutpaste-inspector-checkpoint"

const char *
cp_train_local_to_string (CpTrainLocal local)
{
  static const char *const names[] = { "none", "auto", "per-location", "shared", "pattern" };

  return (unsigned) local < G_N_ELEMENTS (names) ? names[local] : NULL;
}

gboolean
cp_train_local_from_string (const char *name, CpTrainLocal *local)
{
  for (int i = CP_TRAIN_LOCAL_NONE; i <= CP_TRAIN_LOCAL_PATTERN; i++)
    if (name != NULL && strcmp (name, cp_train_local_to_string (i)) == 0)
      {
        *local = i;
        return TRUE;
      }
  return FALSE;
}

int
cp_train_local_image_size (const CpTrainOptions *opts)
{
  if (opts->local_image_size > 0)
    return opts->local_image_size;
  return CLAMP (4 * opts->image_size, 64, CP_LOCAL_DEFAULT_SIZE);
}

const char *
cp_train_phase_to_string (CpTrainPhase phase)
{
  static const char *const names[] = { "loading", "training", "fitting", "evaluating", "saving" };

  return (unsigned) phase < G_N_ELEMENTS (names) ? names[phase] : "?";
}

gboolean
cp_train_options_init (CpTrainOptions *opts, const char *profile)
{
  gboolean known = TRUE;

  memset (opts, 0, sizeof *opts);
  opts->variant = CP_AUGMENT_3WAY;
  opts->momentum = 0.9;
  opts->weight_decay = 3e-5;
  opts->head_layers = 1;
  opts->seed = 0;
  opts->device = "auto";
  opts->freeze_steps = 20;
  opts->model_dir = "models";
  opts->false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
  opts->kfold = CP_THRESHOLD_DEFAULT_FOLDS;
  opts->evaluate_test = TRUE;
  opts->lr = 0.03;
  opts->local = CP_TRAIN_LOCAL_AUTO;
  opts->hold_out = TRUE;

  if (profile != NULL && strcmp (profile, "paper") == 0)
    {
      opts->image_size = 256;
      opts->batch_size = 32;
      opts->steps = 10000;
      opts->checkpoint_every = 500;
      return TRUE;
    }
  if (profile != NULL && strcmp (profile, "instant") == 0)
    {
      /* The untrained ImageNet embedding at the size it was trained for;
       * one image per view keeps the unused batch buffers small. */
      opts->image_size = 256;
      opts->batch_size = 1;
      opts->steps = 0;
      opts->checkpoint_every = 0;
      /* The paper's baseline: the ImageNet embedding's Gaussian alone. */
      opts->local = CP_TRAIN_LOCAL_NONE;
      return TRUE;
    }
  if (profile != NULL && strcmp (profile, "quick") != 0)
    known = FALSE;
  /* Quick: small images and batches for two CPU cores, with as many steps
   * as fit in five minutes on the 2-core development machine, whose
   * training speed at S = 64 drifts between 70 and 95 images/s: 1000 steps
   * took 291 and 344 s, so 800.  More steps help, but not steadily: weave,
   * seed 0, gave 0.57 / 0.61 / 0.53 / 0.78 after 300 / 800 / 1000 / 1100
   * steps; seed 1 gave 0.72 / 0.84 / 1.00 after 300 / 850 / 2500 steps
   * (2500 steps is about 12 minutes).  The washer stays near 0.75 up to
   * 1000 steps: its scratches and stains are missed.  Smaller batches for
   * more steps (B = 4), S = 128, 64 x 64 crops, lr 0.1 and the scar variant
   * did no better; see the README. */
  opts->image_size = 64;
  opts->batch_size = 8;
  opts->steps = 800;
  opts->checkpoint_every = 100;
  return known;
}

void
cp_train_result_init (CpTrainResult *result)
{
  memset (result, 0, sizeof *result);
  result->auroc = NAN;
  result->threshold = NAN;
  result->final_loss = NAN;
  result->local_alignment = NAN;
  result->local_separation = NAN;
  result->skipped_images = g_ptr_array_new_with_free_func (g_free);
  result->loss_history = g_array_new (FALSE, FALSE, sizeof (float));
}

void
cp_train_result_clear (CpTrainResult *result)
{
  g_free (result->model_path);
  g_free (result->device_name);
  g_free (result->notice);
  g_free (result->backbone_init);
  if (result->skipped_images)
    g_ptr_array_unref (result->skipped_images);
  if (result->loss_history)
    g_array_unref (result->loss_history);
  cp_train_result_init (result);
}

char *
cp_train_model_path (const char *model_dir, const char *category)
{
  g_autofree char *name = g_strdup_printf ("%s.safetensors", category);

  return g_build_filename (model_dir, name, NULL);
}

char *
cp_train_checkpoint_path (const char *model_dir, const char *category)
{
  g_autofree char *name = g_strdup_printf (".%s.checkpoint.safetensors", category);

  return g_build_filename (model_dir, name, NULL);
}

/* ------------------------------------------------------------------ */

typedef struct
{
  const CpTrainOptions *opts;
  CpTrainProgressFunc   progress_cb;
  gpointer              user_data;
  const volatile int   *cancel;
  CpTrainResult        *result;
  gint64                start_us;

  CpBackend            *be;
  CpNetwork            *net;
  CpImageCache         *cache;
  CpAugmentConfig       aug;
  int                   views;
  guint64               data_seed;

  /* Two host batches: the worker fills one while the network reads the other. */
  uint8_t              *aug_pixels;      /* (views * B, S, S, 3) scratch of the worker */
  uint8_t              *crop_pixels;     /* (B, crop, crop, 3) with opts->crop_size */
  float                *host_images[2];  /* (views * B, 3, S, S) */
  int32_t              *host_labels[2];  /* views * B */
  float                *dev_images;      /* backend memory */
  int32_t              *dev_labels;

  /* The images the network trains on: all of train/good, or those not
   * held out for calibration (density-fit.h). */
  int                  *train_index;     /* (n_train_index) into cache */
  int                   n_train_index;
  gboolean             *held_out;        /* (cache->n), NULL without a held-out split */
  CpLocalModel         *local;           /* region scores, NULL when not asked for */
  double                local_alignment; /* of the training regions (local_density_kind) */
  double                local_separation; /* mean over training images (local-patterns.h) */
} Trainer;

static void
report (Trainer *t, CpTrainPhase phase, int step, int total, double loss, double lr,
        double ips, double eta, double wait)
{
  CpTrainProgress p;

  if (t->progress_cb == NULL)
    return;
  p.phase = phase;
  p.step = step;
  p.total_steps = total;
  p.loss = loss;
  p.lr = lr;
  p.images_per_sec = ips;
  p.eta_seconds = eta;
  p.data_wait_seconds = wait;
  p.elapsed_seconds = (g_get_monotonic_time () - t->start_us) / 1e6;
  t->progress_cb (&p, t->user_data);
}

static gboolean
set_cancelled (GError **error)
{
  g_set_error_literal (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED, "training cancelled");
  return FALSE;
}

/* Builds the batch of step @step into slot @slot. */
typedef struct
{
  Trainer  *t;
  int       step;
  int       slot;
  CpStatus  status;
  CpError   error;
} BatchJob;

static uint64_t
step_seed (guint64 data_seed, int step)
{
  return data_seed ^ ((uint64_t) (step + 1) * 0xD1B54A32D192ED03ULL);
}

static void
build_batch (BatchJob *job)
{
  Trainer *t = job->t;
  const CpTrainOptions *o = t->opts;
  int b = o->batch_size, s = o->crop_size > 0 ? o->crop_size : o->image_size;
  size_t n = (size_t) t->n_train_index;
  const uint8_t *sources[b];
  size_t per_image = (size_t) s * s * 3;
  size_t per_tensor = (size_t) 3 * s * s;
  CpRng rng;

  cp_rng_seed (&rng, step_seed (t->data_seed, job->step));
  /* Sources without repeats inside a step when the set is large enough
   * (a partial Fisher-Yates shuffle), with repeats otherwise. */
  {
    g_autofree size_t *perm = g_new (size_t, n);
    for (size_t i = 0; i < n; i++)
      perm[i] = i;
    for (int i = 0; i < b; i++)
      {
        size_t pick;
        if ((size_t) i < n)
          {
            size_t j = i + (size_t) cp_rng_int_range (&rng, 0, (int64_t) (n - 1 - i));
            size_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
            pick = perm[i];
          }
        else
          pick = (size_t) cp_rng_int_range (&rng, 0, (int64_t) n - 1);
        sources[i] = cp_image_cache_image (t->cache, (size_t) t->train_index[pick]);
      }
  }
  /* Patch model: each source becomes a random crop, and everything after
   * (jitter, CutPaste and scar sizes) works at the crop's size. */
  if (o->crop_size > 0)
    for (int i = 0; i < b; i++)
      {
        uint8_t *crop = t->crop_pixels + (size_t) i * per_image;
        job->status = cp_augment_random_crop (&rng, sources[i], o->image_size, o->image_size,
                                              s, crop, NULL, NULL, &job->error);
        if (job->status != CP_OK)
          return;
        sources[i] = crop;
      }
  job->status = cp_augment_batch (&t->aug, &rng, sources, b, s, t->aug_pixels,
                                  t->host_labels[job->slot], NULL, &job->error);
  if (job->status != CP_OK)
    return;
  for (int i = 0; i < t->views * b; i++)
    cp_rgb_to_tensor (t->aug_pixels + i * per_image, s, s,
                      t->host_images[job->slot] + i * per_tensor);
}

static gpointer
build_batch_thread (gpointer data)
{
  build_batch (data);
  return NULL;
}

/* ---- checkpoints ---------------------------------------------------- */

static gboolean
save_checkpoint (Trainer *t, int step, const char *path, GError **error)
{
  const CpTrainOptions *o = t->opts;
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  size_t count = cp_network_weight_count (t->net);
  g_autofree float *momentum = g_new (float, count);
  int64_t mshape[1] = { (int64_t) count };
  int64_t lshape[1] = { step };
  CpError err = { 0 };
  gboolean ok = FALSE;
  g_autofree char *s_step = g_strdup_printf ("%d", step);
  g_autofree char *s_seed = g_strdup_printf ("%" G_GUINT64_FORMAT, o->seed);
  g_autofree char *s_size = g_strdup_printf ("%d", o->image_size);
  g_autofree char *s_head = g_strdup_printf ("%d", o->head_layers);
  g_autofree char *s_batch = g_strdup_printf ("%d", o->batch_size);
  g_autofree char *s_steps = g_strdup_printf ("%d", o->steps);
  g_autofree char *s_lr = cp_pipeline_format_double (o->lr);
  g_autofree char *s_ntrain = g_strdup_printf ("%zu", t->cache->n);
  const char *meta[] = {
    "format", CHECKPOINT_FORMAT, "step", s_step, "seed", s_seed, "image_size", s_size,
    "head_layers", s_head, "batch_size", s_batch, "steps", s_steps, "lr", s_lr,
    "variant", cp_augment_variant_to_string (o->variant), "train_images", s_ntrain,
    "pretrained", o->weights_path ? "yes" : "no", "backbone_init", t->result->backbone_init, NULL
  };

  if (t->be->download (t->be, momentum, cp_network_momentum (t->net), count * sizeof (float), &err) != CP_OK
      || cp_network_save (t->net, w, &err) != CP_OK
      || cp_safetensors_writer_add (w, "optimizer.momentum", CP_DTYPE_F32, mshape, 1, momentum, &err) != CP_OK
      || (step > 0 && cp_safetensors_writer_add (w, "train.loss", CP_DTYPE_F32, lshape, 1,
                                                 t->result->loss_history->data, &err) != CP_OK))
    goto out;
  for (int i = 0; meta[i]; i += 2)
    if (cp_safetensors_writer_set_metadata (w, meta[i], meta[i + 1], &err) != CP_OK)
      goto out;
  if (cp_safetensors_writer_save (w, path, &err) != CP_OK)
    goto out;
  ok = TRUE;
out:
  cp_safetensors_writer_free (w);
  if (!ok)
    g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot write checkpoint %s: %s",
                 path, err.message);
  return ok;
}

/* Refuses a checkpoint made with other settings: continuing it would
 * silently train something else than asked. */
static gboolean
check_meta (const CpSafetensors *st, const char *path, const char *key, const char *expected,
            GError **error)
{
  const char *value = cp_safetensors_metadata (st, key);

  if (value == NULL || strcmp (value, expected) != 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "checkpoint %s was made with %s %s but this run asks for %s; "
                   "use the same settings or train without --resume",
                   path, key, value ? value : "(none)", expected);
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_checkpoint (Trainer *t, const char *path, int *step, GError **error)
{
  const CpTrainOptions *o = t->opts;
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (path, &err);
  size_t count = cp_network_weight_count (t->net);
  g_autofree float *momentum = NULL;
  int64_t mshape[1] = { (int64_t) count };
  gboolean ok = FALSE;
  g_autofree char *s_seed = g_strdup_printf ("%" G_GUINT64_FORMAT, o->seed);
  g_autofree char *s_size = g_strdup_printf ("%d", o->image_size);
  g_autofree char *s_head = g_strdup_printf ("%d", o->head_layers);
  g_autofree char *s_batch = g_strdup_printf ("%d", o->batch_size);
  g_autofree char *s_steps = g_strdup_printf ("%d", o->steps);
  g_autofree char *s_lr = cp_pipeline_format_double (o->lr);
  g_autofree char *s_ntrain = g_strdup_printf ("%zu", t->cache->n);
  gint64 saved_step;

  if (st == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "cannot resume: %s", err.message);
      return FALSE;
    }
  if (!check_meta (st, path, "format", CHECKPOINT_FORMAT, error)
      || !check_meta (st, path, "seed", s_seed, error)
      || !check_meta (st, path, "image_size", s_size, error)
      || !check_meta (st, path, "head_layers", s_head, error)
      || !check_meta (st, path, "batch_size", s_batch, error)
      || !check_meta (st, path, "steps", s_steps, error)
      || !check_meta (st, path, "lr", s_lr, error)
      || !check_meta (st, path, "variant", cp_augment_variant_to_string (o->variant), error)
      || !check_meta (st, path, "train_images", s_ntrain, error)
      || !check_meta (st, path, "pretrained", o->weights_path ? "yes" : "no", error))
    goto out;
  if (t->result->backbone_init == NULL && cp_safetensors_metadata (st, "backbone_init") != NULL)
    t->result->backbone_init = g_strdup (cp_safetensors_metadata (st, "backbone_init"));
  saved_step = g_ascii_strtoll (cp_safetensors_metadata (st, "step"), NULL, 10);
  if (saved_step < 0 || saved_step > o->steps)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "checkpoint %s: step %" G_GINT64_FORMAT " is out of range", path, saved_step);
      goto out;
    }
  momentum = g_new (float, count);
  if (cp_network_load (t->net, st, CP_LOAD_ALL, &err) != CP_OK
      || cp_safetensors_read_f32 (st, "optimizer.momentum", mshape, 1, momentum, &err) != CP_OK
      || t->be->upload (t->be, cp_network_momentum (t->net), momentum, count * sizeof (float), &err) != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "cannot resume from %s: %s",
                   path, err.message);
      goto out;
    }
  if (saved_step > 0)
    {
      int64_t lshape[1] = { saved_step };
      g_array_set_size (t->result->loss_history, saved_step);
      if (cp_safetensors_read_f32 (st, "train.loss", lshape, 1,
                                   (float *) t->result->loss_history->data, &err) != CP_OK)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "cannot resume from %s: %s",
                       path, err.message);
          goto out;
        }
    }
  *step = (int) saved_step;
  ok = TRUE;
out:
  cp_safetensors_close (st);
  return ok;
}

/* ---- phases ------------------------------------------------------------ */

typedef struct
{
  Trainer *t;
} LoadProgress;

static gboolean
load_progress (size_t done, size_t total, gpointer user_data)
{
  Trainer *t = user_data;

  report (t, CP_TRAIN_PHASE_LOADING, (int) done, (int) total, NAN, NAN, NAN, NAN, 0);
  return !cp_pipeline_cancelled (t->cancel);
}

static gboolean
validate_options (const CpTrainOptions *o, GError **error)
{
#define BAD(...) do { g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID, __VA_ARGS__); return FALSE; } while (0)
  if (o->data_dir == NULL || o->category == NULL || o->model_dir == NULL)
    BAD ("data folder, category and model folder are required");
  if (o->category[0] == '\0' || strchr (o->category, '/') || strcmp (o->category, "..") == 0)
    BAD ("invalid category name '%s'", o->category);
  if (o->steps == 0 && o->weights_path == NULL)
    BAD ("0 steps (the instant profile) fits the Gaussian on ImageNet weights, and none were "
         "given or found: run 'cutpaste weights fetch' or 'cutpaste weights import FILE'");
  if (o->steps < 0)
    BAD ("steps must not be negative (got %d)", o->steps);
  if (o->batch_size < 1 || o->batch_size > 4096)
    BAD ("batch size must be between 1 and 4096 (got %d)", o->batch_size);
  if (o->image_size < 32 || o->image_size > 1024 || o->image_size % 32 != 0)
    BAD ("image size must be a multiple of 32 between 32 and 1024 (got %d)", o->image_size);
  if (!(o->lr > 0 && o->lr < 10))
    BAD ("learning rate must be in (0, 10) (got %g)", o->lr);
  if (o->head_layers < 0 || o->head_layers > 8)
    BAD ("head layers must be between 0 and 8 (got %d)", o->head_layers);
  if (!(o->false_reject_rate >= 0 && o->false_reject_rate < 1))
    BAD ("false-reject rate must be in [0, 1) (got %g)", o->false_reject_rate);
  if (cp_augment_variant_to_string (o->variant) == NULL)
    BAD ("unknown variant %d", (int) o->variant);
  if (o->checkpoint_every < 0)
    BAD ("checkpoint interval must not be negative");
  if (o->crop_size != 0 && (o->crop_size < 32 || o->crop_size % 32 != 0 || o->crop_size > o->image_size))
    BAD ("crop size must be a multiple of 32 between 32 and the image size %d (got %d)",
         o->image_size, o->crop_size);
  if ((unsigned) o->local > CP_TRAIN_LOCAL_PATTERN)
    BAD ("unknown local model kind %d", (int) o->local);
  if (o->local != CP_TRAIN_LOCAL_NONE)
    {
      int ls = cp_train_local_image_size (o);
      int grid = o->local_grid > 0 ? o->local_grid : ls / 8;

      if (ls < 64 || ls > 1024 || ls % 32 != 0)
        BAD ("local image size must be a multiple of 32 between 64 and 1024 (got %d)", ls);
      if (grid < 1 || (ls / 4) % grid != 0)
        BAD ("a local grid of %d regions does not divide the %d x %d map of a %d-pixel image",
             grid, ls / 4, ls / 4, ls);
      if (o->local_channels < 0 || o->local_channels > CP_LOCAL_ALL_CHANNELS)
        BAD ("local channels must be between 1 and %d (got %d)", CP_LOCAL_ALL_CHANNELS,
             o->local_channels);
    }
#undef BAD
  return TRUE;
}

/* Embeds every cached training image (inference mode). */
static gboolean
embed_cache (Trainer *t, float *embeddings, GError **error)
{
  int s = t->opts->image_size;
  size_t per_image = (size_t) s * s * 3, per_tensor = (size_t) 3 * s * s;
  g_autofree float *tensors = g_new (float, per_tensor * CP_PIPELINE_EMBED_BATCH);
  int n = (int) t->cache->n;

  for (int start = 0; start < n; start += CP_PIPELINE_EMBED_BATCH)
    {
      int count = MIN (CP_PIPELINE_EMBED_BATCH, n - start);

      if (cp_pipeline_cancelled (t->cancel))
        return set_cancelled (error);
      for (int i = 0; i < count; i++)
        cp_rgb_to_tensor (t->cache->pixels + (size_t) (start + i) * per_image, s, s,
                          tensors + i * per_tensor);
      if (!cp_pipeline_embed_tensors (t->net, t->dev_images, tensors, count, s,
                                      embeddings + (size_t) start * CP_EMBEDDING_DIM, error))
        return FALSE;
      report (t, CP_TRAIN_PHASE_FITTING, start + count, n, NAN, NAN, NAN, NAN, 0);
    }
  return TRUE;
}

/* Whether the local part reads binary patterns: asked for, or for "auto"
 * when the training images are two-level (their mean separation, measured
 * on @big's @n images, reaches CP_LOCAL_PATTERN_SEPARATION). */
static gboolean
local_wants_patterns (Trainer *t, const CpImageCache *big, float *tensor)
{
  int ls = cp_local_model_spec (t->local)->image_size;
  size_t per_image = (size_t) ls * ls * 3;
  g_autofree unsigned char *scratch = NULL;
  double sum = 0.0;

  if (t->opts->local == CP_TRAIN_LOCAL_PATTERN)
    return TRUE;
  if (t->opts->local != CP_TRAIN_LOCAL_AUTO)
    return FALSE;
  scratch = g_new (unsigned char, (gsize) ls * ls);
  for (size_t i = 0; i < big->n; i++)
    {
      cp_rgb_to_tensor (big->pixels + i * per_image, ls, ls, tensor);
      sum += cp_local_pattern_separation (tensor, ls, scratch);
    }
  t->local_separation = big->n > 0 ? sum / (double) big->n : NAN;
  return t->local_separation >= CP_LOCAL_PATTERN_SEPARATION;
}

/* Region vectors (n, regions, D) of every cached training image, decoded
 * again at the local model's size, into a new array at *@features; the
 * local model switches to patterns first when local_wants_patterns says
 * so. */
static gboolean
local_features_of_cache (Trainer *t, float **features, GError **error)
{
  int ls = cp_local_model_spec (t->local)->image_size;
  size_t per_image = (size_t) ls * ls * 3, per_tensor = (size_t) 3 * ls * ls;
  size_t per_out;
  int n = (int) t->cache->n;
  g_autoptr (CpImageCache) big = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree float *tensors = g_new (float, per_tensor * CP_PIPELINE_EMBED_BATCH);

  big = cp_image_cache_new ((const char *const *) t->cache->paths, t->cache->n, ls, 0, NULL, NULL,
                            NULL, &local);
  if (big == NULL || big->n != t->cache->n)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "category '%s': the training images could not be read again at %d x %d: %s",
                   t->opts->category, ls, ls,
                   local ? local->message : big->failed_reasons[0]);
      return FALSE;
    }
  if (local_wants_patterns (t, big, tensors) && !cp_local_model_use_patterns (t->local, error))
    return FALSE;
  per_out = cp_local_feature_count (cp_local_model_spec (t->local));
  *features = g_try_new (float, (size_t) n * per_out);
  if (*features == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
                   "out of memory for the region vectors of %d images", n);
      return FALSE;
    }
  for (int start = 0; start < n; start += CP_PIPELINE_EMBED_BATCH)
    {
      int count = MIN (CP_PIPELINE_EMBED_BATCH, n - start);

      if (cp_pipeline_cancelled (t->cancel))
        return set_cancelled (error);
      for (int i = 0; i < count; i++)
        cp_rgb_to_tensor (big->pixels + (size_t) (start + i) * per_image, ls, ls,
                          tensors + i * per_tensor);
      if (!cp_local_model_features (t->local, tensors, count, *features + (size_t) start * per_out,
                                    error))
        return FALSE;
      report (t, CP_TRAIN_PHASE_FITTING, start + count, n, NAN, NAN, NAN, NAN, 0);
    }
  return TRUE;
}

/* Scores test/ with the fitted densities (@fit's Gaussian, and the local
 * model when there is one) and returns its image AUROC (NaN without a test
 * set holding both classes). */
static gboolean
measure_auroc (Trainer *t, const CpCategory *cat, const CpDensityFit *fit, double *auroc,
               GError **error)
{
  int s = t->opts->image_size, n = (int) cat->n_test;
  int ls = t->local ? cp_local_model_spec (t->local)->image_size : 0;
  size_t per_tensor = (size_t) 3 * s * s, per_local = (size_t) 3 * ls * ls;
  size_t per_out = t->local ? cp_local_feature_count (cp_local_model_spec (t->local)) : 0;
  g_autofree float *tensors = g_new (float, per_tensor * CP_PIPELINE_EMBED_BATCH);
  g_autofree float *local_tensors = t->local ? g_new (float, per_local * CP_PIPELINE_EMBED_BATCH) : NULL;
  g_autofree float *emb = g_new (float, (gsize) CP_PIPELINE_EMBED_BATCH * CP_EMBEDDING_DIM);
  g_autofree float *feat = t->local ? g_new (float, per_out * CP_PIPELINE_EMBED_BATCH) : NULL;
  g_autofree double *scores = g_new (double, MAX (n, 1));
  g_autofree uint8_t *labels = g_new (uint8_t, MAX (n, 1));
  double global[CP_PIPELINE_EMBED_BATCH], local_max[CP_PIPELINE_EMBED_BATCH];
  int filled = 0, scored = 0;
  CpError err = { 0 };

  *auroc = NAN;
  if (cat->n_test_good == 0 || cat->n_test_defect == 0)
    return TRUE;
  for (int i = 0; i <= n; i++)
    {
      if (i < n)
        {
          g_autoptr (CpImage) image = NULL;
          g_autoptr (CpImage) sized = NULL;
          g_autoptr (GError) local = NULL;

          if (cp_pipeline_cancelled (t->cancel))
            return set_cancelled (error);
          if (!cp_image_load (cat->test[i].path, &image, &local))
            {
              g_ptr_array_add (t->result->skipped_images, g_strdup (local->message));
              continue;
            }
          sized = cp_image_resize_bicubic (image, s, s);
          cp_image_to_tensor (sized, tensors + filled * per_tensor);
          if (t->local)
            {
              g_autoptr (CpImage) big = cp_image_resize_bicubic (image, ls, ls);
              cp_image_to_tensor (big, local_tensors + filled * per_local);
            }
          labels[scored + filled] = cat->test[i].label == CP_LABEL_DEFECT;
          filled++;
        }
      if (filled == CP_PIPELINE_EMBED_BATCH || (i == n && filled > 0))
        {
          if (!cp_pipeline_embed_tensors (t->net, t->dev_images, tensors, filled, s, emb, error))
            return FALSE;
          if (cp_gde_score (fit->gde, emb, filled, global, &err) != CP_OK)
            return cp_pipeline_set_error (error, &err);
          if (t->local
              && (!cp_local_model_features (t->local, local_tensors, filled, feat, error)
                  || !cp_local_model_score (t->local, feat, filled, NULL, local_max, error)))
            return FALSE;
          for (int k = 0; k < filled; k++)
            scores[scored + k] = cp_density_combine (global[k], t->local ? local_max[k] : NAN,
                                                     fit->global_scale, fit->local_scale);
          scored += filled;
          filled = 0;
          report (t, CP_TRAIN_PHASE_EVALUATING, scored, n, NAN, NAN, NAN, NAN, 0);
        }
    }
  t->result->test_images = scored;
  {
    gboolean has[2] = { FALSE, FALSE };
    for (int i = 0; i < scored; i++)
      has[labels[i]] = TRUE;
    if (!has[0] || !has[1])
      return TRUE;
  }
  if (cp_auroc (scores, labels, scored, auroc, &err) != CP_OK)
    return cp_pipeline_set_error (error, &err);
  return TRUE;
}

/* The density the options ask for, or for "auto" the one the training
 * regions' alignment suggests (local-model.h). */
static CpPatchDensityKind
local_density_kind (Trainer *t, const float *features)
{
  const CpLocalFeatureSpec *spec = cp_local_model_spec (t->local);
  int regions = spec->grid * spec->grid;
  size_t per_out = cp_local_feature_count (spec);
  g_autofree float *fit_rows = g_new (float, per_out * t->n_train_index);

  for (int k = 0; k < t->n_train_index; k++)
    memcpy (fit_rows + per_out * k, features + per_out * t->train_index[k], per_out * sizeof (float));
  t->local_alignment = cp_local_features_alignment (fit_rows, t->n_train_index, regions,
                                                    spec->n_channels);
  switch (t->opts->local)
    {
    case CP_TRAIN_LOCAL_SHARED:
      return CP_PATCH_DENSITY_SHARED;
    case CP_TRAIN_LOCAL_PER_LOCATION:
      return CP_PATCH_DENSITY_PER_LOCATION;
    default:
      return t->local_alignment > CP_LOCAL_ALIGNED_RATIO ? CP_PATCH_DENSITY_PER_LOCATION
                                                         : CP_PATCH_DENSITY_SHARED;
    }
}

static gboolean
train_loop (Trainer *t, int first_step, const char *checkpoint_path, GError **error)
{
  const CpTrainOptions *o = t->opts;
  int n_images = t->views * o->batch_size;
  int side = o->crop_size > 0 ? o->crop_size : o->image_size;
  size_t tensor_bytes = (size_t) n_images * 3 * side * side * sizeof (float);
  BatchJob jobs[2];
  GThread *worker = NULL;
  double wait = 0, step_time_avg = NAN;
  gint64 last_us = g_get_monotonic_time ();
  CpError err = { 0 };
  int slot = 0;

  /* The first batch is built here; then each step's batch is built while
   * the previous one trains. */
  jobs[0] = (BatchJob) { t, first_step, 0, CP_OK, { 0 } };
  if (first_step < o->steps)
    build_batch (&jobs[0]);

  for (int step = first_step; step < o->steps; step++)
    {
      BatchJob *job = &jobs[slot];
      int freeze = o->weights_path != NULL && step < o->freeze_steps;
      double lr = cp_lr_cosine (o->lr, step, o->steps);
      float loss = NAN;
      gint64 now;
      gboolean failed;

      if (job->status != CP_OK)
        return cp_pipeline_set_error (error, &job->error);
      if (cp_pipeline_cancelled (t->cancel))
        return set_cancelled (error);

      if (t->be->upload (t->be, t->dev_images, t->host_images[slot], tensor_bytes, &err) != CP_OK
          || t->be->upload (t->be, t->dev_labels, t->host_labels[slot], n_images * sizeof (int32_t), &err) != CP_OK)
        return cp_pipeline_set_error (error, &err);

      if (step + 1 < o->steps)
        {
          jobs[1 - slot] = (BatchJob) { t, step + 1, 1 - slot, CP_OK, { 0 } };
          worker = g_thread_new ("cp-batch", build_batch_thread, &jobs[1 - slot]);
        }

      failed = cp_network_forward (t->net, t->dev_images, n_images, side, side,
                                   TRUE, &err) != CP_OK
               || cp_network_loss_backward (t->net, t->dev_labels, TRUE, freeze, &loss, &err) != CP_OK;
      /* The backend's loss op may itself refuse non-finite logits
       * (CP_ERR_NUMERIC): the same divergence, reported the same way. */
      if ((!failed && !isfinite (loss)) || (failed && err.code == CP_ERR_NUMERIC))
        {
          if (worker)
            g_thread_join (worker);
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_NUMERIC,
                       "the loss became %s at step %d (learning rate %g too high?); "
                       "the model was not written%s",
                       failed ? "non-finite" : isnan (loss) ? "NaN" : "infinite", step + 1, lr,
                       checkpoint_path ? ", the last checkpoint is kept" : "");
          return FALSE;
        }
      if (!failed)
        failed = cp_network_sgd_step (t->net, (float) lr, (float) o->momentum, (float) o->weight_decay,
                                      freeze, &err) != CP_OK;
      if (worker)
        {
          gint64 before = g_get_monotonic_time ();
          g_thread_join (worker);
          worker = NULL;
          wait += (g_get_monotonic_time () - before) / 1e6;
        }
      if (failed)
        return cp_pipeline_set_error (error, &err);

      g_array_append_val (t->result->loss_history, loss);
      now = g_get_monotonic_time ();
      {
        double dt = (now - last_us) / 1e6;
        step_time_avg = isnan (step_time_avg) ? dt : 0.9 * step_time_avg + 0.1 * dt;
      }
      last_us = now;
      report (t, CP_TRAIN_PHASE_TRAINING, step + 1, o->steps, loss, lr, n_images / step_time_avg,
              step_time_avg * (o->steps - step - 1), wait);

      if (checkpoint_path && o->checkpoint_every > 0 && (step + 1) % o->checkpoint_every == 0
          && step + 1 < o->steps)
        if (!save_checkpoint (t, step + 1, checkpoint_path, error))
          return FALSE;
      slot = 1 - slot;
    }
  return TRUE;
}

static void
trainer_clear (Trainer *t)
{
  if (t->be)
    {
      if (t->dev_images)
        t->be->free (t->be, t->dev_images);
      if (t->dev_labels)
        t->be->free (t->be, t->dev_labels);
    }
  cp_local_model_free (t->local);
  cp_network_free (t->net);
  if (t->be)
    cp_backend_free (t->be);
  g_free (t->train_index);
  g_free (t->held_out);
  g_clear_pointer (&t->cache, cp_image_cache_free);
  g_free (t->aug_pixels);
  g_free (t->crop_pixels);
  for (int i = 0; i < 2; i++)
    {
      g_free (t->host_images[i]);
      g_free (t->host_labels[i]);
    }
}

gboolean
cp_train_category (const CpTrainOptions *opts, CpTrainProgressFunc progress, gpointer user_data,
                   const volatile int *cancel, CpTrainResult *result, GError **error)
{
  Trainer t = { 0 };
  g_autoptr (CpCategory) cat = NULL;
  g_autofree char *checkpoint_path = NULL;
  g_autofree char *model_path = NULL;
  g_autofree float *embeddings = NULL;
  g_autofree float *features = NULL;
  g_autoptr (GError) local = NULL;
  CpNetworkConfig config;
  CpError err = { 0 };
  CpRng rng;
  CpDensityFit fit = { 0 };
  int first_step = 0;
  gboolean ok = FALSE;
  double auroc = NAN;

  t.opts = opts;
  t.local_separation = NAN;
  t.progress_cb = progress;
  t.user_data = user_data;
  t.cancel = cancel;
  t.result = result;
  t.start_us = g_get_monotonic_time ();

  if (!validate_options (opts, error))
    return FALSE;

  /* Data first: a missing category should fail before a device opens. */
  cat = cp_dataset_scan_category (opts->data_dir, opts->category, &local);
  if (cat == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA, "category '%s': %s",
                   opts->category, local->message);
      return FALSE;
    }
  if (cat->n_train == 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "category '%s': %s/%s/train/good holds no images", opts->category,
                   opts->data_dir, opts->category);
      return FALSE;
    }

  if (g_mkdir_with_parents (opts->model_dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot create model folder %s: %s",
                   opts->model_dir, g_strerror (e));
      return FALSE;
    }
  model_path = cp_train_model_path (opts->model_dir, opts->category);
  checkpoint_path = cp_train_checkpoint_path (opts->model_dir, opts->category);
  if (opts->crop_size > 0)
    {
      /* The patch model trains beside the image model: its own checkpoint. */
      g_autofree char *name = g_strdup_printf (".%s.patch%d.checkpoint.safetensors", opts->category,
                                               opts->crop_size);
      g_free (checkpoint_path);
      checkpoint_path = g_build_filename (opts->model_dir, name, NULL);
    }
  if (opts->resume && !g_file_test (checkpoint_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "cannot resume: no checkpoint %s", checkpoint_path);
      return FALSE;
    }

  /* Decode and resize train/good once. */
  {
    g_autofree const char **paths = g_new (const char *, cat->n_train);
    for (size_t i = 0; i < cat->n_train; i++)
      paths[i] = cat->train[i].path;
    report (&t, CP_TRAIN_PHASE_LOADING, 0, (int) cat->n_train, NAN, NAN, NAN, NAN, 0);
    t.cache = cp_image_cache_new (paths, cat->n_train, opts->image_size, 0, load_progress, &t, NULL, &local);
    if (t.cache == NULL)
      {
        if (cp_pipeline_cancelled (cancel))
          set_cancelled (error);
        else
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA, "category '%s': %s",
                       opts->category, local->message);
        goto out;
      }
    for (size_t i = 0; i < t.cache->n_failed; i++)
      g_ptr_array_add (result->skipped_images,
                       g_strdup_printf ("%s: %s", t.cache->failed_paths[i], t.cache->failed_reasons[i]));
    result->train_images = (int) t.cache->n;
  }

  /* Network and generator. */
  {
    g_autofree char *notice = NULL;
    t.be = cp_pipeline_open_backend (opts->device, &notice, error);
    if (t.be == NULL)
      goto out;
    result->device_name = g_strdup (t.be->name);
    result->notice = g_steal_pointer (&notice);
  }
  cp_augment_config_init (&t.aug, opts->variant);
  t.views = cp_augment_variant_num_views (opts->variant);
  config.head_layers = opts->head_layers;
  config.num_classes = cp_augment_variant_num_classes (opts->variant);
  t.net = cp_network_new (t.be, &config, &err);
  if (t.net == NULL)
    {
      cp_pipeline_set_error (error, &err);
      goto out;
    }
  cp_rng_seed (&rng, opts->seed);
  cp_network_init (t.net, &rng);
  t.data_seed = cp_rng_next_u64 (&rng);
  /* Also when resuming, though the checkpoint then replaces the weights:
   * the local model's extractor is the network as it started. */
  if (opts->weights_path
      && !cp_weights_load_backbone (t.net, opts->weights_path, &result->backbone_init, error))
    goto out;
  if (opts->weights_path == NULL)
    result->backbone_init = g_strdup ("scratch");

  /* Calibration images, held out of training (density-fit.h).  Without
   * steps the network sees no image, and k-fold calibrates as well. */
  t.train_index = g_new (int, t.cache->n);
  if (opts->hold_out && opts->steps > 0 && opts->fit == NULL
      && cp_calibration_count ((int) t.cache->n) > 0)
    {
      t.held_out = g_new (gboolean, t.cache->n);
      cp_calibration_split ((int) t.cache->n, opts->seed, t.held_out);
    }
  for (size_t i = 0; i < t.cache->n; i++)
    if (t.held_out == NULL || !t.held_out[i])
      t.train_index[t.n_train_index++] = (int) i;
  result->calibration_images = t.held_out ? (int) t.cache->n - t.n_train_index : 0;

  if (opts->local != CP_TRAIN_LOCAL_NONE && opts->fit == NULL)
    {
      CpLocalFeatureSpec spec;
      CpRng local_rng;

      cp_rng_seed (&local_rng, opts->seed ^ 0x9E3779B97F4A7C15ULL);
      cp_local_feature_spec_init (&spec, cp_train_local_image_size (opts),
                                  opts->local_grid > 0 ? opts->local_grid
                                                       : cp_train_local_image_size (opts) / 8,
                                  opts->local_channels > 0 ? opts->local_channels
                                                           : CP_LOCAL_DEFAULT_CHANNELS,
                                  &local_rng);
      t.local = cp_local_model_new (t.net, &spec, error);
      if (t.local == NULL)
        goto out;
    }

  {
    int n_images = t.views * opts->batch_size;
    int side = opts->crop_size > 0 ? opts->crop_size : opts->image_size;
    size_t px = (size_t) n_images * side * side * 3;

    t.aug_pixels = g_try_malloc (px);
    if (opts->crop_size > 0)
      t.crop_pixels = g_malloc ((size_t) opts->batch_size * side * side * 3);
    for (int i = 0; i < 2; i++)
      {
        t.host_images[i] = g_try_malloc (px * sizeof (float));
        t.host_labels[i] = g_new0 (int32_t, n_images);
      }
    /* The same device buffer later holds embedding batches. */
    t.dev_images = t.be->alloc (t.be, MAX (px, (size_t) CP_PIPELINE_EMBED_BATCH * opts->image_size
                                               * opts->image_size * 3) * sizeof (float), &err);
    t.dev_labels = t.dev_images ? t.be->alloc (t.be, n_images * sizeof (int32_t), &err) : NULL;
    if (t.aug_pixels == NULL || t.host_images[0] == NULL || t.host_images[1] == NULL)
      {
        g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
                     "out of memory for batches of %d images of %d x %d", n_images,
                     opts->image_size, opts->image_size);
        goto out;
      }
    if (t.dev_labels == NULL)
      {
        cp_pipeline_set_error (error, &err);
        goto out;
      }
  }

  if (opts->resume && !load_checkpoint (&t, checkpoint_path, &first_step, error))
    goto out;
  if (result->backbone_init == NULL)   /* resumed from a checkpoint that does not say */
    result->backbone_init = g_strdup ("unknown");

  if (!train_loop (&t, first_step, opts->checkpoint_every > 0 ? checkpoint_path : NULL, error))
    goto out;
  result->steps = opts->steps;
  if (result->loss_history->len > 0)
    result->final_loss = g_array_index (result->loss_history, float, result->loss_history->len - 1);

  if (opts->fit != NULL)
    {
      if (!opts->fit (t.net, t.cache->pixels, (int) t.cache->n, opts->image_size, opts, progress,
                      user_data, cancel, result, error))
        goto out;
      g_unlink (checkpoint_path);
      ok = TRUE;
      goto out;
    }

  /* Densities: embed train/good (and its regions), calibrate the
   * threshold on held-out images, refit on all (density-fit.h). */
  embeddings = g_new (float, t.cache->n * CP_EMBEDDING_DIM);
  if (!embed_cache (&t, embeddings, error))
    goto out;
  if (t.cache->n < 3)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "category '%s': %zu readable train/good images; at least 3 are needed to fit "
                   "the Gaussian and choose a threshold", opts->category, t.cache->n);
      goto out;
    }
  if (t.local && !local_features_of_cache (&t, &features, error))
    goto out;
  {
    CpDensityFitInput in = {
      .embeddings = embeddings,
      .features = features,
      .local = t.local,
      .local_kind = CP_PATCH_DENSITY_PER_LOCATION,
      .n = (int) t.cache->n,
      .held_out = t.held_out,
      .folds = opts->kfold > 0 ? opts->kfold : CP_THRESHOLD_DEFAULT_FOLDS,
      .false_reject_rate = opts->false_reject_rate,
    };

    if (t.local)
      {
        result->local_separation = t.local_separation;
        if (cp_local_model_uses_patterns (t.local))
          result->local_density = "pattern";
        else
          {
            in.local_kind = local_density_kind (&t, features);
            result->local_alignment = t.local_alignment;
            result->local_density = cp_patch_density_kind_to_string (in.local_kind);
          }
      }
    if (!cp_density_fit (&in, &fit, error))
      goto out;
  }
  result->threshold = fit.threshold;
  result->false_reject_rate = opts->false_reject_rate;

  if (opts->evaluate_test && !measure_auroc (&t, cat, &fit, &auroc, error))
    goto out;
  result->auroc = auroc;

  /* Save: the writer renames a complete temp file over the old model. */
  report (&t, CP_TRAIN_PHASE_SAVING, 0, 1, NAN, NAN, NAN, NAN, 0);
  if (cp_pipeline_cancelled (cancel))
    {
      set_cancelled (error);
      goto out;
    }
  {
    g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
    const char *deterministic = g_getenv ("CP_DETERMINISTIC_DATE");
#define META(key, value) g_hash_table_insert (meta, g_strdup (key), (value))

    /* Tests that compare model files byte for byte fix the date. */
    META ("created", deterministic ? g_strdup (deterministic) : cp_pipeline_now_iso8601 ());
    META ("auroc", cp_pipeline_format_double (auroc));
    META ("backbone_init", g_strdup (result->backbone_init));
    META ("batch_size", g_strdup_printf ("%d", opts->batch_size));
    META ("category", g_strdup (opts->category));
    /* Where the good set lives, for a refit (refit.h, good-set.h). */
    META ("data_dir", g_canonicalize_filename (opts->data_dir, NULL));
    META ("false_reject_rate", cp_pipeline_format_double (opts->false_reject_rate));
    META ("format", g_strdup (CP_MODEL_FORMAT));
    META ("format_version", g_strdup_printf ("%d", CP_MODEL_FORMAT_VERSION));
    META ("head_layers", g_strdup_printf ("%d", opts->head_layers));
    META ("image_size", g_strdup_printf ("%d", opts->image_size));
    META ("lr", cp_pipeline_format_double (opts->lr));
    META ("pretrained", g_strdup (opts->weights_path ? "imagenet" : "none"));
    META ("seed", g_strdup_printf ("%" G_GUINT64_FORMAT, opts->seed));
    META ("steps", g_strdup_printf ("%d", opts->steps));
    META ("threshold", cp_pipeline_format_double (fit.threshold));
    META ("train_images", g_strdup_printf ("%zu", t.cache->n));
    META ("variant", g_strdup (cp_augment_variant_to_string (opts->variant)));
    if (t.held_out != NULL)
      {
        /* Which images of train/good the network never saw: a refit
         * calibrates on them again (refit.c). */
        GString *names = g_string_new (NULL);

        for (size_t i = 0; i < t.cache->n; i++)
          if (t.held_out[i])
            {
              g_autofree char *base = g_path_get_basename (t.cache->paths[i]);

              if (names->len > 0)
                g_string_append_c (names, '\n');
              g_string_append (names, base);
            }
        META ("held_out_images", g_string_free (names, FALSE));
      }
#undef META
    if (!cp_model_parts_save (t.net, &fit, t.local, meta, model_path, error))
      goto out;
  }
  /* The finished model supersedes the checkpoint. */
  g_unlink (checkpoint_path);
  result->model_path = g_steal_pointer (&model_path);
  report (&t, CP_TRAIN_PHASE_SAVING, 1, 1, NAN, NAN, NAN, NAN, 0);
  ok = TRUE;

out:
  result->seconds = (g_get_monotonic_time () - t.start_us) / 1e6;
  cp_density_fit_clear (&fit);
  trainer_clear (&t);
  return ok;
}
