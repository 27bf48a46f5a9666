/* watcher.h: a hot folder on the line.  Every image that arrives in the
 * folder is scored with the category's model, recorded once in the line
 * database, optionally moved into a pass or a fail folder, and the scores
 * of the parts that pass are checked for drift.  `cutpaste watch` and the
 * application's Line page both run a CpWatcher; the page only displays
 * what its signals report and what records.h reads back.
 *
 * Scoring is the engine's own: cp_model_load () and cp_model_score_images ()
 * (pipeline/model.h), the path `cutpaste predict` scores by, and heatmaps
 * from the patch model beside the image model (pipeline/localize.h), so a
 * change of what a model's score is reaches the line unchanged.
 *
 * When is a file complete?  A GFileMonitor reports files as they are
 * created, written, closed or moved in; a rescan of the folder every
 * rescan_ms finds what the monitor missed (network file systems, events
 * lost, files there before the start).  A file is taken:
 *  - at once when the monitor saw it closed after writing or moved in,
 *    with the size and time the close left;
 *  - after settle_ms without a change in size or time when it was found
 *    by a rescan (no monitor event says it is still open);
 *  - after open_timeout_ms without a change when the monitor saw it
 *    created or written and never closed (a writer that keeps it open).
 * A file that changes after it was taken is taken again: one that failed
 * to decode while still being written is scored once it is complete.
 * Hidden files (".name") and the temporary names writers use (*.tmp,
 * *.part, *.partial, *.crdownload, *.swp, *~) are ignored; so are
 * folders.
 *
 * Exactly once: a part is known by (path where it arrived, SHA-256 of its
 * bytes).  Before scoring, the worker looks the pair up; a part already
 * recorded (a restart after a crash, a kill -9) is not scored again, only
 * moved on when that was still to do.  The row is written in one
 * transaction before the file is moved, so a crash leaves either no row
 * and the file in the folder (scored again at the restart), or the row
 * and the file in either place (the move is finished at the restart).
 *
 * Faults never stop the watcher, and each is reported once (per file and
 * state of the file, or per cause) through "fault":
 *  - a file that disappears before it is scored; one that is not an image,
 *    empty, truncated or unreadable (it stays where it is, and is taken
 *    again if it changes);
 *  - the folder removed (the watcher waits for it to come back);
 *  - the database locked by another process, the disk full, the database
 *    migrated by a newer program: scored parts wait in memory (at most
 *    max_pending; then no new file is taken until they are written) and
 *    their files stay in the folder; writing is tried again every
 *    rescan_ms, and "fault-cleared" reports when it succeeds.  A watcher
 *    stopped (or killed) with parts waiting leaves their files in the
 *    folder, to be scored at the next start;
 *  - a move that fails (the part stays recorded; the move is tried again);
 *  - a model file replaced by one that cannot be loaded (the watcher goes
 *    on with the model it has; a model file that changes and loads, as
 *    after `cutpaste refit`, is taken into use between two batches).
 *
 * Threads: the folder is watched on the thread-default main context of
 * the thread that calls cp_watcher_start (); decoding, scoring, heatmaps,
 * database writes and moves run on a worker thread of the watcher, which
 * owns its own model and database connection.  Signals are emitted on the
 * main context, so a GTK page can update its widgets in the handlers.  A
 * running watcher keeps a reference to itself until "stopped".
 */
#pragma once

#include <gio/gio.h>

#include "core/density/drift.h"
#include "records.h"

G_BEGIN_DECLS

#define CP_TYPE_WATCHER (cp_watcher_get_type ())
G_DECLARE_FINAL_TYPE (CpWatcher, cp_watcher, CP, WATCHER, GObject)

typedef enum
{
  CP_HEATMAPS_NONE,     /* no heatmaps */
  CP_HEATMAPS_FAILED,   /* heatmaps of failed parts (when a patch model exists) */
  CP_HEATMAPS_ALL,      /* every part: seconds per part on a CPU */
} CpHeatmapPolicy;

typedef struct
{
  const char     *model_dir;       /* MODEL_DIR/<category>.safetensors (and .patch.safetensors) */
  const char     *category;
  const char     *folder;          /* the hot folder */
  const char     *db_path;         /* the line database (made when missing) */
  const char     *pass_dir;        /* both or neither: recorded parts are moved there by verdict */
  const char     *fail_dir;
  const char     *data_dir;        /* dataset root for drift reference scores (NULL: the model's) */
  const char     *device;          /* "auto", "cpu", "cuda" (NULL: "auto") */
  CpHeatmapPolicy heatmaps;        /* CP_HEATMAPS_FAILED */
  const char     *heatmap_dir;     /* overlays; NULL: "<db_path>.heatmaps" */
  int             settle_ms;       /* 1000 */
  int             rescan_ms;       /* 1000 */
  int             open_timeout_ms; /* 10000 */
  int             batch;           /* parts scored together (16) */
  int             max_pending;     /* scored parts waiting for the database (256) */
  int             drift_window;    /* CP_DRIFT_DEFAULT_WINDOW */
} CpWatcherOptions;

