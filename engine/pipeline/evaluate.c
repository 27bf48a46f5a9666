/* evaluate.c: scoring a category's test set, AUROC, ROC and result files. */
#include "evaluate.h"

#include <math.h>
#include <string.h>

#include "core/augment/cutpaste.h"
#include "core/density/auroc.h"
#include "data/dataset.h"
#include "pipeline-private.h"

void
cp_eval_options_init (CpEvalOptions *opts)
{
  opts->with_train_embeddings = TRUE;
  opts->augmented_samples = 0;
  opts->seed = 0;
}

static void
clear_image (gpointer data)
{
  CpEvalImage *im = data;

  g_free (im->path);
  g_free (im->defect_type);
}

void
cp_eval_result_init (CpEvalResult *result)
{
  memset (result, 0, sizeof *result);
  result->auroc = NAN;
  result->threshold = NAN;
  result->target_false_reject_rate = NAN;
  result->images = g_array_new (FALSE, TRUE, sizeof (CpEvalImage));
  g_array_set_clear_func (result->images, clear_image);
  result->roc = g_array_new (FALSE, FALSE, sizeof (CpRocPoint));
  result->skipped_images = g_ptr_array_new_with_free_func (g_free);
}

void
cp_eval_result_clear (CpEvalResult *result)
{
  g_free (result->category);
  if (result->images)
    g_array_unref (result->images);
  if (result->roc)
    g_array_unref (result->roc);
  if (result->skipped_images)
    g_ptr_array_unref (result->skipped_images);
  g_free (result->test_embeddings);
  g_free (result->train_embeddings);
  g_free (result->aug_embeddings);
  g_free (result->aug_labels);
  cp_eval_result_init (result);
}

double
cp_eval_auroc (const double *scores, const int *labels, int n, GArray *roc)
{
  g_autofree uint8_t *l = g_new (uint8_t, MAX (n, 1));
  CpRocCurve curve = { 0 };
  CpError err = { 0 };
  double auroc;

  for (int i = 0; i < n; i++)
    l[i] = labels[i] != 0;
  if (roc)
    g_array_set_size (roc, 0);
  if (cp_roc_curve (scores, l, n, FALSE, &curve, &err) != CP_OK)
    return NAN;
  auroc = curve.auroc;
  if (roc)
    for (size_t i = 0; i < curve.count; i++)
      {
        CpRocPoint p = { curve.fpr[i], curve.tpr[i], curve.thresholds[i] };
        g_array_append_val (roc, p);
      }
  cp_roc_curve_clear (&curve);
  return auroc;
}

static void
clear_defect_auroc (gpointer data)
{
  g_free (((CpDefectAuroc *) data)->defect_type);
}

static int
compare_defect_auroc (gconstpointer a, gconstpointer b)
{
  return strcmp (((const CpDefectAuroc *) a)->defect_type, ((const CpDefectAuroc *) b)->defect_type);
}

GArray *
cp_eval_auroc_by_defect (const CpEvalResult *result)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (CpDefectAuroc));
  guint n = result->images ? result->images->len : 0;
  g_autofree double *scores = g_new (double, MAX (n, 1));
  g_autofree int *labels = g_new (int, MAX (n, 1));

  g_array_set_clear_func (out, clear_defect_auroc);
  for (guint i = 0; i < n; i++)
    {
      const CpEvalImage *im = &g_array_index (result->images, CpEvalImage, i);
      gboolean seen = FALSE;

      if (im->label == 0)
        continue;
      for (guint k = 0; k < out->len && !seen; k++)
        seen = strcmp (g_array_index (out, CpDefectAuroc, k).defect_type, im->defect_type) == 0;
      if (!seen)
        {
          CpDefectAuroc d = { g_strdup (im->defect_type), 0, NAN };
          g_array_append_val (out, d);
        }
    }
  g_array_sort (out, compare_defect_auroc);

  for (guint k = 0; k < out->len; k++)
    {
      CpDefectAuroc *d = &g_array_index (out, CpDefectAuroc, k);
      int m = 0;

      /* Each type against all of test/good: the other defect types are
       * left out, so a type's figure does not depend on the others. */
      for (guint i = 0; i < n; i++)
        {
          const CpEvalImage *im = &g_array_index (result->images, CpEvalImage, i);

          if (im->label != 0 && strcmp (im->defect_type, d->defect_type) != 0)
            continue;
          scores[m] = im->score;
          labels[m] = im->label != 0;
          d->count += im->label != 0;
          m++;
        }
      d->auroc = cp_eval_auroc (scores, labels, m, NULL);
    }
  return out;
}

