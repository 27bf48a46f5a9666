/* test-window.c: drives the real CutPaste Inspector window through its
 * actions under a display (Xvfb in CI): open a synthetic dataset, train a
 * tiny category, score dropped files (good, not an image, corrupt, empty
 * folder), save a moved threshold into the model file (and ask before a
 * moved one is dropped), show the defect heatmap of a tiny patch model,
 * draw the plots, cancel a run and check the saved model did not change by
 * one byte. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-inspect-item.h"
#include "cp-plot-view.h"
#include "cp-window.h"
#include "window-probe.h"
#include "cp-worker.h"
#include "core/io/safetensors.h"
#include "data/synth.h"
#include "pipeline/localize.h"
#include "pipeline/model.h"
#include "pipeline/train.h"
#include "test-support.h"

#define CATEGORY "washer"

static CpApplication *app;
static CpWindow *window;
static CpWorker *worker;
static char *tmp_dir;
static char *data_dir;

/* ---- the window, reached through its session, pages and actions ---- */

static const char *
model_dir_of (CpWindow *w)
{
  return cp_session_get_model_dir (probe_session (w));
}

static const char *
dataset_error_of (CpWindow *w)
{
  return cp_session_get_dataset_error (probe_session (w));
}

static void
select_category (CpWindow   *w,
                 const char *name)
{
  g_assert_true (cp_session_select_name (probe_session (w), name));
}

static const char *
category_problem (CpWindow   *w,
                  const char *name)
{
  CpCategoryItem *item = cp_session_find (probe_session (w), name);

  return item != NULL ? cp_category_item_get_model_info (item)->problem : NULL;
}

static guint
inspect_count (CpWindow *w)
{
  return g_list_model_get_n_items (probe_inspect_items (w));
}

static gboolean
inspect_row (CpWindow    *w,
             guint        index,
             const char **path,
             double      *score,
             const char **error)
{
  g_autoptr(CpInspectItem) item = NULL;

  *path = *error = NULL;
  *score = NAN;
  if (index >= inspect_count (w))
    return FALSE;
  item = g_list_model_get_item (probe_inspect_items (w), index);
  *path = cp_inspect_item_get_path (item);   /* the list holds the item */
  *score = cp_inspect_item_get_score (item);
  *error = cp_inspect_item_get_error (item);
  return TRUE;
}

static gboolean
heatmap_available (CpWindow *w,
                   gboolean *has_outline)
{
  gboolean available = FALSE, outline = FALSE;

  g_object_get (probe_page (w, "inspect"), "heatmap-available", &available,
                "heatmap-outline", &outline, NULL);
  if (has_outline != NULL)
    *has_outline = outline;
  return available;
}

static const char *
heatmap_status (CpWindow *w)
{
  return gtk_label_get_text (GTK_LABEL (probe_child (w, "inspect", "heatmap_status")));
}

static void
set_heatmap_shown (CpWindow *w,
                   gboolean  shown)
{
  g_object_set (probe_page (w, "inspect"), "show-heatmap", shown, NULL);
}

static const char *
last_toast (CpWindow *w)
{
  static char *toast;

  g_free (toast);
  g_object_get (w, "last-toast", &toast, NULL);
  return toast;
}

/* "loss", "roc", "hist" or "tsne". */
static GtkWidget *
plot_of (CpWindow   *w,
         const char *name)
{
  g_autofree char *id = g_strdup_printf ("%s_view", name);

  return probe_child (w, g_str_equal (name, "loss") ? "train" : "eval", id);
}

static gboolean
handle_drop (CpWindow     *w,
             const GValue *value)
{
  GSList *files = gdk_file_list_get_files (g_value_get_boxed (value));

  probe_drop (w, files);
  g_slist_free (files);
  return TRUE;
}

static void
use_tiny_settings (int steps)
{
  GSettings *settings = cp_application_get_settings (app);

  g_settings_set_string (settings, "profile", "custom");
  g_settings_set_string (settings, "device", "cpu");
  g_settings_set_int (settings, "steps", steps);
  g_settings_set_int (settings, "batch-size", 2);
  g_settings_set_int (settings, "image-size", 32);
}

static void
test_bad_folder (void)
{
  g_autofree char *empty = g_build_filename (tmp_dir, "not-a-dataset", NULL);

  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);
  probe_open_dataset (window, empty);
  probe_wait_idle (worker);
  g_assert_nonnull (dataset_error_of (window));
  /* The message says what is expected, not only what went wrong. */
  g_assert_nonnull (strstr (dataset_error_of (window), "train/good"));
  g_assert_false (gtk_widget_activate_action (GTK_WIDGET (window), "win.train", NULL) &&
                  probe_category_state (window, CATEGORY) != CP_CATEGORY_STATE_NOT_TRAINED);
}

static void
test_open_dataset (void)
{
  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_null (dataset_error_of (window));
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_NOT_TRAINED);
  select_category (window, CATEGORY);
  g_assert_true (g_str_has_prefix (model_dir_of (window), tmp_dir));
  /* The Dataset page says where the models go. */
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (probe_model_folder (window, "folder_label"))),
                            model_dir_of (window)));
}

