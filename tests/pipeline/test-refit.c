/* test-refit.c: the refit of pipeline/refit.h and the good-set changes of
 * pipeline/good-set.h on a tiny trained model: refitting on the training
 * images reproduces training's Gaussian and threshold; an added image
 * lands in train/good, in the model's list, and in the fit; undo brings
 * the model back; a bad request changes nothing; a model without a
 * recorded dataset needs one given; the cross-validated reference scores
 * are the refit's held-out scores, and for a model with a region part
 * the global part's alone. */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/density/threshold.h"
#include "data/dataset.h"
#include "data/file-hash.h"
#include "data/synth.h"
#include "pipeline/good-set.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline-private.h"
#include "pipeline/refit.h"
#include "test-support.h"

#define CATEGORY "weave"

static char *work_root;
static char *data_root;
static char *model_path;
static char *global_model_path;
static char *global_model_dir;

static GPtrArray *
train_paths (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpCategory) cat = cp_dataset_scan_category (data_root, CATEGORY, &error);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);

  g_assert_no_error (error);
  for (size_t i = 0; i < cat->n_train; i++)
    g_ptr_array_add (paths, g_strdup (cat->train[i].path));
  return paths;
}

static GPtrArray *
test_paths (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpCategory) cat = cp_dataset_scan_category (data_root, CATEGORY, &error);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);

  g_assert_no_error (error);
  for (size_t i = 0; i < cat->n_test; i++)
    g_ptr_array_add (paths, g_strdup (cat->test[i].path));
  return paths;
}

static double *
score_all (CpModel *model, GPtrArray *paths)
{
  g_autoptr (GError) error = NULL;
  double *scores = g_new (double, paths->len);

  g_assert_true (cp_model_score_files (model, (const char *const *) paths->pdata, (int) paths->len, scores,
                                       NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  return scores;
}

static void
test_refit_reproduces_training (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) trained = cp_model_load (model_path, "cpu", &error);
  g_autoptr (CpModel) refitted = cp_model_load (model_path, "cpu", &error);
  g_autoptr (GPtrArray) train = train_paths ();
  g_autoptr (GPtrArray) test = test_paths ();
  g_autofree double *before = NULL, *after = NULL;
  CpRefitResult result;

  g_assert_no_error (error);
  cp_refit_result_init (&result);
  g_assert_true (cp_model_refit (refitted, (const char *const *) train->pdata, (int) train->len, NAN, NULL,
                                 &result, &error));
  g_assert_no_error (error);
  g_assert_cmpint (result.n_good, ==, (int) train->len);
  g_assert_cmpuint (result.skipped->len, ==, 0);
  /* Training embeds from its 8-bit cache, the refit through predict's
   * decoding: the same pixels, so the same threshold up to float
   * rounding, and the same scores. */
  g_assert_cmpfloat_with_epsilon (result.threshold_after, cp_model_get_threshold (trained),
                                  1e-5 * cp_model_get_threshold (trained));
  g_assert_cmpfloat (result.threshold_before, ==, cp_model_get_threshold (trained));
  g_assert_cmpfloat (cp_model_get_threshold (refitted), ==, result.threshold_after);
  g_assert_cmpint (cp_model_get_threshold_source (refitted), ==, CP_THRESHOLD_SOURCE_CROSS_VALIDATION);
  before = score_all (trained, test);
  after = score_all (refitted, test);
  for (guint i = 0; i < test->len; i++)
    g_assert_cmpfloat_with_epsilon (after[i], before[i], 1e-4 * before[i]);

  /* With the same images the refit's calibration is training's: the
   * scores training stored (the drift reference) come back. */
  {
    int n_stored = 0;
    const double *stored = cp_model_get_calibration_scores (trained, &n_stored);

    g_assert_nonnull (stored);
    g_assert_cmpint (n_stored, ==, result.n_held_out);
    for (int i = 0; i < n_stored; i++)
      g_assert_cmpfloat_with_epsilon (result.held_out_scores[i], stored[i], 1e-5 * stored[i]);
  }

  /* Too few readable images: an error, the model unchanged. */
  {
    const char *few[] = { train->pdata[0], train->pdata[1], "/nonexistent/x.png" };
    CpRefitResult r2;
    double t = cp_model_get_threshold (refitted);

    cp_refit_result_init (&r2);
    g_assert_false (cp_model_refit (refitted, few, 3, NAN, NULL, &r2, &error));
    g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA);
    g_clear_error (&error);
    g_assert_cmpfloat (cp_model_get_threshold (refitted), ==, t);
    g_assert_cmpuint (r2.skipped->len, ==, 1);
    g_assert_nonnull (strstr (r2.skipped->pdata[0], "/nonexistent/x.png"));
    cp_refit_result_clear (&r2);
  }
  cp_refit_result_clear (&result);
}

