/* test-synth.c: the synthetic dataset generator: determinism, layout,
 * masks exactly for defect images, overwrite rules, cancel, and (with a
 * path to the cutpaste binary as argument) the `cutpaste synth` command. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "data/dataset.h"
#include "data/synth.h"
#include "test-support.h"

#define SIZE 96

static char *tmp_root;
static const char *cutpaste_path;

/* Every regular file under @dir, as paths relative to @base, sorted. */
static void
list_files (const char *base, const char *dir, GPtrArray *out)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        list_files (base, path, out);
      else
        g_ptr_array_add (out, g_strdup (path + strlen (base) + 1));
    }
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
files_of (const char *dir)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);

  list_files (dir, dir, files);
  g_ptr_array_sort (files, compare_paths);
  return files;
}

static void
small_options (CpSynthOptions *o, guint64 seed)
{
  cp_synth_options_init (o);
  o->seed = seed;
  o->size = SIZE;
  o->n_train = 3;
  o->n_test_good = 2;
  o->n_test_defect = 2;
}

static char *
write_set (const char *name, guint64 seed)
{
  char *out = g_build_filename (tmp_root, name, NULL);
  g_autoptr (GError) error = NULL;
  CpSynthOptions o;

  small_options (&o, seed);
  g_assert_true (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_no_error (error);
  return out;
}

static void
test_defaults (void)
{
  CpSynthOptions o;

  cp_synth_options_init (&o);
  g_assert_cmpint (o.size, ==, 256);
  g_assert_cmpint (o.n_train, ==, 80);
  g_assert_cmpint (o.n_test_good, ==, 20);
  g_assert_cmpint (o.n_test_defect, ==, 10);
  g_assert_false (o.force);
  g_assert_null (o.categories);
  g_assert_true (g_strv_contains (cp_synth_categories (), "weave"));
  g_assert_true (g_strv_contains (cp_synth_categories (), "washer"));
  g_assert_true (cp_category_is_texture ("weave"));
  g_assert_cmpint (cp_category_kind ("washer"), ==, CP_CATEGORY_OBJECT_ALIGNED);
  g_assert_true (g_strv_contains (cp_synth_defect_types ("washer"), "missing_tooth"));
  g_assert_true (g_strv_contains (cp_synth_defect_types ("washer"), "bent"));
  g_assert_true (g_strv_contains (cp_synth_defect_types ("weave"), "hole"));
  g_assert_null (cp_synth_defect_types ("bottle"));
}

static void
test_determinism (void)
{
  g_autofree char *a = write_set ("det-a", 7);
  g_autofree char *b = write_set ("det-b", 7);
  g_autofree char *c = write_set ("det-c", 8);
  g_autoptr (GPtrArray) fa = files_of (a);
  g_autoptr (GPtrArray) fb = files_of (b);
  g_autoptr (GPtrArray) fc = files_of (c);
  guint images = 0, masks = 0, masks_same = 0;

  /* 2 categories x (3 train + 2 good + 2 per defect) images, masks for
   * the defect images: washer 4 defects, weave 3. */
  g_assert_cmpuint (fa->len, ==, (3 + 2 + 8) + 8 + (3 + 2 + 6) + 6);
  g_assert_cmpuint (fb->len, ==, fa->len);
  g_assert_cmpuint (fc->len, ==, fa->len);
  for (guint i = 0; i < fa->len; i++)
    {
      g_autofree char *pa = g_build_filename (a, fa->pdata[i], NULL);
      g_autofree char *pb = g_build_filename (b, fa->pdata[i], NULL);
      g_autofree char *pc = g_build_filename (c, fa->pdata[i], NULL);
      g_autofree char *da = NULL, *db = NULL, *dc = NULL;
      gsize la, lb, lc;

      g_assert_cmpstr (fa->pdata[i], ==, fb->pdata[i]);
      g_assert_cmpstr (fa->pdata[i], ==, fc->pdata[i]);
      g_assert_true (g_file_get_contents (pa, &da, &la, NULL));
      g_assert_true (g_file_get_contents (pb, &db, &lb, NULL));
      g_assert_true (g_file_get_contents (pc, &dc, &lc, NULL));
      g_assert_cmpmem (da, la, db, lb);
      if (strstr (fa->pdata[i], "ground_truth") != NULL)
        {
          /* Two different masks could coincide only by chance. */
          masks++;
          masks_same += la == lc && memcmp (da, dc, la) == 0;
        }
      else
        {
          images++;
          g_assert_false (la == lc && memcmp (da, dc, la) == 0);
        }
    }
  g_assert_cmpuint (images, ==, 24);
  g_assert_cmpuint (masks, ==, 14);
  g_assert_cmpuint (masks_same, ==, 0);
}

static void
test_masks (void)
{
  g_autofree char *out = write_set ("masks", 3);

  for (int k = 0; cp_synth_categories ()[k] != NULL; k++)
    {
      const char *name = cp_synth_categories ()[k];
      g_autoptr (GError) error = NULL;
      g_autoptr (CpCategory) cat = cp_dataset_scan_category (out, name, &error);
      g_autofree char *gt_good = g_build_filename (out, name, "ground_truth", "good", NULL);
      guint n_defects = g_strv_length ((char **) cp_synth_defect_types (name));

      g_assert_no_error (error);
      g_assert_cmpuint (cat->n_train, ==, 3);
      g_assert_cmpuint (cat->n_test_good, ==, 2);
      g_assert_cmpuint (cat->n_test_defect, ==, 2 * n_defects);
      g_assert_cmpuint (cat->n_missing_masks, ==, 0);
      g_assert_cmpstrv (cat->defect_types, cp_synth_defect_types (name));
      g_assert_false (g_file_test (gt_good, G_FILE_TEST_EXISTS));

      for (size_t i = 0; i < cat->n_test; i++)
        {
          const CpSample *s = &cat->test[i];
          g_autoptr (CpImage) img = NULL;
          g_autoptr (CpImage) raw = NULL;
          g_autofree guint8 *mask = NULL;
          size_t on = 0;

          g_assert_true (cp_image_load (s->path, &img, &error));
          g_assert_no_error (error);
          g_assert_cmpint (img->width, ==, SIZE);
          g_assert_cmpint (img->height, ==, SIZE);
          if (s->label == CP_LABEL_GOOD)
            {
              g_assert_null (s->mask_path);
              continue;
            }
          g_assert_true (g_str_has_suffix (s->mask_path, "_mask.png"));
          g_assert_true (cp_image_load (s->mask_path, &raw, &error));
          for (int j = 0; j < SIZE * SIZE * 3; j++)
            g_assert_true (raw->pixels[j] == 0 || raw->pixels[j] == 255);
          g_assert_true (cp_mask_load (s->mask_path, SIZE, &mask, &error));
          for (int j = 0; j < SIZE * SIZE; j++)
            on += mask[j];
          g_test_message ("%s/%s/%s: %zu mask pixels", name, s->defect, s->name, on);
          g_assert_cmpuint (on, >, 0);
          g_assert_cmpuint (on, <, SIZE * SIZE / 8);
        }
    }
}

/* The pixels a mask marks must look different from good parts there: the
 * defect is visible, not just declared.  Two measures, each for a defect
 * image and for a held-out good image over the same mask, averaged over a
 * few images per defect type:
 *  - pixels: mean |image - nearest of several good images| in the mask
 *    (nearest, so that pose and light are matched as well as they can be);
 *  - colour: |mean colour in the mask - that of the good images| (blind to
 *    the phase of a texture, which dominates the first on fabric).
 * Defects must lie well beyond the good-to-good spread on one of them. */
#define N_POOL 8
#define N_PER_DEFECT 5

static double
nearest_in_mask (const guint8 *img, guint8 *const *pool, const guint8 *mask, int size)
{
  double best = G_MAXDOUBLE;

  for (int g = 0; g < N_POOL; g++)
    {
      double sum = 0.0, n = 0.0;

      for (int j = 0; j < size * size; j++)
        if (mask[j])
          for (int c = 0; c < 3; c++)
            {
              sum += fabs ((double) img[j * 3 + c] - pool[g][j * 3 + c]);
              n += 1.0;
            }
      best = MIN (best, sum / n);
    }
  return best;
}

static double
colour_shift (const guint8 *img, guint8 *const *pool, const guint8 *mask, int size)
{
  double mean_img[3] = { 0 }, mean_pool[3] = { 0 }, n = 0.0;

  for (int j = 0; j < size * size; j++)
    if (mask[j])
      {
        for (int c = 0; c < 3; c++)
          {
            mean_img[c] += img[j * 3 + c];
            for (int g = 0; g < N_POOL; g++)
              mean_pool[c] += pool[g][j * 3 + c] / (double) N_POOL;
          }
        n += 1.0;
      }
  return (fabs (mean_img[0] - mean_pool[0]) + fabs (mean_img[1] - mean_pool[1])
          + fabs (mean_img[2] - mean_pool[2])) / (3.0 * n);
}

static void
test_defects_visible (void)
{
  const int size = 128;
  g_autofree guint8 *rgb = g_new (guint8, size * size * 3);
  g_autofree guint8 *held_out = g_new (guint8, size * size * 3);
  g_autofree guint8 *mask = g_new (guint8, size * size);
  guint8 *pool[N_POOL];

  for (int g = 0; g < N_POOL; g++)
    pool[g] = g_new (guint8, size * size * 3);
  for (int k = 0; cp_synth_categories ()[k] != NULL; k++)
    {
      const char *name = cp_synth_categories ()[k];
      const char *const *defects = cp_synth_defect_types (name);

      for (int g = 0; g < N_POOL; g++)
        g_assert_true (cp_synth_render (name, 11, 0, NULL, g, size, pool[g], NULL, NULL));
      for (int d = 0; defects[d] != NULL; d++)
        {
          double defect_sum = 0.0, good_sum = 0.0, defect_shift = 0.0, good_shift = 0.0;

          for (int index = 0; index < N_PER_DEFECT; index++)
            {
              g_autoptr (GError) error = NULL;

              g_assert_true (cp_synth_render (name, 11, 1, defects[d], index, size, rgb, mask,
                                              &error));
              g_assert_no_error (error);
              g_assert_true (cp_synth_render (name, 11, 1, NULL, 100 + index, size, held_out,
                                              NULL, &error));
              defect_sum += nearest_in_mask (rgb, pool, mask, size);
              good_sum += nearest_in_mask (held_out, pool, mask, size);
              defect_shift += colour_shift (rgb, pool, mask, size);
              good_shift += colour_shift (held_out, pool, mask, size);
            }
          g_test_message ("%s/%s in the masks: pixels: defect %.1f, good %.1f; colour: "
                          "defect %.1f, good %.1f", name, defects[d], defect_sum / N_PER_DEFECT,
                          good_sum / N_PER_DEFECT, defect_shift / N_PER_DEFECT,
                          good_shift / N_PER_DEFECT);
          g_assert_true (defect_sum > 2.0 * good_sum || defect_shift > 2.0 * good_shift);
        }
    }
  for (int g = 0; g < N_POOL; g++)
    g_free (pool[g]);
}

/* Every defect leaves a mark at every size, down to the smallest (the
 * pipeline tests train on 32 to 64 pixel images). */
static void
test_small_sizes (void)
{
  static const int sizes[] = { CP_SYNTH_MIN_SIZE, 48, 64, 100 };
  g_autofree guint8 *rgb = g_new (guint8, 100 * 100 * 3);
  g_autofree guint8 *mask = g_new (guint8, 100 * 100);

  for (size_t si = 0; si < G_N_ELEMENTS (sizes); si++)
    for (int k = 0; cp_synth_categories ()[k] != NULL; k++)
      {
        const char *name = cp_synth_categories ()[k];
        const char *const *defects = cp_synth_defect_types (name);

        for (int d = 0; defects[d] != NULL; d++)
          for (int index = 0; index < 12; index++)
            {
              g_autoptr (GError) error = NULL;
              int size = sizes[si], on = 0;

              g_assert_true (cp_synth_render (name, 3, 1, defects[d], index, size, rgb, mask,
                                              &error));
              g_assert_no_error (error);
              for (int j = 0; j < size * size; j++)
                on += mask[j] != 0;
              g_assert_cmpint (on, >=, 3);
              g_assert_cmpint (on, <, size * size / 4);
            }
      }
}

/* Good images are not copies of one another. */
static void
test_good_vary (void)
{
  const int size = 128;
  g_autofree guint8 *a = g_new (guint8, size * size * 3);
  g_autofree guint8 *b = g_new (guint8, size * size * 3);
  g_autofree guint8 *mask = g_new (guint8, size * size);

  for (int k = 0; cp_synth_categories ()[k] != NULL; k++)
    {
      const char *name = cp_synth_categories ()[k];
      double diff = 0.0;

      g_assert_true (cp_synth_render (name, 5, 0, NULL, 0, size, a, mask, NULL));
      g_assert_true (cp_synth_render (name, 5, 0, NULL, 1, size, b, NULL, NULL));
      for (int j = 0; j < size * size; j++)
        g_assert_cmpuint (mask[j], ==, 0);
      for (int j = 0; j < size * size * 3; j++)
        diff += fabs ((double) a[j] - b[j]);
      diff /= size * size * 3;
      g_test_message ("%s: mean difference between two good images %.1f", name, diff);
      g_assert_cmpfloat (diff, >, 3.0);
    }
}

static gboolean
no_hidden_leftovers (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)) != NULL)
    if (name[0] == '.')
      return FALSE;
  return TRUE;
}

