/* test-dataset.c: MVTec layout scanning (the shared pcb set and generated
 * trees), category kinds, and the training-image cache. */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "data/dataset.h"
#include "data/png-write.h"
#include "test-support.h"

static char *tmp_root;

static void
touch (const char *root, const char *relative, const char *contents)
{
  g_autofree char *path = g_build_filename (root, relative, NULL);
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, contents ? contents : "", -1, NULL));
}

/* A real small PNG whose pixels encode @value. */
static void
write_png (const char *root, const char *relative, int size, guint8 value)
{
  g_autofree char *path = g_build_filename (root, relative, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree guint8 *rgb = g_new (guint8, size * size * 3);
  g_autoptr (GError) error = NULL;

  for (int i = 0; i < size * size * 3; i++)
    rgb[i] = (guint8) (value + i % 3);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (cp_png_write (path, rgb, size, size, size * 3, 3, &error));
  g_assert_no_error (error);
}

static char *
fresh_root (const char *name)
{
  char *root = g_build_filename (tmp_root, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (root, 0755), ==, 0);
  return root;
}

/* ---- the shared pcb dataset ----------------------------------------------- */

static void
test_pcb (void)
{
  const char *shared = g_getenv ("CP_SHARED_DIR");
  g_autofree char *root = NULL;
  g_autofree char *pcb = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (CpCategory) cat = NULL;
  g_auto (GStrv) cats = NULL;
  static const char *const defects[] = { "copper", "mousebite", "open", "pin_hole", "short", "spur", NULL };

  root = g_build_filename (shared ? shared : "../shared", "datasets", NULL);
  pcb = g_build_filename (root, "pcb", "train", "good", NULL);
  if (!g_file_test (pcb, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("the shared pcb dataset is not here (CP_SHARED_DIR)");
      return;
    }
  cats = cp_dataset_scan_root (root, &error);
  g_assert_no_error (error);
  g_assert_true (g_strv_contains ((const char *const *) cats, "pcb"));

  cat = cp_dataset_scan_category (root, "pcb", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cat->n_train, ==, 279);
  g_assert_cmpuint (cat->n_test_good, ==, 60);
  g_assert_cmpuint (cat->n_test_defect, ==, 17 + 21 + 22 + 6 + 19 + 15);
  g_assert_cmpuint (cat->n_test, ==, cat->n_test_good + cat->n_test_defect);
  g_assert_cmpuint (cat->n_missing_masks, ==, 0);
  g_assert_cmpstrv (cat->defect_types, defects);
  for (size_t i = 1; i < cat->n_train; i++)
    g_assert_cmpint (strcmp (cat->train[i - 1].name, cat->train[i].name), <, 0);
  for (size_t i = 0; i < cat->n_test; i++)
    {
      const CpSample *s = &cat->test[i];

      if (i < cat->n_test_good)
        {
          g_assert_cmpint (s->label, ==, CP_LABEL_GOOD);
          g_assert_cmpstr (s->defect, ==, "good");
          g_assert_null (s->mask_path);
        }
      else
        {
          g_autofree char *stem = g_strndup (s->name, strlen (s->name) - 4);
          g_autofree char *mask_name = g_strconcat (stem, "_mask.png", NULL);

          g_assert_cmpint (s->label, ==, CP_LABEL_DEFECT);
          g_assert_nonnull (s->mask_path);
          g_assert_true (g_str_has_suffix (s->mask_path, mask_name));
          g_assert_nonnull (strstr (s->mask_path, s->defect));
          g_assert_true (g_file_test (s->mask_path, G_FILE_TEST_IS_REGULAR));
        }
    }
  /* pcb is grey PNG at 256: the first mask has defect pixels. */
  {
    g_autofree guint8 *mask = NULL;
    size_t on = 0;

    g_assert_true (cp_mask_load (cat->test[cat->n_test_good].mask_path, 256, &mask, &error));
    g_assert_no_error (error);
    for (int i = 0; i < 256 * 256; i++)
      on += mask[i];
    g_assert_cmpuint (on, >, 0);
    g_assert_cmpuint (on, <, 256 * 256 / 2);
  }
}

/* The cache on real images: same pixels as loading one by one, progress
 * seen for every image, decoded on two threads. */
static gboolean
count_progress (size_t done, size_t total, gpointer user_data)
{
  size_t *calls = user_data;

  g_assert_cmpuint (done, ==, calls[0] + 1);
  g_assert_cmpuint (total, ==, calls[1]);
  calls[0]++;
  return TRUE;
}

static void
test_pcb_cache (void)
{
  const char *shared = g_getenv ("CP_SHARED_DIR");
  g_autofree char *root = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (CpCategory) cat = NULL;
  g_autoptr (CpImageCache) cache = NULL;
  const char *paths[24];
  size_t calls[2] = { 0, G_N_ELEMENTS (paths) };

  root = g_build_filename (shared ? shared : "../shared", "datasets", NULL);
  cat = cp_dataset_scan_category (root, "pcb", NULL);
  if (cat == NULL)
    {
      g_test_skip ("the shared pcb dataset is not here (CP_SHARED_DIR)");
      return;
    }
  for (size_t i = 0; i < G_N_ELEMENTS (paths); i++)
    paths[i] = cat->train[i * 11].path;
  cache = cp_image_cache_new (paths, G_N_ELEMENTS (paths), 128, 2, count_progress, calls, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (calls[0], ==, G_N_ELEMENTS (paths));
  g_assert_cmpuint (cache->n, ==, G_N_ELEMENTS (paths));
  g_assert_cmpuint (cache->n_failed, ==, 0);
  for (size_t i = 0; i < cache->n; i++)
    {
      g_autoptr (CpImage) img = NULL;

      g_assert_cmpstr (cache->paths[i], ==, paths[i]);
      g_assert_true (cp_image_load_resized (paths[i], 128, &img, &error));
      g_assert_cmpmem (cp_image_cache_image (cache, i), 128 * 128 * 3, img->pixels, 128 * 128 * 3);
    }
}

/* ---- generated trees ------------------------------------------------------ */

static void
test_errors (void)
{
  g_autofree char *root = fresh_root ("errors");
  g_autofree char *missing = g_build_filename (root, "nope", NULL);
  g_autoptr (GError) error = NULL;
  CpCategory *cat;
  char **cats;

  cats = cp_dataset_scan_root (missing, &error);
  g_assert_null (cats);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  /* A root with folders but no train/good anywhere. */
  touch (root, "bottle/test/good/000.png", NULL);
  cats = cp_dataset_scan_root (root, &error);
  g_assert_null (cats);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EMPTY);
  g_clear_error (&error);

  cat = cp_dataset_scan_category (missing, "bottle", &error);
  g_assert_null (cat);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND);
  g_clear_error (&error);

  cat = cp_dataset_scan_category (root, "cable", &error);
  g_assert_null (cat);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "cable"));
  g_clear_error (&error);

  cat = cp_dataset_scan_category (root, "bottle", &error);
  g_assert_null (cat);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "train/good"));
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* train/good with only non-images, a hidden image and a folder. */
  touch (root, "bottle/train/good/readme.txt", "x");
  touch (root, "bottle/train/good/.hidden.png", NULL);
  touch (root, "bottle/train/good/Thumbs.db", NULL);
  touch (root, "bottle/train/good/folder.png/inner.png", NULL);
  cat = cp_dataset_scan_category (root, "bottle", &error);
  g_assert_null (cat);
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EMPTY);
  g_assert_nonnull (strstr (error->message, "bottle/train/good/*.png"));
  g_test_message ("%s", error->message);
}