/* A model with the global part only (as every model written before the
 * region scores): the drift reference computed for it without stored
 * calibration scores is the refit's k-fold held-out scores. */
static void
test_drift_reference_global_only (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) trained = cp_model_load (global_model_path, "cpu", &error);
  g_autoptr (CpModel) refitted = cp_model_load (global_model_path, "cpu", &error);
  g_autoptr (GPtrArray) train = train_paths ();
  g_autofree double *reference = NULL;
  CpRefitResult result;
  int n_reference = 0;

  g_assert_no_error (error);
  g_assert_false (cp_model_has_local (trained));
  cp_refit_result_init (&result);
  g_assert_true (cp_model_refit (refitted, (const char *const *) train->pdata, (int) train->len, NAN, NULL,
                                 &result, &error));
  g_assert_no_error (error);
  g_assert_true (cp_model_cross_validated_scores (trained, (const char *const *) train->pdata, (int) train->len,
                                                  NULL, &reference, &n_reference, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n_reference, ==, result.n_good);
  g_assert_cmpint (result.n_held_out, ==, n_reference);
  for (int i = 0; i < n_reference; i++)
    g_assert_cmpfloat_with_epsilon (reference[i], result.held_out_scores[i], 1e-9 * reference[i]);
  cp_refit_result_clear (&result);
}

/* A model with a region part: its drift reference is still the global
 * part's k-fold scores, so the region vectors are not needed for it: the
 * embeddings read without them are the same, and the reference is the
 * k-fold fit of those embeddings alone. */
