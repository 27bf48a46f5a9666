/* dataset.c: MVTec AD layout scanning, category kinds, training-image cache. */
#include "dataset.h"

#include "core/tsan.h"

#include <string.h>

#include <glib/gstdio.h>

static const char *const image_extensions[] = { "png", "jpg", "jpeg", "bmp", "tif", "tiff" };

gboolean
cp_dataset_is_image_name (const char *name)
{
  const char *dot;

  if (name == NULL || name[0] == '.' || (dot = strrchr (name, '.')) == NULL || dot == name)
    return FALSE;
  for (size_t i = 0; i < G_N_ELEMENTS (image_extensions); i++)
    if (g_ascii_strcasecmp (dot + 1, image_extensions[i]) == 0)
      return TRUE;
  return FALSE;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Names of the entries of @dir: image files when @want_images, else
 * sub-folders.  Hidden entries are skipped; the result is sorted.
 * Reading stops with an error at CP_DATASET_MAX_IMAGES_PER_FOLDER images. */
static GPtrArray *
list_dir (const char *dir,
          gboolean    want_images,
          GError    **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  d = g_dir_open (dir, 0, &local_error);
  if (d == NULL)
    {
      g_set_error (error, CP_DATA_ERROR,
                   g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                   ? CP_DATA_ERROR_NOT_FOUND : CP_DATA_ERROR_IO,
                   "%s", local_error->message);
      return NULL;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = NULL;

      if (name[0] == '.')
        continue;
      path = g_build_filename (dir, name, NULL);
      if (want_images)
        {
          if (!cp_dataset_is_image_name (name) || g_file_test (path, G_FILE_TEST_IS_DIR))
            continue;
          if (names->len >= CP_DATASET_MAX_IMAGES_PER_FOLDER)
            {
              g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE,
                           "%s: more than %d images in one folder; is this the right folder?",
                           dir, CP_DATASET_MAX_IMAGES_PER_FOLDER);
              return NULL;
            }
        }
      else if (!g_file_test (path, G_FILE_TEST_IS_DIR))
        continue;
      g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_strings);
  return g_steal_pointer (&names);
}

char **
cp_dataset_scan_root (const char *root,
                      GError    **error)
{
  g_autoptr (GPtrArray) dirs = NULL;
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (root != NULL, NULL);
  if (!g_file_test (root, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND,
                   "dataset folder %s does not exist (expected <root>/<category>/train/good/*.png)",
                   root);
      return NULL;
    }
  dirs = list_dir (root, FALSE, error);
  if (dirs == NULL)
    return NULL;
  for (guint i = 0; i < dirs->len; i++)
    {
      g_autofree char *good = g_build_filename (root, dirs->pdata[i], "train", "good", NULL);

      if (g_file_test (good, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (found, g_strdup (dirs->pdata[i]));
    }
  if (found->len == 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EMPTY,
                   "no category found in %s (expected %s/<category>/train/good/*.png)", root, root);
      return NULL;
    }
  g_ptr_array_add (found, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&found), FALSE);
}

static void
sample_clear (CpSample *s)
{
  g_free (s->path);
  g_free (s->name);
  g_free (s->defect);
  g_free (s->mask_path);
}

void
cp_category_free (CpCategory *category)
{
  if (category == NULL)
    return;
  for (size_t i = 0; i < category->n_train; i++)
    sample_clear (&category->train[i]);
  for (size_t i = 0; i < category->n_test; i++)
    sample_clear (&category->test[i]);
  g_free (category->train);
  g_free (category->test);
  g_strfreev (category->defect_types);
  g_free (category->root);
  g_free (category->name);
  g_free (category);
}

/* The ground-truth mask of @file in ground_truth/<defect> (@gt_dir):
 * <stem>_mask.png first (the MVTec AD naming), then <stem>.png; NULL when
 * neither exists. */