static void
test_layout (void)
{
  g_autofree char *root = fresh_root ("layout");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpCategory) cat = NULL;
  g_auto (GStrv) cats = NULL;
  static const char *const want_cats[] = { "alpha", "zeta", NULL };
  static const char *const want_train[] = { "000.png", "001.PNG", "002.JpEg", "003.jpg",
                                            "004.bmp", "005.TIF", "006.tiff", "B.png", "a.png",
                                            NULL };
  static const char *const want_defects[] = { "crack", "dent", NULL };

  for (int i = 0; want_train[i] != NULL; i++)
    {
      g_autofree char *rel = g_build_filename ("zeta/train/good", want_train[i], NULL);
      touch (root, rel, NULL);
    }
  touch (root, "zeta/train/good/notes.txt", "x");
  touch (root, "zeta/train/good/.DS_Store", "x");
  touch (root, "zeta/train/good/._000.png", "x");
  touch (root, "zeta/train/good/noext", "x");
  touch (root, "zeta/train/good/image.png.bak", "x");
  touch (root, "zeta/test/good/g1.png", NULL);
  touch (root, "zeta/test/good/g0.png", NULL);
  /* MVTec naming, plain naming, a JPEG image with a PNG mask, no mask. */
  touch (root, "zeta/test/crack/000.png", NULL);
  touch (root, "zeta/ground_truth/crack/000_mask.png", NULL);
  touch (root, "zeta/test/crack/001.png", NULL);
  touch (root, "zeta/ground_truth/crack/001.png", NULL);
  touch (root, "zeta/test/crack/002.jpg", NULL);
  touch (root, "zeta/ground_truth/crack/002_mask.png", NULL);
  touch (root, "zeta/test/crack/003.png", NULL);
  touch (root, "zeta/test/dent/x.bmp", NULL);
  touch (root, "zeta/ground_truth/dent/x_mask.png", NULL);
  touch (root, "zeta/ground_truth/dent/x.png", NULL);  /* _mask wins */
  touch (root, "zeta/test/empty_defect/readme.txt", "x");
  touch (root, "alpha/train/good/1.png", NULL);
  touch (root, ".hidden/train/good/1.png", NULL);
  touch (root, "notacat/test/good/1.png", NULL);
  touch (root, "file.png", NULL);

  cats = cp_dataset_scan_root (root, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (cats, want_cats);

  cat = cp_dataset_scan_category (root, "zeta", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cat->name, ==, "zeta");
  g_assert_cmpuint (cat->n_train, ==, g_strv_length ((char **) want_train));
  for (size_t i = 0; i < cat->n_train; i++)
    {
      g_autofree char *path = g_build_filename (root, "zeta", "train", "good", want_train[i], NULL);

      g_assert_cmpstr (cat->train[i].name, ==, want_train[i]);
      g_assert_cmpstr (cat->train[i].path, ==, path);
      g_assert_cmpint (cat->train[i].label, ==, CP_LABEL_GOOD);
    }
  g_assert_cmpstrv (cat->defect_types, want_defects);
  g_assert_cmpuint (cat->n_test_good, ==, 2);
  g_assert_cmpuint (cat->n_test_defect, ==, 5);
  g_assert_cmpuint (cat->n_test, ==, 7);
  g_assert_cmpuint (cat->n_missing_masks, ==, 1);
  g_assert_cmpstr (cat->test[0].name, ==, "g0.png");
  g_assert_cmpstr (cat->test[1].name, ==, "g1.png");
  g_assert_cmpstr (cat->test[2].defect, ==, "crack");
  g_assert_true (g_str_has_suffix (cat->test[2].mask_path, "ground_truth/crack/000_mask.png"));
  g_assert_true (g_str_has_suffix (cat->test[3].mask_path, "ground_truth/crack/001.png"));
  g_assert_true (g_str_has_suffix (cat->test[4].mask_path, "ground_truth/crack/002_mask.png"));
  g_assert_null (cat->test[5].mask_path);
  g_assert_cmpstr (cat->test[6].defect, ==, "dent");
  g_assert_cmpint (cat->test[6].label, ==, CP_LABEL_DEFECT);
  g_assert_true (g_str_has_suffix (cat->test[6].mask_path, "ground_truth/dent/x_mask.png"));
  /* The lookup by image path (the inspector's) agrees with the scan on
   * every test image, and finds nothing outside test/<defect>/. */
  for (size_t i = 0; i < cat->n_test; i++)
    {
      g_autofree char *mask = cp_dataset_find_mask (cat->test[i].path);

      g_assert_cmpstr (mask, ==, cat->test[i].mask_path);
    }
  {
    g_autofree char *train_image = g_build_filename (root, "zeta", "train", "good", "000.png",
                                                     NULL);
    g_autofree char *mask = cp_dataset_find_mask (train_image);

    g_assert_null (mask);
  }

  /* A category without test/ still scans, for training alone. */
  g_clear_pointer (&cat, cp_category_free);
  cat = cp_dataset_scan_category (root, "alpha", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cat->n_train, ==, 1);
  g_assert_cmpuint (cat->n_test, ==, 0);
  g_assert_cmpuint (g_strv_length (cat->defect_types), ==, 0);
}

