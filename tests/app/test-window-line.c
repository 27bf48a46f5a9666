/* test-window-line.c: the Line page of the real window, driven through its
 * actions under a display (Xvfb in CI): a tiny model trained by the window
 * watches a temporary hot folder; good, defective and noise images dropped
 * in are scored, recorded in the line database and moved by verdict; the
 * page's counts and rows match the database.  "Mark as good" on a part
 * that failed (Line page, then Inspection page) refits the threshold and
 * copies the image into train/good; Undo restores both.  The shift report
 * is a PDF and a CSV of the parts.  A window closed while watching stops
 * its watcher. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-plot-view.h"
#include "cp-window.h"
#include "cp-worker.h"
#include "window-probe.h"
#include "data/synth.h"
#include "line/records.h"
#include "pipeline/model.h"
#include "pipeline/train.h"
#include "test-support.h"

#define CATEGORY "washer"

static CpApplication *app;
static CpWindow *window;
static CpWorker *worker;
static char *tmp_dir;
static char *data_dir;
static char *hot_dir;
static char *pass_dir;
static char *fail_dir;
static char *db_file;
static char *noise_name;   /* the image that surely fails */
static int n_dropped;

/* ---- helpers ---------------------------------------------------------------- */

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until @done (polled) or @seconds have passed. */
static gboolean
wait_for (gboolean (*done) (void),
          double    seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  guint tick = g_timeout_add (20, wake_up, NULL);
  gboolean ok;

  while (!(ok = done ()) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

static GtkWidget *
line_child (const char *id)
{
  return probe_child (window, "line", id);
}

static gboolean
line_running (void)
{
  gboolean running = FALSE;

  g_object_get (probe_page (window, "line"), "running", &running, NULL);
  return running;
}

static gboolean
line_stopped (void)
{
  return !line_running ();
}

/* The number in a count label ("Parts 7"). */
static int
label_count (const char *id)
{
  const char *text = gtk_label_get_text (GTK_LABEL (line_child (id)));
  const char *space = strrchr (text, ' ');

  return space != NULL ? atoi (space + 1) : -1;
}

static guint
n_list_rows (void)
{
  guint n = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (line_child ("parts_list")); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    n++;
  return n;
}

static gboolean
all_parts_shown (void)
{
  return label_count ("total_label") == n_dropped && n_list_rows () == (guint) n_dropped;
}

/* The watcher moves a part after recording it. */
static gboolean
hot_folder_empty (void)
{
  g_autoptr(GDir) dir = g_dir_open (hot_dir, 0, NULL);

  return dir != NULL && g_dir_read_name (dir) == NULL;
}

static CpCategoryItem *
category (void)
{
  return cp_session_find (probe_session (window), CATEGORY);
}

/* The threshold in use (the test's model has no region part, whose
 * scores are scaled so that the threshold is 1). */
static double
threshold (void)
{
  return cp_category_item_get_threshold (category ());
}

static const char *
last_toast (void)
{
  static char *toast;

  g_free (toast);
  g_object_get (window, "last-toast", &toast, NULL);
  return toast != NULL ? toast : "";
}

/* Writes @bytes into the hot folder the way a camera program should: a
 * temporary name, then a rename. */
static void
drop_into_hot (const char *name,
               const char *bytes,
               gsize       size)
{
  g_autofree char *path = g_build_filename (hot_dir, name, NULL);

  g_assert_true (g_file_set_contents (path, bytes, size, NULL));
  n_dropped++;
}

static void
drop_copies (const char *folder,
             int         max)
{
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".png"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len && (int) i < max; i++)
    {
      g_autofree char *src = g_build_filename (folder, names->pdata[i], NULL);
      g_autofree char *base = g_path_get_basename (folder);
      g_autofree char *dst = g_strdup_printf ("%s-%s", base, (char *) names->pdata[i]);
      g_autofree char *bytes = NULL;
      gsize size;

      g_assert_true (g_file_get_contents (src, &bytes, &size, NULL));
      drop_into_hot (dst, bytes, size);
    }
}

/* Random pixels: nothing like the good set, so it fails under any model. */
static char *
noise_png (gsize *size)
{
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 64, 64);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  guchar *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  char *bytes = NULL;

  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64 * 3; x++)
      pixels[y * stride + x] = (guchar) g_rand_int_range (rand, 0, 256);
  g_assert_true (gdk_pixbuf_save_to_buffer (pixbuf, &bytes, size, "png", NULL, NULL));
  return bytes;
}