static void
test_train (void)
{
  g_autofree char *model = cp_train_model_path (model_dir_of (window), CATEGORY);

  use_tiny_settings (3);
  probe_activate (window, "win.train");
  probe_wait_idle (worker);
  g_assert_true (g_file_test (model, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  /* No ImageNet weights in the test's caches: the model says so. */
  g_assert_nonnull (strstr (probe_dataset_subtitle (window, CATEGORY),
                            "Started from: nothing (trained from scratch)"));
}

static GFile *
write_file (const char *name, const void *bytes, gsize size)
{
  g_autofree char *path = g_build_filename (tmp_dir, name, NULL);

  g_assert_true (g_file_set_contents (path, bytes, size, NULL));
  return g_file_new_for_path (path);
}

static void
test_drop (void)
{
  g_autofree char *good_path = g_build_filename (data_dir, CATEGORY, "test", "good", NULL);
  g_autoptr(GDir) dir = g_dir_open (good_path, 0, NULL);
  g_autofree char *first = NULL;
  g_autofree char *png_bytes = NULL;
  gsize png_size = 0;
  g_autofree char *empty_path = g_build_filename (tmp_dir, "empty-folder", NULL);
  GSList *files = NULL;
  GdkFileList *list;
  GValue value = G_VALUE_INIT;
  guint n;

  g_assert_nonnull (dir);
  first = g_build_filename (good_path, g_dir_read_name (dir), NULL);
  g_assert_true (g_file_get_contents (first, &png_bytes, &png_size, NULL));
  g_assert_cmpuint (png_size, >, 100);
  g_assert_cmpint (g_mkdir_with_parents (empty_path, 0755), ==, 0);

  files = g_slist_append (files, g_file_new_for_path (first));
  files = g_slist_append (files, write_file ("notes.txt", "not an image\n", 13));
  /* A real PNG cut in half: a header that promises more than there is. */
  files = g_slist_append (files, write_file ("truncated.png", png_bytes, png_size / 2));
  files = g_slist_append (files, g_file_new_for_path (empty_path));
  list = gdk_file_list_new_from_list (files);
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, list);

  g_assert_true (handle_drop (window, &value));
  probe_wait_idle (worker);
  g_value_unset (&value);
  g_slist_free_full (files, g_object_unref);

  n = inspect_count (window);
  g_assert_cmpuint (n, ==, 4);
  for (guint i = 0; i < n; i++)
    {
      const char *path, *error;
      double score;

      g_assert_true (inspect_row (window, i, &path, &score, &error));
      if (i == 0)
        {
          g_assert_null (error);
          g_assert_true (isfinite (score));
          g_assert_cmpfloat (score, >=, 0);
        }
      else
        {
          /* Every bad input is a row that says what is wrong. */
          g_assert_nonnull (error);
          g_assert_cmpstr (error, !=, "");
          g_assert_true (isnan (score));
        }
    }
}

/* The threshold metadata of the model file on disk: the value (NaN when
 * absent) and, when asked, a key's text (NULL when absent). */
static double
file_threshold (const char *path,
                const char *key,
                char      **value)
{
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (path, &err);
  const char *text;
  double threshold;

  g_assert_nonnull (st);
  text = cp_safetensors_metadata (st, "threshold");
  threshold = text != NULL ? g_ascii_strtod (text, NULL) : NAN;
  if (value != NULL)
    *value = g_strdup (cp_safetensors_metadata (st, key));
  cp_safetensors_close (st);
  return threshold;
}

/* A click: "clicked" at once (gtk_widget_activate () would wait for the
 * button's press animation), which runs the button's action. */
static void
press (GtkWidget *button)
{
  g_assert_true (gtk_widget_get_sensitive (button));
  g_signal_emit_by_name (button, "clicked");
}

static gboolean
label_contains (GtkWidget  *label,
                const char *text)
{
  return strstr (gtk_label_get_text (GTK_LABEL (label)), text) != NULL;
}

/* The slider moved and saved: the model file on disk holds the new
 * threshold, marked as set by hand, and it is what the next window starts
 * with.  Reset goes back to the stored value; a file changed behind the
 * window's back is not overwritten unseen; a file that cannot be read is
 * left as it was. */
static void
test_threshold_save (void)
{
  g_autofree char *model = cp_train_model_path (model_dir_of (window), CATEGORY);
  GtkWidget *scale = probe_threshold (window, "scale");
  GtkWidget *save = probe_threshold (window, "save");
  GtkWidget *reset = probe_threshold (window, "reset");
  GtkWidget *origin = probe_threshold (window, "origin");
  GtkAdjustment *adjustment = gtk_range_get_adjustment (GTK_RANGE (scale));
  g_autofree char *source = NULL;
  g_autofree char *kept = NULL;
  g_autofree char *bytes = NULL, *after = NULL;
  gsize size, after_size;
  double trained, moved, elsewhere;
  g_autoptr(CpModel) loaded = NULL;
  g_autoptr(GError) error = NULL;
  CpWindow *second;

  probe_show_page (window, "inspect");
  probe_wait_idle (worker);
  trained = file_threshold (model, "threshold_source", &source);
  g_assert_true (trained > 0);
  g_assert_null (source);   /* a trained model: cross-validated */
  g_assert_true (gtk_widget_get_sensitive (scale));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, trained);
  g_assert_false (gtk_widget_get_sensitive (save));
  g_assert_false (gtk_widget_get_sensitive (reset));
  g_assert_true (label_contains (origin, "cross-validation"));

  /* Two decimals, as the slider shows them, and clearly below. */
  moved = floor (trained * 50) / 100;
  g_assert_cmpfloat (moved, !=, trained);

  /* Reset: back to the stored value, nothing written. */
  gtk_adjustment_set_value (adjustment, moved);
  g_assert_true (gtk_widget_get_sensitive (save));
  g_assert_true (gtk_widget_get_sensitive (reset));
  press (reset);
  probe_wait_idle (worker);
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, trained);
  g_assert_false (gtk_widget_get_sensitive (save));
  g_assert_cmpfloat (file_threshold (model, NULL, NULL), ==, trained);

  /* Save: the job runs on the engine thread; the button waits for it. */
  gtk_adjustment_set_value (adjustment, moved);
  press (save);
  g_assert_false (gtk_widget_get_sensitive (save));
  probe_wait_idle (worker);
  g_clear_pointer (&source, g_free);
  g_assert_cmpfloat (file_threshold (model, "threshold_source", &source), ==, moved);
  g_assert_cmpstr (source, ==, "manual");
  g_assert_cmpfloat (file_threshold (model, "cross_validation_threshold", &kept), ==, moved);
  g_assert_cmpfloat (g_ascii_strtod (kept, NULL), ==, trained);
  /* The saved value is the new baseline. */
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);
  g_assert_false (gtk_widget_get_sensitive (save));
  g_assert_false (gtk_widget_get_sensitive (reset));
  g_assert_true (label_contains (origin, "by hand"));
  loaded = cp_model_load (model, "cpu", &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (cp_model_get_threshold (loaded), ==, moved);

  /* A new window (as at the next start) reads it from the file. */
  second = cp_window_new (app);
  probe_wait_idle (worker);
  select_category (second, CATEGORY);
  probe_wait_idle (worker);
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (probe_threshold (second, "scale"))),
                     ==, moved);
  g_assert_false (gtk_widget_get_sensitive (probe_threshold (second, "save")));
  g_assert_true (label_contains (probe_threshold (second, "origin"), "by hand"));
  gtk_window_destroy (GTK_WINDOW (second));
  probe_wait_idle (worker);

  /* Changed elsewhere meanwhile (`cutpaste threshold --set`): not
   * overwritten unseen; the file's value becomes the baseline, and a
   * second Save stores the slider's. */
  elsewhere = moved / 2;
  cp_model_set_threshold (loaded, elsewhere);
  g_assert_true (cp_model_save (loaded, model, &error));
  gtk_adjustment_set_value (adjustment, trained);
  press (save);
  probe_wait_idle (worker);
  g_assert_cmpfloat (file_threshold (model, NULL, NULL), ==, elsewhere);
  g_assert_true (gtk_widget_get_sensitive (save));
  press (save);
  probe_wait_idle (worker);
  g_assert_cmpfloat (file_threshold (model, NULL, NULL), ==, trained);
  g_assert_false (gtk_widget_get_sensitive (save));

  /* A model file that cannot be read: nothing written, Save stays offered. */
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));
  g_assert_true (g_file_set_contents (model, bytes, size / 2, NULL));
  gtk_adjustment_set_value (adjustment, moved);
  press (save);
  probe_wait_idle (worker);
  g_assert_true (g_file_get_contents (model, &after, &after_size, NULL));
  g_assert_cmpuint (after_size, ==, size / 2);
  g_assert_true (memcmp (after, bytes, after_size) == 0);
  g_assert_true (gtk_widget_get_sensitive (save));
  g_assert_true (g_file_set_contents (model, bytes, size, NULL));
  gtk_adjustment_set_value (adjustment, trained);
  g_assert_false (gtk_widget_get_sensitive (save));
}