static void
test_extensions (void)
{
  static const char *const yes[] = { "a.png", "a.PNG", "b.jpg", "b.JPG", "c.jpeg", "c.Jpeg",
                                     "d.bmp", "e.tif", "e.TIFF", "x.y.png" };
  static const char *const no[] = { ".png", ".a.png", "a.gif", "a.txt", "png", "a.png~",
                                    "a.pngx", "a.", "a" };

  for (size_t i = 0; i < G_N_ELEMENTS (yes); i++)
    g_assert_true (cp_dataset_is_image_name (yes[i]));
  for (size_t i = 0; i < G_N_ELEMENTS (no); i++)
    g_assert_false (cp_dataset_is_image_name (no[i]));
}

static void
test_kinds (void)
{
  static const char *const textures[] = { "carpet", "grid", "leather", "tile", "wood" };
  static const char *const aligned[] = { "bottle", "cable", "capsule", "metal_nut", "pill",
                                         "toothbrush", "transistor", "zipper" };

  for (size_t i = 0; i < G_N_ELEMENTS (textures); i++)
    {
      g_assert_cmpint (cp_category_kind (textures[i]), ==, CP_CATEGORY_TEXTURE);
      g_assert_true (cp_category_is_texture (textures[i]));
      g_assert_true (cp_category_uses_shared_gaussian (textures[i]));
    }
  for (size_t i = 0; i < G_N_ELEMENTS (aligned); i++)
    {
      g_assert_cmpint (cp_category_kind (aligned[i]), ==, CP_CATEGORY_OBJECT_ALIGNED);
      g_assert_false (cp_category_is_texture (aligned[i]));
      g_assert_false (cp_category_uses_shared_gaussian (aligned[i]));
    }
  g_assert_cmpint (cp_category_kind ("hazelnut"), ==, CP_CATEGORY_OBJECT_FREE);
  g_assert_cmpint (cp_category_kind ("screw"), ==, CP_CATEGORY_OBJECT_FREE);
  g_assert_true (cp_category_uses_shared_gaussian ("hazelnut"));
  g_assert_true (cp_category_uses_shared_gaussian ("screw"));
  g_assert_false (cp_category_is_texture ("screw"));
  g_assert_true (cp_category_is_texture ("weave"));
  g_assert_false (cp_category_uses_shared_gaussian ("washer"));
  g_assert_cmpint (cp_category_kind ("pcb"), ==, CP_CATEGORY_UNKNOWN);
  g_assert_true (cp_category_uses_shared_gaussian ("pcb"));
  g_assert_cmpint (cp_category_kind (NULL), ==, CP_CATEGORY_UNKNOWN);
}