static char *
find_mask_in (const char *gt_dir,
              const char *file)
{
  const char *dot = strrchr (file, '.');
  g_autofree char *stem = g_strndup (file, dot ? (gsize) (dot - file) : strlen (file));
  const char *suffixes[] = { "_mask.png", ".png" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *name = g_strconcat (stem, suffixes[i], NULL);
      char *path = g_build_filename (gt_dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return path;
      g_free (path);
    }
  return NULL;
}

char *
cp_dataset_find_mask (const char *image_path)
{
  g_autofree char *defect_dir = g_path_get_dirname (image_path);
  g_autofree char *defect = g_path_get_basename (defect_dir);
  g_autofree char *test_dir = g_path_get_dirname (defect_dir);
  g_autofree char *test = g_path_get_basename (test_dir);
  g_autofree char *cat_dir = g_path_get_dirname (test_dir);
  g_autofree char *file = g_path_get_basename (image_path);
  g_autofree char *gt_dir = NULL;

  if (strcmp (test, "test") != 0 || strcmp (defect, "good") == 0)
    return NULL;
  gt_dir = g_build_filename (cat_dir, "ground_truth", defect, NULL);
  return find_mask_in (gt_dir, file);
}

static void
add_samples (GArray     *samples,
             const char *dir,
             GPtrArray  *files,
             CpLabel     label,
             const char *defect,
             const char *gt_dir,
             size_t     *n_missing_masks)
{
  for (guint i = 0; i < files->len; i++)
    {
      CpSample s = { 0 };

      s.path = g_build_filename (dir, files->pdata[i], NULL);
      s.name = g_strdup (files->pdata[i]);
      s.label = label;
      s.defect = g_strdup (defect);
      if (label == CP_LABEL_DEFECT)
        {
          s.mask_path = gt_dir ? find_mask_in (gt_dir, files->pdata[i]) : NULL;
          if (s.mask_path == NULL)
            (*n_missing_masks)++;
        }
      g_array_append_val (samples, s);
    }
}

CpCategory *
cp_dataset_scan_category (const char *root,
                          const char *category,
                          GError    **error)
{
  g_autoptr (CpCategory) cat = NULL;
  g_autofree char *cat_dir = NULL;
  g_autofree char *train_dir = NULL;
  g_autofree char *test_dir = NULL;
  g_autoptr (GPtrArray) train_files = NULL;
  g_autoptr (GArray) test = NULL;
  g_autoptr (GPtrArray) defects = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (root != NULL && category != NULL, NULL);

  if (!g_file_test (root, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND,
                   "dataset folder %s does not exist (expected %s/%s/train/good/*.png)",
                   root, root, category);
      return NULL;
    }
  cat_dir = g_build_filename (root, category, NULL);
  if (!g_file_test (cat_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND,
                   "category '%s' not found: %s is not a folder (expected %s/%s/train/good/*.png)",
                   category, cat_dir, root, category);
      return NULL;
    }
  train_dir = g_build_filename (cat_dir, "train", "good", NULL);
  if (!g_file_test (train_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND,
                   "category '%s' has no training images: %s is missing "
                   "(expected %s/%s/train/good/*.png)",
                   category, train_dir, root, category);
      return NULL;
    }
  train_files = list_dir (train_dir, TRUE, error);
  if (train_files == NULL)
    return NULL;
  if (train_files->len == 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EMPTY,
                   "category '%s' has no training images: %s holds no .png, .jpg, .jpeg, .bmp, "
                   ".tif or .tiff file (expected %s/%s/train/good/*.png)",
                   category, train_dir, root, category);
      return NULL;
    }

  cat = g_new0 (CpCategory, 1);
  cat->root = g_strdup (root);
  cat->name = g_strdup (category);
  {
    g_autoptr (GArray) train = g_array_new (FALSE, TRUE, sizeof (CpSample));
    size_t ignored = 0;

    add_samples (train, train_dir, train_files, CP_LABEL_GOOD, "good", NULL, &ignored);
    cat->n_train = train->len;
    cat->train = (CpSample *) (void *) g_array_free (g_steal_pointer (&train), FALSE);
  }

  test = g_array_new (FALSE, TRUE, sizeof (CpSample));
  test_dir = g_build_filename (cat_dir, "test", NULL);
  if (g_file_test (test_dir, G_FILE_TEST_IS_DIR))
    {
      g_autoptr (GPtrArray) sub = list_dir (test_dir, FALSE, error);

      if (sub == NULL)
        return NULL;
      /* good first, then the defect folders in name order. */
      for (int pass = 0; pass < 2; pass++)
        for (guint i = 0; i < sub->len; i++)
          {
            const char *defect = sub->pdata[i];
            gboolean is_good = strcmp (defect, "good") == 0;
            g_autofree char *dir = NULL;
            g_autofree char *gt_dir = NULL;
            g_autoptr (GPtrArray) files = NULL;

            if ((pass == 0) != is_good)
              continue;
            dir = g_build_filename (test_dir, defect, NULL);
            files = list_dir (dir, TRUE, error);
            if (files == NULL)
              return NULL;
            if (files->len == 0)
              continue;
            if (is_good)
              {
                add_samples (test, dir, files, CP_LABEL_GOOD, "good", NULL, &cat->n_missing_masks);
                cat->n_test_good += files->len;
              }
            else
              {
                gt_dir = g_build_filename (cat_dir, "ground_truth", defect, NULL);
                add_samples (test, dir, files, CP_LABEL_DEFECT, defect, gt_dir,
                             &cat->n_missing_masks);
                cat->n_test_defect += files->len;
                g_ptr_array_add (defects, g_strdup (defect));
              }
          }
    }
  cat->n_test = test->len;
  cat->test = (CpSample *) (void *) g_array_free (g_steal_pointer (&test), FALSE);
  g_ptr_array_add (defects, NULL);
  cat->defect_types = (char **) g_ptr_array_free (g_steal_pointer (&defects), FALSE);
  return g_steal_pointer (&cat);
}

