/* watch-worker.c: the watcher's worker thread: which files are complete,
 * reading, hashing, scoring, heatmaps, recording, moving, and the drift
 * check (the rules are in watcher.h).  Everything here runs on the worker
 * thread; the main thread only forwards monitor events (WatchMsg) and
 * receives WatchEvents. */
#include "watcher-private.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <glib/gstdio.h>

#include "core/tsan.h"
#include "data/file-hash.h"
#include "data/image.h"
#include "move.h"
#include "reference.h"
#include "pipeline/localize.h"
#include "pipeline/model.h"

/* What the worker knows of one file in the folder. */
typedef struct
{
  char    *path;
  gboolean exists;          /* a regular file */
  gint64   size;
  gint64   mtime_ns;
  guint64  ino;
  gint64   changed_us;      /* monotonic time of the last change of the four above */
  gboolean open_for_write;  /* the monitor saw it created or written, not yet closed */
  gboolean complete_hint;   /* the monitor saw it closed or moved in since the last change */
  gboolean done;            /* handled in its current state */
  gboolean in_flight;       /* scored, waiting to be recorded */
  gint64   retry_us;        /* when done: take it again at this time (0: never) */
} Candidate;

typedef struct
{
  CpPart        *part;
  CpModelRecord *model;     /* borrowed from models_used */
} PendingPart;

typedef struct
{
  gint64  size;
  gint64  mtime_ns;
  guint64 ino;
} FileState;

struct _WatchWorker
{
  const CpWatcherOptions *opts;
  char          *model_path;
  char          *patch_path;
  char          *heatmap_dir;
  WatchPostFunc  post;
  gpointer       user_data;
  GAsyncQueue   *queue;       /* WatchMsg * */

  /* Worker thread only. */
  CpRecords     *records;
  CpModel       *model;
  CpModelRecord *model_record;   /* in models_used */
  GPtrArray     *models_used;    /* CpModelRecord * */
  FileState      model_state;
  FileState      bad_model_state;  /* a replacement that did not load (reported) */
  CpPatchModel  *patch;
  CpReference    reference;
  GArray        *window;         /* double: passed scores of the current model */
  CpDriftState   drift_state;
  GHashTable    *candidates;     /* path -> Candidate * */
  GPtrArray     *pending;        /* PendingPart * */
  gboolean       folder_missing;
  gboolean       db_failing;
  int            db_fault_code;
  gint64         next_rescan_us;
  gint64         next_retry_us;
  gboolean       idle;
  gboolean       stopping;
  gint64         last_waiting;
  /* Where the worker's time goes (monotonic microseconds), for the
   * summary at the stop: decoding and scoring (what predict also does),
   * and all the rest while not waiting. */
  gint64         decode_us;
  gint64         score_us;
  gint64         busy_us;
  gint64         parts_scored;
  /* The same in CPU time of the worker thread: not stretched by other
   * programs taking the cores (but blind to the network's helper threads,
   * which is why it is only used for "the rest"). */
  gint64         decode_cpu_us;
  gint64         score_cpu_us;
  gint64         busy_cpu_us;
  gint64         heatmap_us;
  gint64         heatmap_cpu_us;
  gint64         heatmaps;
};

static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  if (clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    return 0;
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* ---- messages and events ------------------------------------------------------- */

void
cp_watch_msg_free (WatchMsg *msg)
{
  if (msg == NULL)
    return;
  g_free (msg->path);
  g_free (msg->other);
  g_free (msg);
}

WatchEvent *
cp_watch_event_new (WatchEventType type)
{
  WatchEvent *event = g_new0 (WatchEvent, 1);

  event->type = type;
  event->threshold = NAN;
  return event;
}

void
cp_watch_event_free (WatchEvent *event)
{
  if (event == NULL)
    return;
  cp_part_free (event->part);
  g_free (event->path);
  g_free (event->message);
  g_free (event->reference);
  g_free (event->reference_source);
  g_clear_error (&event->error);
  g_free (event);
}

static void
post (WatchWorker *w, WatchEvent *event)
{
  w->post (event, w->user_data);
}

static void
post_fault (WatchWorker *w, CpWatchFault fault, const char *path, const char *format, ...) G_GNUC_PRINTF (4, 5);

static void
post_fault (WatchWorker *w, CpWatchFault fault, const char *path, const char *format, ...)
{
  WatchEvent *event = cp_watch_event_new (WATCH_EVENT_FAULT);
  va_list args;

  event->fault = fault;
  event->path = g_strdup (path);
  va_start (args, format);
  event->message = g_strdup_vprintf (format, args);
  va_end (args);
  post (w, event);
}

static void
post_text (WatchWorker *w, WatchEventType type, CpWatchFault fault, const char *format, ...) G_GNUC_PRINTF (4, 5);

static void
post_text (WatchWorker *w, WatchEventType type, CpWatchFault fault, const char *format, ...)
{
  WatchEvent *event = cp_watch_event_new (type);
  va_list args;

  event->fault = fault;
  va_start (args, format);
  event->message = g_strdup_vprintf (format, args);
  va_end (args);
  post (w, event);
}

static void
post_waiting (WatchWorker *w)
{
  WatchEvent *event;

  if ((gint64) w->pending->len == w->last_waiting)
    return;
  w->last_waiting = w->pending->len;
  event = cp_watch_event_new (WATCH_EVENT_WAITING);
  event->waiting = w->pending->len;
  post (w, event);
}

/* ---- set-up --------------------------------------------------------------------- */

static void
candidate_free (Candidate *c)
{
  g_free (c->path);
  g_free (c);
}

static void
pending_free (PendingPart *p)
{
  cp_part_free (p->part);
  g_free (p);
}

WatchWorker *
cp_watch_worker_new (const CpWatcherOptions *options, const char *model_path, const char *patch_path,
                     const char *heatmap_dir, WatchPostFunc post_func, gpointer user_data)
{
  WatchWorker *w = g_new0 (WatchWorker, 1);

  w->opts = options;
  w->model_path = g_strdup (model_path);
  w->patch_path = g_strdup (patch_path);
  w->heatmap_dir = g_strdup (heatmap_dir);
  w->post = post_func;
  w->user_data = user_data;
  w->queue = g_async_queue_new_full ((GDestroyNotify) cp_watch_msg_free);
  w->models_used = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_model_record_free);
  w->window = g_array_new (FALSE, FALSE, sizeof (double));
  w->candidates = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) candidate_free);
  w->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_free);
  w->drift_state = CP_DRIFT_UNKNOWN;
  return w;
}