/* Bad images are listed with their reason and the rest load in order. */
static gboolean
cancel_after_two (size_t done, size_t total, gpointer user_data)
{
  return done < 2;
}

static void
test_cache_failures (void)
{
  g_autofree char *root = fresh_root ("cache");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpImageCache) cache = NULL;
  g_autofree char *p0 = g_build_filename (root, "0.png", NULL);
  g_autofree char *p1 = g_build_filename (root, "1.png", NULL);
  g_autofree char *p2 = g_build_filename (root, "2.png", NULL);
  g_autofree char *p3 = g_build_filename (root, "3.png", NULL);
  g_autofree char *p4 = g_build_filename (root, "4.png", NULL);
  const char *paths[] = { p0, p1, p2, p3, p4 };
  const char *bad[] = { p1, p4 };

  write_png (root, "0.png", 20, 10);
  touch (root, "1.png", "garbage");
  write_png (root, "2.png", 16, 50);  /* resized up to 16 -> 20 */
  write_png (root, "3.png", 20, 90);
  /* 4.png does not exist. */

  cache = cp_image_cache_new (paths, 5, 20, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cache->n, ==, 3);
  g_assert_cmpuint (cache->n_failed, ==, 2);
  g_assert_cmpstr (cache->paths[0], ==, p0);
  g_assert_cmpstr (cache->paths[1], ==, p2);
  g_assert_cmpstr (cache->paths[2], ==, p3);
  for (int i = 0; i < 2; i++)
    {
      g_assert_cmpstr (cache->failed_paths[i], ==, bad[i]);
      g_assert_nonnull (strstr (cache->failed_reasons[i], bad[i]));
      g_test_message ("failed: %s", cache->failed_reasons[i]);
    }
  /* Flat images stay flat through the resize. */
  g_assert_cmpuint (cp_image_cache_image (cache, 0)[0], ==, 10);
  g_assert_cmpuint (cp_image_cache_image (cache, 1)[20 * 20 * 3 - 1], ==, 52);
  g_assert_cmpuint (cp_image_cache_image (cache, 2)[4], ==, 91);

  /* Nothing loadable: an error naming the first failure. */
  {
    const char *only_bad[] = { p1, p4 };
    CpImageCache *none = cp_image_cache_new (only_bad, 2, 20, 2, NULL, NULL, NULL, &error);

    g_assert_null (none);
    g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EMPTY);
    g_clear_error (&error);
  }
  /* Cancelled from the progress callback. */
  {
    CpImageCache *cancelled = cp_image_cache_new (paths, 5, 20, 2, cancel_after_two, NULL, NULL,
                                                  &error);

    g_assert_null (cancelled);
    g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CANCELLED);
  }
}