/* ---- category kinds ------------------------------------------------------ */

static const struct
{
  const char     *name;
  CpCategoryKind  kind;
} category_kinds[] = {
  { "bottle",     CP_CATEGORY_OBJECT_ALIGNED },
  { "cable",      CP_CATEGORY_OBJECT_ALIGNED },
  { "capsule",    CP_CATEGORY_OBJECT_ALIGNED },
  { "carpet",     CP_CATEGORY_TEXTURE },
  { "grid",       CP_CATEGORY_TEXTURE },
  { "hazelnut",   CP_CATEGORY_OBJECT_FREE },
  { "leather",    CP_CATEGORY_TEXTURE },
  { "metal_nut",  CP_CATEGORY_OBJECT_ALIGNED },
  { "pill",       CP_CATEGORY_OBJECT_ALIGNED },
  { "screw",      CP_CATEGORY_OBJECT_FREE },
  { "tile",       CP_CATEGORY_TEXTURE },
  { "toothbrush", CP_CATEGORY_OBJECT_ALIGNED },
  { "transistor", CP_CATEGORY_OBJECT_ALIGNED },
  { "wood",       CP_CATEGORY_TEXTURE },
  { "zipper",     CP_CATEGORY_OBJECT_ALIGNED },
  /* Our synthetic categories (synth.c). */
  { "weave",      CP_CATEGORY_TEXTURE },
  { "washer",     CP_CATEGORY_OBJECT_ALIGNED },
};

CpCategoryKind
cp_category_kind (const char *name)
{
  if (name == NULL)
    return CP_CATEGORY_UNKNOWN;
  for (size_t i = 0; i < G_N_ELEMENTS (category_kinds); i++)
    if (strcmp (name, category_kinds[i].name) == 0)
      return category_kinds[i].kind;
  return CP_CATEGORY_UNKNOWN;
}

gboolean
cp_category_is_texture (const char *name)
{
  return cp_category_kind (name) == CP_CATEGORY_TEXTURE;
}

gboolean
cp_category_uses_shared_gaussian (const char *name)
{
  return cp_category_kind (name) != CP_CATEGORY_OBJECT_ALIGNED;
}

/* ---- training-image cache ------------------------------------------------ */

typedef struct
{
  const char * const *paths;
  int                 size;
  uint8_t            *pixels;     /* (n_paths, S, S, 3), slot per input */
  char              **reasons;    /* (n_paths) NULL when loaded */
  GAsyncQueue        *done;       /* finished indices, + 1 so none is NULL */
  GCancellable       *cancellable;
} CacheJob;

static void
cache_worker (gpointer data,
              gpointer user_data)
{
  CacheJob *job = user_data;
  GAsyncQueue *done;
  size_t i = GPOINTER_TO_SIZE (data) - 1;
  g_autoptr (GError) error = NULL;
  g_autoptr (CpImage) image = NULL;

  /* GLib's futex hand-offs are invisible to TSan (see core/tsan.h), and
   * GLib reuses idle pool threads across pools, so not even the thread's
   * creation orders it after the caller.  The edges use separate
   * addresses so that the workers do not seem ordered with each other. */
  CP_TSAN_ACQUIRE (&job->paths);  /* the job, from cp_image_cache_new() */
  done = job->done;  /* not read after the release below */
  if (g_cancellable_is_cancelled (job->cancellable))
    job->reasons[i] = g_strdup ("cancelled");
  else if (!cp_image_load_resized (job->paths[i], job->size, &image, &error))
    job->reasons[i] = g_strdup (error->message);
  else
    {
      size_t bytes = (size_t) job->size * job->size * 3;

      /* Each worker writes its own slot: no locking needed. */
      for (int y = 0; y < job->size; y++)
        memcpy (job->pixels + i * bytes + (size_t) y * job->size * 3,
                image->pixels + (size_t) y * image->stride, (size_t) job->size * 3);
    }
  /* The caller reads this slot's pixels and reason after popping @data. */
  CP_TSAN_RELEASE (&job->reasons[i]);
  g_async_queue_push (done, data);
}