static CpRecords *
open_db (void)
{
  g_autoptr(GError) error = NULL;
  CpRecords *records = cp_records_open (db_file, CP_RECORDS_OPEN_EXISTING, 2000, &error);

  g_assert_no_error (error);
  return records;
}

/* The recorded part of the noise image. */
static CpPart *
noise_part (CpRecords *records)
{
  CpPartQuery query;
  g_autoptr(GPtrArray) parts = NULL;

  cp_part_query_init (&query);
  parts = cp_records_list_parts (records, &query, NULL);
  g_assert_nonnull (parts);
  for (guint i = 0; i < parts->len; i++)
    {
      CpPart *part = parts->pdata[i];

      if (g_str_has_suffix (part->file_path, noise_name))
        return cp_part_copy (part);
    }
  g_assert_not_reached ();
  return NULL;
}

/* Files in train/good that a "Mark as good" put there. */
static int
n_refit_copies (void)
{
  g_autofree char *good = g_build_filename (data_dir, CATEGORY, "train", "good", NULL);
  g_autoptr(GDir) dir = g_dir_open (good, 0, NULL);
  const char *name;
  int n = 0;

  while ((name = g_dir_read_name (dir)) != NULL)
    n += g_str_has_prefix (name, "refit-");
  return n;
}

/* ---- tests --------------------------------------------------------------------- */