void
cp_watch_worker_send (WatchWorker *w, WatchMsg *msg)
{
  CP_TSAN_RELEASE (msg);
  g_async_queue_push (w->queue, msg);
}

void
cp_watch_worker_free (WatchWorker *w)
{
  if (w == NULL)
    return;
  g_async_queue_unref (w->queue);
  g_ptr_array_unref (w->pending);
  g_hash_table_unref (w->candidates);
  g_array_unref (w->window);
  cp_reference_clear (&w->reference);
  cp_patch_model_free (w->patch);
  cp_model_free (w->model);
  g_ptr_array_unref (w->models_used);
  cp_records_close (w->records);
  g_free (w->model_path);
  g_free (w->patch_path);
  g_free (w->heatmap_dir);
  g_free (w);
}

/* ---- files ---------------------------------------------------------------------- */

static gboolean
eligible_name (const char *name)
{
  static const char *const temporary[] = { ".tmp", ".part", ".partial", ".crdownload", ".swp", "~" };

  if (name[0] == '.' || name[0] == '\0')
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (temporary); i++)
    if (g_str_has_suffix (name, temporary[i]))
      return FALSE;
  return TRUE;
}

static gboolean
in_folder (WatchWorker *w, const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);

  return strcmp (dir, w->opts->folder) == 0 && eligible_name (base);
}

