/* watcher.c: the CpWatcher object: options, the folder monitor, the
 * worker thread, and the signals (the worker's rules are in
 * watch-worker.c). */
#include "watcher-private.h"

#include <math.h>
#include <string.h>

#include "core/tsan.h"
#include "pipeline/localize.h"
#include "pipeline/train.h"

struct _CpWatcher
{
  GObject           parent_instance;

  CpWatcherOptions  opts;        /* strings point at the fields below */
  char             *model_dir;
  char             *category;
  char             *folder;
  char             *db_path;
  char             *pass_dir;
  char             *fail_dir;
  char             *data_dir;
  char             *device;
  char             *heatmap_dir;
  char             *model_path;
  char             *patch_path;

  GMainContext     *context;
  GFileMonitor     *monitor;
  WatchWorker      *worker;
  GThread          *thread;
  gboolean          running;
  gboolean          idle;

  CpWatchCounts     counts;
  CpWatchDrift      drift;
  gboolean          have_drift;
  char             *drift_message;
  char             *reference_source;
  double           *reference;
  int               n_reference;
  double            threshold;
};

G_DEFINE_TYPE (CpWatcher, cp_watcher, G_TYPE_OBJECT)

enum
{
  SIGNAL_STARTED,
  SIGNAL_PART_RECORDED,
  SIGNAL_FAULT,
  SIGNAL_FAULT_CLEARED,
  SIGNAL_DRIFT_CHANGED,
  SIGNAL_NOTICE,
  SIGNAL_STOPPED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

const char *
cp_watch_fault_to_string (CpWatchFault fault)
{
  switch (fault)
    {
    case CP_WATCH_FAULT_FILE: return "file";
    case CP_WATCH_FAULT_FOLDER: return "folder";
    case CP_WATCH_FAULT_DATABASE: return "database";
    case CP_WATCH_FAULT_MOVE: return "move";
    case CP_WATCH_FAULT_MODEL: return "model";
    case CP_WATCH_FAULT_HEATMAP: return "heatmap";
    case CP_WATCH_FAULT_DRIFT: return "drift";
    default: return "unknown";
    }
}

void
cp_watcher_options_init (CpWatcherOptions *options)
{
  memset (options, 0, sizeof *options);
  options->heatmaps = CP_HEATMAPS_FAILED;
  options->settle_ms = 1000;
  options->rescan_ms = 1000;
  options->open_timeout_ms = 10000;
  options->batch = 16;
  options->max_pending = 256;
  options->drift_window = CP_DRIFT_DEFAULT_WINDOW;
}

static void
cp_watcher_finalize (GObject *object)
{
  CpWatcher *self = CP_WATCHER (object);

  /* A running watcher holds a reference to itself: the worker is gone. */
  g_clear_object (&self->monitor);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->model_dir);
  g_free (self->category);
  g_free (self->folder);
  g_free (self->db_path);
  g_free (self->pass_dir);
  g_free (self->fail_dir);
  g_free (self->data_dir);
  g_free (self->device);
  g_free (self->heatmap_dir);
  g_free (self->model_path);
  g_free (self->patch_path);
  g_free (self->drift_message);
  g_free (self->reference_source);
  g_free (self->reference);
  G_OBJECT_CLASS (cp_watcher_parent_class)->finalize (object);
}