/* Embeds @n cached-size images of @paths with the model (train/good). */
static gboolean
embed_train (CpModel *model, const CpCategory *cat, const volatile int *cancel, CpEvalResult *result,
             GError **error)
{
  g_autofree const char **paths = g_new (const char *, MAX (cat->n_train, 1));
  g_autofree double *scores = g_new (double, MAX (cat->n_train, 1));
  g_autofree float *emb = g_new (float, MAX (cat->n_train, 1) * CP_EMBEDDING_DIM);
  char **messages = g_new0 (char *, MAX (cat->n_train, 1));
  int kept = 0;

  for (size_t i = 0; i < cat->n_train; i++)
    paths[i] = cat->train[i].path;
  if (!cp_model_score_files (model, paths, (int) cat->n_train, scores, emb, messages, cancel, error))
    {
      for (size_t i = 0; i < cat->n_train; i++)
        g_free (messages[i]);
      g_free (messages);
      return FALSE;
    }
  result->train_embeddings = g_new (float, MAX (cat->n_train, 1) * CP_EMBEDDING_DIM);
  for (size_t i = 0; i < cat->n_train; i++)
    {
      if (messages[i] == NULL)
        memcpy (result->train_embeddings + (size_t) kept++ * CP_EMBEDDING_DIM,
                emb + i * CP_EMBEDDING_DIM, CP_EMBEDDING_DIM * sizeof (float));
      g_free (messages[i]);
    }
  g_free (messages);
  result->n_train = kept;
  return TRUE;
}

/* Embeds @count CutPaste and @count scar views of train images (the
 * paper's figure 3 shows where augmented samples fall). */
static gboolean
embed_augmented (CpModel *model, const CpCategory *cat, int count, guint64 seed, CpEvalResult *result,
                 GError **error)
{
  int s = cp_model_get_image_size (model);
  size_t per_image = (size_t) s * s * 3;
  CpAugmentConfig config;
  CpRng rng;
  CpError err = { 0 };
  g_autofree uint8_t *out = g_new (uint8_t, per_image);
  GPtrArray *images = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_image_free);
  g_autofree double *scores = NULL;
  gboolean ok = FALSE;

  cp_augment_config_init (&config, CP_AUGMENT_3WAY);
  cp_rng_seed (&rng, seed);
  result->aug_labels = g_new (int, 2 * count);
  for (int i = 0; i < 2 * count && cat->n_train > 0; i++)
    {
      size_t pick = (size_t) cp_rng_int_range (&rng, 0, (int64_t) cat->n_train - 1);
      g_autoptr (CpImage) src = NULL;
      g_autoptr (GError) local = NULL;
      CpImage *view;

      if (!cp_image_load_resized (cat->train[pick].path, s, &src, &local))
        continue;
      /* The cache layout: packed rows. */
      if (src->stride != 3 * s)
        {
          CpImage *packed = cp_image_new (s, s);
          for (int y = 0; y < s; y++)
            memcpy (packed->pixels + (size_t) y * 3 * s, src->pixels + (size_t) y * src->stride, 3 * s);
          cp_image_free (src);
          src = packed;
        }
      if ((i < count ? cp_augment_cutpaste (&config, &rng, src->pixels, s, out, NULL, &err)
                     : cp_augment_scar (&config, &rng, src->pixels, s, out, NULL, &err)) != CP_OK)
        {
          cp_pipeline_set_error (error, &err);
          goto out;
        }
      view = cp_image_new (s, s);
      memcpy (view->pixels, out, per_image);
      result->aug_labels[images->len] = i < count ? CP_AUGMENT_KIND_CUTPASTE : CP_AUGMENT_KIND_SCAR;
      g_ptr_array_add (images, view);
    }
  result->n_aug = (int) images->len;
  result->aug_embeddings = g_new (float, MAX (images->len, 1) * CP_EMBEDDING_DIM);
  scores = g_new (double, MAX (images->len, 1));
  if (!cp_model_score_images (model, (const CpImage *const *) images->pdata, (int) images->len, scores,
                              result->aug_embeddings, error))
    goto out;
  ok = TRUE;