static gboolean
stat_file (const char *path, FileState *state)
{
  GStatBuf st;

  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;
  state->size = st.st_size;
  state->mtime_ns = (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  state->ino = st.st_ino;
  return TRUE;
}

/* Re-reads @c's file; TRUE when anything changed (it then waits again). */
static gboolean
update_candidate (Candidate *c, gint64 now)
{
  FileState s = { 0 };
  gboolean exists = stat_file (c->path, &s);

  if (exists == c->exists && s.size == c->size && s.mtime_ns == c->mtime_ns && s.ino == c->ino)
    return FALSE;
  c->exists = exists;
  c->size = s.size;
  c->mtime_ns = s.mtime_ns;
  c->ino = s.ino;
  c->changed_us = now;
  c->complete_hint = FALSE;
  c->done = FALSE;
  c->retry_us = 0;
  return TRUE;
}

static Candidate *
get_candidate (WatchWorker *w, const char *path, gint64 now)
{
  Candidate *c = g_hash_table_lookup (w->candidates, path);

  if (c == NULL)
    {
      c = g_new0 (Candidate, 1);
      c->path = g_strdup (path);
      c->changed_us = now;
      c->exists = FALSE;
      c->size = -1;
      g_hash_table_insert (w->candidates, c->path, c);
    }
  return c;
}

/* A file that went away: a fault unless it was handled. */
static void
forget_candidate (WatchWorker *w, Candidate *c, gboolean report)
{
  if (report && !c->done && !c->in_flight && c->exists)
    post_fault (w, CP_WATCH_FAULT_FILE, c->path, "%s: disappeared before it was scored", c->path);
  g_hash_table_remove (w->candidates, c->path);
}

/* Re-reads @c's file.  FALSE when it is gone (or not a regular file):
 * then @c is freed, and a file that was waiting to be scored is reported.
 * GLib reports a file deleted while open as "closed" first, so any event
 * may be the one that finds it gone. */
static gboolean
refresh_candidate_full (WatchWorker *w, Candidate *c, gint64 now, gboolean *changed)
{
  gboolean waiting = c->exists && !c->done && !c->in_flight;
  gboolean differs = update_candidate (c, now);

  if (changed)
    *changed = differs;
  if (c->exists || c->in_flight)
    return TRUE;
  if (waiting)
    post_fault (w, CP_WATCH_FAULT_FILE, c->path, "%s: disappeared before it was scored", c->path);
  g_hash_table_remove (w->candidates, c->path);
  return FALSE;
}

static gboolean
refresh_candidate (WatchWorker *w, Candidate *c, gint64 now)
{
  return refresh_candidate_full (w, c, now, NULL);
}

static void
handle_file_event (WatchWorker *w, WatchMsg *msg, gint64 now)
{
  Candidate *c;

  if (msg->event == G_FILE_MONITOR_EVENT_RENAMED)
    {
      /* Within the folder: the old name goes quietly, the new one is
       * complete (a writer's "write, then rename" pattern). */
      c = g_hash_table_lookup (w->candidates, msg->path);
      if (c)
        forget_candidate (w, c, FALSE);
      if (msg->other == NULL || !in_folder (w, msg->other))
        return;
      c = get_candidate (w, msg->other, now);
      if (!refresh_candidate (w, c, now))
        return;
      c->complete_hint = TRUE;
      c->open_for_write = FALSE;
      return;
    }
  if (!in_folder (w, msg->path))
    return;
  switch (msg->event)
    {
    case G_FILE_MONITOR_EVENT_DELETED:
    case G_FILE_MONITOR_EVENT_MOVED_OUT:
      c = g_hash_table_lookup (w->candidates, msg->path);
      if (c)
        forget_candidate (w, c, TRUE);
      return;
    case G_FILE_MONITOR_EVENT_CREATED:
    case G_FILE_MONITOR_EVENT_CHANGED:
      c = get_candidate (w, msg->path, now);
      if (refresh_candidate (w, c, now) && !c->done)
        c->open_for_write = TRUE;
      break;
    case G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT:
    case G_FILE_MONITOR_EVENT_MOVED_IN:
      c = get_candidate (w, msg->path, now);
      if (refresh_candidate (w, c, now))
        {
          c->complete_hint = TRUE;
          c->open_for_write = FALSE;
        }
      break;
    default:
      c = get_candidate (w, msg->path, now);
      refresh_candidate (w, c, now);
      break;
    }
}

static void
folder_gone (WatchWorker *w, const char *why)
{
  GHashTableIter iter;
  gpointer value;

  if (!w->folder_missing)
    post_fault (w, CP_WATCH_FAULT_FOLDER, w->opts->folder, "%s: the folder %s; waiting for it to come back",
                w->opts->folder, why);
  w->folder_missing = TRUE;
  g_hash_table_iter_init (&iter, w->candidates);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Candidate *c = value;

      if (c->in_flight)
        continue;
      if (!c->done && c->exists)
        post_fault (w, CP_WATCH_FAULT_FILE, c->path, "%s: disappeared before it was scored (with its folder)",
                    c->path);
      g_hash_table_iter_remove (&iter);
    }
}

static void
rescan (WatchWorker *w, gint64 now)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (w->opts->folder, 0, &error);
  g_autoptr (GHashTable) seen = NULL;
  GHashTableIter iter;
  gpointer value;
  const char *name;

  if (dir == NULL)
    {
      g_autofree char *why = g_strdup_printf ("cannot be read (%s)", error->message);
      folder_gone (w, g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? "was removed" : why);
      return;
    }
  if (w->folder_missing)
    {
      w->folder_missing = FALSE;
      post (w, cp_watch_event_new (WATCH_EVENT_FOLDER_BACK));
      post_text (w, WATCH_EVENT_FAULT_CLEARED, CP_WATCH_FAULT_FOLDER, "%s: the folder is back; watching it again",
                 w->opts->folder);
    }
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      Candidate *c;

      if (!eligible_name (name))
        continue;
      path = g_build_filename (w->opts->folder, name, NULL);
      c = get_candidate (w, path, now);
      if (refresh_candidate (w, c, now))
        g_hash_table_add (seen, c->path);
    }
  g_hash_table_iter_init (&iter, w->candidates);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Candidate *c = value;

      if (g_hash_table_contains (seen, c->path) || c->in_flight)
        continue;
      if (!c->done && c->exists)
        post_fault (w, CP_WATCH_FAULT_FILE, c->path, "%s: disappeared before it was scored", c->path);
      g_hash_table_iter_remove (&iter);
    }
}

static gint64
ready_time (WatchWorker *w, const Candidate *c)
{
  if (!c->exists || c->in_flight)
    return G_MAXINT64;
  if (c->done)
    return c->retry_us > 0 ? c->retry_us : G_MAXINT64;
  if (c->complete_hint)
    return c->changed_us;
  if (c->open_for_write)
    return c->changed_us + (gint64) w->opts->open_timeout_ms * 1000;
  return c->changed_us + (gint64) w->opts->settle_ms * 1000;
}

static int
compare_ready (gconstpointer a, gconstpointer b)
{
  const Candidate *x = *(Candidate *const *) a, *y = *(Candidate *const *) b;

  if (x->changed_us != y->changed_us)
    return x->changed_us < y->changed_us ? -1 : 1;
  return strcmp (x->path, y->path);
}

/* ---- model, reference, drift ---------------------------------------------------- */