int
main (int argc, char **argv)
{
  gboolean pcb_only = argc > 1 && strcmp (argv[1], "--pcb") == 0;
  int status;

  /* "--pcb": only the tests on the shared dataset, as their own meson test
   * that reports "skipped" (77) when the dataset is absent. */
  if (pcb_only)
    {
      const char *shared = g_getenv ("CP_SHARED_DIR");
      g_autofree char *pcb = g_build_filename (shared ? shared : "../shared", "datasets", "pcb",
                                               "train", "good", NULL);

      if (!g_file_test (pcb, G_FILE_TEST_IS_DIR))
        {
          printf ("skipped: %s is absent\n", pcb);
          return 77;
        }
      argv[1] = argv[0];
      argv++;
      argc--;
    }
  g_test_init (&argc, &argv, NULL);
  tmp_root = cp_test_make_tmp_dir ("cp-test-dataset-XXXXXX");

  if (pcb_only)
    {
      g_test_add_func ("/data/dataset/pcb", test_pcb);
      g_test_add_func ("/data/dataset/pcb-cache", test_pcb_cache);
    }
  else
    {
      g_test_add_func ("/data/dataset/errors", test_errors);
      g_test_add_func ("/data/dataset/layout", test_layout);
      g_test_add_func ("/data/dataset/extensions", test_extensions);
      g_test_add_func ("/data/dataset/kinds", test_kinds);
      g_test_add_func ("/data/dataset/cache-failures", test_cache_failures);
    }
  status = g_test_run ();

  cp_test_remove_tree (tmp_root);
  g_free (tmp_root);
  return status;
}