static void
test_watch (void)
{
  GSettings *settings = cp_application_get_settings (app);
  g_autofree char *good_dir = g_build_filename (data_dir, CATEGORY, "test", "good", NULL);
  g_autofree char *defect_dir = g_build_filename (data_dir, CATEGORY, "test",
                                                  cp_synth_defect_types (CATEGORY)[0], NULL);
  g_autofree char *noise = NULL;
  g_autoptr(CpRecords) records = NULL;
  g_autoptr(GPtrArray) parts = NULL;
  CpPartQuery query;
  CpPartCounts counts;
  gsize size;

  /* A tiny model of the global part only (a refit then takes a second). */
  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));
  g_settings_set_string (settings, "device", "cpu");
  probe_train_tiny (window, CATEGORY, CP_TRAIN_LOCAL_NONE, 3);
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);

  probe_show_page (window, "line");
  /* Nothing to watch yet: Start is off. */
  g_assert_false (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-start", NULL) && line_running ());
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-database", "s", db_file));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-folder", "s", hot_dir));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-move-folders", "(ss)",
                                             pass_dir, fail_dir));
  /* The page shows the database it records into. */
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (line_child ("db_row"))), ==, db_file);
  probe_activate (window, "win.line-start");
  g_assert_true (line_running ());

  drop_copies (good_dir, 3);
  drop_copies (defect_dir, 2);
  noise = noise_png (&size);
  drop_into_hot (noise_name, noise, size);
  g_assert_true (wait_for (all_parts_shown, 60));
  g_assert_true (wait_for (hot_folder_empty, 10));

  records = open_db ();
  cp_part_query_init (&query);
  g_assert_true (cp_records_count_parts (records, &query, &counts, NULL));
  g_assert_cmpint (counts.total, ==, n_dropped);
  g_assert_cmpint (label_count ("passed_label"), ==, counts.final_passed);
  g_assert_cmpint (label_count ("failed_label"), ==, counts.final_failed);
  g_assert_cmpint (counts.failed, >=, 1);
  /* Every part went to the folder of its verdict, and the hot folder is empty. */
  parts = cp_records_list_parts (records, &query, NULL);
  for (guint i = 0; i < parts->len; i++)
    {
      const CpPart *part = parts->pdata[i];
      g_autofree char *dir = g_path_get_dirname (part->final_path);

      g_assert_cmpstr (dir, ==, part->verdict == CP_VERDICT_PASS ? pass_dir : fail_dir);
      g_assert_true (g_file_test (part->final_path, G_FILE_TEST_IS_REGULAR));
      g_assert_false (g_file_test (part->file_path, G_FILE_TEST_EXISTS));
    }
  {
    g_autoptr(CpPart) noise_row = noise_part (records);

    g_assert_cmpint (noise_row->verdict, ==, CP_VERDICT_FAIL);
  }
  /* The charts have data. */
  g_assert_true (cp_plot_view_has_plot (CP_PLOT_VIEW (line_child ("yield_view"))));
  g_assert_true (cp_plot_view_has_plot (CP_PLOT_VIEW (line_child ("scores_view"))));

  probe_activate (window, "win.line-stop");
  g_assert_true (wait_for (line_stopped, 30));
  /* Stopped: the folder may be changed again. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-folder", "s", hot_dir));
}

static void
test_mark_good_line (void)
{
  g_autoptr(CpRecords) records = open_db ();
  g_autoptr(CpPart) part = noise_part (records);
  g_autoptr(CpPart) after = NULL;
  g_autoptr(CpPart) undone = NULL;
  g_autoptr(GPtrArray) refits = NULL;
  g_autofree char *stamp = g_strdup (cp_category_item_get_model_stamp (category ()));
  g_autofree char *marked_stamp = NULL;
  int copies = n_refit_copies ();
  double before = threshold ();
  const CpRefitRecord *refit;

  g_assert_cmpint (part->override_verdict, ==, CP_VERDICT_NONE);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-mark-good", "x", part->id));
  probe_wait_idle (worker);
  /* The image is in the good set; the model file is another one (the
   * category item read it again); the database has the override and the
   * refit. */
  g_assert_cmpint (n_refit_copies (), ==, copies + 1);
  g_assert_cmpfloat (threshold (), !=, before);
  g_assert_cmpstr (cp_category_item_get_model_stamp (category ()), !=, stamp);
  marked_stamp = g_strdup (cp_category_item_get_model_stamp (category ()));
  after = cp_records_get_part (records, part->id, NULL);
  g_assert_cmpint (after->override_verdict, ==, CP_VERDICT_PASS);
  refits = cp_records_list_refits (records, G_MININT64, G_MAXINT64, NULL);
  g_assert_cmpuint (refits->len, ==, 1);
  refit = refits->pdata[0];
  g_assert_true (refit->added);
  g_assert_cmpstr (refit->model_hash_before, !=, refit->model_hash_after);
  g_assert_cmpstr (refit->content_hash, ==, part->content_hash);
  g_assert_true (g_file_test (refit->image_path, G_FILE_TEST_IS_REGULAR));
  g_assert_nonnull (strstr (last_toast (), CATEGORY));
  /* The page counts the part as passed now, as the database does. */
  g_assert_true (wait_for (all_parts_shown, 5));
  {
    CpPartQuery query;
    CpPartCounts counts;

    cp_part_query_init (&query);
    g_assert_true (cp_records_count_parts (records, &query, &counts, NULL));
    g_assert_cmpint (counts.overridden, ==, 1);
    g_assert_cmpint (label_count ("failed_label"), ==, counts.final_failed);
    g_assert_cmpint (label_count ("passed_label"), ==, counts.final_passed);
  }

  /* Undo, as the toast's button does. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.undo-mark-good", "(ss)", CATEGORY,
                                             db_file));
  probe_wait_idle (worker);
  g_assert_cmpint (n_refit_copies (), ==, copies);
  g_assert_false (g_file_test (refit->image_path, G_FILE_TEST_EXISTS));
  g_assert_cmpfloat_with_epsilon (threshold (), before, 1e-6 * MAX (1.0, fabs (before)));
  g_assert_cmpstr (cp_category_item_get_model_stamp (category ()), !=, marked_stamp);
  undone = cp_records_get_part (records, part->id, NULL);
  g_assert_cmpint (undone->override_verdict, ==, CP_VERDICT_NONE);
  g_clear_pointer (&refits, g_ptr_array_unref);
  refits = cp_records_list_refits (records, G_MININT64, G_MAXINT64, NULL);
  g_assert_cmpuint (refits->len, ==, 2);
  g_assert_false (((CpRefitRecord *) refits->pdata[1])->added);
}

static double
inspect_score (void)
{
  g_autoptr(GObject) item = g_list_model_get_item (probe_inspect_items (window), 0);
  double score = NAN;

  g_object_get (item, "score", &score, NULL);
  return score;
}

/* The Inspection page: the noise image fails; once marked as good it
 * scores lower under the refitted model; Undo brings its score back. */