out:
  g_ptr_array_unref (images);
  return ok;
}

typedef struct
{
  CpEvalProgressFunc cb;
  gpointer           user_data;
} ProgressRelay;

gboolean
cp_evaluate_category (const char *data_dir, const char *category, CpModel *model,
                      const CpEvalOptions *opts, CpEvalProgressFunc progress, gpointer user_data,
                      const volatile int *cancel, CpEvalResult *result, GError **error)
{
  CpEvalOptions defaults;
  g_autoptr (CpCategory) cat = NULL;
  g_autoptr (GError) local = NULL;
  gint64 start = g_get_monotonic_time ();
  int n, scored = 0;
  g_autofree double *scores = NULL;
  g_autofree float *emb = NULL;
  g_autofree int *labels = NULL;
  g_autofree const char **paths = NULL;

  if (opts == NULL)
    {
      cp_eval_options_init (&defaults);
      opts = &defaults;
    }
  cat = cp_dataset_scan_category (data_dir, category, &local);
  if (cat == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA, "category '%s': %s", category,
                   local->message);
      return FALSE;
    }
  if (cat->n_test == 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "category '%s': no test images under %s/%s/test", category, data_dir, category);
      return FALSE;
    }
  g_free (result->category);
  result->category = g_strdup (category);
  result->threshold = cp_model_get_threshold (model);

  n = (int) cat->n_test;
  paths = g_new (const char *, n);
  scores = g_new (double, n);
  emb = g_new (float, (size_t) n * CP_EMBEDDING_DIM);
  labels = g_new (int, n);
  for (int i = 0; i < n; i++)
    paths[i] = cat->test[i].path;

  /* In chunks so that progress and cancel are seen while scoring. */
  result->test_embeddings = g_new (float, (size_t) n * CP_EMBEDDING_DIM);
  for (int start_i = 0; start_i < n; start_i += 4 * CP_PIPELINE_EMBED_BATCH)
    {
      int count = MIN (4 * CP_PIPELINE_EMBED_BATCH, n - start_i);
      char *messages[4 * CP_PIPELINE_EMBED_BATCH];

      if (!cp_model_score_files (model, paths + start_i, count, scores + start_i,
                                 emb + (size_t) start_i * CP_EMBEDDING_DIM, messages, cancel, error))
        return FALSE;
      for (int k = 0; k < count; k++)
        {
          int i = start_i + k;
          if (messages[k] != NULL)
            {
              g_ptr_array_add (result->skipped_images, messages[k]);
              continue;
            }
          {
            CpEvalImage im = {
              g_strdup (paths[i]), cat->test[i].label == CP_LABEL_DEFECT, g_strdup (cat->test[i].defect),
              scores[i], cp_model_is_anomalous (model, scores[i])
            };
            g_array_append_val (result->images, im);
          }
          memcpy (result->test_embeddings + (size_t) scored * CP_EMBEDDING_DIM,
                  emb + (size_t) i * CP_EMBEDDING_DIM, CP_EMBEDDING_DIM * sizeof (float));
          scores[scored] = scores[i];
          labels[scored] = cat->test[i].label == CP_LABEL_DEFECT;
          result->n_good += labels[scored] == 0;
          if (cp_model_is_anomalous (model, scores[i]))
            result->false_rejects += labels[scored] == 0;
          else
            result->misses += labels[scored] == 1;
          scored++;
        }
      if (progress)
        progress (start_i + count, n, user_data);
    }
  result->auroc = cp_eval_auroc (scores, labels, scored, result->roc);
  result->target_false_reject_rate
    = cp_model_get_threshold_source (model) == CP_THRESHOLD_SOURCE_CROSS_VALIDATION
      ? cp_model_get_false_reject_rate (model) : NAN;

  if (opts->with_train_embeddings && !embed_train (model, cat, cancel, result, error))
    return FALSE;
  if (opts->augmented_samples > 0
      && !embed_augmented (model, cat, opts->augmented_samples, opts->seed, result, error))
    return FALSE;
  result->seconds = (g_get_monotonic_time () - start) / 1e6;
  return TRUE;
}

/* ---- files ----------------------------------------------------------- */