static gboolean
texture_is_blank (GdkTexture *texture)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  g_autofree guchar *pixels = g_malloc ((gsize) w * h * 4);
  gsize differing = 0;

  gdk_texture_download (texture, pixels, w * 4);
  for (gsize i = 1; i < (gsize) w * h; i++)
    differing += memcmp (pixels + 4 * i, pixels, 4) != 0;
  return differing < (gsize) w * h / 100;
}

static void
set_flag (gboolean *flag)
{
  *flag = TRUE;
}

/* Renders @widget as its parent would, into a new texture. */
static GdkTexture *
render_widget (GtkWidget *widget)
{
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  GskRenderNode *node;
  GdkTexture *texture;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  gboolean painted = FALSE;
  GdkFrameClock *clock;
  gulong handler;

  while ((!gtk_widget_get_mapped (widget) || gtk_widget_get_width (widget) <= 0) &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpint (gtk_widget_get_width (widget), >, 0);
  /* A new paintable invalidates the allocation until the next frame is laid out. */
  clock = gtk_widget_get_frame_clock (widget);
  handler = g_signal_connect_swapped (clock, "after-paint", G_CALLBACK (set_flag), &painted);
  gtk_widget_queue_resize (widget);
  while (!painted && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_signal_handler_disconnect (clock, handler);
  g_assert_true (painted);
  gtk_widget_snapshot_child (gtk_widget_get_parent (widget), widget, snapshot);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, NULL);
  gsk_render_node_unref (node);
  return texture;
}

static gboolean
textures_differ (GdkTexture *a,
                 GdkTexture *b)
{
  int w = gdk_texture_get_width (a), h = gdk_texture_get_height (a);
  g_autofree guchar *pa = g_malloc ((gsize) w * h * 4);
  g_autofree guchar *pb = g_malloc ((gsize) w * h * 4);

  if (gdk_texture_get_width (b) != w || gdk_texture_get_height (b) != h)
    return TRUE;
  gdk_texture_download (a, pa, w * 4);
  gdk_texture_download (b, pb, w * 4);
  return memcmp (pa, pb, (gsize) w * h * 4) != 0;
}

/* A tiny patch model beside the category's model: selecting a defect image
 * computes its heatmap on the engine thread; the large view blends it in
 * (and outlines the ground-truth mask) when the toggle is on. */
static void
test_heatmap (void)
{
  const char *model_dir = model_dir_of (window);
  const char *defect = cp_synth_defect_types (CATEGORY)[0];
  g_autofree char *defect_dir = g_build_filename (data_dir, CATEGORY, "test", defect, NULL);
  g_autofree char *patch_path = cp_patch_model_path (model_dir, CATEGORY);
  GSList *files = NULL;
  GValue value = G_VALUE_INIT;
  guint before = inspect_count (window);
  gboolean has_outline = FALSE;
  GdkTexture *on, *off;
  GtkWidget *view;

  probe_train_tiny_patch_model (data_dir, CATEGORY, model_dir, 5);
  g_assert_true (g_file_test (patch_path, G_FILE_TEST_IS_REGULAR));

  files = g_slist_append (files, g_file_new_for_path (defect_dir));
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, gdk_file_list_new_from_list (files));
  g_assert_true (handle_drop (window, &value));
  g_value_unset (&value);
  g_slist_free_full (files, g_object_unref);
  probe_wait_idle (worker);
  g_assert_cmpuint (inspect_count (window), >, before);

  probe_show_page (window, "inspect");
  probe_select_inspect_row (window, before);
  probe_wait_idle (worker);
  g_assert_true (heatmap_available (window, &has_outline));
  /* The synthetic defects all have a mask. */
  g_assert_true (has_outline);

  view = probe_child (window, "inspect", "inspect_picture");
  set_heatmap_shown (window, TRUE);
  probe_wait_idle (worker);
  on = render_widget (view);
  g_assert_false (texture_is_blank (on));
  set_heatmap_shown (window, FALSE);
  probe_wait_idle (worker);
  off = render_widget (view);
  g_assert_false (texture_is_blank (off));
  /* The overlay changes what is drawn. */
  g_assert_true (textures_differ (on, off));
  set_heatmap_shown (window, TRUE);
  g_object_unref (on);
  g_object_unref (off);

  /* A damaged patch model: no heatmap, the reason under the view, no crash. */
  g_assert_true (g_file_set_contents (patch_path, "not a model", 11, NULL));
  probe_select_inspect_row (window, before + 1);
  probe_wait_idle (worker);
  g_assert_false (heatmap_available (window, NULL));
  g_assert_nonnull (strstr (heatmap_status (window), patch_path));
  g_unlink (patch_path);
}

static void
check_plot_draws (const char *name)
{
  GtkWidget *plot = plot_of (window, name);
  GtkSnapshot *snapshot;
  GskRenderNode *node;
  GdkTexture *texture;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  int w, h;

  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  /* Wait until the page is on screen and has been laid out. */
  while ((!gtk_widget_get_mapped (plot) || gtk_widget_get_width (plot) <= 0) &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (cp_plot_view_has_plot (CP_PLOT_VIEW (plot)));
  w = gtk_widget_get_width (plot);
  h = gtk_widget_get_height (plot);
  g_assert_cmpint (w, >, 0);
  g_assert_cmpint (h, >, 0);

  /* Render the widget as its parent would, into a texture of our own. */
  snapshot = gtk_snapshot_new ();
  gtk_widget_snapshot_child (gtk_widget_get_parent (plot), plot, snapshot);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node, NULL);
  g_assert_false (texture_is_blank (texture));
  g_object_unref (texture);
  gsk_render_node_unref (node);
}

static void
test_plots (void)
{
  probe_show_page (window, "train");
  check_plot_draws ("loss");
  probe_show_page (window, "eval");
  probe_wait_idle (worker);
  check_plot_draws ("roc");
  check_plot_draws ("hist");
  check_plot_draws ("tsne");
}