static CpModelRecord *
describe_model (WatchWorker *w, CpModel *model, const char *hash)
{
  CpModelRecord *m = g_new0 (CpModelRecord, 1);

  m->file_hash = g_strdup (hash);
  m->path = g_canonicalize_filename (w->model_path, NULL);
  m->category = g_strdup (cp_model_get_category (model));
  m->threshold = cp_model_get_threshold (model);
  m->threshold_source = g_strdup (cp_threshold_source_to_string (cp_model_get_threshold_source (model)));
  m->image_size = cp_model_get_image_size (model);
  m->created = g_strdup (cp_model_get_created (model));
  g_ptr_array_add (w->models_used, m);
  return m;
}

static char *
drift_message (WatchWorker *w, const CpDriftResult *r)
{
  g_autofree char *reference = cp_reference_describe (&w->reference);

  switch (r->state)
    {
    case CP_DRIFT_HIGHER:
    case CP_DRIFT_LOWER:
      return g_strdup_printf ("drift: the last %d passed parts score %s than the reference: median %.4g against "
                              "%.4g, %.0f%% above the reference's 90th percentile %.4g (10%% expected), "
                              "Mann-Whitney p = %.2g; %s", r->n_recent,
                              r->state == CP_DRIFT_HIGHER ? "higher" : "lower", r->recent_median,
                              r->reference_median, 100 * r->above_reference_upper, r->reference_upper,
                              r->p_value, reference);
    case CP_DRIFT_STEADY:
      return g_strdup_printf ("no drift: the last %d passed parts have median %.4g against %.4g for the "
                              "reference (p = %.2g); %s", r->n_recent, r->recent_median, r->reference_median,
                              r->p_value, reference);
    case CP_DRIFT_UNKNOWN:
    default:
      return g_strdup_printf ("drift not judged yet: %d passed parts of the %d needed, %d reference scores "
                              "under the threshold; %s", r->n_recent, CP_DRIFT_DEFAULT_MIN_RECENT,
                              r->n_reference, reference);
    }
}

static void
check_drift (WatchWorker *w)
{
  CpDriftOptions opts;
  CpDriftResult r;
  CpError err = { 0 };
  WatchEvent *event;
  double threshold = cp_model_get_threshold (w->model);

  if (w->reference.n == 0)
    return;
  cp_drift_options_init (&opts);
  opts.window = w->opts->drift_window;
  opts.min_recent = MIN (opts.min_recent, opts.window);
  if (cp_drift_test (w->reference.scores, w->reference.n, (const double *) w->window->data, (int) w->window->len,
                     threshold, w->drift_state, &opts, &r, &err) != CP_OK)
    {
      post_fault (w, CP_WATCH_FAULT_DRIFT, w->model_path, "drift check: %s", err.message);
      return;
    }
  event = cp_watch_event_new (WATCH_EVENT_DRIFT);
  event->drift = r;
  event->drift_changed = r.state != w->drift_state;
  event->threshold = threshold;
  event->message = drift_message (w, &r);
  w->drift_state = r.state;
  post (w, event);
}

static void
load_window (WatchWorker *w)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) scores = NULL;

  g_array_set_size (w->window, 0);
  w->drift_state = CP_DRIFT_UNKNOWN;
  if (w->model_record->id <= 0)
    return;
  scores = cp_records_recent_passed_scores (w->records, w->model_record->id, w->opts->drift_window, &error);
  if (scores)
    g_array_append_vals (w->window, scores->data, scores->len);
}

static void
post_model (WatchWorker *w)
{
  WatchEvent *event = cp_watch_event_new (WATCH_EVENT_MODEL);

  event->path = g_strdup (w->model_path);
  event->threshold = cp_model_get_threshold (w->model);
  if (w->reference.n > 0)
    {
      event->reference = g_memdup2 (w->reference.scores, sizeof (double) * w->reference.n);
      event->n_reference = w->reference.n;
      event->reference_source = g_strdup (w->reference.source);
    }
  post (w, event);
}

/* Takes @model (loaded from w->model_path, with file state @state and hash
 * @hash) into use: its record, reference scores and drift window. */
static void
use_model (WatchWorker *w, CpModel *model, const FileState *state, const char *hash)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CpModelRecord) cached = NULL;

  cp_model_free (w->model);
  w->model = model;
  w->model_state = *state;
  w->model_record = describe_model (w, model, hash);
  cached = cp_records_find_model (w->records, hash, NULL);
  if (cached)
    w->model_record->id = cached->id;

  cp_reference_clear (&w->reference);
  if (!cp_reference_find (model, cached, w->opts->data_dir, &w->reference, &error))
    post_fault (w, CP_WATCH_FAULT_DRIFT, w->model_path, "%s; drift is not checked", error->message);
  else if (cached == NULL || cached->n_reference == 0)
    {
      /* Computed now: keep them with the model's row for the next start
       * (best effort: the parts will make the row anyway). */
      if (g_strcmp0 (w->reference.source, CP_REFERENCE_SOURCE_CROSS_VALIDATION) == 0
          && cp_records_ensure_model (w->records, w->model_record, NULL))
        cp_records_set_reference (w->records, w->model_record->id, w->reference.scores, w->reference.n,
                                  w->reference.source, NULL);
    }
  load_window (w);
  post_model (w);
}

