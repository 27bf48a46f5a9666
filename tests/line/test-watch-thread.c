/* test-watch-thread.c: a CpWatcher emits every signal on the thread that
 * iterates the main context it was started from, even when that thread is
 * busy between iterations (a GTK window drawing, a test sleeping).  The
 * watcher once delivered with g_main_context_invoke_full (), which runs
 * the function at once on the worker thread whenever no thread owns the
 * context: handlers then ran on the worker thread, and "stopped" joined
 * the worker from itself. */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "data/synth.h"
#include "line/watcher.h"
#include "pipeline/train.h"
#include "test-support.h"

#define CATEGORY "washer"

static GThread *main_thread;
static int n_recorded;
static int n_elsewhere;       /* emissions on another thread */
static gboolean stopped;

static void
check_thread (void)
{
  if (g_thread_self () != main_thread)
    g_atomic_int_inc (&n_elsewhere);
}

static void
on_started (CpWatcher *watcher, const char *description, gpointer data)
{
  check_thread ();
}

static void
on_part_recorded (CpWatcher *watcher, const CpPart *part, gboolean already, gpointer data)
{
  check_thread ();
  g_atomic_int_inc (&n_recorded);
}

static void
on_drift_changed (CpWatcher *watcher, gconstpointer drift, gpointer data)
{
  check_thread ();
}

static void
on_stopped (CpWatcher *watcher, const GError *error, gpointer data)
{
  check_thread ();
  g_assert_no_error ((GError *) error);
  stopped = TRUE;
}

/* One iteration, then the thread is busy elsewhere for a while: the
 * context has no owner most of the time. */
static void
iterate_busily (void)
{
  g_main_context_iteration (NULL, FALSE);
  g_usleep (30000);
}

static void
test_signals_on_main_thread (void)
{
  g_autofree char *root = cp_test_make_tmp_dir ("cp-watch-thread-XXXXXX");
  g_autofree char *data_dir = g_build_filename (root, "data", NULL);
  g_autofree char *model_dir = g_build_filename (root, "models", NULL);
  g_autofree char *hot = g_build_filename (root, "hot", NULL);
  g_autofree char *db = g_build_filename (root, "line.sqlite", NULL);
  g_autofree char *good_dir = NULL;
  const char *categories[] = { CATEGORY, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(CpWatcher) watcher = NULL;
  g_autoptr(GDir) dir = NULL;
  CpSynthOptions synth;
  CpTrainOptions opts;
  CpTrainResult result;
  CpWatcherOptions options;
  const char *name;
  int n_files = 0;
  gint64 deadline;

  cp_synth_options_init (&synth);
  synth.categories = categories;
  synth.size = 64;
  synth.n_train = 8;
  synth.n_test_good = 4;
  synth.n_test_defect = 1;
  g_assert_true (cp_synth_write (data_dir, &synth, NULL, NULL, &error));
  cp_train_options_init (&opts, "quick");
  opts.data_dir = data_dir;
  opts.category = CATEGORY;
  opts.image_size = 32;
  opts.steps = 1;
  opts.batch_size = 2;
  opts.device = "cpu";
  opts.model_dir = model_dir;
  opts.evaluate_test = FALSE;
  opts.local = CP_TRAIN_LOCAL_NONE;
  cp_train_result_init (&result);
  g_assert_true (cp_train_category (&opts, NULL, NULL, NULL, &result, &error));
  cp_train_result_clear (&result);

  /* The parts are there before the start: the first scan takes them. */
  g_assert_cmpint (g_mkdir_with_parents (hot, 0755), ==, 0);
  good_dir = g_build_filename (data_dir, CATEGORY, "test", "good", NULL);
  dir = g_dir_open (good_dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *from = g_build_filename (good_dir, name, NULL);
      g_autofree char *to = g_build_filename (hot, name, NULL);
      g_autofree char *bytes = NULL;
      gsize size;

      g_assert_true (g_file_get_contents (from, &bytes, &size, NULL));
      g_assert_true (g_file_set_contents (to, bytes, size, NULL));
      n_files++;
    }

  cp_watcher_options_init (&options);
  options.model_dir = model_dir;
  options.category = CATEGORY;
  options.folder = hot;
  options.db_path = db;
  options.data_dir = data_dir;
  options.device = "cpu";
  options.heatmaps = CP_HEATMAPS_NONE;
  options.settle_ms = 100;
  options.rescan_ms = 100;
  watcher = cp_watcher_new (&options, &error);
  g_assert_no_error (error);
  g_signal_connect (watcher, "started", G_CALLBACK (on_started), NULL);
  g_signal_connect (watcher, "part-recorded", G_CALLBACK (on_part_recorded), NULL);
  g_signal_connect (watcher, "drift-changed", G_CALLBACK (on_drift_changed), NULL);
  g_signal_connect (watcher, "stopped", G_CALLBACK (on_stopped), NULL);
  g_assert_true (cp_watcher_start (watcher, &error));

  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (g_atomic_int_get (&n_recorded) < n_files && g_get_monotonic_time () < deadline)
    iterate_busily ();
  g_assert_cmpint (g_atomic_int_get (&n_recorded), ==, n_files);
  cp_watcher_stop (watcher);
  while (!stopped && g_get_monotonic_time () < deadline)
    iterate_busily ();
  g_assert_true (stopped);
  g_assert_cmpint (g_atomic_int_get (&n_elsewhere), ==, 0);
  cp_test_remove_tree (root);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  main_thread = g_thread_self ();
  g_test_add_func ("/line/watch/signals-on-main-thread", test_signals_on_main_thread);
  return g_test_run ();
}