static void
test_cancel_keeps_model (void)
{
  g_autofree char *model = cp_train_model_path (model_dir_of (window), CATEGORY);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_size, after_size;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  g_assert_true (g_file_get_contents (model, &before, &before_size, NULL));
  use_tiny_settings (100000);
  probe_activate (window, "win.train");
  /* Cancel once the run is really under way. */
  while (probe_category_state (window, CATEGORY) != CP_CATEGORY_STATE_TRAINING &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINING);
  probe_activate (window, "win.cancel");
  probe_wait_idle (worker);

  g_assert_true (g_file_get_contents (model, &after, &after_size, NULL));
  g_assert_cmpuint (before_size, ==, after_size);
  g_assert_true (memcmp (before, after, before_size) == 0);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
}

/* A model file of a future format version: the list says so, by version. */
static void
test_model_other_version (void)
{
  g_autofree char *train_dir = g_build_filename (data_dir, "other", "train", "good", NULL);
  g_autofree char *src = g_build_filename (data_dir, CATEGORY, "train", "good", "000.png", NULL);
  g_autofree char *dst = g_build_filename (train_dir, "000.png", NULL);
  g_autofree char *model = cp_train_model_path (model_dir_of (window), "other");
  g_autofree char *bytes = NULL;
  gsize size;
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  CpError err = { 0 };
  const float value = 1.0f;
  const int64_t shape[1] = { 1 };
  const char *problem;

  g_assert_cmpint (g_mkdir_with_parents (train_dir, 0755), ==, 0);
  g_assert_true (g_file_get_contents (src, &bytes, &size, NULL));
  g_assert_true (g_file_set_contents (dst, bytes, size, NULL));
  g_assert_cmpint (cp_safetensors_writer_add (w, "gde.mean", CP_DTYPE_F32, shape, 1, &value, &err), ==, CP_OK);
  g_assert_cmpint (cp_safetensors_writer_set_metadata (w, "format", "cutpaste-inspector", &err), ==, CP_OK);
  g_assert_cmpint (cp_safetensors_writer_set_metadata (w, "format_version", "99", &err), ==, CP_OK);
  g_assert_cmpint (cp_safetensors_writer_save (w, model, &err), ==, CP_OK);
  cp_safetensors_writer_free (w);

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_cmpint (probe_category_state (window, "other"), ==, CP_CATEGORY_STATE_MODEL_ERROR);
  problem = category_problem (window, "other");
  g_assert_nonnull (problem);
  g_assert_nonnull (strstr (problem, "99"));
  /* The good model of the other category is still usable. */
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
}

/* Clicks the dialog's button labelled @label, as the user would. */
static void
respond (AdwMessageDialog *dialog,
         const char       *label)
{
  GtkWidget *button = probe_find_button (GTK_WIDGET (dialog), label);

  g_assert_nonnull (button);
  press (button);
  probe_wait_idle (worker);
}

/* The question about a moved threshold is shown for @w: answers it with
 * the button labelled @label, and it goes. */
static void
answer (CpWindow   *w,
        const char *label)
{
  AdwMessageDialog *dialog;

  probe_wait_idle (worker);
  dialog = probe_dialog (w);
  g_assert_nonnull (dialog);
  respond (dialog, label);
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (w));
}

static GtkDropDown *
category_dropdown (CpWindow *w)
{
  return GTK_DROP_DOWN (gtk_widget_get_template_child (GTK_WIDGET (w), CP_TYPE_WINDOW, "category_dropdown"));
}

static guint
dropdown_position (GtkDropDown *dropdown,
                   const char  *name)
{
  GListModel *categories = gtk_drop_down_get_model (dropdown);

  for (guint i = 0; i < g_list_model_get_n_items (categories); i++)
    {
      g_autoptr(CpCategoryItem) item = g_list_model_get_item (categories, i);

      if (g_strcmp0 (cp_category_item_get_name (item), name) == 0)
        return i;
    }
  g_assert_not_reached ();
}

static gboolean
file_unchanged (const char *path,
                const char *bytes,
                gsize       size)
{
  g_autofree char *now = NULL;
  gsize now_size;

  g_assert_true (g_file_get_contents (path, &now, &now_size, NULL));
  return now_size == size && memcmp (now, bytes, size) == 0;
}

typedef struct
{
  const char *model;
  double      threshold;   /* in the file when the slider changed hands */
} SwitchProbe;

static void
read_file_at_switch (GtkWidget   *scale,
                     GParamSpec  *pspec,
                     SwitchProbe *probe)
{
  probe->threshold = file_threshold (probe->model, NULL, NULL);
}

/* A second window on the same dataset, on CATEGORY, to be closed. */
static CpWindow *
window_to_close (gboolean *closed)
{
  CpWindow *other = cp_window_new (app);

  gtk_window_present (GTK_WINDOW (other));
  probe_wait_idle (worker);
  select_category (other, CATEGORY);
  probe_wait_idle (worker);
  *closed = FALSE;
  g_signal_connect_swapped (other, "destroy", G_CALLBACK (set_flag), closed);
  return other;
}

/* A moved threshold is not dropped unseen: switching category, opening a
 * dataset or closing the window asks first.  Cancel keeps everything,
 * Discard goes on and leaves the file alone, Save goes on once the file
 * holds the value; a closing window waits for a save still running. */