static gboolean
same_state (const FileState *a, const FileState *b)
{
  return a->size == b->size && a->mtime_ns == b->mtime_ns && a->ino == b->ino;
}

/* A model file replaced (a refit, a stored threshold, a retraining) is
 * taken into use between batches. */
static void
check_model_file (WatchWorker *w)
{
  FileState now = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *hash = NULL;
  CpModel *model;
  double before;

  if (!stat_file (w->model_path, &now) || same_state (&now, &w->model_state)
      || same_state (&now, &w->bad_model_state))
    return;
  model = cp_model_load (w->model_path, w->opts->device, &error);
  if (model != NULL && isnan (cp_model_get_threshold (model)))
    {
      g_set_error (&error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: no threshold", w->model_path);
      g_clear_pointer (&model, cp_model_free);
    }
  hash = model ? cp_file_sha256 (w->model_path, &error) : NULL;
  if (model == NULL || hash == NULL)
    {
      /* Perhaps still being written by someone: report once per state. */
      w->bad_model_state = now;
      post_fault (w, CP_WATCH_FAULT_MODEL, w->model_path,
                  "%s changed and cannot be loaded (%s); going on with the model loaded before",
                  w->model_path, error->message);
      cp_model_free (model);
      return;
    }
  before = cp_model_get_threshold (w->model);
  use_model (w, model, &now, hash);
  post_text (w, WATCH_EVENT_NOTICE, 0, "%s changed: now scoring with it (threshold %.6g -> %.6g)", w->model_path,
             before, cp_model_get_threshold (model));
  if (w->patch_path && w->patch)
    {
      CpPatchModel *patch = cp_patch_model_load (w->patch_path, w->opts->device, NULL);
      if (patch)
        {
          cp_patch_model_free (w->patch);
          w->patch = patch;
        }
    }
}

/* ---- recording -------------------------------------------------------------------- */

static void
database_fault (WatchWorker *w, const GError *error)
{
  if (w->db_failing && w->db_fault_code == error->code)
    return;
  w->db_failing = TRUE;
  w->db_fault_code = error->code;
  if (w->pending->len == 1)
    post_fault (w, CP_WATCH_FAULT_DATABASE, w->opts->db_path,
                "%s; 1 scored part waits and will be recorded when the database can be written (its file "
                "stays in %s)", error->message, w->opts->folder);
  else
    post_fault (w, CP_WATCH_FAULT_DATABASE, w->opts->db_path,
                "%s; %u scored parts wait and will be recorded when the database can be written (their "
                "files stay in %s)", error->message, w->pending->len, w->opts->folder);
}

/* A recorded part's file goes to its pass or fail folder. */
static void
finish_move (WatchWorker *w, const CpPart *part, Candidate *c, gint64 now)
{
  g_autoptr (GError) error = NULL;

  if (part->final_path == NULL || strcmp (part->final_path, part->file_path) == 0)
    return;
  if (cp_line_move_file (part->file_path, part->final_path, part->content_hash, &error))
    return;
  if (c && c->retry_us == 0)
    post_fault (w, CP_WATCH_FAULT_MOVE, part->file_path, "%s (recorded; the move is tried again)",
                error->message);
  if (c)
    c->retry_us = now + (gint64) w->opts->rescan_ms * 1000;
}

/* Writes the waiting parts, a transaction per model, oldest first. */
static void
flush_pending (WatchWorker *w)
{
  gint64 now = g_get_monotonic_time ();
  guint recorded = 0;
  gboolean any_passed = FALSE;

  while (w->pending->len > 0)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) parts = g_ptr_array_new ();
      CpModelRecord *model = ((PendingPart *) w->pending->pdata[0])->model;
      g_autofree gboolean *already = NULL;
      guint n = 0;

      while (n < w->pending->len && ((PendingPart *) w->pending->pdata[n])->model == model)
        g_ptr_array_add (parts, ((PendingPart *) w->pending->pdata[n++])->part);
      already = g_new0 (gboolean, n);
      if (!cp_records_record_parts (w->records, model, (CpPart *const *) parts->pdata, (int) n, already, &error))
        {
          database_fault (w, error);
          w->next_retry_us = now + (gint64) w->opts->rescan_ms * 1000;
          break;
        }
      for (guint i = 0; i < n; i++)
        {
          CpPart *part = parts->pdata[i];
          Candidate *c = g_hash_table_lookup (w->candidates, part->file_path);
          WatchEvent *event;

          if (c)
            {
              c->in_flight = FALSE;
              c->done = TRUE;
            }
          finish_move (w, part, c, now);
          if (part->verdict == CP_VERDICT_PASS && !already[i] && model == w->model_record)
            {
              g_array_append_val (w->window, part->score);
              any_passed = TRUE;
            }
          event = cp_watch_event_new (WATCH_EVENT_PART);
          event->part = cp_part_copy (part);
          event->already = already[i];
          post (w, event);
        }
      g_ptr_array_remove_range (w->pending, 0, n);
      recorded += n;
    }
  if (w->window->len > (guint) w->opts->drift_window)
    g_array_remove_range (w->window, 0, w->window->len - w->opts->drift_window);
  if (w->pending->len == 0 && w->db_failing && recorded > 0)
    {
      w->db_failing = FALSE;
      post_text (w, WATCH_EVENT_FAULT_CLEARED, CP_WATCH_FAULT_DATABASE,
                 "%s can be written again: the waiting parts are recorded", w->opts->db_path);
    }
  post_waiting (w);
  if (any_passed || (recorded > 0 && w->drift_state == CP_DRIFT_UNKNOWN))
    check_drift (w);
}

