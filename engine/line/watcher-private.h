/* watcher-private.h: what the watcher's main-thread side (watcher.c) and
 * its worker thread (watch-worker.c) pass each other. */
#pragma once

#include "watcher.h"

G_BEGIN_DECLS

/* Main thread -> worker. */
typedef enum
{
  WATCH_MSG_FILE,          /* a monitor event about a file in the folder */
  WATCH_MSG_FOLDER_GONE,   /* the monitor saw the folder itself deleted */
  WATCH_MSG_STOP,
} WatchMsgType;

typedef struct
{
  WatchMsgType      type;
  GFileMonitorEvent event;
  char             *path;    /* the file (WATCH_MSG_FILE) */
  char             *other;   /* the new name of a rename, or NULL */
} WatchMsg;

void cp_watch_msg_free (WatchMsg *msg);

/* Worker -> main thread. */
typedef enum
{
  WATCH_EVENT_STARTED,
  WATCH_EVENT_MODEL,         /* a model (and reference) is in use: threshold, reference */
  WATCH_EVENT_PART,
  WATCH_EVENT_FAULT,
  WATCH_EVENT_FAULT_CLEARED,
  WATCH_EVENT_DRIFT,
  WATCH_EVENT_NOTICE,
  WATCH_EVENT_IDLE,          /* nothing to do */
  WATCH_EVENT_BUSY,          /* something to do again */
  WATCH_EVENT_FOLDER_BACK,   /* the folder exists again: watch it anew */
  WATCH_EVENT_WAITING,       /* the number of parts waiting for the database changed */
  WATCH_EVENT_STOPPED,
} WatchEventType;

typedef struct
{
  WatchEventType type;
  CpPart        *part;            /* PART */
  gboolean       already;         /* PART */
  CpWatchFault   fault;           /* FAULT, FAULT_CLEARED */
  char          *path;            /* FAULT; MODEL: the model file */
  char          *message;         /* FAULT, FAULT_CLEARED, NOTICE, STARTED, DRIFT */
  CpDriftResult  drift;           /* DRIFT */
  gboolean       drift_changed;   /* DRIFT */
  double         threshold;       /* MODEL, DRIFT */
  double        *reference;       /* MODEL: the reference scores (or NULL) */
  int            n_reference;
  char          *reference_source;
  gint64         waiting;         /* WAITING */
  GError        *error;           /* STOPPED */
} WatchEvent;

WatchEvent *cp_watch_event_new  (WatchEventType type);
void        cp_watch_event_free (WatchEvent *event);

/* Called on the worker thread to hand @event (ownership passes) to the
 * main thread. */
typedef void (*WatchPostFunc) (WatchEvent *event, gpointer user_data);

typedef struct _WatchWorker WatchWorker;

/* @options (and its strings) must outlive the worker. */
WatchWorker *cp_watch_worker_new  (const CpWatcherOptions *options,
                                   const char             *model_path,
                                   const char             *patch_path,
                                   const char             *heatmap_dir,
                                   WatchPostFunc           post,
                                   gpointer                user_data);
/* The thread body: returns when stopped or on a fatal error (posted as
 * WATCH_EVENT_STOPPED, the last event). */
void         cp_watch_worker_run  (WatchWorker *worker);
/* Any thread: queues @msg (ownership passes). */
void         cp_watch_worker_send (WatchWorker *worker,
                                   WatchMsg    *msg);
void         cp_watch_worker_free (WatchWorker *worker);

G_END_DECLS