static void
test_threshold_unsaved (void)
{
  g_autofree char *model = cp_train_model_path (model_dir_of (window), CATEGORY);
  g_autofree char *elsewhere = g_build_filename (tmp_dir, "not-a-dataset", NULL);
  GtkWidget *scale = probe_threshold (window, "scale");
  GtkAdjustment *adjustment = gtk_range_get_adjustment (GTK_RANGE (scale));
  GtkDropDown *dropdown = category_dropdown (window);
  guint washer = dropdown_position (dropdown, CATEGORY);
  guint other = dropdown_position (dropdown, "other");
  g_autofree char *bytes = NULL;
  g_autofree char *stored_text = NULL, *moved_text = NULL;
  g_autofree char *folder = NULL;
  AdwMessageDialog *dialog;
  SwitchProbe probe = { model, NAN };
  CpWindow *second;
  gboolean closed;
  gulong handler;
  double stored, moved;
  gsize size;

  probe_show_page (window, "inspect");
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  g_assert_cmpuint (gtk_drop_down_get_selected (dropdown), ==, washer);
  stored = file_threshold (model, NULL, NULL);
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, stored);
  moved = floor (stored * 50) / 100;
  g_assert_cmpfloat (moved, !=, stored);
  stored_text = g_strdup_printf ("%.2f", stored);
  moved_text = g_strdup_printf ("%.2f", moved);
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));

  /* Nothing moved: the switch needs no question. */
  gtk_drop_down_set_selected (dropdown, other);
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (window));
  g_assert_false (gtk_widget_get_sensitive (scale));   /* "other" has no usable model */
  gtk_drop_down_set_selected (dropdown, washer);
  probe_wait_idle (worker);
  g_assert_true (gtk_widget_get_sensitive (scale));

  /* Cancel: the drop-down goes back, the slider keeps its place, the file
   * is untouched. */
  gtk_adjustment_set_value (adjustment, moved);
  gtk_drop_down_set_selected (dropdown, other);
  probe_wait_idle (worker);
  dialog = probe_dialog (window);
  g_assert_nonnull (dialog);
  g_assert_true (gtk_window_get_modal (GTK_WINDOW (dialog)));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), CATEGORY));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), stored_text));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), moved_text));
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "save");
  respond (dialog, "_Cancel");
  g_assert_null (probe_dialog (window));
  g_assert_cmpuint (gtk_drop_down_get_selected (dropdown), ==, washer);
  g_assert_true (gtk_widget_get_sensitive (scale));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);
  g_assert_true (gtk_widget_get_sensitive (probe_threshold (window, "save")));
  g_assert_true (file_unchanged (model, bytes, size));

  /* Opening another dataset asks too; Cancel stays on this one. */
  probe_open_dataset (window, elsewhere);
  probe_wait_idle (worker);
  dialog = probe_dialog (window);
  g_assert_nonnull (dialog);
  respond (dialog, "_Cancel");
  g_assert_null (dataset_error_of (window));
  g_clear_pointer (&folder, g_free);
  folder = g_settings_get_string (cp_application_get_settings (app), "data-folder");
  g_assert_cmpstr (folder, ==, data_dir);
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);

  /* Discard: switched, and the file is as it was. */
  gtk_drop_down_set_selected (dropdown, other);
  probe_wait_idle (worker);
  dialog = probe_dialog (window);
  g_assert_nonnull (dialog);
  respond (dialog, "_Discard");
  g_assert_null (probe_dialog (window));
  g_assert_cmpuint (gtk_drop_down_get_selected (dropdown), ==, other);
  g_assert_false (gtk_widget_get_sensitive (scale));
  g_assert_true (file_unchanged (model, bytes, size));

  /* Back without a question, at the stored value. */
  gtk_drop_down_set_selected (dropdown, washer);
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (window));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, stored);

  /* Save: the file holds the moved value by the time the slider changes
   * hands to the other category. */
  gtk_adjustment_set_value (adjustment, moved);
  gtk_drop_down_set_selected (dropdown, other);
  probe_wait_idle (worker);
  dialog = probe_dialog (window);
  g_assert_nonnull (dialog);
  handler = g_signal_connect (scale, "notify::sensitive", G_CALLBACK (read_file_at_switch), &probe);
  respond (dialog, "_Save");
  g_signal_handler_disconnect (scale, handler);
  g_assert_null (probe_dialog (window));
  g_assert_cmpfloat (probe.threshold, ==, moved);
  g_assert_cmpfloat (file_threshold (model, NULL, NULL), ==, moved);
  g_assert_cmpuint (gtk_drop_down_get_selected (dropdown), ==, other);
  g_assert_false (gtk_widget_get_sensitive (scale));
  gtk_drop_down_set_selected (dropdown, washer);
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (window));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);

  /* Closing asks; Cancel keeps the window and the slider. */
  second = window_to_close (&closed);
  gtk_range_set_value (GTK_RANGE (probe_threshold (second, "scale")), stored);
  gtk_window_close (GTK_WINDOW (second));
  probe_wait_idle (worker);
  g_assert_false (closed);
  dialog = probe_dialog (second);
  g_assert_nonnull (dialog);
  respond (dialog, "_Cancel");
  g_assert_false (closed);
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (probe_threshold (second, "scale"))),
                     ==, stored);

  /* Save: stored, then closed. */
  gtk_window_close (GTK_WINDOW (second));
  probe_wait_idle (worker);
  dialog = probe_dialog (second);
  g_assert_nonnull (dialog);
  respond (dialog, "_Save");
  g_assert_true (closed);
  g_assert_cmpfloat (file_threshold (model, NULL, NULL), ==, stored);

  /* Discard: closed, the file untouched. */
  g_clear_pointer (&bytes, g_free);
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));
  second = window_to_close (&closed);
  gtk_range_set_value (GTK_RANGE (probe_threshold (second, "scale")), moved);
  gtk_window_close (GTK_WINDOW (second));
  probe_wait_idle (worker);
  dialog = probe_dialog (second);
  g_assert_nonnull (dialog);
  respond (dialog, "_Discard");
  g_assert_true (closed);
  g_assert_true (file_unchanged (model, bytes, size));

  /* A save still running when the window is closed: it finishes, then the
   * window goes, without a question. */
  second = window_to_close (&closed);
  gtk_range_set_value (GTK_RANGE (probe_threshold (second, "scale")), moved);
  press (probe_threshold (second, "save"));
  gtk_window_close (GTK_WINDOW (second));
  g_assert_false (closed);
  g_assert_null (probe_dialog (second));
  probe_wait_idle (worker);
  g_assert_true (closed);
  g_assert_cmpfloat (file_threshold (model, NULL, NULL), ==, moved);
}

/* The window tells model files apart by their "created" time, which has
 * one-second resolution: a tiny test training must not finish in the
 * second the previous one did (real trainings take minutes). */
static void
wait_for_next_second (void)
{
  gint64 second = g_get_real_time () / G_USEC_PER_SEC;

  while (g_get_real_time () / G_USEC_PER_SEC == second)
    g_usleep (20000);
}

/* Training replaces the model and the threshold stored in it: a moved,
 * unsaved value is asked about first (Cancel trains nothing, Discard
 * trains); one moved while the category trains gives way to the new
 * model's threshold, and a toast says which value was dropped. */
static void
test_threshold_retrain (void)
{
  g_autofree char *model = cp_train_model_path (model_dir_of (window), CATEGORY);
  GtkWidget *scale = probe_threshold (window, "scale");
  GtkAdjustment *adjustment = gtk_range_get_adjustment (GTK_RANGE (scale));
  g_autofree char *bytes = NULL;
  g_autofree char *moved_text = NULL;
  AdwMessageDialog *dialog;
  double moved;
  gsize size;

  use_tiny_settings (3);
  probe_show_page (window, "inspect");
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (window));
  g_assert_true (gtk_widget_get_sensitive (scale));
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));
  moved = floor (gtk_adjustment_get_value (adjustment) * 60) / 100;
  moved_text = g_strdup_printf ("%.2f", moved);

  /* Cancel (asked by Train All too): nothing trains, the slider keeps
   * its place. */
  gtk_adjustment_set_value (adjustment, moved);
  probe_activate (window, "win.train-all");
  probe_wait_idle (worker);
  dialog = probe_dialog (window);
  g_assert_nonnull (dialog);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), CATEGORY));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), moved_text));
  respond (dialog, "_Cancel");
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (window));
  g_assert_true (file_unchanged (model, bytes, size));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);

  /* Discard: the category trains; the slider shows the new model's own
   * threshold. */
  wait_for_next_second ();
  probe_activate (window, "win.train");
  answer (window, "_Discard");
  g_assert_false (file_unchanged (model, bytes, size));
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, file_threshold (model, NULL, NULL));

  /* Moved while training runs (Save is off then): the new model's
   * threshold takes its place, and the user is told. */
  g_clear_pointer (&bytes, g_free);
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));
  wait_for_next_second ();
  probe_activate (window, "win.train");
  g_assert_null (probe_dialog (window));
  moved = floor (gtk_adjustment_get_value (adjustment) * 60) / 100;
  g_free (moved_text);
  moved_text = g_strdup_printf ("unsaved %.2f", moved);
  gtk_adjustment_set_value (adjustment, moved);
  probe_wait_idle (worker);
  g_assert_false (file_unchanged (model, bytes, size));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, file_threshold (model, NULL, NULL));
  g_assert_nonnull (last_toast (window));
  g_assert_nonnull (strstr (last_toast (window), CATEGORY));
  g_assert_nonnull (strstr (last_toast (window), moved_text));
}