static void
test_mark_good_inspect (void)
{
  g_autofree char *noise_path = g_build_filename (fail_dir, noise_name, NULL);
  g_autofree char *uri = g_filename_to_uri (noise_path, NULL, NULL);
  const char *uris[] = { uri, NULL };
  int copies = n_refit_copies ();
  double before, marked, undone;

  probe_show_page (window, "inspect");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.inspect-files", "^as", uris));
  probe_wait_idle (worker);
  g_assert_cmpuint (g_list_model_get_n_items (probe_inspect_items (window)), ==, 1);
  probe_select_inspect_row (window, 0);
  probe_wait_idle (worker);
  before = inspect_score ();
  g_assert_cmpfloat (before, >, threshold ());
  probe_activate (window, "win.inspect-mark-good");
  probe_wait_idle (worker);
  /* The page scores its rows again with the new model. */
  probe_wait_idle (worker);
  marked = inspect_score ();
  g_assert_cmpint (n_refit_copies (), ==, copies + 1);
  g_assert_true (isfinite (marked));
  g_assert_cmpfloat (marked, <, before);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.undo-mark-good", "(ss)", CATEGORY, ""));
  probe_wait_idle (worker);
  probe_wait_idle (worker);
  undone = inspect_score ();
  g_assert_cmpint (n_refit_copies (), ==, copies);
  g_assert_cmpfloat_with_epsilon (undone, before, 1e-4 * MAX (1.0, fabs (before)));
}

static void
test_report (void)
{
  g_autofree char *pdf = g_build_filename (tmp_dir, "shift.pdf", NULL);
  g_autofree char *csv = g_build_filename (tmp_dir, "shift.csv", NULL);
  g_autofree char *bytes = NULL;
  g_auto(GStrv) lines = NULL;
  gsize size;
  int rows = 0;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-write-report", "(ss)", "all", pdf));
  probe_wait_idle (worker);
  g_assert_true (g_file_get_contents (pdf, &bytes, &size, NULL));
  g_assert_cmpuint (size, >, 1000);
  g_assert_true (g_str_has_prefix (bytes, "%PDF"));
  g_clear_pointer (&bytes, g_free);
  g_assert_true (g_file_get_contents (csv, &bytes, &size, NULL));
  lines = g_strsplit (bytes, "\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    rows += lines[i][0] != '\0';
  /* A header, then one row per part. */
  g_assert_cmpint (rows, ==, n_dropped);
  g_assert_nonnull (strstr (bytes, noise_name));
  g_assert_nonnull (strstr (last_toast (), pdf));
}

/* ---- drift --------------------------------------------------------------------- */

static gboolean
drift_warned (void)
{
  return gtk_widget_has_css_class (line_child ("drift_label"), "warning");
}

/* Parts that all score below every reference score (copies of the good
 * image the model scores lowest: it is in the Gaussian's fit, the
 * reference scores are of images left out of it) must turn the drift
 * label into a warning that says "lower", as docs/line.md's rule says. */
static void
test_drift_warning (void)
{
  g_autofree char *good = g_build_filename (data_dir, CATEGORY, "train", "good", NULL);
  g_autofree char *drift_hot = g_build_filename (tmp_dir, "hot-drift", NULL);
  g_autofree char *drift_db = g_build_filename (tmp_dir, "station-drift.sqlite", NULL);
  g_autofree char *model_path = cp_session_model_path (probe_session (window), CATEGORY);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) dir = g_dir_open (good, 0, NULL);
  g_autoptr(CpModel) model = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree double *scores = NULL;
  g_autofree char *bytes = NULL;
  const char *name;
  const char *text;
  gsize size;
  guint lowest = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".png") && !g_str_has_prefix (name, "refit-"))
      g_ptr_array_add (paths, g_build_filename (good, name, NULL));
  g_assert_cmpuint (paths->len, >, 0);
  model = cp_model_load (model_path, "cpu", &error);
  g_assert_no_error (error);
  scores = g_new (double, paths->len);
  g_assert_true (cp_model_score_files (model, (const char *const *) paths->pdata, (int) paths->len,
                                       scores, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 1; i < paths->len; i++)
    if (scores[i] < scores[lowest])
      lowest = i;
  g_assert_true (g_file_get_contents (paths->pdata[lowest], &bytes, &size, NULL));

  g_assert_cmpint (g_mkdir_with_parents (drift_hot, 0755), ==, 0);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-database", "s", drift_db));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-folder", "s", drift_hot));
  probe_activate (window, "win.line-start");
  g_assert_true (line_running ());
  g_assert_false (drift_warned ());
  /* More than the 20 passed parts the rule waits for, fewer than its
   * window of 50. */
  for (int i = 0; i < 30; i++)
    {
      g_autofree char *copy = g_strdup_printf ("%s/drift-%02d.png", drift_hot, i);

      g_assert_true (g_file_set_contents (copy, bytes, size, NULL));
    }
  g_assert_true (wait_for (drift_warned, 90));
  text = gtk_label_get_text (GTK_LABEL (line_child ("drift_label")));
  g_assert_nonnull (strstr (text, "lower"));
  probe_activate (window, "win.line-stop");
  g_assert_true (wait_for (line_stopped, 30));
}

