/* test-pipeline.c: training, checkpoints, models and evaluation end to end
 * on a tiny synthetic category (32 x 32 images, a handful of steps). */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/augment/cutpaste.h"
#include "core/io/safetensors.h"
#include "data/synth.h"
#include "pipeline/pipeline.h"
#include "test-support.h"

static char *data_root;   /* synthetic dataset shared by every test */
static char *work_root;   /* scratch folder removed at the end */

#define CATEGORY "weave"

static char *
scratch_dir (const char *name)
{
  char *dir = g_build_filename (work_root, name, NULL);

  cp_test_remove_tree (dir);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static void
tiny_options (CpTrainOptions *opts, const char *model_dir)
{
  cp_train_options_init (opts, "quick");
  opts->data_dir = data_root;
  opts->category = CATEGORY;
  opts->model_dir = model_dir;
  opts->image_size = 32;
  opts->batch_size = 2;
  opts->steps = 6;
  opts->checkpoint_every = 0;
  opts->device = "cpu";
  opts->seed = 7;
}

static gboolean
read_file (const char *path, char **contents, gsize *length)
{
  return g_file_get_contents (path, contents, length, NULL);
}

static gboolean
files_equal (const char *a, const char *b)
{
  g_autofree char *ca = NULL, *cb = NULL;
  gsize la = 0, lb = 0;

  g_assert_true (read_file (a, &ca, &la));
  g_assert_true (read_file (b, &cb, &lb));
  return la == lb && memcmp (ca, cb, la) == 0;
}

static void
train_ok (const CpTrainOptions *opts, CpTrainResult *result)
{
  g_autoptr (GError) error = NULL;

  cp_train_result_init (result);
  if (!cp_train_category (opts, NULL, NULL, NULL, result, &error))
    g_error ("training failed: %s", error->message);
}

/* One model trained with tiny_options () and reused by the tests that only
 * read it: training is the slow part. */
static CpTrainResult shared_result;
static char *shared_dir;

static const CpTrainResult *
shared_model (void)
{
  if (shared_dir == NULL)
    {
      CpTrainOptions opts;

      shared_dir = scratch_dir ("shared");
      tiny_options (&opts, shared_dir);
      train_ok (&opts, &shared_result);
    }
  return &shared_result;
}

/* The source as read from metadata, for files of every age. */
static void
test_threshold_source (void)
{
  g_assert_cmpint (cp_threshold_source_from_metadata (NULL, NULL, NULL), ==, CP_THRESHOLD_SOURCE_NONE);
  g_assert_cmpint (cp_threshold_source_from_metadata (NULL, "nan", "0.01"), ==, CP_THRESHOLD_SOURCE_NONE);
  g_assert_cmpint (cp_threshold_source_from_metadata (NULL, "3.5", "0.01"), ==,
                   CP_THRESHOLD_SOURCE_CROSS_VALIDATION);
  g_assert_cmpint (cp_threshold_source_from_metadata (NULL, "3.5", NULL), ==, CP_THRESHOLD_SOURCE_UNKNOWN);
  g_assert_cmpint (cp_threshold_source_from_metadata ("cross-validation", "3.5", "0.01"), ==,
                   CP_THRESHOLD_SOURCE_CROSS_VALIDATION);
  g_assert_cmpint (cp_threshold_source_from_metadata ("manual", "3.5", "0.01"), ==, CP_THRESHOLD_SOURCE_MANUAL);
  g_assert_cmpint (cp_threshold_source_from_metadata ("manual", "3.5", NULL), ==, CP_THRESHOLD_SOURCE_MANUAL);
  /* A source this version does not know is not taken for cross-validation. */
  g_assert_cmpint (cp_threshold_source_from_metadata ("tuned", "3.5", "0.01"), ==, CP_THRESHOLD_SOURCE_UNKNOWN);
  g_assert_cmpstr (cp_threshold_source_to_string (CP_THRESHOLD_SOURCE_MANUAL), ==, "manual");
  g_assert_cmpstr (cp_threshold_source_to_string (CP_THRESHOLD_SOURCE_CROSS_VALIDATION), ==, "cross-validation");
}

/* ---- model file contents ------------------------------------------- */

static void
test_model_file (void)
{
  const CpTrainResult *r = shared_model ();
  CpError err = { 0 };
  CpSafetensors *st;
  const CpTensorInfo *info;
  static const char *const keys[] = {
    "format", "format_version", "category", "variant", "image_size", "head_layers", "steps",
    "seed", "threshold", "false_reject_rate", "auroc", "created"
  };
  g_autoptr (CpModel) model = NULL;
  g_autoptr (GError) error = NULL;

#define result (*r)
  g_assert_nonnull (result.model_path);
  g_assert_true (g_str_has_suffix (result.model_path, CATEGORY ".safetensors"));
  g_assert_cmpint (result.steps, ==, 6);
  g_assert_cmpuint (result.loss_history->len, ==, 6);
  g_assert_true (isfinite (result.threshold));
  g_assert_true (result.auroc >= 0.0 && result.auroc <= 1.0);
  g_assert_cmpint (result.test_images, >, 0);

  st = cp_safetensors_open (result.model_path, &err);
  g_assert_nonnull (st);
  info = cp_safetensors_find (st, "resnet18.conv1.weight");
  g_assert_nonnull (info);
  g_assert_cmpint (info->ndim, ==, 4);
  g_assert_cmpint (info->shape[0], ==, 64);
  g_assert_cmpint (info->shape[1], ==, 3);
  g_assert_cmpint (info->shape[2], ==, 7);
  g_assert_nonnull (cp_safetensors_find (st, "resnet18.layer4.1.bn2.running_var"));
  g_assert_nonnull (cp_safetensors_find (st, "resnet18.layer2.0.downsample.0.weight"));
  g_assert_nonnull (cp_safetensors_find (st, "head.0.weight"));
  g_assert_nonnull (cp_safetensors_find (st, "head.4.running_mean"));
  info = cp_safetensors_find (st, "out.weight");
  g_assert_nonnull (info);
  g_assert_cmpint (info->shape[0], ==, 3);
  info = cp_safetensors_find (st, "resnet18.bn1.num_batches_tracked");
  g_assert_nonnull (info);
  g_assert_cmpint (info->dtype, ==, CP_DTYPE_I64);
  info = cp_safetensors_find (st, "gde.mean");
  g_assert_nonnull (info);
  g_assert_cmpint (info->shape[0], ==, 512);
  info = cp_safetensors_find (st, "gde.precision");
  g_assert_nonnull (info);
  g_assert_cmpint (info->shape[0], ==, 512);
  g_assert_cmpint (info->shape[1], ==, 512);
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if (cp_safetensors_metadata (st, keys[i]) == NULL)
      g_error ("metadata key %s missing", keys[i]);
  g_assert_cmpstr (cp_safetensors_metadata (st, "format"), ==, CP_MODEL_FORMAT);
  g_assert_cmpstr (cp_safetensors_metadata (st, "category"), ==, CATEGORY);
  g_assert_cmpstr (cp_safetensors_metadata (st, "variant"), ==, "3way");
  g_assert_cmpstr (cp_safetensors_metadata (st, "image_size"), ==, "32");
  g_assert_cmpstr (cp_safetensors_metadata (st, "seed"), ==, "7");
  cp_safetensors_close (st);

  /* No checkpoint is left behind by a finished run. */
  {
    g_autofree char *ck = cp_train_checkpoint_path (shared_dir, CATEGORY);
    g_assert_false (g_file_test (ck, G_FILE_TEST_EXISTS));
  }

  model = cp_model_load (result.model_path, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cp_model_get_category (model), ==, CATEGORY);
  g_assert_cmpstr (cp_model_get_variant (model), ==, "3way");
  g_assert_cmpint (cp_model_get_image_size (model), ==, 32);
  g_assert_cmpint (cp_model_get_head_layers (model), ==, 1);
  g_assert_cmpint (cp_model_get_steps (model), ==, 6);
  g_assert_cmpuint (cp_model_get_seed (model), ==, 7);
  g_assert_cmpfloat (cp_model_get_threshold (model), ==, result.threshold);
  g_assert_cmpfloat (cp_model_get_auroc (model), ==, result.auroc);
  g_assert_cmpfloat_with_epsilon (cp_model_get_false_reject_rate (model), 0.01, 1e-12);
  g_assert_true (strlen (cp_model_get_created (model)) == 20);

  /* Scoring a file equals scoring the decoded image. */
  {
    g_autofree char *img = g_build_filename (data_root, CATEGORY, "test", "good", NULL);
    GDir *d = g_dir_open (img, 0, NULL);
    g_autofree char *first = g_build_filename (img, g_dir_read_name (d), NULL);
    double s1 = NAN, s2 = NAN;
    g_autoptr (CpImage) image = NULL;

    g_dir_close (d);
    g_assert_true (cp_model_score_image_file (model, first, &s1, &error));
    g_assert_no_error (error);
    g_assert_true (cp_image_load (first, &image, &error));
    g_assert_true (cp_model_score_images (model, (const CpImage *const *) &image, 1, &s2, NULL, &error));
    g_assert_true (isfinite (s1) && s1 >= 0);
    g_assert_cmpfloat_with_epsilon (s1, s2, 1e-9 * MAX (1.0, s1));
  }
#undef result
}

/* ---- reproducibility ---------------------------------------------- */

static void
test_deterministic (void)
{
  g_autofree char *b = scratch_dir ("det-b");
  CpTrainOptions opts;
  CpTrainResult rb;

  tiny_options (&opts, b);
  train_ok (&opts, &rb);
  g_assert_true (files_equal (shared_model ()->model_path, rb.model_path));
  cp_train_result_clear (&rb);
}

/* ---- checkpoint, cancel, resume ------------------------------------ */

typedef struct
{
  int          stop_at;
  volatile int cancel;
} CancelAt;

static void
cancel_at_step (const CpTrainProgress *p, gpointer user_data)
{
  CancelAt *c = user_data;

  if (p->phase == CP_TRAIN_PHASE_TRAINING && p->step >= c->stop_at)
    c->cancel = 1;
}

static void
test_resume (void)
{
  g_autofree char *full = scratch_dir ("resume-full");
  g_autofree char *cut = scratch_dir ("resume-cut");
  g_autofree char *ck = cp_train_checkpoint_path (cut, CATEGORY);
  g_autofree char *cut_model = cp_train_model_path (cut, CATEGORY);
  CpTrainOptions opts;
  CpTrainResult rf, rc;
  CancelAt c = { 3, 0 };
  g_autoptr (GError) error = NULL;

  tiny_options (&opts, full);
  opts.steps = 5;
  opts.checkpoint_every = 2;
  train_ok (&opts, &rf);

  /* Stopped after step 3: the checkpoint holds step 2, no model exists. */
  opts.model_dir = cut;
  cp_train_result_init (&rc);
  g_assert_false (cp_train_category (&opts, cancel_at_step, &c, &c.cancel, &rc, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_true (g_file_test (ck, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (cut_model, G_FILE_TEST_EXISTS));
  cp_train_result_clear (&rc);

  /* A resume with other settings is refused and says which. */
  opts.resume = TRUE;
  opts.image_size = 64;
  cp_train_result_init (&rc);
  g_assert_false (cp_train_category (&opts, NULL, NULL, NULL, &rc, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "image_size"));
  g_clear_error (&error);
  cp_train_result_clear (&rc);

  opts.image_size = 32;
  train_ok (&opts, &rc);
  g_assert_cmpuint (rc.loss_history->len, ==, 5);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpfloat (g_array_index (rc.loss_history, float, i), ==,
                       g_array_index (rf.loss_history, float, i));
  /* The whole model file, weights, BN statistics, Gaussian and threshold,
   * is byte-identical to the uninterrupted run's. */
  g_assert_true (files_equal (rf.model_path, rc.model_path));
  g_assert_false (g_file_test (ck, G_FILE_TEST_EXISTS));
  cp_train_result_clear (&rf);
  cp_train_result_clear (&rc);
}

static void
test_cancel_keeps_old_model (void)
{
  g_autofree char *dir = scratch_dir ("cancel");
  g_autofree char *before = NULL, *after = NULL;
  gsize lb = 0, la = 0;
  CpTrainOptions opts;
  CpTrainResult r;
  CancelAt c = { 2, 0 };
  g_autoptr (GError) error = NULL;
  GDir *d;
  const char *name;

  tiny_options (&opts, dir);
  g_assert_true (read_file (shared_model ()->model_path, &before, &lb));
  {
    g_autofree char *path = cp_train_model_path (dir, CATEGORY);
    g_assert_true (g_file_set_contents (path, before, (gssize) lb, NULL));
  }

  opts.seed = 99;
  opts.steps = 10;
  cp_train_result_init (&r);
  g_assert_false (cp_train_category (&opts, cancel_at_step, &c, &c.cancel, &r, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED);
  g_assert_null (r.model_path);
  {
    g_autofree char *path = cp_train_model_path (dir, CATEGORY);
    g_assert_true (read_file (path, &after, &la));
  }
  g_assert_cmpuint (la, ==, lb);
  g_assert_true (memcmp (before, after, la) == 0);
  /* Nothing half-written stays in the folder. */
  d = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    g_assert_cmpstr (name, ==, CATEGORY ".safetensors");
  g_dir_close (d);
  cp_train_result_clear (&r);
}

/* ---- bad input ------------------------------------------------------ */

static void
test_corrupt_image_skipped (void)
{
  g_autofree char *root = scratch_dir ("corrupt-data");
  g_autofree char *models = scratch_dir ("corrupt-models");
  g_autofree char *cat = g_build_filename (root, CATEGORY, NULL);
  g_autofree char *src = g_build_filename (data_root, CATEGORY, NULL);
  g_autofree char *bad_train = NULL, *bad_test = NULL;
  CpTrainOptions opts;
  CpTrainResult r;
  CpEvalResult er;
  g_autoptr (CpModel) model = NULL;
  g_autoptr (GError) error = NULL;
  int good_train = 0;

  /* A copy of the category whose train/good and test/good each hold one
   * truncated PNG. */
  {
    g_autofree char *cmd = g_strdup_printf ("cp -r '%s' '%s'", src, cat);
    g_assert_true (g_spawn_command_line_sync (cmd, NULL, NULL, NULL, NULL));
  }
  bad_train = g_build_filename (cat, "train", "good", "zzz_broken.png", NULL);
  bad_test = g_build_filename (cat, "test", "good", "zzz_broken.png", NULL);
  g_assert_true (g_file_set_contents (bad_train, "\x89PNG\r\n\x1a\nbroken", 14, NULL));
  g_assert_true (g_file_set_contents (bad_test, "\x89PNG\r\n\x1a\nbroken", 14, NULL));
  {
    g_autofree char *good_dir = g_build_filename (cat, "train", "good", NULL);
    GDir *d = g_dir_open (good_dir, 0, NULL);
    while (g_dir_read_name (d))
      good_train++;
    g_dir_close (d);
  }

  tiny_options (&opts, models);
  opts.data_dir = root;
  train_ok (&opts, &r);
  g_assert_cmpint (r.train_images, ==, good_train - 1);
  g_assert_cmpuint (r.skipped_images->len, ==, 2);
  g_assert_nonnull (strstr (r.skipped_images->pdata[0], "zzz_broken.png"));
  g_assert_nonnull (strstr (r.skipped_images->pdata[1], "zzz_broken.png"));

  model = cp_model_load (r.model_path, "cpu", &error);
  g_assert_no_error (error);
  cp_eval_result_init (&er);
  g_assert_true (cp_evaluate_category (root, CATEGORY, model, NULL, NULL, NULL, NULL, &er, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (er.skipped_images->len, ==, 1);
  g_assert_nonnull (strstr (er.skipped_images->pdata[0], "zzz_broken.png"));
  g_assert_cmpfloat (er.auroc, ==, r.auroc);
  cp_eval_result_clear (&er);
  cp_train_result_clear (&r);
}

static void
test_missing_category (void)
{
  g_autofree char *dir = scratch_dir ("missing");
  CpTrainOptions opts;
  CpTrainResult r;
  g_autoptr (GError) error = NULL;

  tiny_options (&opts, dir);
  opts.category = "no_such_category";
  cp_train_result_init (&r);
  g_assert_false (cp_train_category (&opts, NULL, NULL, NULL, &r, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA);
  g_assert_nonnull (strstr (error->message, "no_such_category"));
  cp_train_result_clear (&r);
}

/* Copies @src to @dst with metadata @key set to @value (NULL: removed)
 * and tensor @drop (may be NULL) left out. */
static void
rewrite_model (const char *src, const char *dst, const char *key, const char *value, const char *drop)
{
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (src, &err);
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();

  g_assert_nonnull (st);
  for (int i = 0; i < cp_safetensors_count (st); i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      if (drop && strcmp (info->name, drop) == 0)
        continue;
      g_assert_cmpint (cp_safetensors_writer_add (w, info->name, info->dtype, info->shape, info->ndim,
                                                  cp_safetensors_data (st, info), &err), ==, CP_OK);
    }
  for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
    {
      const char *k = cp_safetensors_metadata_key (st, i);
      const char *v = cp_safetensors_metadata_value (st, i);
      if (key && strcmp (k, key) == 0)
        continue;
      cp_safetensors_writer_set_metadata (w, k, v, &err);
    }
  if (key && value)
    cp_safetensors_writer_set_metadata (w, key, value, &err);
  g_assert_cmpint (cp_safetensors_writer_save (w, dst, &err), ==, CP_OK);
  cp_safetensors_writer_free (w);
  cp_safetensors_close (st);
}

static void
test_model_refused (void)
{
  g_autofree char *dir = scratch_dir ("refused");
  g_autofree char *bad = g_build_filename (dir, "bad.safetensors", NULL);
  const CpTrainResult *shared = shared_model ();
  g_autoptr (GError) error = NULL;
  CpModel *model;
#define r (*shared)

  rewrite_model (r.model_path, bad, "image_size", "48", NULL);
  model = cp_model_load (bad, "cpu", &error);
  g_assert_null (model);
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "image_size"));
  g_clear_error (&error);

  rewrite_model (r.model_path, bad, "head_layers", "2", NULL);
  model = cp_model_load (bad, "cpu", &error);
  g_assert_null (model);
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "head"));
  g_clear_error (&error);

  rewrite_model (r.model_path, bad, "format", "something-else", NULL);
  model = cp_model_load (bad, "cpu", &error);
  g_assert_null (model);
  g_assert_nonnull (strstr (error->message, "format"));
  g_clear_error (&error);

  rewrite_model (r.model_path, bad, "format_version", "99", NULL);
  model = cp_model_load (bad, "cpu", &error);
  g_assert_null (model);
  g_assert_nonnull (strstr (error->message, "format_version"));
  g_clear_error (&error);

  rewrite_model (r.model_path, bad, NULL, NULL, "gde.precision");
  model = cp_model_load (bad, "cpu", &error);
  g_assert_null (model);
  g_assert_nonnull (strstr (error->message, "gde"));
  g_clear_error (&error);

  rewrite_model (r.model_path, bad, NULL, NULL, "resnet18.layer3.0.conv1.weight");
  model = cp_model_load (bad, "cpu", &error);
  g_assert_null (model);
  g_assert_nonnull (strstr (error->message, "layer3.0.conv1"));
  g_clear_error (&error);

  /* Truncated file. */
  {
    g_autofree char *contents = NULL;
    gsize len = 0;
    g_assert_true (read_file (r.model_path, &contents, &len));
    g_assert_true (g_file_set_contents (bad, contents, (gssize) (len / 2), NULL));
    model = cp_model_load (bad, "cpu", &error);
    g_assert_null (model);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
#undef r
}

static void
test_threshold (void)
{
  g_autofree char *dir = scratch_dir ("threshold");
  g_autofree char *moved = g_build_filename (dir, "moved.safetensors", NULL);
  const CpTrainResult *r = shared_model ();
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) model = NULL;
  g_autoptr (CpModel) again = NULL;
  double t;

  model = cp_model_load (r->model_path, "cpu", &error);
  g_assert_no_error (error);
  t = cp_model_get_threshold (model);
  g_assert_cmpfloat (t, ==, r->threshold);
  g_assert_true (t > 0);
  g_assert_true (cp_model_is_anomalous (model, t + 1e-6));
  g_assert_false (cp_model_is_anomalous (model, t));
  /* Training writes no threshold_source: the file reads as cross-validated
   * from its threshold and rate, as every older file does. */
  g_assert_null (cp_model_get_metadata (model, "threshold_source"));
  g_assert_cmpint (cp_model_get_threshold_source (model), ==, CP_THRESHOLD_SOURCE_CROSS_VALIDATION);
  g_assert_cmpfloat (cp_model_get_cross_validation_threshold (model), ==, t);

  cp_model_set_threshold (model, t * 2);
  g_assert_true (cp_model_save (model, moved, &error));
  g_assert_no_error (error);
  again = cp_model_load (moved, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_get_threshold (again), ==, t * 2);
  g_assert_false (cp_model_is_anomalous (again, t * 1.5));
  g_assert_cmpstr (cp_model_get_category (again), ==, CATEGORY);
  /* Set by hand: said so, with the trained value and its rate kept. */
  g_assert_cmpint (cp_model_get_threshold_source (again), ==, CP_THRESHOLD_SOURCE_MANUAL);
  g_assert_cmpstr (cp_model_get_metadata (again, "threshold_source"), ==, "manual");
  g_assert_cmpfloat (cp_model_get_cross_validation_threshold (again), ==, t);
  g_assert_cmpfloat_with_epsilon (cp_model_get_false_reject_rate (again), 0.01, 1e-12);
  /* A second move keeps the cross-validated value, not the first move. */
  cp_model_set_threshold (again, t * 3);
  g_assert_true (cp_model_save (again, moved, &error));
  g_clear_pointer (&again, cp_model_free);
  again = cp_model_load (moved, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_get_threshold (again), ==, t * 3);
  g_assert_cmpfloat (cp_model_get_cross_validation_threshold (again), ==, t);
  /* The original file keeps its threshold. */
  g_clear_pointer (&again, cp_model_free);
  again = cp_model_load (r->model_path, "cpu", &error);
  g_assert_cmpfloat (cp_model_get_threshold (again), ==, t);
}

/* Every tensor of @a is in @b with the same dtype, shape, offsets and
 * bytes, and @b has @extra more. */
static void
assert_same_tensors (const char *a, const char *b, int extra)
{
  CpError err = { 0 };
  CpSafetensors *sa = cp_safetensors_open (a, &err);
  CpSafetensors *sb = cp_safetensors_open (b, &err);

  g_assert_nonnull (sa);
  g_assert_nonnull (sb);
  g_assert_cmpint (cp_safetensors_count (sa) + extra, ==, cp_safetensors_count (sb));
  for (int i = 0; i < cp_safetensors_count (sa); i++)
    {
      const CpTensorInfo *x = cp_safetensors_info (sa, i);
      const CpTensorInfo *y = cp_safetensors_find (sb, x->name);

      g_assert_nonnull (y);
      g_assert_cmpint (x->dtype, ==, y->dtype);
      g_assert_cmpint (x->ndim, ==, y->ndim);
      g_assert_cmpmem (x->shape, x->ndim * sizeof x->shape[0], y->shape, y->ndim * sizeof y->shape[0]);
      g_assert_cmpuint (x->offset, ==, y->offset);
      g_assert_cmpmem (cp_safetensors_data (sa, x), x->nbytes, cp_safetensors_data (sb, y), y->nbytes);
    }
  cp_safetensors_close (sa);
  cp_safetensors_close (sb);
}

/* The same keys with the same values, in any order. */
static void
assert_same_metadata (const char *a, const char *b)
{
  CpError err = { 0 };
  CpSafetensors *sa = cp_safetensors_open (a, &err);
  CpSafetensors *sb = cp_safetensors_open (b, &err);

  g_assert_nonnull (sa);
  g_assert_nonnull (sb);
  g_assert_cmpint (cp_safetensors_metadata_count (sa), ==, cp_safetensors_metadata_count (sb));
  for (int i = 0; i < cp_safetensors_metadata_count (sa); i++)
    g_assert_cmpstr (cp_safetensors_metadata (sb, cp_safetensors_metadata_key (sa, i)), ==,
                     cp_safetensors_metadata_value (sa, i));
  cp_safetensors_close (sa);
  cp_safetensors_close (sb);
}

static void
copy_file (const char *src, const char *dst)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (src, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (dst, contents, (gssize) length, NULL));
}

/* Storing a threshold from the metadata alone: the metadata cp_model_save
 * would write, the tensors untouched, an unknown tensor kept, a stale
 * expected value and bad files refused with the file left as it was. */
static void
test_threshold_file (void)
{
  g_autofree char *dir = scratch_dir ("threshold-file");
  g_autofree char *saved = g_build_filename (dir, "saved.safetensors", NULL);
  g_autofree char *rewritten = g_build_filename (dir, "rewritten.safetensors", NULL);
  g_autofree char *extra = g_build_filename (dir, "extra.safetensors", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.safetensors", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.safetensors", NULL);
  g_autofree char *before = NULL, *after = NULL;
  gsize before_len = 0, after_len = 0;
  const CpTrainResult *r = shared_model ();
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) model = NULL;
  g_autoptr (CpModelFile) file = NULL;
  double t = r->threshold;

  /* The same move both ways: load + set + save, and the metadata rewrite. */
  model = cp_model_load (r->model_path, "cpu", &error);
  g_assert_no_error (error);
  cp_model_set_threshold (model, t * 2);
  g_assert_true (cp_model_save (model, saved, &error));
  g_clear_pointer (&model, cp_model_free);
  copy_file (r->model_path, rewritten);
  g_assert_true (cp_model_file_set_threshold (rewritten, t * 2, NAN, &error));
  g_assert_no_error (error);
  assert_same_metadata (saved, rewritten);
  assert_same_tensors (r->model_path, rewritten, 0);
  model = cp_model_load (rewritten, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_get_threshold (model), ==, t * 2);
  g_assert_cmpint (cp_model_get_threshold_source (model), ==, CP_THRESHOLD_SOURCE_MANUAL);
  g_assert_cmpfloat (cp_model_get_cross_validation_threshold (model), ==, t);
  g_assert_cmpfloat_with_epsilon (cp_model_get_false_reject_rate (model), 0.01, 1e-12);
  g_clear_pointer (&model, cp_model_free);

  /* Two stores through one handle: the second starts from the file the
   * first wrote, and the trained value stays the cross-validated one. */
  file = cp_model_file_open (rewritten, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_file_get_threshold (file), ==, t * 2);
  g_assert_cmpint (cp_model_file_get_threshold_source (file), ==, CP_THRESHOLD_SOURCE_MANUAL);
  g_assert_true (cp_model_file_store_threshold (file, t * 3, t * 2, &error));
  g_assert_cmpfloat (cp_model_file_get_threshold (file), ==, t * 3);
  g_assert_true (cp_model_file_store_threshold (file, t * 4, t * 3, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_file_get_threshold (file), ==, t * 4);
  g_assert_cmpfloat (cp_model_file_get_cross_validation_threshold (file), ==, t);
  g_clear_pointer (&file, cp_model_file_free);
  file = cp_model_file_open (rewritten, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_file_get_threshold (file), ==, t * 4);
  g_assert_cmpfloat (cp_model_file_get_cross_validation_threshold (file), ==, t);
  g_assert_cmpfloat_with_epsilon (cp_model_file_get_false_reject_rate (file), 0.01, 1e-12);
  g_clear_pointer (&file, cp_model_file_free);
  assert_same_tensors (r->model_path, rewritten, 0);

  /* Changed since the caller read it: refused, the file untouched. */
  g_assert_true (g_file_get_contents (rewritten, &before, &before_len, NULL));
  g_assert_false (cp_model_file_set_threshold (rewritten, t * 5, t * 2, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CHANGED);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (rewritten, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_clear_pointer (&after, g_free);

  /* Values no score can be compared with never reach the file. */
  g_assert_false (cp_model_file_set_threshold (rewritten, -1, NAN, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (cp_model_file_set_threshold (rewritten, NAN, NAN, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (rewritten, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_clear_pointer (&after, g_free);

  /* A tensor the loader does not use (a converted checkpoint's) survives. */
  {
    CpError err = { 0 };
    CpSafetensors *st = cp_safetensors_open (r->model_path, &err);
    CpSafetensorsWriter *w = cp_safetensors_writer_new ();
    const int64_t values[3] = { 7, -1, G_GINT64_CONSTANT (1) << 40 };
    const int64_t shape[1] = { 3 };

    g_assert_nonnull (st);
    for (int i = 0; i < cp_safetensors_count (st); i++)
      {
        const CpTensorInfo *info = cp_safetensors_info (st, i);
        g_assert_cmpint (cp_safetensors_writer_add (w, info->name, info->dtype, info->shape, info->ndim,
                                                    cp_safetensors_data (st, info), &err), ==, CP_OK);
      }
    g_assert_cmpint (cp_safetensors_writer_add (w, "extra.converted", CP_DTYPE_I64, shape, 1, values,
                                                &err), ==, CP_OK);
    for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
      cp_safetensors_writer_set_metadata (w, cp_safetensors_metadata_key (st, i),
                                          cp_safetensors_metadata_value (st, i), &err);
    g_assert_cmpint (cp_safetensors_writer_save (w, extra, &err), ==, CP_OK);
    cp_safetensors_writer_free (w);
    cp_safetensors_close (st);
  }
  copy_file (extra, bad);   /* the file as it was, to compare with */
  g_assert_true (cp_model_file_set_threshold (extra, t * 2, t, &error));
  g_assert_no_error (error);
  assert_same_tensors (bad, extra, 0);
  assert_same_tensors (r->model_path, extra, 1);
  model = cp_model_load (extra, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_get_threshold (model), ==, t * 2);
  g_clear_pointer (&model, cp_model_free);

  /* Files cp_model_load refuses for their header are refused too, with
   * its words, and left as they were. */
  rewrite_model (r->model_path, bad, "format", "something-else", NULL);
  g_clear_pointer (&before, g_free);
  g_assert_true (g_file_get_contents (bad, &before, &before_len, NULL));
  g_assert_false (cp_model_file_set_threshold (bad, t, NAN, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "format is 'something-else'"));
  g_assert_nonnull (strstr (error->message, bad));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (bad, &after, &after_len, NULL));
  g_assert_cmpmem (before, before_len, after, after_len);
  g_clear_pointer (&after, g_free);

  rewrite_model (r->model_path, bad, NULL, NULL, "gde.mean");
  g_assert_false (cp_model_file_set_threshold (bad, t, NAN, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "no Gaussian"));
  g_clear_error (&error);

  g_assert_false (cp_model_file_set_threshold (missing, t, NAN, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
}

/* Pairwise count: P(defect score > good score) + half the ties. */
static double
pairwise_auroc (const double *good, int n_good, const double *bad, int n_bad)
{
  double wins = 0;

  for (int i = 0; i < n_good; i++)
    for (int j = 0; j < n_bad; j++)
      wins += bad[j] > good[i] ? 1.0 : bad[j] == good[i] ? 0.5 : 0.0;
  return wins / ((double) n_good * n_bad);
}

static void
test_auroc_by_defect (void)
{
  const char *types[] = { "stain", "bent", "scratch" };
  double good[40], per_type[3][12];
  int counts[3] = { 12, 7, 1 };
  CpEvalResult er;
  g_autoptr (GArray) by_defect = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);

  cp_eval_result_init (&er);
  for (int i = 0; i < 40; i++)
    {
      /* Rounded so that ties occur. */
      CpEvalImage im = { g_strdup_printf ("good/%d.png", i), 0, g_strdup ("good"),
                         round (g_rand_double_range (rand, 0, 10)), FALSE };
      good[i] = im.score;
      g_array_append_val (er.images, im);
    }
  for (int t = 0; t < 3; t++)
    for (int j = 0; j < counts[t]; j++)
      {
        /* "stain" overlaps the good scores, "bent" sits above them. */
        CpEvalImage im = { g_strdup_printf ("%s/%d.png", types[t], j), 1, g_strdup (types[t]),
                           round (g_rand_double_range (rand, 2 * t, 10 + 3 * t)), TRUE };
        per_type[t][j] = im.score;
        g_array_append_val (er.images, im);
      }

  by_defect = cp_eval_auroc_by_defect (&er);
  g_assert_cmpuint (by_defect->len, ==, 3);
  /* Sorted by name: bent, scratch, stain. */
  {
    const int order[3] = { 1, 2, 0 };
    for (int k = 0; k < 3; k++)
      {
        const CpDefectAuroc *d = &g_array_index (by_defect, CpDefectAuroc, k);
        int t = order[k];

        g_assert_cmpstr (d->defect_type, ==, types[t]);
        g_assert_cmpint (d->count, ==, counts[t]);
        g_assert_cmpfloat_with_epsilon (d->auroc, pairwise_auroc (good, 40, per_type[t], counts[t]), 1e-12);
      }
  }
  cp_eval_result_clear (&er);

  /* No good image: every type is n/a, not a crash. */
  cp_eval_result_init (&er);
  {
    CpEvalImage im = { g_strdup ("bent/0.png"), 1, g_strdup ("bent"), 3.0, TRUE };
    g_array_append_val (er.images, im);
  }
  g_clear_pointer (&by_defect, g_array_unref);
  by_defect = cp_eval_auroc_by_defect (&er);
  g_assert_cmpuint (by_defect->len, ==, 1);
  g_assert_true (isnan (g_array_index (by_defect, CpDefectAuroc, 0).auroc));
  cp_eval_result_clear (&er);
}

static void
test_evaluate (void)
{
  g_autofree char *dir = scratch_dir ("evaluate");
  g_autofree char *csv = g_build_filename (dir, "scores.csv", NULL);
  g_autofree char *md = g_build_filename (dir, "summary.md", NULL);
  g_autofree char *sum_csv = g_build_filename (dir, "summary.csv", NULL);
  g_autofree char *text = NULL;
  const CpTrainResult *shared = shared_model ();
  CpEvalResult er;
  CpEvalOptions eo;
  g_autoptr (CpModel) model = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  int good = 0, bad = 0;
  CpEvalResult *list[1];

#define r (*shared)
  model = cp_model_load (r.model_path, "cpu", &error);
  g_assert_no_error (error);
  cp_eval_result_init (&er);
  cp_eval_options_init (&eo);
  eo.augmented_samples = 3;
  g_assert_true (cp_evaluate_category (data_root, CATEGORY, model, &eo, NULL, NULL, NULL, &er, &error));
  g_assert_no_error (error);
  /* The training run measured the same AUROC on the same images. */
  g_assert_cmpfloat (er.auroc, ==, r.auroc);
  g_assert_cmpuint (er.images->len, ==, (guint) r.test_images);
  for (guint i = 0; i < er.images->len; i++)
    {
      const CpEvalImage *im = &g_array_index (er.images, CpEvalImage, i);
      g_assert_true (isfinite (im->score));
      g_assert_cmpint (im->anomalous, ==, im->score > er.threshold);
      g_assert_cmpint (im->label, ==, strcmp (im->defect_type, "good") != 0);
      if (im->label)
        bad++;
      else
        good++;
      /* Embeddings are L2-normalised. */
      {
        double norm = 0;
        for (int k = 0; k < 512; k++)
          norm += (double) er.test_embeddings[i * 512 + k] * er.test_embeddings[i * 512 + k];
        g_assert_cmpfloat_with_epsilon (norm, 1.0, 1e-4);
      }
    }
  g_assert_cmpint (good, >, 0);
  g_assert_cmpint (bad, >, 0);
  g_assert_cmpint (er.n_train, ==, r.train_images);
  g_assert_cmpint (er.n_aug, ==, 6);
  for (int i = 0; i < er.n_aug; i++)
    g_assert_cmpint (er.aug_labels[i], ==, i < 3 ? CP_AUGMENT_KIND_CUTPASTE : CP_AUGMENT_KIND_SCAR);

  /* The t-SNE map: every point, finite, and the same map on a second call
   * (one seed, one iteration count, whoever asks). */
  {
    g_autofree float *xy = NULL, *again = NULL;
    int n = 0, n_again = 0;
    const int total = (int) er.images->len + er.n_train + er.n_aug;
    volatile int cancel = 1;

    g_assert_true (cp_eval_tsne (&er, NULL, &xy, &n, &error));
    g_assert_no_error (error);
    g_assert_cmpint (n, ==, total);
    for (int i = 0; i < 2 * n; i++)
      g_assert_true (isfinite (xy[i]));
    g_assert_true (cp_eval_tsne (&er, NULL, &again, &n_again, &error));
    g_assert_cmpint (n_again, ==, n);
    g_assert_cmpmem (again, 2 * n * sizeof (float), xy, 2 * n * sizeof (float));
    g_clear_pointer (&again, g_free);
    /* A raised cancel flag stops it. */
    g_assert_false (cp_eval_tsne (&er, &cancel, &again, &n_again, &error));
    g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED);
    g_assert_null (again);
    g_clear_error (&error);
  }
  g_assert_cmpuint (er.roc->len, >=, 2);
  {
    CpRocPoint last = g_array_index (er.roc, CpRocPoint, er.roc->len - 1);
    g_assert_cmpfloat (last.fpr, ==, 1.0);
    g_assert_cmpfloat (last.tpr, ==, 1.0);
  }

  g_assert_true (cp_eval_write_csv (&er, csv, &error));
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpstr (lines[0], ==, "path,label,defect_type,score,verdict");
  g_assert_cmpuint (g_strv_length (lines), ==, er.images->len + 2);  /* header + rows + final "" */
  /* The verdict in the window's words: PASS or FAIL, as the threshold says. */
  for (guint i = 0; i < er.images->len; i++)
    g_assert_true (g_str_has_suffix (lines[i + 1], g_array_index (er.images, CpEvalImage, i).anomalous
                                                   ? ",FAIL" : ",PASS"));

  list[0] = &er;
  g_assert_true (cp_eval_write_summary (list, 1, md, sum_csv, &error));
  g_clear_pointer (&text, g_free);
  g_assert_true (g_file_get_contents (md, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, "| " CATEGORY " |"));
  g_assert_nonnull (strstr (text, "**mean**"));
  cp_eval_result_clear (&er);
#undef r
}

int
main (int argc, char **argv)
{
  CpSynthOptions synth;
  const char *categories[] = { CATEGORY, NULL };
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* Byte-identical files need a fixed creation date. */
  g_setenv ("CP_DETERMINISTIC_DATE", "2026-01-01T00:00:00Z", TRUE);

  work_root = cp_test_make_tmp_dir ("cp-pipeline-XXXXXX");
  data_root = g_build_filename (work_root, "data", NULL);
  cp_synth_options_init (&synth);
  synth.categories = categories;
  synth.size = 48;
  synth.n_train = 10;
  synth.n_test_good = 4;
  synth.n_test_defect = 2;
  if (!cp_synth_write (data_root, &synth, NULL, NULL, &error))
    g_error ("cannot write the synthetic data set: %s", error->message);

  g_test_add_func ("/pipeline/train/model-file", test_model_file);
  g_test_add_func ("/pipeline/train/deterministic", test_deterministic);
  g_test_add_func ("/pipeline/train/resume", test_resume);
  g_test_add_func ("/pipeline/train/cancel-keeps-old-model", test_cancel_keeps_old_model);
  g_test_add_func ("/pipeline/train/corrupt-image-skipped", test_corrupt_image_skipped);
  g_test_add_func ("/pipeline/train/missing-category", test_missing_category);
  g_test_add_func ("/pipeline/model/refused", test_model_refused);
  g_test_add_func ("/pipeline/model/threshold", test_threshold);
  g_test_add_func ("/pipeline/model/threshold-file", test_threshold_file);
  g_test_add_func ("/pipeline/model/threshold-source", test_threshold_source);
  g_test_add_func ("/pipeline/evaluate", test_evaluate);
  g_test_add_func ("/pipeline/evaluate/auroc-by-defect", test_auroc_by_defect);
  status = g_test_run ();
  if (shared_dir)
    cp_train_result_clear (&shared_result);
  g_free (shared_dir);
  cp_test_remove_tree (work_root);
  g_free (work_root);
  g_free (data_root);
  return status;
}