static void
cp_watcher_class_init (CpWatcherClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = cp_watcher_finalize;
  signals[SIGNAL_STARTED] = g_signal_new ("started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_PART_RECORDED] = g_signal_new ("part-recorded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_BOOLEAN);
  signals[SIGNAL_FAULT] = g_signal_new ("fault", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                        NULL, G_TYPE_NONE, 3, G_TYPE_INT, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_FAULT_CLEARED] = g_signal_new ("fault-cleared", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
  signals[SIGNAL_DRIFT_CHANGED] = g_signal_new ("drift-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_NOTICE] = g_signal_new ("notice", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_STOPPED] = g_signal_new ("stopped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                          NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
cp_watcher_init (CpWatcher *self)
{
  self->threshold = NAN;
  self->idle = TRUE;
}

/* ---- construction ---------------------------------------------------------------- */

static gboolean
check_folder (const char *what, const char *path, GError **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s %s is not a folder", what, path);
      return FALSE;
    }
  return TRUE;
}

CpWatcher *
cp_watcher_new (const CpWatcherOptions *options, GError **error)
{
  g_autoptr (CpWatcher) self = NULL;
  g_autoptr (CpRecords) records = NULL;

  if (options->model_dir == NULL || options->category == NULL || options->folder == NULL
      || options->db_path == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "a model folder, a category, a folder to watch and a database are needed");
      return NULL;
    }
  if ((options->pass_dir == NULL) != (options->fail_dir == NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "give both a pass and a fail folder, or neither");
      return NULL;
    }
  if (options->settle_ms < 0 || options->rescan_ms < 10 || options->open_timeout_ms < 0 || options->batch < 1
      || options->max_pending < 1 || options->drift_window < 2)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "settle, open timeout >= 0 ms, rescan >= 10 ms, batch and waiting parts >= 1, "
                           "drift window >= 2");
      return NULL;
    }

  self = g_object_new (CP_TYPE_WATCHER, NULL);
  self->opts = *options;
  self->model_dir = g_canonicalize_filename (options->model_dir, NULL);
  self->category = g_strdup (options->category);
  self->folder = g_canonicalize_filename (options->folder, NULL);
  self->db_path = g_canonicalize_filename (options->db_path, NULL);
  self->pass_dir = options->pass_dir ? g_canonicalize_filename (options->pass_dir, NULL) : NULL;
  self->fail_dir = options->fail_dir ? g_canonicalize_filename (options->fail_dir, NULL) : NULL;
  self->data_dir = options->data_dir ? g_canonicalize_filename (options->data_dir, NULL) : NULL;
  self->device = g_strdup (options->device ? options->device : "auto");
  self->heatmap_dir = options->heatmap_dir ? g_canonicalize_filename (options->heatmap_dir, NULL)
                                           : g_strconcat (self->db_path, ".heatmaps", NULL);
  self->model_path = cp_train_model_path (self->model_dir, self->category);
  self->patch_path = cp_patch_model_path (self->model_dir, self->category);
  self->opts.model_dir = self->model_dir;
  self->opts.category = self->category;
  self->opts.folder = self->folder;
  self->opts.db_path = self->db_path;
  self->opts.pass_dir = self->pass_dir;
  self->opts.fail_dir = self->fail_dir;
  self->opts.data_dir = self->data_dir;
  self->opts.device = self->device;
  self->opts.heatmap_dir = self->heatmap_dir;

  if (!check_folder ("the folder to watch", self->folder, error)
      || (self->pass_dir && !check_folder ("the pass folder", self->pass_dir, error))
      || (self->fail_dir && !check_folder ("the fail folder", self->fail_dir, error)))
    return NULL;
  if (self->pass_dir && (strcmp (self->pass_dir, self->folder) == 0 || strcmp (self->fail_dir, self->folder) == 0))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "the pass and fail folders must not be the watched folder");
      return NULL;
    }
  if (!g_file_test (self->model_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no model for category %s (train it first)",
                   self->model_path, self->category);
      return NULL;
    }
  /* A newer or foreign database is refused before anything runs. */
  records = cp_records_open (self->db_path, CP_RECORDS_OPEN_DEFAULT, 2000, error);
  if (records == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

/* ---- events from the worker ----------------------------------------------------------- */

typedef struct
{
  CpWatcher  *watcher;
  WatchEvent *event;
} Delivery;

static void
delivery_free (gpointer data)
{
  Delivery *d = data;

  cp_watch_event_free (d->event);
  g_free (d);
}

static void on_monitor_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                                gpointer user_data);