/* ---- scoring ------------------------------------------------------------------------ */

typedef struct
{
  Candidate *c;
  CpImage   *image;
  char      *sha256;
  gint64     size;
} Taken;

/* Reads and checks one ready file.  Returns TRUE with @taken filled when
 * it is to be scored. */
static gboolean
take_file (WatchWorker *w, Candidate *c, gint64 now, Taken *taken)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL, *sha = NULL;
  g_autoptr (CpPart) recorded = NULL;
  g_autoptr (CpImage) image = NULL;
  gsize length = 0;

  {
    gboolean changed;

    /* Gone (reported), or changed since it looked complete: not now. */
    if (!refresh_candidate_full (w, c, now, &changed) || changed)
      return FALSE;
  }
  if (!g_file_get_contents (c->path, &data, &length, &error))
    {
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        forget_candidate (w, c, TRUE);
      else
        {
          post_fault (w, CP_WATCH_FAULT_FILE, c->path, "%s: cannot read: %s", c->path, error->message);
          c->done = TRUE;
        }
      return FALSE;
    }
  sha = cp_sha256_hex (data, length);

  recorded = cp_records_find_part (w->records, c->path, sha, &error);
  if (error)
    {
      database_fault (w, error);
      c->done = TRUE;
      c->retry_us = now + (gint64) w->opts->rescan_ms * 1000;
      return FALSE;
    }
  if (recorded)
    {
      /* Recorded before (a restart): only the move may be left to do. */
      gboolean moving = recorded->final_path && strcmp (recorded->final_path, recorded->file_path) != 0;

      c->done = TRUE;
      c->retry_us = 0;
      if (moving)
        {
          g_autoptr (GError) move_error = NULL;

          if (cp_line_move_file (recorded->file_path, recorded->final_path, recorded->content_hash, &move_error))
            {
              WatchEvent *event = cp_watch_event_new (WATCH_EVENT_PART);
              event->part = g_steal_pointer (&recorded);
              event->already = TRUE;
              post (w, event);
            }
          else
            {
              post_fault (w, CP_WATCH_FAULT_MOVE, c->path, "%s (recorded; the move is tried again)",
                          move_error->message);
              c->retry_us = now + (gint64) w->opts->rescan_ms * 1000;
            }
        }
      return FALSE;
    }

  {
    gint64 t0 = g_get_monotonic_time (), c0 = thread_cpu_us ();

    /* The bytes that were hashed are the bytes decoded. */
    cp_image_decode (c->path, (const guint8 *) data, length, &image, &error);
    g_clear_pointer (&data, g_free);
    w->decode_us += g_get_monotonic_time () - t0;
    w->decode_cpu_us += thread_cpu_us () - c0;
  }
  if (image == NULL)
    {
      gboolean changed;

      /* Still being written?  Then it changes, and is taken again. */
      if (!refresh_candidate_full (w, c, g_get_monotonic_time (), &changed) || changed)
        return FALSE;
      post_fault (w, CP_WATCH_FAULT_FILE, c->path, "%s (left where it is; taken again if it changes)",
                  error->message);
      c->done = TRUE;
      return FALSE;
    }
  {
    gboolean changed;

    if (!refresh_candidate_full (w, c, g_get_monotonic_time (), &changed) || changed)
      return FALSE;
  }
  taken->c = c;
  taken->image = g_steal_pointer (&image);
  taken->sha256 = g_steal_pointer (&sha);
  taken->size = c->size;
  return TRUE;
}

static void
add_heatmap (WatchWorker *w, CpPart *part, const CpImage *image)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL, *path = NULL;
  CpHeatmap heatmap;

  if (w->patch == NULL || w->opts->heatmaps == CP_HEATMAPS_NONE
      || (w->opts->heatmaps == CP_HEATMAPS_FAILED && part->verdict != CP_VERDICT_FAIL))
    return;
  {
    gint64 t0 = g_get_monotonic_time (), c0 = thread_cpu_us ();
    gboolean made = cp_patch_model_heatmap (w->patch, image, &heatmap, NULL, &error);

    w->heatmap_us += g_get_monotonic_time () - t0;
    w->heatmap_cpu_us += thread_cpu_us () - c0;
    w->heatmaps++;
    if (!made)
      {
        post_fault (w, CP_WATCH_FAULT_HEATMAP, part->file_path, "%s: no heatmap: %s", part->file_path,
                    error->message);
        return;
      }
  }
  part->heatmap_max = heatmap.score;
  name = g_strdup_printf ("%.16s.png", part->content_hash);
  path = g_build_filename (w->heatmap_dir, name, NULL);
  if (g_mkdir_with_parents (w->heatmap_dir, 0755) != 0
      || !cp_heatmap_write_png (&heatmap, path, &error))
    post_fault (w, CP_WATCH_FAULT_HEATMAP, part->file_path, "%s: heatmap not written to %s: %s",
                part->file_path, path, error ? error->message : g_strerror (errno));
  else
    part->heatmap_path = g_steal_pointer (&path);
  cp_heatmap_clear (&heatmap);
}