void cp_watcher_options_init (CpWatcherOptions *options);

typedef enum
{
  CP_WATCH_FAULT_FILE,       /* a file could not be scored */
  CP_WATCH_FAULT_FOLDER,     /* the hot folder is missing or unreadable */
  CP_WATCH_FAULT_DATABASE,   /* parts cannot be recorded now; they wait */
  CP_WATCH_FAULT_MOVE,       /* a recorded part could not be moved */
  CP_WATCH_FAULT_MODEL,      /* a changed model file cannot be loaded */
  CP_WATCH_FAULT_HEATMAP,    /* a heatmap could not be made or written */
  CP_WATCH_FAULT_DRIFT,      /* no reference scores: drift is not checked */
} CpWatchFault;

/* "file", "folder", "database", "move", "model", "heatmap", "drift". */
const char *cp_watch_fault_to_string (CpWatchFault fault);

/* The drift check after the latest batch. */
typedef struct
{
  CpDriftState  state;
  CpDriftResult result;          /* medians, 90th percentiles, p-value, ... */
  double        threshold;       /* of the model in use */
  const char   *reference_source; /* "calibration", "cross-validation", NULL when none */
  int           n_reference;
  const char   *message;         /* one line for people */
} CpWatchDrift;

typedef struct
{
  gint64 recorded;    /* parts recorded by this watcher */
  gint64 passed;      /* verdict at scoring time */
  gint64 failed;
  gint64 waiting;     /* scored, waiting for the database */
  gint64 faults;      /* faults reported */
} CpWatchCounts;

/* Checks @options (folder, pass/fail folders, model file present) and
 * opens the database once, so that a database of a newer schema or of
 * another program is refused here, before anything runs. */
CpWatcher  *cp_watcher_new          (const CpWatcherOptions *options,
                                     GError                **error);
/* Starts watching: the worker loads the model (and the patch model),
 * finds the drift reference (seconds when it is computed), then emits
 * "started" and takes files.  A failure there ends in "stopped" with the
 * error. */
gboolean    cp_watcher_start        (CpWatcher *watcher,
                                     GError   **error);
/* Asks the worker to stop after the batch in progress (parts waiting for
 * the database get one last try); "stopped" follows. */
void        cp_watcher_stop         (CpWatcher *watcher);
gboolean    cp_watcher_is_running   (CpWatcher *watcher);
/* TRUE when nothing is waiting to be scored or recorded and the worker
 * has nothing to do (scripts and tests use it to know they are done). */
gboolean    cp_watcher_is_idle      (CpWatcher *watcher);
void        cp_watcher_get_counts   (CpWatcher *watcher,
                                     CpWatchCounts *counts);
/* The latest drift check (NULL before the first). */
const CpWatchDrift *cp_watcher_get_drift (CpWatcher *watcher);
/* The reference scores the drift check uses (NULL before "started" or
 * when there are none), for a chart beside the recent scores. */
const double *cp_watcher_get_reference (CpWatcher  *watcher,
                                        int        *n,
                                        const char **source);
/* The model file in use and its threshold (NaN before "started"). */
const char *cp_watcher_get_model_path (CpWatcher *watcher);
double      cp_watcher_get_threshold  (CpWatcher *watcher);
const char *cp_watcher_get_db_path    (CpWatcher *watcher);

/* Signals (on the main context of the thread that called
 * cp_watcher_start ()):
 *
 * "started" (CpWatcher *, const char *description)
 *     The model is loaded, the reference known; files are being taken.
 * "part-recorded" (CpWatcher *, const CpPart *part, gboolean already)
 *     A part was recorded (already == FALSE), or a part recorded before
 *     this start was found and moved on (already == TRUE).  @part is
 *     valid during the emission (cp_part_copy () to keep it).
 * "fault" (CpWatcher *, CpWatchFault kind, const char *path, const char *message)
 *     Once per fault; @path is the file or folder at fault, @message
 *     names it too.
 * "fault-cleared" (CpWatcher *, CpWatchFault kind, const char *message)
 *     A database fault is over (the waiting parts are recorded), the
 *     folder is back, ...
 * "drift-changed" (CpWatcher *, const CpWatchDrift *drift)
 *     The drift state changed (unknown, steady, higher, lower).
 * "notice" (CpWatcher *, const char *message)
 *     Something to show that is not a fault (a model reloaded, ...).
 * "stopped" (CpWatcher *, const GError *error)
 *     The worker has ended; @error is NULL after cp_watcher_stop (), else
 *     why it could not go on (the model could not be loaded, ...).
 */

G_END_DECLS