static void
watch_folder (CpWatcher *self)
{
  g_autoptr (GFile) dir = g_file_new_for_path (self->folder);

  if (self->monitor)
    {
      g_signal_handlers_disconnect_by_data (self->monitor, self);
      g_file_monitor_cancel (self->monitor);
      g_clear_object (&self->monitor);
    }
  /* Without a monitor the rescans still find every file. */
  self->monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, NULL);
  if (self->monitor)
    g_signal_connect (self->monitor, "changed", G_CALLBACK (on_monitor_changed), self);
}

static void
set_drift (CpWatcher *self, const WatchEvent *event)
{
  g_free (self->drift_message);
  self->drift_message = g_strdup (event->message);
  self->drift.state = event->drift.state;
  self->drift.result = event->drift;
  self->drift.threshold = event->threshold;
  self->drift.reference_source = self->reference_source;
  self->drift.n_reference = self->n_reference;
  self->drift.message = self->drift_message;
  self->have_drift = TRUE;
}

static gboolean
deliver (gpointer data)
{
  Delivery *d = data;
  CpWatcher *self;
  WatchEvent *event;

  CP_TSAN_ACQUIRE (d);   /* from post_event () on the worker thread */
  self = d->watcher;
  event = d->event;
  switch (event->type)
    {
    case WATCH_EVENT_STARTED:
      g_signal_emit (self, signals[SIGNAL_STARTED], 0, event->message);
      break;
    case WATCH_EVENT_MODEL:
      self->threshold = event->threshold;
      g_free (self->reference);
      g_free (self->reference_source);
      self->reference = g_steal_pointer (&event->reference);
      self->n_reference = event->n_reference;
      self->reference_source = g_steal_pointer (&event->reference_source);
      self->drift.reference_source = self->reference_source;
      self->drift.n_reference = self->n_reference;
      break;
    case WATCH_EVENT_PART:
      if (!event->already)
        {
          self->counts.recorded++;
          if (event->part->verdict == CP_VERDICT_PASS)
            self->counts.passed++;
          else
            self->counts.failed++;
        }
      g_signal_emit (self, signals[SIGNAL_PART_RECORDED], 0, event->part, event->already);
      break;
    case WATCH_EVENT_FAULT:
      self->counts.faults++;
      g_signal_emit (self, signals[SIGNAL_FAULT], 0, (int) event->fault, event->path, event->message);
      break;
    case WATCH_EVENT_FAULT_CLEARED:
      g_signal_emit (self, signals[SIGNAL_FAULT_CLEARED], 0, (int) event->fault, event->message);
      break;
    case WATCH_EVENT_DRIFT:
      set_drift (self, event);
      if (event->drift_changed)
        g_signal_emit (self, signals[SIGNAL_DRIFT_CHANGED], 0, &self->drift);
      break;
    case WATCH_EVENT_NOTICE:
      g_signal_emit (self, signals[SIGNAL_NOTICE], 0, event->message);
      break;
    case WATCH_EVENT_IDLE:
      self->idle = TRUE;
      break;
    case WATCH_EVENT_BUSY:
      self->idle = FALSE;
      break;
    case WATCH_EVENT_FOLDER_BACK:
      watch_folder (self);
      break;
    case WATCH_EVENT_WAITING:
      self->counts.waiting = event->waiting;
      break;
    case WATCH_EVENT_STOPPED:
      g_thread_join (g_steal_pointer (&self->thread));
      g_clear_pointer (&self->worker, cp_watch_worker_free);
      if (self->monitor)
        {
          g_signal_handlers_disconnect_by_data (self->monitor, self);
          g_file_monitor_cancel (self->monitor);
          g_clear_object (&self->monitor);
        }
      self->running = FALSE;
      self->idle = TRUE;
      self->counts.waiting = 0;
      g_signal_emit (self, signals[SIGNAL_STOPPED], 0, event->error);
      /* The reference the running worker held. */
      g_object_unref (self);
      break;
    }
  return G_SOURCE_REMOVE;
}