/* Scores the ready files in @batch; FALSE on a failure of the model or
 * device, which ends the watcher. */
static gboolean
score_batch (WatchWorker *w, GPtrArray *batch, gint64 now, GError **error)
{
  g_autofree Taken *taken = g_new0 (Taken, batch->len);
  g_autofree const CpImage **images = g_new0 (const CpImage *, batch->len);
  g_autofree double *scores = NULL;
  int n = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < batch->len; i++)
    if (take_file (w, batch->pdata[i], now, &taken[n]))
      {
        images[n] = taken[n].image;
        n++;
      }
  if (n == 0)
    return TRUE;
  scores = g_new (double, n);
  {
    gint64 t0 = g_get_monotonic_time (), c0 = thread_cpu_us ();

    if (!cp_model_score_images (w->model, images, n, scores, NULL, error))
      ok = FALSE;
    w->score_us += g_get_monotonic_time () - t0;
    w->score_cpu_us += thread_cpu_us () - c0;
    w->parts_scored += n;
  }
  for (int i = 0; ok && i < n; i++)
    {
      const char *moving_to = NULL;
      PendingPart *p = g_new0 (PendingPart, 1);
      CpPart *part = cp_part_new ();

      part->time_us = g_get_real_time ();
      part->file_path = g_strdup (taken[i].c->path);
      part->content_hash = g_strdup (taken[i].sha256);
      part->file_size = taken[i].size;
      part->category = g_strdup (cp_model_get_category (w->model));
      part->score = scores[i];
      part->threshold = cp_model_get_threshold (w->model);
      part->verdict = cp_model_is_anomalous (w->model, scores[i]) ? CP_VERDICT_FAIL : CP_VERDICT_PASS;
      if (w->opts->pass_dir)
        moving_to = part->verdict == CP_VERDICT_PASS ? w->opts->pass_dir : w->opts->fail_dir;
      part->final_path = moving_to ? cp_line_move_target (part->file_path, moving_to, part->content_hash)
                                   : g_strdup (part->file_path);
      add_heatmap (w, part, taken[i].image);
      p->part = part;
      p->model = w->model_record;
      g_ptr_array_add (w->pending, p);
      taken[i].c->in_flight = TRUE;
    }
  for (int i = 0; i < n; i++)
    {
      cp_image_free (taken[i].image);
      g_free (taken[i].sha256);
    }
  if (ok)
    flush_pending (w);
  return ok;
}

/* ---- the loop ------------------------------------------------------------------------ */

static gboolean
start_up (WatchWorker *w, GError **error)
{
  g_autofree char *hash = NULL;
  FileState state = { 0 };
  CpModel *model;

  w->records = cp_records_open (w->opts->db_path, CP_RECORDS_OPEN_DEFAULT, 2000, error);
  if (w->records == NULL)
    return FALSE;
  if (!stat_file (w->model_path, &state))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: no model file (train the category "
                   "first)", w->model_path);
      return FALSE;
    }
  model = cp_model_load (w->model_path, w->opts->device, error);
  if (model == NULL)
    return FALSE;
  if (isnan (cp_model_get_threshold (model)))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: the model has no pass/fail threshold; store one with 'cutpaste threshold --set'",
                   w->model_path);
      cp_model_free (model);
      return FALSE;
    }
  hash = cp_file_sha256 (w->model_path, error);
  if (hash == NULL)
    {
      cp_model_free (model);
      return FALSE;
    }
  if (w->opts->heatmaps != CP_HEATMAPS_NONE)
    {
      if (g_file_test (w->patch_path, G_FILE_TEST_EXISTS))
        {
          g_autoptr (GError) local = NULL;

          w->patch = cp_patch_model_load (w->patch_path, w->opts->device, &local);
          if (w->patch == NULL)
            post_fault (w, CP_WATCH_FAULT_HEATMAP, w->patch_path, "%s; parts are recorded without heatmaps",
                        local->message);
        }
      else
        post_text (w, WATCH_EVENT_NOTICE, 0, "no patch model %s: parts are recorded without heatmaps "
                   "('cutpaste train --localize' makes one)", w->patch_path);
    }
  use_model (w, model, &state, hash);
  post_text (w, WATCH_EVENT_STARTED, 0, "watching %s with %s (category %s, threshold %.6g, %s)", w->opts->folder,
             w->model_path, cp_model_get_category (model), cp_model_get_threshold (model),
             cp_model_get_device_name (model));
  return TRUE;
}