void
cp_image_cache_free (CpImageCache *cache)
{
  if (cache == NULL)
    return;
  g_free (cache->pixels);
  for (size_t i = 0; i < cache->n; i++)
    g_free (cache->paths[i]);
  g_free (cache->paths);
  for (size_t i = 0; i < cache->n_failed; i++)
    {
      g_free (cache->failed_paths[i]);
      g_free (cache->failed_reasons[i]);
    }
  g_free (cache->failed_paths);
  g_free (cache->failed_reasons);
  g_free (cache);
}

CpImageCache *
cp_image_cache_new (const char * const *paths,
                    size_t              n_paths,
                    int                 size,
                    int                 n_threads,
                    CpDataProgressFunc  progress,
                    gpointer            user_data,
                    GCancellable       *cancellable,
                    GError            **error)
{
  g_autoptr (CpImageCache) cache = NULL;
  g_autoptr (GCancellable) own_cancellable = NULL;
  CacheJob job = { 0 };
  GThreadPool *pool;
  size_t bytes, total, loaded = 0, failed = 0;
  gboolean stopped = FALSE;

  if (size <= 0 || size > CP_IMAGE_MAX_SIDE || n_paths == 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "image cache: need at least one image and a size in 1..%d (got %zu images, size %d)",
                   CP_IMAGE_MAX_SIDE, n_paths, size);
      return NULL;
    }
  bytes = (size_t) size * size * 3;
  if (!g_size_checked_mul (&total, bytes, n_paths))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE,
                   "image cache: %zu images of %d x %d do not fit in memory", n_paths, size, size);
      return NULL;
    }
  job.pixels = g_try_malloc (total);
  if (job.pixels == NULL)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_TOO_LARGE,
                   "image cache: cannot allocate %zu MiB for %zu images of %d x %d",
                   total >> 20, n_paths, size, size);
      return NULL;
    }
  if (cancellable == NULL)
    cancellable = own_cancellable = g_cancellable_new ();
  job.paths = paths;
  job.size = size;
  job.reasons = g_new0 (char *, n_paths);
  job.done = g_async_queue_new ();
  job.cancellable = cancellable;

  pool = g_thread_pool_new (cache_worker, &job, n_threads > 0 ? n_threads : 2, TRUE, NULL);
  CP_TSAN_RELEASE (&job.paths);  /* see cache_worker() */
  for (size_t i = 0; i < n_paths; i++)
    g_thread_pool_push (pool, GSIZE_TO_POINTER (i + 1), NULL);

  /* Progress is reported here, on the caller's thread, as images finish. */
  for (size_t done = 0; done < n_paths; done++)
    {
      size_t i = GPOINTER_TO_SIZE (g_async_queue_pop (job.done)) - 1;

      CP_TSAN_ACQUIRE (&job.reasons[i]);
      if (!stopped && progress != NULL && !progress (done + 1, n_paths, user_data))
        {
          stopped = TRUE;
          g_cancellable_cancel (cancellable);
        }
    }
  g_thread_pool_free (pool, FALSE, TRUE);
  g_async_queue_unref (job.done);

  if (g_cancellable_is_cancelled (cancellable))
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CANCELLED, "loading images was cancelled");
      for (size_t i = 0; i < n_paths; i++)
        g_free (job.reasons[i]);
      g_free (job.reasons);
      g_free (job.pixels);
      return NULL;
    }

  cache = g_new0 (CpImageCache, 1);
  cache->size = size;
  cache->paths = g_new0 (char *, n_paths);
  cache->failed_paths = g_new0 (char *, n_paths);
  cache->failed_reasons = g_new0 (char *, n_paths);
  /* Compact the loaded images to the front, keeping input order. */
  for (size_t i = 0; i < n_paths; i++)
    {
      if (job.reasons[i] != NULL)
        {
          cache->failed_paths[failed] = g_strdup (paths[i]);
          cache->failed_reasons[failed] = job.reasons[i];
          failed++;
          continue;
        }
      if (loaded != i)
        memmove (job.pixels + loaded * bytes, job.pixels + i * bytes, bytes);
      cache->paths[loaded++] = g_strdup (paths[i]);
    }
  g_free (job.reasons);
  cache->n = loaded;
  cache->n_failed = failed;
  cache->pixels = loaded > 0 ? g_realloc (job.pixels, loaded * bytes) : (g_free (job.pixels), NULL);

  if (loaded == 0)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EMPTY,
                   "none of the %zu images could be loaded; the first failure: %s",
                   n_paths, cache->failed_reasons[0]);
      return NULL;
    }
  return g_steal_pointer (&cache);
}
