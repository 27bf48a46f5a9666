/* serve-registry.h: the models a scoring service serves, one per category,
 * reloaded when their files change.
 *
 * The folder holds what `cutpaste train` writes: <category>.safetensors
 * and, for heatmaps, <category>.patch.safetensors.  Hidden files (the
 * atomic writer's temporary files, training checkpoints) are ignored.
 *
 * A CpModel (and a CpPatchModel) is used from one thread at a time, so
 * each served model holds one loaded instance per worker thread: worker w
 * uses instance w and never waits for another worker.  The instances of a
 * file are loaded together into a CpServeModel, which is reference
 * counted: a reload builds a new one off to the side and swaps it into the
 * table under a lock, and a request that took the old one finishes on it;
 * the old one is freed when its last request lets go.
 *
 * A file is loaded again when its identity changes (device, inode, size,
 * modification time; a rename over it changes the inode).  Its identity
 * is read before and after loading, and a load that saw the file change
 * is thrown away and tried at the next scan, so the hash and the weights
 * always come from the same file.  A file that fails to load is reported
 * once and retried only once it changes; the model it was to replace
 * stays in service.
 */
#pragma once

#include <glib.h>

#include "pipeline/model.h"
#include "pipeline/localize.h"

G_BEGIN_DECLS

typedef struct
{
  char          *category;
  char          *path;          /* the image model's file */
  char          *sha256;        /* of the file's bytes, lowercase hex */
  char          *patch_path;    /* NULL without a patch model */
  char          *patch_sha256;
  int            n_instances;
  CpModel      **models;        /* [n_instances] */
  CpPatchModel **patches;       /* [n_instances], or NULL without a patch model */
  char          *patch_error;   /* why a patch file beside the model did not load, or NULL */
  char          *info_json;     /* the object GET /v1/models lists for it */
  gint64         loaded_at;     /* g_get_real_time () */
  gint           ref_count;
} CpServeModel;

CpServeModel *cp_serve_model_ref   (CpServeModel *model);
void          cp_serve_model_unref (CpServeModel *model);

typedef struct _CpServeRegistry CpServeRegistry;

/* Scans @model_dir once (see cp_serve_registry_scan).  @n_instances is the
 * number of worker threads; @device is "auto", "cpu" or "cuda".  NULL with
 * @error when the folder cannot be read. */
CpServeRegistry *cp_serve_registry_new   (const char *model_dir,
                                          int         n_instances,
                                          const char *device,
                                          GError    **error);
/* Stops the watch thread and drops the table's references. */
void             cp_serve_registry_free  (CpServeRegistry *registry);

/* Loads new and changed files, drops models whose file is gone.  Loading
 * happens outside the lock: requests go on meanwhile.  Messages (loaded,
 * removed, failed) go to stderr.  Returns how many models changed. */
int              cp_serve_registry_scan  (CpServeRegistry *registry);

/* Scans every @interval_ms milliseconds on a thread of its own until
 * cp_serve_registry_free (): polling rather than inotify, so that a model
 * folder on NFS (shared by cluster jobs) is followed too. */
void             cp_serve_registry_watch (CpServeRegistry *registry,
                                          guint            interval_ms);

/* The model serving @category, referenced (release with
 * cp_serve_model_unref), or NULL. */
CpServeModel    *cp_serve_registry_acquire (CpServeRegistry *registry,
                                            const char      *category);

int              cp_serve_registry_count   (CpServeRegistry *registry);
/* Models loaded or replaced since start (the first scan included), and
 * files that failed to load. */
guint64          cp_serve_registry_loads         (CpServeRegistry *registry);
guint64          cp_serve_registry_load_failures (CpServeRegistry *registry);

/* {"models": [...], "errors": [{"file": ..., "error": ...}]}: the body of
 * GET /v1/models, newly allocated. */
char            *cp_serve_registry_list_json (CpServeRegistry *registry);

G_END_DECLS