static void
test_overwrite (void)
{
  g_autofree char *out = write_set ("overwrite", 1);
  g_autofree char *marker = g_build_filename (out, "weave", "marker.txt", NULL);
  g_autofree char *empty_cat = g_build_filename (tmp_root, "empty-existing", "weave", NULL);
  g_autoptr (GError) error = NULL;
  CpSynthOptions o;
  const char *weave_only[] = { "weave", NULL };

  g_assert_true (g_file_set_contents (marker, "keep", -1, NULL));
  small_options (&o, 2);
  g_assert_false (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "--force"));
  g_clear_error (&error);
  g_assert_true (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_true (no_hidden_leftovers (out));

  o.force = TRUE;
  g_assert_true (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (marker, G_FILE_TEST_EXISTS));
  g_assert_true (no_hidden_leftovers (out));

  /* An existing but empty category folder is simply filled. */
  g_assert_cmpint (g_mkdir_with_parents (empty_cat, 0755), ==, 0);
  small_options (&o, 2);
  o.categories = weave_only;
  {
    g_autofree char *parent = g_path_get_dirname (empty_cat);
    g_autofree char *train = g_build_filename (empty_cat, "train", "good", "000.png", NULL);

    g_assert_true (cp_synth_write (parent, &o, NULL, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (g_file_test (train, G_FILE_TEST_IS_REGULAR));
  }
}

static void
test_invalid (void)
{
  g_autofree char *out = g_build_filename (tmp_root, "invalid", NULL);
  g_autoptr (GError) error = NULL;
  CpSynthOptions o;
  const char *bad[] = { "weave", "bottle", NULL };
  guint8 px[64 * 64 * 3];

  small_options (&o, 1);
  o.categories = bad;
  g_assert_false (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "bottle"));
  g_clear_error (&error);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  small_options (&o, 1);
  o.size = 8;
  g_assert_false (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID);
  g_clear_error (&error);

  small_options (&o, 1);
  o.n_train = 0;
  g_assert_false (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID);
  g_clear_error (&error);

  g_assert_false (cp_synth_render ("washer", 1, 0, "hole", 0, 64, px, NULL, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID);
}

typedef struct
{
  int calls;
  int last_done;
  int stop_at;
} ProgressLog;

static gboolean
on_progress (const char *category, int done, int total, gpointer user_data)
{
  ProgressLog *log = user_data;

  g_assert_cmpint (done, >=, 1);
  g_assert_cmpint (done, <=, total);
  if (log->last_done < total)
    g_assert_cmpint (done, ==, log->last_done + 1);
  log->last_done = done == total ? 0 : done;
  log->calls++;
  return log->stop_at == 0 || log->calls < log->stop_at;
}

static void
test_progress_and_cancel (void)
{
  g_autofree char *out = g_build_filename (tmp_root, "progress", NULL);
  g_autofree char *weave = g_build_filename (out, "weave", NULL);
  g_autoptr (GError) error = NULL;
  const char *weave_only[] = { "weave", NULL };
  ProgressLog log = { 0, 0, 0 };
  CpSynthOptions o;

  small_options (&o, 4);
  o.categories = weave_only;
  g_assert_true (cp_synth_write (out, &o, on_progress, &log, &error));
  g_assert_no_error (error);
  g_assert_cmpint (log.calls, ==, 3 + 2 + 3 * 2);

  log = (ProgressLog) { 0, 0, 4 };
  o.force = TRUE;
  g_assert_false (cp_synth_write (out, &o, on_progress, &log, &error));
  g_assert_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CANCELLED);
  /* The earlier complete category survives a cancelled replacement. */
  g_assert_true (g_file_test (weave, G_FILE_TEST_IS_DIR));
  g_assert_true (no_hidden_leftovers (out));
}

/* Default size: how long one category takes (reported, not asserted: the
 * machine is shared). */
static void
test_default_speed (void)
{
  g_autofree char *out = g_build_filename (tmp_root, "speed", NULL);
  g_autoptr (GError) error = NULL;
  const char *one[] = { "washer", NULL };
  CpSynthOptions o;
  gint64 t0;

  cp_synth_options_init (&o);
  o.categories = one;
  o.n_train = 20;
  o.n_test_good = 5;
  o.n_test_defect = 2;
  t0 = g_get_monotonic_time ();
  g_assert_true (cp_synth_write (out, &o, NULL, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("33 washer images at 256 x 256 in %.2f s",
                  (g_get_monotonic_time () - t0) / 1e6);
}

/* ---- the command line ----------------------------------------------------- */

static int
run_cli (const char *const *args, char **err_out)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  int status = 0;

  g_ptr_array_add (argv, (gpointer) cutpaste_path);
  g_ptr_array_add (argv, (gpointer) "synth");
  for (int i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, err_out, &status, &error));
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_cli (void)
{
  g_autofree char *out = g_build_filename (tmp_root, "cli", NULL);
  g_autofree char *direct = g_build_filename (tmp_root, "cli-direct", NULL);
  g_autofree char *err = NULL;
  const char *args[] = { "--out", out, "--seed", "9", "--categories", "weave", "--size", "64",
                         "--train", "2", "--test-good", "1", "--test-defect", "1", NULL };
  const char *forced[] = { "--out", out, "--seed", "9", "--categories", "weave", "--size", "64",
                           "--train", "2", "--test-good", "1", "--test-defect", "1", "--force",
                           NULL };
  const char *unknown[] = { "--out", out, "--categories", "bottle", NULL };
  const char *no_out[] = { "--seed", "3", NULL };
  const char *bad_size[] = { "--out", out, "--size", "7", NULL };
  const char *weave_only[] = { "weave", NULL };
  g_autoptr (GError) error = NULL;
  CpSynthOptions o;

  if (cutpaste_path == NULL)
    {
      g_test_skip ("no cutpaste binary given");
      return;
    }
  g_assert_cmpint (run_cli (args, NULL), ==, 0);
  g_assert_cmpint (run_cli (args, &err), ==, 1);
  g_assert_nonnull (strstr (err, "--force"));
  g_assert_cmpint (run_cli (forced, NULL), ==, 0);
  g_assert_cmpint (run_cli (unknown, NULL), ==, 2);
  g_assert_cmpint (run_cli (no_out, NULL), ==, 2);
  g_assert_cmpint (run_cli (bad_size, NULL), ==, 2);

  /* The command writes exactly what the library writes. */
  small_options (&o, 9);
  o.size = 64;
  o.n_train = 2;
  o.n_test_good = 1;
  o.n_test_defect = 1;
  o.categories = weave_only;
  g_assert_true (cp_synth_write (direct, &o, NULL, NULL, &error));
  {
    g_autoptr (GPtrArray) fa = files_of (out);
    g_autoptr (GPtrArray) fb = files_of (direct);

    g_assert_cmpuint (fa->len, ==, fb->len);
    g_assert_cmpuint (fa->len, ==, 2 + 1 + 3 + 3);
    for (guint i = 0; i < fa->len; i++)
      {
        g_autofree char *pa = g_build_filename (out, fa->pdata[i], NULL);
        g_autofree char *pb = g_build_filename (direct, fb->pdata[i], NULL);
        g_autofree char *da = NULL, *db = NULL;
        gsize la, lb;

        g_assert_cmpstr (fa->pdata[i], ==, fb->pdata[i]);
        g_assert_true (g_file_get_contents (pa, &da, &la, NULL));
        g_assert_true (g_file_get_contents (pb, &db, &lb, NULL));
        g_assert_cmpmem (da, la, db, lb);
      }
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (argc > 1)
    {
      cutpaste_path = argv[1];
      if (!g_file_test (cutpaste_path, G_FILE_TEST_IS_EXECUTABLE))
        {
          printf ("skipped: %s was not built\n", cutpaste_path);
          return 77;
        }
    }
  tmp_root = cp_test_make_tmp_dir ("cp-test-synth-XXXXXX");

  g_test_add_func ("/data/synth/defaults", test_defaults);
  g_test_add_func ("/data/synth/determinism", test_determinism);
  g_test_add_func ("/data/synth/masks", test_masks);
  g_test_add_func ("/data/synth/defects-visible", test_defects_visible);
  g_test_add_func ("/data/synth/small-sizes", test_small_sizes);
  g_test_add_func ("/data/synth/good-vary", test_good_vary);
  g_test_add_func ("/data/synth/overwrite", test_overwrite);
  g_test_add_func ("/data/synth/invalid", test_invalid);
  g_test_add_func ("/data/synth/progress-and-cancel", test_progress_and_cancel);
  g_test_add_func ("/data/synth/default-speed", test_default_speed);
  g_test_add_func ("/data/synth/cli", test_cli);
  status = g_test_run ();

  cp_test_remove_tree (tmp_root);
  g_free (tmp_root);
  return status;
}
