/* weights.h: ImageNet ResNet-18 weights, found on the machine, imported or
 * downloaded, for training to start from (SPEC section 3, docs/weights.md).
 *
 * Where weights are looked for, in this order of preference:
 *  1. our own cache, $XDG_CACHE_HOME/cutpaste/weights/ (default
 *     ~/.cache/cutpaste/weights/): what `cutpaste weights import` and
 *     `cutpaste weights fetch` put there, newest first;
 *  2. PyTorch's hub cache, $TORCH_HOME/hub/checkpoints/resnet18-*.pth
 *     ($TORCH_HOME defaults to $XDG_CACHE_HOME/torch, as torch.hub has it);
 *  3. the Hugging Face cache, $HF_HUB_CACHE (default $HF_HOME/hub, $HF_HOME
 *     defaulting to $XDG_CACHE_HOME/huggingface):
 *     models--timm--resnet18.<tag>/snapshots/<rev>/model.safetensors,
 *     resnet18.tv_in1k first (torchvision's weights, those SPEC 8 quotes).
 * Each file is checked before use: a torch.save archive or safetensors
 * file (by content), holding ResNet-18's backbone under torchvision's names
 * with exact shapes and finite values (cp_imagenet_weights_check), and,
 * when its name carries a hash as torch.hub names files
 * ("resnet18-f37072fd.pth"), a SHA-256 that starts with that hash.  The
 * first valid file is the one training uses.
 *
 * For the application: every function here may block (reading and hashing
 * a 45 MB file takes a fraction of a second; a download takes as long as
 * the network needs).  The *_async variants run the same work on a worker
 * thread (GTask) and call back on the thread-default main context of the
 * caller; so does a fetch's progress callback.  Cancelling the
 * GCancellable stops a fetch or an import with G_IO_ERROR_CANCELLED and
 * leaves nothing behind.  Other errors are in CP_PIPELINE_ERROR: _MODEL
 * for a file that is not valid weights, _IO for files and HTTP, or GIO's
 * and libsoup's own (network, TLS, proxy) with the URL in the message.
 *
 * A typical first run: cp_weights_status_async () (the banner shows when
 * no entry is valid: "Start from ImageNet weights (45 MB)?"), then
 * cp_weights_fetch_async () with cp_weights_default_url () when the user
 * agrees, or cp_weights_import_async () for "Use weights file...".  The
 * Preferences row shows cp_weights_status ()'s first valid entry (its
 * path and source name), or that training starts from scratch.
 */
#pragma once

#include <gio/gio.h>

#include "core/nn/network.h"
#include "pipeline-error.h"

G_BEGIN_DECLS

typedef enum
{
  CP_WEIGHTS_SOURCE_CUTPASTE,       /* our cache (imported or fetched) */
  CP_WEIGHTS_SOURCE_TORCH_HUB,      /* $TORCH_HOME/hub/checkpoints */
  CP_WEIGHTS_SOURCE_HUGGING_FACE,   /* the Hugging Face hub cache */
  CP_WEIGHTS_SOURCE_FILE,           /* a file the user named */
} CpWeightsSource;

/* "cutpaste cache", "torch hub", "Hugging Face", "file" (for messages; the
 * application translates its own labels). */
const char *cp_weights_source_to_string (CpWeightsSource source);

typedef struct
{
  char           *path;
  CpWeightsSource source;
  gboolean        checked;    /* FALSE: only found (cp_weights_find) */
  gboolean        valid;      /* checked and good to use */
  char           *problem;    /* why not valid (checked files only), else NULL */
  char           *sha256;     /* lowercase hex of the whole file, when it could be read */
  guint64         size;       /* bytes */
} CpWeightsInfo;

void           cp_weights_info_free    (CpWeightsInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpWeightsInfo, cp_weights_info_free)

/* The cache folder: $XDG_CACHE_HOME/cutpaste/weights (newly allocated). */
char          *cp_weights_cache_dir    (void);
/* The folders searched, each with its source, for messages: a
 * NULL-terminated array of newly allocated strings "torch hub: PATH". */
GStrv          cp_weights_search_paths (void);

/* Files that look like weights, in order of preference, unchecked
 * (CpWeightsInfo *, checked FALSE).  Fast: no file is read. */
GPtrArray     *cp_weights_find         (void);
/* Reads, hashes and checks @path (always returns an info; valid or with
 * its problem).  Cancelling stops it with problem "cancelled". */