/* Worker thread: hands @event to the main context. */
static void
post_event (WatchEvent *event, gpointer user_data)
{
  CpWatcher *self = user_data;
  Delivery *d = g_new0 (Delivery, 1);
  GSource *source = g_idle_source_new ();

  d->watcher = self;
  d->event = event;
  /* Not g_main_context_invoke_full (): when no thread owns the context
   * at this moment (its thread between two iterations, or blocked
   * elsewhere), it acquires the context and delivers right here on the
   * worker thread: signal handlers (a GTK page) then run on the wrong
   * thread, and STOPPED joins the worker from itself.  An idle source is
   * always dispatched by the thread that iterates the context, in the
   * order the events were posted.  The watcher outlives every delivery:
   * the worker's reference is dropped by the last one (STOPPED), which
   * is queued after all others. */
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver, d, delivery_free);
  g_source_set_static_name (source, "[cp-watcher] deliver");
  CP_TSAN_RELEASE (d);
  g_source_attach (source, self->context);
  g_source_unref (source);
}

static void
on_monitor_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                    gpointer user_data)
{
  CpWatcher *self = user_data;
  g_autofree char *path = g_file_get_path (file);
  WatchMsg *msg;

  if (self->worker == NULL || path == NULL)
    return;
  msg = g_new0 (WatchMsg, 1);
  if (strcmp (path, self->folder) == 0)
    {
      if (event != G_FILE_MONITOR_EVENT_DELETED && event != G_FILE_MONITOR_EVENT_MOVED_OUT
          && event != G_FILE_MONITOR_EVENT_UNMOUNTED)
        {
          g_free (msg);
          return;
        }
      msg->type = WATCH_MSG_FOLDER_GONE;
    }
  else
    {
      msg->type = WATCH_MSG_FILE;
      msg->event = event;
      msg->path = g_steal_pointer (&path);
      msg->other = other ? g_file_get_path (other) : NULL;
    }
  cp_watch_worker_send (self->worker, msg);
}

static gpointer
worker_thread (gpointer data)
{
  WatchWorker *worker = data;

  CP_TSAN_ACQUIRE (worker);
  cp_watch_worker_run (worker);
  return NULL;
}

gboolean
cp_watcher_start (CpWatcher *self, GError **error)
{
  g_return_val_if_fail (CP_IS_WATCHER (self), FALSE);
  if (self->running)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PENDING, "the watcher is running already");
      return FALSE;
    }
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = g_main_context_ref_thread_default ();
  memset (&self->counts, 0, sizeof self->counts);
  self->have_drift = FALSE;
  self->worker = cp_watch_worker_new (&self->opts, self->model_path, self->patch_path, self->heatmap_dir,
                                      post_event, self);
  watch_folder (self);
  self->running = TRUE;
  self->idle = FALSE;
  g_object_ref (self);
  CP_TSAN_RELEASE (self->worker);
  self->thread = g_thread_new ("cp-watch", worker_thread, self->worker);
  return TRUE;
}

void
cp_watcher_stop (CpWatcher *self)
{
  WatchMsg *msg;

  g_return_if_fail (CP_IS_WATCHER (self));
  if (!self->running || self->worker == NULL)
    return;
  msg = g_new0 (WatchMsg, 1);
  msg->type = WATCH_MSG_STOP;
  cp_watch_worker_send (self->worker, msg);
}

gboolean cp_watcher_is_running (CpWatcher *self) { return self->running; }
gboolean cp_watcher_is_idle (CpWatcher *self) { return self->idle; }
const char *cp_watcher_get_model_path (CpWatcher *self) { return self->model_path; }
double cp_watcher_get_threshold (CpWatcher *self) { return self->threshold; }
const char *cp_watcher_get_db_path (CpWatcher *self) { return self->db_path; }

void
cp_watcher_get_counts (CpWatcher *self, CpWatchCounts *counts)
{
  *counts = self->counts;
}

const CpWatchDrift *
cp_watcher_get_drift (CpWatcher *self)
{
  return self->have_drift ? &self->drift : NULL;
}

const double *
cp_watcher_get_reference (CpWatcher *self, int *n, const char **source)
{
  if (n)
    *n = self->n_reference;
  if (source)
    *source = self->reference_source;
  return self->reference;
}