/* Save answered while a switch waits, and the save fails (the model file
 * cannot be read): the switch does not happen, the slider keeps the moved
 * value, the file is left as it was, and a toast says why. */
static void
test_threshold_unsaved_save_fails (void)
{
  g_autofree char *model = cp_train_model_path (model_dir_of (window), CATEGORY);
  GtkWidget *scale = probe_threshold (window, "scale");
  GtkAdjustment *adjustment = gtk_range_get_adjustment (GTK_RANGE (scale));
  GtkDropDown *dropdown = category_dropdown (window);
  guint washer = dropdown_position (dropdown, CATEGORY);
  guint other = dropdown_position (dropdown, "other");
  g_autofree char *bytes = NULL;
  double stored, moved;
  gsize size;

  probe_show_page (window, "inspect");
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  stored = gtk_adjustment_get_value (adjustment);
  moved = floor (stored * 60) / 100;
  g_assert_cmpfloat (moved, !=, stored);
  g_assert_true (g_file_get_contents (model, &bytes, &size, NULL));

  gtk_adjustment_set_value (adjustment, moved);
  g_assert_true (g_file_set_contents (model, bytes, size / 2, NULL));
  gtk_drop_down_set_selected (dropdown, other);
  answer (window, "_Save");
  g_assert_cmpuint (gtk_drop_down_get_selected (dropdown), ==, washer);
  g_assert_true (gtk_widget_get_sensitive (scale));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);
  g_assert_true (gtk_widget_get_sensitive (probe_threshold (window, "save")));
  g_assert_true (file_unchanged (model, bytes, size / 2));
  g_assert_nonnull (last_toast (window));
  g_assert_nonnull (strstr (last_toast (window), "not saved"));

  /* Mended, the switch asks again and goes through. */
  g_assert_true (g_file_set_contents (model, bytes, size, NULL));
  gtk_drop_down_set_selected (dropdown, other);
  answer (window, "_Discard");
  g_assert_cmpuint (gtk_drop_down_get_selected (dropdown), ==, other);
  g_assert_true (file_unchanged (model, bytes, size));
  gtk_drop_down_set_selected (dropdown, washer);
  probe_wait_idle (worker);
  g_assert_null (probe_dialog (window));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, stored);
}

/* Quit (Ctrl+Q) closes each window so that each can ask: one with a
 * moved, unsaved threshold stays until answered; Cancel keeps it, Discard
 * lets it go. */
static void
test_threshold_quit (void)
{
  g_auto(GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), "app.quit");
  GtkWidget *scale = probe_threshold (window, "scale");
  GtkAdjustment *adjustment = gtk_range_get_adjustment (GTK_RANGE (scale));
  CpWindow *second;
  gboolean closed;
  double stored, moved;

  g_assert_nonnull (accels);
  g_assert_true (g_strv_contains ((const char *const *) accels, "<Control>q"));
  probe_show_page (window, "inspect");
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  stored = gtk_adjustment_get_value (adjustment);
  moved = floor (stored * 60) / 100;
  second = window_to_close (&closed);
  gtk_range_set_value (GTK_RANGE (probe_threshold (second, "scale")), moved);
  gtk_adjustment_set_value (adjustment, moved);

  g_action_group_activate_action (G_ACTION_GROUP (app), "quit", NULL);
  probe_wait_idle (worker);
  g_assert_false (closed);
  g_assert_nonnull (probe_dialog (window));
  g_assert_nonnull (probe_dialog (second));
  /* Not answer (): the window is gone once answered. */
  respond (probe_dialog (second), "_Discard");
  probe_wait_idle (worker);
  g_assert_true (closed);
  answer (window, "_Cancel");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
  g_assert_cmpfloat (gtk_adjustment_get_value (adjustment), ==, moved);
  gtk_adjustment_set_value (adjustment, stored);
}

/* The line under the large view gives the selected image's score against
 * the threshold in use, and follows the slider. */
static void
test_caption_follows_threshold (void)
{
  GtkLabel *caption = GTK_LABEL (probe_child (window, "inspect", "inspect_caption"));
  GtkAdjustment *adjustment =
    gtk_range_get_adjustment (GTK_RANGE (probe_threshold (window, "scale")));
  guint n, i;
  const char *path, *error;
  double score = NAN, stored, moved;
  g_autofree char *expected = NULL;

  probe_show_page (window, "inspect");
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  /* Switching to the other category (threshold-unsaved) cleared the rows
   * the drop test scored: they belong to the category that scored them.
   * One good image again. */
  {
    g_autofree char *image = g_build_filename (data_dir, CATEGORY, "test", "good", "000.png", NULL);
    GSList *files = g_slist_append (NULL, g_file_new_for_path (image));

    probe_drop (window, files);
    g_slist_free_full (files, g_object_unref);
    probe_wait_idle (worker);
  }
  n = inspect_count (window);
  for (i = 0; i < n; i++)
    {
      g_assert_true (inspect_row (window, i, &path, &score, &error));
      if (!isnan (score))
        break;
    }
  g_assert_cmpuint (i, <, n);
  probe_select_inspect_row (window, i);
  probe_wait_idle (worker);
  stored = gtk_adjustment_get_value (adjustment);
  expected = g_strdup_printf ("Score %.3f (threshold %.3f)", score, stored);
  g_assert_nonnull (strstr (gtk_label_get_text (caption), expected));

  moved = floor (stored * 60) / 100;
  gtk_adjustment_set_value (adjustment, moved);
  g_free (expected);
  expected = g_strdup_printf ("Score %.3f (threshold %.3f)", score, moved);
  g_assert_nonnull (strstr (gtk_label_get_text (caption), expected));
  gtk_adjustment_set_value (adjustment, stored);
}