/* Quotes a CSV field when it holds a comma, quote or line break (RFC 4180). */
static void
append_csv_field (GString *out, const char *field)
{
  if (strpbrk (field, ",\"\r\n") == NULL)
    {
      g_string_append (out, field);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = field; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static gboolean
write_atomically (const char *path, const GString *text, GError **error)
{
  g_autoptr (GError) local = NULL;

  /* g_file_set_contents writes a temp file beside @path, fsyncs it when
   * replacing an existing file and renames it over the target. */
  if (!g_file_set_contents_full (path, text->str, (gssize) text->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot write %s: %s", path,
                   local->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
cp_eval_write_csv (const CpEvalResult *result, const char *path, GError **error)
{
  g_autoptr (GString) out = g_string_new ("path,label,defect_type,score,verdict\n");

  for (guint i = 0; i < result->images->len; i++)
    {
      const CpEvalImage *im = &g_array_index (result->images, CpEvalImage, i);
      char buf[G_ASCII_DTOSTR_BUF_SIZE];

      append_csv_field (out, im->path);
      g_string_append_printf (out, ",%s,", im->label ? "defect" : "good");
      append_csv_field (out, im->defect_type);
      /* The verdict in the window's words (the label column is the truth). */
      g_string_append_printf (out, ",%s,%s\n", g_ascii_formatd (buf, sizeof buf, "%.6f", im->score),
                              im->anomalous ? "FAIL" : "PASS");
    }
  return write_atomically (path, out, error);
}

static double
mean_auroc (CpEvalResult *const *results, int n, int *counted)
{
  double sum = 0;

  *counted = 0;
  for (int i = 0; i < n; i++)
    if (!isnan (results[i]->auroc))
      {
        sum += results[i]->auroc;
        (*counted)++;
      }
  return *counted ? sum / *counted : NAN;
}

char *
cp_eval_summary_markdown (CpEvalResult *const *results, int n)
{
  GString *out = g_string_new ("| category | image AUROC | test images | false rejects | misses "
                               "| false-reject rate (target) |\n"
                               "|---|---|---|---|---|---|\n");
  int counted;
  double mean = mean_auroc (results, n, &counted);

  for (int i = 0; i < n; i++)
    {
      const CpEvalResult *r = results[i];
      g_autofree char *auroc = isnan (r->auroc) ? g_strdup ("n/a") : g_strdup_printf ("%.4f", r->auroc);
      g_autofree char *rate = r->n_good == 0 ? g_strdup ("n/a")
                              : g_strdup_printf ("%.1f %%", 100.0 * r->false_rejects / r->n_good);
      g_autofree char *target = isnan (r->target_false_reject_rate) ? g_strdup ("threshold set by hand")
                                : g_strdup_printf ("%g %%", 100.0 * r->target_false_reject_rate);

      g_string_append_printf (out, "| %s | %s | %u | %d | %d | %s (%s) |\n", r->category, auroc,
                              r->images->len, r->false_rejects, r->misses, rate, target);
    }
  if (isnan (mean))
    g_string_append (out, "| **mean** | n/a | | | | |\n");
  else
    g_string_append_printf (out, "| **mean** | %.4f | | | | |\n", mean);
  return g_string_free (out, FALSE);
}

gboolean
cp_eval_write_summary (CpEvalResult *const *results, int n, const char *markdown_path,
                       const char *csv_path, GError **error)
{
  if (markdown_path)
    {
      g_autofree char *md = cp_eval_summary_markdown (results, n);
      g_autoptr (GString) text = g_string_new (md);
      if (!write_atomically (markdown_path, text, error))
        return FALSE;
    }
  if (csv_path)
    {
      g_autoptr (GString) out = g_string_new ("category,auroc,test_images,false_rejects,misses,"
                                              "good_images,target_false_reject_rate\n");
      int counted;
      double mean = mean_auroc (results, n, &counted);

      for (int i = 0; i < n; i++)
        {
          append_csv_field (out, results[i]->category);
          g_string_append_printf (out, ",%.6f,%u,%d,%d,%d,%g\n", results[i]->auroc,
                                  results[i]->images->len, results[i]->false_rejects,
                                  results[i]->misses, results[i]->n_good,
                                  results[i]->target_false_reject_rate);
        }
      g_string_append_printf (out, "mean,%.6f,,,,,\n", mean);
      if (!write_atomically (csv_path, out, error))
        return FALSE;
    }
  return TRUE;
}