static void
test_drift_reference_region_model (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) model = cp_model_load (model_path, "cpu", &error);
  g_autoptr (GPtrArray) train = train_paths ();
  g_autofree float *embeddings = NULL, *features = NULL, *embeddings_only = NULL;
  g_autofree int *index = g_new (int, train->len);
  g_autofree int *index_only = g_new (int, train->len);
  g_autofree double *reference = NULL;
  CpDensityFit fit = { 0 };
  CpDensityFitInput in = { 0 };
  int n_read = 0, n_read_only = 0, n_reference = 0;

  g_assert_no_error (error);
  g_assert_true (cp_model_has_local (model));
  g_assert_true (cp_model_good_parts (model, (const char *const *) train->pdata, (int) train->len, NULL,
                                      &embeddings, &features, index, &n_read, NULL, &error));
  g_assert_no_error (error);
  g_assert_nonnull (features);
  g_assert_true (cp_model_good_parts (model, (const char *const *) train->pdata, (int) train->len, NULL,
                                      &embeddings_only, NULL, index_only, &n_read_only, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n_read, ==, (int) train->len);
  g_assert_cmpint (n_read_only, ==, n_read);
  g_assert_cmpmem (index_only, n_read * sizeof (int), index, n_read * sizeof (int));
  g_assert_cmpmem (embeddings_only, (gsize) n_read * CP_EMBEDDING_DIM * sizeof (float), embeddings,
                   (gsize) n_read * CP_EMBEDDING_DIM * sizeof (float));

  g_assert_true (cp_model_cross_validated_scores (model, (const char *const *) train->pdata, (int) train->len,
                                                  NULL, &reference, &n_reference, &error));
  g_assert_no_error (error);
  in.embeddings = embeddings;
  in.n = n_read;
  in.folds = CP_THRESHOLD_DEFAULT_FOLDS;
  in.false_reject_rate = CP_THRESHOLD_DEFAULT_FALSE_REJECT_RATE;
  g_assert_true (cp_density_fit (&in, &fit, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n_reference, ==, fit.n_calibration);
  for (int i = 0; i < n_reference; i++)
    g_assert_cmpfloat_with_epsilon (reference[i], fit.calibration_scores[i], 1e-9 * fabs (reference[i]));
  cp_density_fit_clear (&fit);
}

/* Reading images for scoring or a refit stops, with "cancelled", when
 * asked before a read; an unreadable image is named and left out. */
static void
test_reading_cancelled_and_unreadable (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModel) model = cp_model_load (model_path, "cpu", &error);
  g_autoptr (GPtrArray) train = train_paths ();
  g_autoptr (GPtrArray) skipped = g_ptr_array_new_with_free_func (g_free);
  g_autofree float *embeddings = NULL, *features = NULL;
  g_autofree int *index = g_new (int, train->len + 1);
  g_autofree double *scores = g_new (double, train->len + 1);
  g_autofree char **messages = g_new0 (char *, train->len + 1);
  volatile int cancel = 1;
  int n_read = 0, n = (int) train->len;

  g_assert_no_error (error);
  g_assert_false (cp_model_score_files (model, (const char *const *) train->pdata, n, scores, NULL,
                                        messages, &cancel, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (cp_model_good_parts (model, (const char *const *) train->pdata, n, &cancel,
                                       &embeddings, &features, index, &n_read, skipped, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CANCELLED);
  g_clear_error (&error);

  /* The same paths with a missing file in the middle. */
  cancel = 0;
  g_ptr_array_insert (train, 1, g_strdup ("/nonexistent/missing.png"));
  n = (int) train->len;
  g_assert_true (cp_model_score_files (model, (const char *const *) train->pdata, n, scores, NULL,
                                       messages, &cancel, &error));
  g_assert_no_error (error);
  g_assert_true (isnan (scores[1]));
  g_assert_nonnull (strstr (messages[1], "/nonexistent/missing.png"));
  for (int i = 0; i < n; i++)
    if (i != 1)
      {
        g_assert_null (messages[i]);
        g_assert_true (isfinite (scores[i]));
      }
  g_assert_true (cp_model_good_parts (model, (const char *const *) train->pdata, n, &cancel,
                                      &embeddings, &features, index, &n_read, skipped, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n_read, ==, n - 1);
  g_assert_cmpint (index[0], ==, 0);
  g_assert_cmpint (index[1], ==, 2);
  g_assert_cmpint (index[n_read - 1], ==, n - 1);
  g_assert_cmpuint (skipped->len, ==, 1);
  g_assert_nonnull (strstr (skipped->pdata[0], "/nonexistent/missing.png"));
  for (int i = 0; i < n; i++)
    g_free (messages[i]);
}

static char *
read_all (const char *path, gsize *length)
{
  char *data = NULL;

  g_assert_true (g_file_get_contents (path, &data, length, NULL));
  return data;
}

static guint
count_good (void)
{
  g_autoptr (GPtrArray) paths = train_paths ();
  return paths->len;
}

static void
test_add_undo (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) tests = test_paths ();
  g_autofree char *copy_model = g_build_filename (work_root, "copy.safetensors", NULL);
  g_autofree char *original = NULL, *sha = NULL;
  gsize original_len = 0;
  const char *add[2] = { tests->pdata[0], tests->pdata[tests->len - 1] };
  guint n_before = count_good ();
  CpGoodSetRequest request;
  CpGoodSetChange change;
  double trained_threshold;

  original = read_all (model_path, &original_len);
  g_assert_true (g_file_set_contents (copy_model, original, original_len, NULL));
  {
    g_autoptr (CpModel) m = cp_model_load (copy_model, "cpu", &error);
    trained_threshold = cp_model_get_threshold (m);
  }

  /* Add two test images. */
  cp_good_set_request_init (&request);
  request.add = add;
  request.n_add = 2;
  request.device = "cpu";
  cp_good_set_change_init (&change);
  g_assert_true (cp_model_change_good_set (copy_model, &request, &change, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (change.added->len, ==, 2);
  g_assert_cmpint (change.refit.n_good, ==, (int) n_before + 2);
  g_assert_cmpuint (count_good (), ==, n_before + 2);
  g_assert_cmpstr (change.hash_before, !=, change.hash_after);
  for (guint i = 0; i < 2; i++)
    {
      const CpGoodImage *image = change.added->pdata[i];
      g_autofree char *copied = cp_file_sha256 (image->path, &error);
      g_autofree char *source = cp_file_sha256 (add[i], &error);

      g_assert_true (g_str_has_prefix (image->file, "refit-"));
      g_assert_cmpstr (copied, ==, source);
      g_assert_cmpstr (image->sha256, ==, source);
      g_assert_cmpint (image->batch, ==, 1);
    }
  {
    g_autoptr (GPtrArray) listed = cp_model_file_list_added (copy_model, &error);
    g_autoptr (CpModel) m = cp_model_load (copy_model, "cpu", &error);

    g_assert_no_error (error);
    g_assert_cmpuint (listed->len, ==, 2);
    g_assert_cmpstr (((CpGoodImage *) listed->pdata[0])->path, ==, ((CpGoodImage *) change.added->pdata[0])->path);
    g_assert_cmpfloat (cp_model_get_threshold (m), ==, change.refit.threshold_after);
    g_assert_nonnull (cp_model_get_metadata (m, "refitted"));
  }
  /* The same bytes again: recognised, nothing copied. */
  cp_good_set_change_clear (&change);
  cp_good_set_change_init (&change);
  request.n_add = 1;
  g_assert_true (cp_model_change_good_set (copy_model, &request, &change, &error));
  g_assert_cmpuint (change.already->len, ==, 1);
  g_assert_cmpuint (change.added->len, ==, 0);
  g_assert_cmpuint (count_good (), ==, n_before + 2);
  cp_good_set_change_clear (&change);

  /* Undo: both copies deleted, the list empty, the threshold back to
   * the trained one. */
  cp_good_set_request_init (&request);
  request.undo = TRUE;
  request.device = "cpu";
  cp_good_set_change_init (&change);
  g_assert_true (cp_model_change_good_set (copy_model, &request, &change, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (change.removed->len, ==, 2);
  g_assert_cmpuint (count_good (), ==, n_before);
  g_assert_cmpfloat_with_epsilon (change.refit.threshold_after, trained_threshold, 1e-5 * trained_threshold);
  {
    g_autoptr (GPtrArray) listed = cp_model_file_list_added (copy_model, &error);
    g_assert_cmpuint (listed->len, ==, 0);
  }
  cp_good_set_change_clear (&change);

  /* Nothing left to undo. */
  cp_good_set_change_init (&change);
  g_assert_false (cp_model_change_good_set (copy_model, &request, &change, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "nothing to undo"));
  g_clear_error (&error);
  cp_good_set_change_clear (&change);

  /* Add one, then remove it by the path it came from. */
  cp_good_set_request_init (&request);
  request.add = add;
  request.n_add = 1;
  request.device = "cpu";
  cp_good_set_change_init (&change);
  g_assert_true (cp_model_change_good_set (copy_model, &request, &change, &error));
  cp_good_set_change_clear (&change);
  cp_good_set_request_init (&request);
  request.remove = add;
  request.n_remove = 1;
  request.device = "cpu";
  cp_good_set_change_init (&change);
  g_assert_true (cp_model_change_good_set (copy_model, &request, &change, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (change.removed->len, ==, 1);
  g_assert_cmpuint (count_good (), ==, n_before);
  cp_good_set_change_clear (&change);
}

static void
test_bad_requests_change_nothing (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) tests = test_paths ();
  g_autoptr (GPtrArray) train = train_paths ();
  g_autofree char *copy_model = g_build_filename (work_root, "bad.safetensors", NULL);
  g_autofree char *not_image = g_build_filename (work_root, "notes.png", NULL);
  g_autofree char *original = NULL, *after = NULL;
  gsize original_len = 0, after_len = 0;
  guint n_before = count_good ();
  CpGoodSetRequest request;
  CpGoodSetChange change;

  original = read_all (model_path, &original_len);
  g_assert_true (g_file_set_contents (copy_model, original, original_len, NULL));
  g_assert_true (g_file_set_contents (not_image, "not a picture", -1, NULL));

  /* A good image and a file that is not one: refused, naming the file;
   * the good image is not copied either. */
  {
    const char *add[2] = { tests->pdata[0], not_image };

    cp_good_set_request_init (&request);
    request.add = add;
    request.n_add = 2;
    request.device = "cpu";
    cp_good_set_change_init (&change);
    g_assert_false (cp_model_change_good_set (copy_model, &request, &change, &error));
    g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IMAGE);
    g_assert_nonnull (strstr (error->message, not_image));
    g_clear_error (&error);
    cp_good_set_change_clear (&change);
  }
  /* Removing a training image a refit did not add. */
  {
    const char *remove[1] = { train->pdata[0] };

    cp_good_set_request_init (&request);
    request.remove = remove;
    request.n_remove = 1;
    request.device = "cpu";
    cp_good_set_change_init (&change);
    g_assert_false (cp_model_change_good_set (copy_model, &request, &change, &error));
    g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, train->pdata[0]));
    g_clear_error (&error);
    cp_good_set_change_clear (&change);
    g_assert_true (g_file_test (train->pdata[0], G_FILE_TEST_EXISTS));
  }
  /* A dataset folder that is not there. */
  {
    g_autofree char *nowhere = g_build_filename (work_root, "nowhere", NULL);

    cp_good_set_request_init (&request);
    request.data_dir = nowhere;
    request.device = "cpu";
    cp_good_set_change_init (&change);
    g_assert_false (cp_model_change_good_set (copy_model, &request, &change, &error));
    g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA);
    g_assert_nonnull (strstr (error->message, nowhere));
    g_clear_error (&error);
    cp_good_set_change_clear (&change);
  }
  after = read_all (copy_model, &after_len);
  g_assert_true (after_len == original_len && memcmp (after, original, original_len) == 0);
  g_assert_cmpuint (count_good (), ==, n_before);
  {
    /* No temporary copies left behind. */
    g_autofree char *good_dir = g_build_filename (data_root, CATEGORY, "train", "good", NULL);
    g_autoptr (GDir) dir = g_dir_open (good_dir, 0, NULL);
    const char *name;

    while ((name = g_dir_read_name (dir)) != NULL)
      g_assert_false (g_str_has_prefix (name, ".refit-tmp-"));
  }
}

static void
test_model_without_dataset (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *old_model = g_build_filename (work_root, "old.safetensors", NULL);
  g_autoptr (CpModel) m = cp_model_load (model_path, "cpu", &error);
  CpGoodSetRequest request;
  CpGoodSetChange change;

  /* A model trained before data_dir was recorded. */
  g_assert_no_error (error);
  cp_model_set_threshold (m, cp_model_get_threshold (m));
  g_assert_nonnull (cp_model_get_metadata (m, "data_dir"));
  cp_model_set_metadata (m, "data_dir", NULL);
  g_assert_true (cp_model_save (m, old_model, &error));

  cp_good_set_request_init (&request);
  request.device = "cpu";
  cp_good_set_change_init (&change);
  g_assert_false (cp_model_change_good_set (old_model, &request, &change, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA);
  g_assert_nonnull (strstr (error->message, "--data-dir"));
  g_assert_nonnull (strstr (error->message, old_model));
  g_clear_error (&error);
  cp_good_set_change_clear (&change);

  /* Given once, it is recorded; a hand-set threshold is replaced by a
   * cross-validated one. */
  request.data_dir = data_root;
  cp_good_set_change_init (&change);
  g_assert_true (cp_model_change_good_set (old_model, &request, &change, &error));
  g_assert_no_error (error);
  g_assert_cmpint (change.refit.source_before, ==, CP_THRESHOLD_SOURCE_MANUAL);
  cp_good_set_change_clear (&change);
  {
    g_autoptr (CpModel) again = cp_model_load (old_model, "cpu", &error);
    g_autofree char *canonical = g_canonicalize_filename (data_root, NULL);

    g_assert_cmpstr (cp_model_get_metadata (again, "data_dir"), ==, canonical);
    g_assert_cmpint (cp_model_get_threshold_source (again), ==, CP_THRESHOLD_SOURCE_CROSS_VALIDATION);
    g_assert_null (cp_model_get_metadata (again, "cross_validation_threshold"));
  }
}

int
main (int argc, char **argv)
{
  CpSynthOptions synth;
  const char *categories[] = { CATEGORY, NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *model_dir = NULL;
  CpTrainOptions opts;
  CpTrainResult result;
  int status;

  g_test_init (&argc, &argv, NULL);
  work_root = cp_test_make_tmp_dir ("cp-refit-XXXXXX");
  data_root = g_build_filename (work_root, "data", NULL);
  model_dir = g_build_filename (work_root, "models", NULL);
  cp_synth_options_init (&synth);
  synth.categories = categories;
  synth.size = 48;
  synth.n_train = 10;
  synth.n_test_good = 3;
  synth.n_test_defect = 1;
  if (!cp_synth_write (data_root, &synth, NULL, NULL, &error))
    g_error ("cannot write the synthetic data set: %s", error->message);
  cp_train_options_init (&opts, "quick");
  opts.data_dir = data_root;
  opts.category = CATEGORY;
  opts.model_dir = model_dir;
  opts.image_size = 32;
  opts.batch_size = 2;
  opts.steps = 3;
  opts.checkpoint_every = 0;
  opts.device = "cpu";
  opts.evaluate_test = FALSE;
  cp_train_result_init (&result);
  if (!cp_train_category (&opts, NULL, NULL, NULL, &result, &error))
    g_error ("cannot train the tiny model: %s", error->message);
  model_path = g_strdup (result.model_path);
  cp_train_result_clear (&result);
  /* The same, global part only, in a folder of its own. */
  opts.local = CP_TRAIN_LOCAL_NONE;
  opts.model_dir = global_model_dir = g_build_filename (work_root, "models-global", NULL);
  cp_train_result_init (&result);
  if (!cp_train_category (&opts, NULL, NULL, NULL, &result, &error))
    g_error ("cannot train the tiny global-only model: %s", error->message);
  global_model_path = g_strdup (result.model_path);
  cp_train_result_clear (&result);

  g_test_add_func ("/refit/reproduces-training", test_refit_reproduces_training);
  g_test_add_func ("/refit/drift-reference-global-only", test_drift_reference_global_only);
  g_test_add_func ("/refit/drift-reference-region-model", test_drift_reference_region_model);
  g_test_add_func ("/refit/reading-cancelled-and-unreadable", test_reading_cancelled_and_unreadable);
  g_test_add_func ("/refit/add-undo", test_add_undo);
  g_test_add_func ("/refit/bad-requests-change-nothing", test_bad_requests_change_nothing);
  g_test_add_func ("/refit/model-without-dataset", test_model_without_dataset);
  status = g_test_run ();
  cp_test_remove_tree (work_root);
  g_free (work_root);
  g_free (data_root);
  g_free (model_path);
  g_free (global_model_path);
  g_free (global_model_dir);
  return status;
}