/* The first inspection row that has a score. */
static guint
first_scored_row (void)
{
  guint n = inspect_count (window);
  const char *path, *error;
  double score;

  for (guint i = 0; i < n; i++)
    {
      g_assert_true (inspect_row (window, i, &path, &score, &error));
      if (!isnan (score))
        return i;
    }
  g_assert_not_reached ();
}

static const char *
legend_low (CpWindow *w)
{
  return gtk_label_get_text (GTK_LABEL (probe_child (w, "inspect", "heatmap_legend_low")));
}

/* Without a patch model the Inspection page draws the quick profile's
 * region map, coloured from the held-out good images; with Defect
 * heatmaps on, Train also trains the patch model, and the page then draws
 * its map instead. */
static void
test_train_heatmaps (void)
{
  GSettings *settings = cp_application_get_settings (app);
  g_autofree char *patch_path = cp_patch_model_path (model_dir_of (window), CATEGORY);
  guint row;

  if (g_file_test (patch_path, G_FILE_TEST_EXISTS))
    g_assert_cmpint (g_unlink (patch_path), ==, 0);
  probe_show_page (window, "inspect");
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  row = first_scored_row ();
  probe_select_inspect_row (window, row);
  probe_wait_idle (worker);
  g_assert_true (heatmap_available (window, NULL));
  g_assert_nonnull (strstr (legend_low (window), "held-out"));

  use_tiny_settings (2);
  g_settings_set_boolean (settings, "heatmaps", TRUE);
  wait_for_next_second ();
  probe_activate (window, "win.train");
  probe_wait_idle (worker);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  g_assert_true (g_file_test (patch_path, G_FILE_TEST_IS_REGULAR));
  probe_show_page (window, "inspect");
  row = first_scored_row ();
  probe_select_inspect_row (window, row);
  probe_wait_idle (worker);
  g_assert_true (heatmap_available (window, NULL));
  g_assert_null (strstr (heatmap_status (window), "Defect heatmaps"));
  g_assert_nonnull (strstr (legend_low (window), "Typical good patch"));
  g_settings_set_boolean (settings, "heatmaps", FALSE);
}

/* First start: the sample dataset made by the engine opens and is remembered. */
static void
test_sample_dataset (void)
{
  GSettings *settings = cp_application_get_settings (app);
  g_autofree char *expected = g_build_filename (tmp_dir, "cutpaste-inspector", "sample", NULL);
  g_autofree char *remembered = NULL;

  probe_activate (window, "win.create-sample");
  probe_wait_idle (worker);
  remembered = g_settings_get_string (settings, "data-folder");
  g_assert_cmpstr (remembered, ==, expected);
  g_assert_null (dataset_error_of (window));
  g_assert_cmpint (probe_category_state (window, "washer"), ==, CP_CATEGORY_STATE_NOT_TRAINED);
  g_assert_cmpint (probe_category_state (window, "weave"), ==, CP_CATEGORY_STATE_NOT_TRAINED);
}

/* TRUE when a GtkShortcutLabel under @widget shows @accel. */
static gboolean
has_accelerator_label (GtkWidget  *widget,
                       const char *accel)
{
  if (GTK_IS_SHORTCUT_LABEL (widget)
      && g_strcmp0 (gtk_shortcut_label_get_accelerator (GTK_SHORTCUT_LABEL (widget)), accel) == 0)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (has_accelerator_label (child, accel))
      return TRUE;
  return FALSE;
}

static void
test_app_actions (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  guint before = g_list_model_get_n_items (toplevels);

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (app), "shortcuts", NULL);
  probe_wait_idle (worker);
  /* Preferences, About and Shortcuts each opened a window. */
  g_assert_cmpuint (g_list_model_get_n_items (toplevels), ==, before + 3);
  /* The shortcuts window shows the keys, not only the actions' names. */
  {
    gboolean found = FALSE;

    for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
      {
        g_autoptr(GtkWidget) top = g_list_model_get_item (toplevels, i);

        if (GTK_IS_SHORTCUTS_WINDOW (top))
          found = found || has_accelerator_label (top, "<Control>o");
      }
    g_assert_true (found);
  }
  /* Every accelerator is in it (the Line page's were not). */
  {
    g_auto(GStrv) actions = gtk_application_list_action_descriptions (GTK_APPLICATION (app));
    GtkWidget *shortcuts = NULL;

    for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
      {
        g_autoptr(GtkWidget) top = g_list_model_get_item (toplevels, i);

        if (GTK_IS_SHORTCUTS_WINDOW (top))
          shortcuts = top;
      }
    g_assert_nonnull (shortcuts);
    g_assert_true (g_strv_contains ((const char *const *) actions, "win.line-start"));
    for (guint i = 0; actions[i] != NULL; i++)
      {
        g_auto(GStrv) keys = gtk_application_get_accels_for_action (GTK_APPLICATION (app), actions[i]);

        if (keys[0] != NULL && !has_accelerator_label (shortcuts, keys[0]))
          g_test_fail_printf ("%s (%s) is not in the keyboard shortcuts window", actions[i], keys[0]);
      }
  }
}

/* Rows belong to the model that scored them: each says which, and
 * switching to another category clears them instead of scoring them again
 * with a model for other parts (issue 19: washer images all PASS under a
 * magnetic-tile model).  A dataset of its own with two trained
 * categories; the test's dataset is opened again at the end. */
static void
test_rows_keep_their_model (void)
{
  const char *names[] = { "washer", "weave", NULL };
  g_autofree char *two = g_build_filename (tmp_dir, "two-categories", NULL);
  g_autofree char *image = g_build_filename (two, "washer", "test", "good", "000.png", NULL);
  CpSynthOptions synth;
  g_autoptr(GError) error = NULL;
  GListModel *items;
  CpInspectItem *row;
  GSList *files = NULL;
  const char *model;

  cp_synth_options_init (&synth);
  synth.categories = names;
  synth.size = 48;
  synth.n_train = 10;
  synth.n_test_good = 1;
  synth.n_test_defect = 1;
  g_assert_true (cp_synth_write (two, &synth, NULL, NULL, &error));
  g_assert_no_error (error);
  probe_open_dataset (window, two);
  probe_wait_idle (worker);
  for (int i = 0; names[i] != NULL; i++)
    probe_train_tiny_into (two, names[i], model_dir_of (window), CP_TRAIN_LOCAL_AUTO, 0);
  /* Opened again, it finds both models. */
  probe_open_dataset (window, two);
  probe_wait_idle (worker);
  g_assert_cmpint (probe_category_state (window, "washer"), ==, CP_CATEGORY_STATE_TRAINED);
  g_assert_cmpint (probe_category_state (window, "weave"), ==, CP_CATEGORY_STATE_TRAINED);

  select_category (window, "washer");
  probe_show_page (window, "inspect");
  probe_wait_idle (worker);
  probe_activate (window, "win.inspect-clear");
  files = g_slist_append (files, g_file_new_for_path (image));
  probe_drop (window, files);
  g_slist_free_full (files, g_object_unref);
  probe_wait_idle (worker);
  items = probe_inspect_items (window);
  g_assert_cmpuint (g_list_model_get_n_items (items), ==, 1);
  row = g_list_model_get_item (items, 0);
  g_assert_false (isnan (cp_inspect_item_get_score (row)));
  model = cp_inspect_item_get_model (row);
  g_assert_nonnull (model);
  g_assert_nonnull (strstr (model, "washer"));
  g_object_unref (row);

  /* Another category: its model never scores the washer's rows. */
  select_category (window, "weave");
  probe_wait_idle (worker);
  g_assert_cmpuint (g_list_model_get_n_items (probe_inspect_items (window)), ==, 0);

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
}