static char *other_hot;

static gboolean
second_window_watching (void)
{
  const char *status = gtk_label_get_text (GTK_LABEL (line_child ("status_label")));

  return strstr (status, other_hot) != NULL;
}

static gint64
n_recorded (void)
{
  g_autoptr(CpRecords) records = open_db ();
  CpPartQuery query;
  CpPartCounts counts;

  cp_part_query_init (&query);
  g_assert_true (cp_records_count_parts (records, &query, &counts, NULL));
  return counts.total;
}

static void
run_for (double seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < end)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (20000);
    }
}

/* A window closed while its page watches: the watcher stops (a part that
 * arrives afterwards is not taken), and nothing reaches the page that is
 * gone (G_DEBUG=gc-friendly and the sanitizers would see it). */
static void
test_close_while_watching (void)
{
  CpWindow *second = cp_window_new (app);
  CpWindow *first = window;
  g_autofree char *late = NULL;
  gint64 before = n_recorded ();

  other_hot = g_build_filename (tmp_dir, "hot2", NULL);
  g_assert_cmpint (g_mkdir_with_parents (other_hot, 0755), ==, 0);
  gtk_window_present (GTK_WINDOW (second));
  window = second;
  /* A new window shows the station as the last one left it (the drift
   * test's folder and database; the move folders of test_watch). */
  {
    g_autofree char *drift_hot = g_build_filename (tmp_dir, "hot-drift", NULL);
    g_autofree char *drift_db = g_build_filename (tmp_dir, "station-drift.sqlite", NULL);
    g_autofree char *folder = NULL;
    g_autofree char *db = NULL;

    g_object_get (probe_page (window, "line"), "folder", &folder, "db-path", &db, NULL);
    g_assert_cmpstr (folder, ==, drift_hot);
    g_assert_cmpstr (db, ==, drift_db);
    g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (line_child ("move_row"))),
                              pass_dir));
  }
  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-database", "s", db_file));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-folder", "s", other_hot));
  probe_activate (window, "win.line-start");
  g_assert_true (line_running ());
  g_assert_true (wait_for (second_window_watching, 60));
  gtk_window_destroy (GTK_WINDOW (second));
  window = first;
  /* The watcher's thread ends and its last events are delivered. */
  run_for (2);
  late = g_build_filename (other_hot, "late.png", NULL);
  {
    g_autofree char *png = NULL;
    gsize size;

    png = noise_png (&size);
    g_assert_true (g_file_set_contents (late, png, size, NULL));
  }
  /* A running watcher would take it within a rescan and a settle. */
  run_for (3);
  g_assert_cmpint (n_recorded (), ==, before);
  g_assert_true (g_file_test (late, G_FILE_TEST_IS_REGULAR));
  g_clear_pointer (&other_hot, g_free);
}

int
main (int argc, char **argv)
{
  const ProbeSetup setup = { "cp-app-line-XXXXXX", CATEGORY, 3, 2, NULL };
  int status;

  if (!probe_setup (&argc, &argv, &setup, &tmp_dir, &data_dir, &app, &worker, &window))
    return 77;
  hot_dir = g_build_filename (tmp_dir, "hot", NULL);
  pass_dir = g_build_filename (tmp_dir, "pass", NULL);
  fail_dir = g_build_filename (tmp_dir, "fail", NULL);
  db_file = g_build_filename (tmp_dir, "station-1.sqlite", NULL);
  noise_name = g_strdup ("noise.png");
  g_assert_cmpint (g_mkdir_with_parents (hot_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (pass_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (fail_dir, 0755), ==, 0);

  g_test_add_func ("/app/window-line/watch", test_watch);
  g_test_add_func ("/app/window-line/mark-good-line", test_mark_good_line);
  g_test_add_func ("/app/window-line/mark-good-inspect", test_mark_good_inspect);
  g_test_add_func ("/app/window-line/report", test_report);
  g_test_add_func ("/app/window-line/drift-warning", test_drift_warning);
  g_test_add_func ("/app/window-line/close-while-watching", test_close_while_watching);
  status = g_test_run ();

  probe_teardown (tmp_dir, data_dir, app, worker, window);
  return status;
}