CpWeightsInfo *cp_weights_check        (const char      *path,
                                        CpWeightsSource  source,
                                        GCancellable    *cancellable);
/* cp_weights_find, then each checked: what `cutpaste weights status`
 * shows.  The first valid entry is the one training uses. */
GPtrArray     *cp_weights_status       (GCancellable    *cancellable);
/* The entry of a cp_weights_status () array that training uses (the first
 * valid one), or NULL: what the Preferences row shows. */
const CpWeightsInfo *cp_weights_status_in_use (GPtrArray *status);
/* The first valid entry of cp_weights_status, or NULL (checks files only
 * until it finds one). */
CpWeightsInfo *cp_weights_find_usable  (GCancellable    *cancellable);

/* Checks @path, then copies it into the cache as resnet18-<first 8 hex
 * digits of its SHA-256>.pth or .safetensors (by content), through a
 * temporary file in the cache renamed only once complete and fsynced.
 * Returns the path in the cache.  A file already there is not copied
 * again. */
char          *cp_weights_import       (const char      *path,
                                        GCancellable    *cancellable,
                                        GError         **error);

/* Where `weights fetch` downloads from: $CUTPASTE_WEIGHTS_URL when set,
 * else torchvision's https://download.pytorch.org/models/resnet18-f37072fd.pth. */
const char    *cp_weights_default_url  (void);

/* Progress of a download: @received bytes of @total (0 when the server
 * did not say). */
typedef void (*CpWeightsProgressFunc) (guint64  received,
                                       guint64  total,
                                       gpointer user_data);

/* Downloads @url (NULL: cp_weights_default_url ()) with libsoup, as
 * every GNOME application does (system proxy settings, TLS through
 * glib-networking), into a temporary file in the cache; checks it (the
 * SHA-256 must start with the hash in the URL's file name when it has
 * one) and only then renames it to its name in the cache.  A cut
 * connection, an HTTP error, a file that is not valid weights or a cancel
 * leave nothing in the cache.  @progress (may be NULL) is called on this
 * thread, at most 10 times a second and once at the end.  Returns the
 * path in the cache.  Without libsoup at build time it fails with
 * CP_PIPELINE_ERROR_FAILED saying so. */
char          *cp_weights_fetch        (const char            *url,
                                        CpWeightsProgressFunc  progress,
                                        gpointer               progress_data,
                                        GCancellable          *cancellable,
                                        GError               **error);

/* Asynchronous forms.  @progress of a fetch is called on the caller's
 * thread-default main context, and never after @callback. */
void           cp_weights_status_async  (GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
GPtrArray     *cp_weights_status_finish (GAsyncResult          *result,
                                         GError               **error);
void           cp_weights_import_async  (const char            *path,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
char          *cp_weights_import_finish (GAsyncResult          *result,
                                         GError               **error);
void           cp_weights_fetch_async   (const char            *url,
                                         CpWeightsProgressFunc  progress,
                                         gpointer               progress_data,
                                         GDestroyNotify         progress_data_free,
                                         GCancellable          *cancellable,
                                         GAsyncReadyCallback    callback,
                                         gpointer               user_data);
char          *cp_weights_fetch_finish  (GAsyncResult          *result,
                                         GError               **error);

/* What `train --weights` means, resolved for a run:
 *  - NULL or "auto": the first valid weights found, or none (train from
 *    scratch);
 *  - "none": none, from scratch;
 *  - anything else: that file, as it is (a torchvision or timm file, or a
 *    CutPaste model or checkpoint of the reference, which
 *    cp_weights_load_backbone also reads).
 * *path receives the file or NULL (scratch).  With "auto", *checked (when
 * @checked is not NULL) receives the CpWeightsInfo of every file checked,
 * in order: those found invalid, then the one chosen (valid) if any; for
 * the other choices, an empty array.  Fails only for a named file that
 * does not exist. */
gboolean       cp_weights_resolve      (const char      *choice,
                                        char           **path,
                                        GPtrArray      **checked,
                                        GError         **error);

/* Loads the backbone of @net from @path (torch.save or safetensors, by
 * torchvision's or the reference's names; see cp_network_load) and
 * returns the file's SHA-256 in *sha256 (lowercase hex), which a model's
 * metadata records as `backbone_init`. */
gboolean       cp_weights_load_backbone (CpNetwork      *net,
                                         const char     *path,
                                         char          **sha256,
                                         GError        **error);

G_END_DECLS