/* Opening a folder that is not a dataset leaves the open dataset as it
 * was; opening a category folder (it holds train/good itself) opens the
 * dataset it belongs to with that category selected (issue 19). */
static void
test_open_keeps_or_finds_dataset (void)
{
  const char *names[] = { "washer", "weave", NULL };
  g_autofree char *two = g_build_filename (tmp_dir, "open-test", NULL);
  g_autofree char *weave = g_build_filename (two, "weave", NULL);
  g_autofree char *empty = g_build_filename (tmp_dir, "still-not-a-dataset", NULL);
  CpSession *session = probe_session (window);
  CpSynthOptions synth;
  g_autoptr(GError) error = NULL;

  cp_synth_options_init (&synth);
  synth.categories = names;
  synth.size = 32;
  synth.n_train = 3;
  synth.n_test_good = 1;
  synth.n_test_defect = 1;
  g_assert_true (cp_synth_write (two, &synth, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_null (dataset_error_of (window));
  g_assert_cmpstr (cp_session_get_data_dir (session), ==, data_dir);

  probe_open_dataset (window, empty);
  probe_wait_idle (worker);
  g_assert_null (dataset_error_of (window));
  g_assert_cmpstr (cp_session_get_data_dir (session), ==, data_dir);
  g_assert_nonnull (cp_session_find (session, CATEGORY));
  g_assert_nonnull (cp_session_get_selected (session));

  probe_open_dataset (window, weave);
  probe_wait_idle (worker);
  g_assert_null (dataset_error_of (window));
  g_assert_cmpstr (cp_session_get_data_dir (session), ==, two);
  g_assert_cmpstr (cp_category_item_get_name (cp_session_get_selected (session)), ==, "weave");
  /* Untrained: Open Images... is off and says why. */
  probe_show_page (window, "inspect");
  probe_wait_idle (worker);
  g_assert_false (gtk_widget_get_sensitive (probe_child (window, "inspect", "open_button")));
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (probe_child (window, "inspect", "open_button")),
                            "train it"));

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
}

/* The Dataset page gives when a model was trained as an ISO 8601 date
 * (issue 19: "12/06/26" is read differently across the world). */
static void
test_dates_iso (void)
{
  GtkWidget *list = probe_child (window, "dataset", "category_list");
  g_autoptr(GRegex) iso = g_regex_new ("trained [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}", 0, 0, NULL);
  gboolean found = FALSE;

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL; row = gtk_widget_get_next_sibling (row))
    if (ADW_IS_ACTION_ROW (row))
      found = found || g_regex_match (iso, adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), 0, NULL);
  g_assert_true (found);
}

/* The Augmentations page's seed is short enough to read out. */
static void
test_augment_seed_short (void)
{
  GtkLabel *label = GTK_LABEL (probe_child (window, "augment", "augment_seed_label"));
  g_autoptr(GRegex) seed = g_regex_new ("seed [0-9]{1,6}$", 0, 0, NULL);

  select_category (window, CATEGORY);
  probe_show_page (window, "augment");
  for (int i = 0; i < 5; i++)
    {
      probe_activate (window, "win.new-samples");
      probe_wait_idle (worker);
      g_assert_true (g_regex_match (seed, gtk_label_get_text (label), 0, NULL));
    }
}

/* The Training page says what Train will do for a category that has a
 * model, and Cancel is red only while something runs (issue 19). */
static void
test_train_page_says_why (void)
{
  GtkLabel *status = GTK_LABEL (probe_child (window, "train", "train_status"));
  GtkWidget *cancel = probe_child (window, "train", "cancel_button");

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  probe_show_page (window, "train");
  select_category (window, NULL);
  select_category (window, CATEGORY);
  probe_wait_idle (worker);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  g_assert_nonnull (strstr (gtk_label_get_text (status), "has a model"));
  g_assert_false (gtk_widget_has_css_class (cancel, "destructive-action"));
}

int
main (int argc, char **argv)
{
  const ProbeSetup setup = { "cp-app-test-XXXXXX", CATEGORY, 4, 2, NULL };
  int status;

  if (!probe_setup (&argc, &argv, &setup, &tmp_dir, &data_dir, &app, &worker, &window))
    return 77;

  g_test_add_func ("/app/window/bad-folder", test_bad_folder);
  g_test_add_func ("/app/window/open-dataset", test_open_dataset);
  g_test_add_func ("/app/window/train", test_train);
  g_test_add_func ("/app/window/drop", test_drop);
  g_test_add_func ("/app/window/threshold-save", test_threshold_save);
  g_test_add_func ("/app/window/heatmap", test_heatmap);
  g_test_add_func ("/app/window/plots", test_plots);
  g_test_add_func ("/app/window/cancel-keeps-model", test_cancel_keeps_model);
  g_test_add_func ("/app/window/model-other-version", test_model_other_version);
  g_test_add_func ("/app/window/threshold-unsaved", test_threshold_unsaved);
  g_test_add_func ("/app/window/threshold-retrain", test_threshold_retrain);
  g_test_add_func ("/app/window/threshold-unsaved-save-fails", test_threshold_unsaved_save_fails);
  g_test_add_func ("/app/window/threshold-quit", test_threshold_quit);
  g_test_add_func ("/app/window/caption-follows-threshold", test_caption_follows_threshold);
  g_test_add_func ("/app/window/train-heatmaps", test_train_heatmaps);
  g_test_add_func ("/app/window/sample-dataset", test_sample_dataset);
  g_test_add_func ("/app/window/app-actions", test_app_actions);
  g_test_add_func ("/app/window/rows-keep-their-model", test_rows_keep_their_model);
  g_test_add_func ("/app/window/open-keeps-or-finds-dataset", test_open_keeps_or_finds_dataset);
  g_test_add_func ("/app/window/dates-iso", test_dates_iso);
  g_test_add_func ("/app/window/augment-seed-short", test_augment_seed_short);
  g_test_add_func ("/app/window/train-page-says-why", test_train_page_says_why);
  status = g_test_run ();

  probe_teardown (tmp_dir, data_dir, app, worker, window);
  return status;
}
