/* good-set.h: adding images to a model's good set ("Mark as good",
 * `cutpaste refit --add-good`) and taking them out again, each followed by
 * the refit of refit.h.
 *
 * Where the good set is: a model's good set is DATA_DIR/CATEGORY/train/good
 * of the dataset it was trained on.  Training records the dataset root,
 * absolute, in the model's metadata as data_dir (and every refit writes
 * it back); a model trained before that key existed, or whose dataset has
 * moved, needs the root given once (request->data_dir, `--data-dir`), and
 * the refit then records it.
 *
 * An added image is copied into train/good as
 * "refit-<first 12 hex digits of its SHA-256>-<its name>" (so names from
 * different folders never collide, and the same bytes added twice are
 * recognised), and listed in the model's metadata under refit_added: a JSON
 * array of {"file": name in train/good, "sha256", "source": the path it was
 * copied from, "added": ISO 8601 UTC time, "batch": the number of the
 * refit that added it}.  Only listed images can be removed: a refit never
 * deletes a training image it did not put there.
 *
 * Order of the writes, so that a failure leaves a consistent state: the
 * added images are copied under hidden temporary names (fsync), the refit
 * runs on the final sorted list, the copies are renamed to their final
 * names, the model is written atomically (temp file, fsync, rename), and
 * only then are removed images deleted.  When any step fails, the copies
 * are deleted again and the model file is as it was.
 */
#pragma once

#include <glib.h>

#include "refit.h"

G_BEGIN_DECLS

/* One image a refit added. */
typedef struct
{
  char *file;      /* name in train/good */
  char *path;      /* full path in train/good */
  char *sha256;
  char *source;    /* where it was copied from */
  char *added;     /* ISO 8601 UTC */
  int   batch;
} CpGoodImage;

void cp_good_image_free (CpGoodImage *image);

typedef struct
{
  const char        *data_dir;          /* dataset root; NULL: the model's data_dir */
  const char *const *add;               /* images to add (n_add) */
  int                n_add;
  /* Listed images to take out: each given by its name or path in
   * train/good, the path it was added from, or its SHA-256. */
  const char *const *remove;
  int                n_remove;
  gboolean           undo;              /* take out the images of the last batch that added any */
  double             false_reject_rate; /* NaN: the model's */
  const char        *device;            /* NULL: "auto" */
} CpGoodSetRequest;

void cp_good_set_request_init (CpGoodSetRequest *request);

typedef struct
{
  CpRefitResult  refit;
  char          *dataset_dir;   /* DATA_DIR/CATEGORY */
  char          *category;
  GPtrArray     *added;         /* CpGoodImage *: copied in by this change */
  GPtrArray     *removed;       /* CpGoodImage *: taken out by this change */
  GPtrArray     *already;       /* char *: requested additions whose bytes were already listed */
  GPtrArray     *listed;        /* CpGoodImage *: every image refits added, after the change */
  char          *hash_before;   /* SHA-256 of the model file before and after */
  char          *hash_after;
  GPtrArray     *notes;         /* char *: things the user should know (a removed copy that was gone) */
} CpGoodSetChange;

void     cp_good_set_change_init  (CpGoodSetChange *change);
/* Frees what @change owns (init it again to reuse it). */
void     cp_good_set_change_clear (CpGoodSetChange *change);

/* Applies @request to the model at @model_path: copies, removals, refit,
 * atomic save (see the top of this file).  A request with nothing to add
 * or remove refits on the good set as it is.  Errors name the file at
 * fault (an added file that is not an image, a removal that names no
 * listed image, a model without a known dataset, ...); on error nothing
 * has changed. */
gboolean cp_model_change_good_set (const char              *model_path,
                                   const CpGoodSetRequest  *request,
                                   CpGoodSetChange         *change,
                                   GError                 **error);

/* The images refits added to the model at @model_path (CpGoodImage *),
 * read from its metadata without building the network; paths are filled
 * when the model knows its dataset (else NULL). */
GPtrArray *cp_model_file_list_added (const char  *model_path,
                                     GError     **error);

G_END_DECLS