static gint64
next_deadline (WatchWorker *w, gint64 now)
{
  gint64 deadline = w->next_rescan_us;
  GHashTableIter iter;
  gpointer value;

  if (w->pending->len > 0)
    deadline = MIN (deadline, w->next_retry_us);
  if (w->pending->len >= (guint) w->opts->max_pending)
    return deadline;
  g_hash_table_iter_init (&iter, w->candidates);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    deadline = MIN (deadline, ready_time (w, value));
  return MAX (deadline, now);
}

static void
update_idle (WatchWorker *w, gint64 now)
{
  gboolean idle = w->pending->len == 0;
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, w->candidates);
  while (idle && g_hash_table_iter_next (&iter, NULL, &value))
    {
      Candidate *c = value;
      if (c->exists && (!c->done || c->retry_us > 0 || c->in_flight))
        idle = FALSE;
    }
  if (idle != w->idle)
    {
      w->idle = idle;
      post (w, cp_watch_event_new (idle ? WATCH_EVENT_IDLE : WATCH_EVENT_BUSY));
    }
}

void
cp_watch_worker_run (WatchWorker *w)
{
  g_autoptr (GError) error = NULL;
  WatchEvent *stopped;

  if (!start_up (w, &error))
    goto out;
  w->next_rescan_us = 0;
  while (!w->stopping)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 deadline = next_deadline (w, now);
      WatchMsg *msg = g_async_queue_timeout_pop (w->queue, (guint64) MAX (deadline - now, 0));
      gint64 busy_since = g_get_monotonic_time (), busy_cpu_since = thread_cpu_us ();

      while (msg != NULL)
        {
          CP_TSAN_ACQUIRE (msg);
          now = g_get_monotonic_time ();
          if (msg->type == WATCH_MSG_STOP)
            w->stopping = TRUE;
          else if (msg->type == WATCH_MSG_FOLDER_GONE)
            w->next_rescan_us = now;
          else
            handle_file_event (w, msg, now);
          cp_watch_msg_free (msg);
          msg = g_async_queue_try_pop (w->queue);
        }
      if (w->stopping)
        break;
      now = g_get_monotonic_time ();
      if (now >= w->next_rescan_us)
        {
          rescan (w, now);
          w->next_rescan_us = now + (gint64) w->opts->rescan_ms * 1000;
        }
      if (w->pending->len > 0 && now >= w->next_retry_us)
        flush_pending (w);
      while (w->pending->len < (guint) w->opts->max_pending)
        {
          g_autoptr (GPtrArray) ready = g_ptr_array_new ();
          GHashTableIter iter;
          gpointer value;

          now = g_get_monotonic_time ();
          g_hash_table_iter_init (&iter, w->candidates);
          while (g_hash_table_iter_next (&iter, NULL, &value))
            if (ready_time (w, value) <= now)
              g_ptr_array_add (ready, value);
          if (ready->len == 0)
            break;
          g_ptr_array_sort (ready, compare_ready);
          if (ready->len > (guint) w->opts->batch)
            g_ptr_array_set_size (ready, w->opts->batch);
          for (guint i = 0; i < ready->len; i++)
            ((Candidate *) ready->pdata[i])->retry_us = 0;
          check_model_file (w);
          if (!score_batch (w, ready, now, &error))
            goto out;
          /* Monitor events that arrived meanwhile first. */
          if (g_async_queue_length (w->queue) > 0)
            break;
        }
      update_idle (w, g_get_monotonic_time ());
      w->busy_us += g_get_monotonic_time () - busy_since;
      w->busy_cpu_us += thread_cpu_us () - busy_cpu_since;
    }

  /* Stopping: one last try for the waiting parts. */
  if (w->pending->len > 0)
    {
      flush_pending (w);
      if (w->pending->len > 0)
        post_fault (w, CP_WATCH_FAULT_DATABASE, w->opts->db_path,
                    "stopped with %u scored part%s not recorded (%s could not be written); their files stay "
                    "in %s and are scored again at the next start", w->pending->len,
                    w->pending->len == 1 ? "" : "s", w->opts->db_path, w->opts->folder);
    }

  if (w->parts_scored > 0)
    {
      g_autofree char *heatmaps = w->heatmaps == 0 ? g_strdup ("")
        : g_strdup_printf (", %" G_GINT64_FORMAT " heatmaps %.0f ms each", w->heatmaps,
                           w->heatmap_us / 1e3 / w->heatmaps);

      post_text (w, WATCH_EVENT_NOTICE, 0, "%" G_GINT64_FORMAT " parts scored: decoding %.2f ms and scoring %.2f ms "
                 "a part (as predict)%s; all other work of the watcher %.2f ms a part, %.2f ms of it on the CPU "
                 "(reading and hashing, database, moves, monitor and rescans)", w->parts_scored,
                 w->decode_us / 1e3 / w->parts_scored, w->score_us / 1e3 / w->parts_scored, heatmaps,
                 (w->busy_us - w->decode_us - w->score_us - w->heatmap_us) / 1e3 / w->parts_scored,
                 (w->busy_cpu_us - w->decode_cpu_us - w->score_cpu_us - w->heatmap_cpu_us) / 1e3
                 / w->parts_scored);
    }

out:
  stopped = cp_watch_event_new (WATCH_EVENT_STOPPED);
  stopped->error = g_steal_pointer (&error);
  post (w, stopped);
}
