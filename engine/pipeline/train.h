/* train.h: training one CutPaste model per category (SPEC sections 1-6, 9).
 *
 * cp_train_category () runs synchronously on the caller's thread: the GTK
 * app calls it from its worker thread, the command line from main.  It
 * decodes and caches train/good once, trains the network with the chosen
 * self-supervision variant, embeds train/good, picks the pass/fail
 * threshold by k-fold on good images only, fits the Gaussian, measures the
 * image AUROC on test/ when there is one, and saves
 * MODEL_DIR/<category>.safetensors atomically.  An old model is replaced
 * only after the new one is complete: a failed or cancelled run never
 * touches it.
 */
#pragma once

#include <glib.h>

#include "pipeline-error.h"
#include "core/augment/variant.h"
#include "core/nn/network.h"

G_BEGIN_DECLS

/* Region scores beside the global embedding (local-model.h). */
typedef enum
{
  CP_TRAIN_LOCAL_NONE,           /* the global Gaussian alone (the instant profile) */
  CP_TRAIN_LOCAL_AUTO,           /* pattern for two-level images, else per-location or
                                  * shared from the regions' alignment */
  CP_TRAIN_LOCAL_PER_LOCATION,   /* a Gaussian per region: aligned parts */
  CP_TRAIN_LOCAL_SHARED,         /* one Gaussian for all regions: textures, free pose */
  CP_TRAIN_LOCAL_PATTERN,        /* binary 3 x 3 patterns: binarised scans, artwork */
} CpTrainLocal;

/* "none", "auto", "per-location", "shared", "pattern". */
const char *cp_train_local_to_string   (CpTrainLocal local);
gboolean    cp_train_local_from_string (const char *name, CpTrainLocal *local);

typedef struct _CpTrainOptions CpTrainOptions;
typedef struct _CpTrainResult CpTrainResult;
typedef struct _CpTrainProgress CpTrainProgress;
typedef void (*CpTrainProgressFunc) (const CpTrainProgress *progress, gpointer user_data);

/* A replacement for the fitting and saving that follow the last step (owner
 * localize: the patch model of SPEC 7 fits its own Gaussians).  It gets the
 * trained network, the @n cached train/good images (n, size, size, 3), and
 * must write the model file itself and set result->model_path (and, when it
 * measures one, result->auroc).  @progress may be NULL. */
typedef gboolean (*CpTrainFitFunc) (CpNetwork            *net,
                                    const uint8_t        *images,
                                    int                   n,
                                    int                   size,
                                    const CpTrainOptions *opts,
                                    CpTrainProgressFunc   progress,
                                    gpointer              progress_data,
                                    const volatile int   *cancel,
                                    CpTrainResult        *result,
                                    GError              **error);

/* All strings are borrowed: they must outlive the cp_train_category () call.
 * Fill with cp_train_options_init () first, then override fields. */
struct _CpTrainOptions
{
  const char    *data_dir;          /* dataset root holding <category>/train/good */
  const char    *category;          /* folder name under data_dir */
  CpAugmentVariant variant;         /* self-supervision (variant.h); 3way by default */
  int            steps;             /* SGD steps */
  int            batch_size;        /* images per view; a step sees 3B (3way) or 2B */
  int            image_size;        /* S: images are resized to S x S; multiple of 32 */
  double         lr;                /* initial lr; cosine decay to 0 over all steps */
  double         momentum;          /* 0.9 */
  double         weight_decay;      /* 3e-5 */
  int            head_layers;       /* 512-wide head layers before the 128 (default 1) */
  guint64        seed;              /* one generator for init, sampling and augmentation */
  const char    *device;            /* "auto", "cpu" or "cuda" */
  const char    *weights_path;      /* backbone start (weights.h: torchvision .pth, timm or our
                                     * safetensors, a reference checkpoint), or NULL (scratch) */
  int            freeze_steps;      /* with weights_path: backbone frozen this many steps (20) */
  const char    *model_dir;         /* output folder (created when missing) */
  int            checkpoint_every;  /* steps between checkpoints; 0 = none */
  gboolean       resume;            /* continue from MODEL_DIR/.<category>.checkpoint.safetensors */
  double         false_reject_rate; /* target rate of good parts called anomalous (0.01) */
  int            kfold;             /* folds for the threshold (5) */
  gboolean       evaluate_test;     /* measure image AUROC on test/ when present (TRUE) */
  /* ---- additions (owner localize) ---- */
  int            crop_size;         /* > 0: every step trains on random crop_size x crop_size
                                     * crops of the S x S images, augmented at the crop's size
                                     * (the patch model of SPEC 7; 64); 0: whole images */
  CpTrainFitFunc fit;               /* NULL: Gaussian, threshold and model as described above */
  gpointer       fit_data;          /* for @fit, which reads it from opts */
  /* ---- additions (owner density; density-fit.h, local-model.h) ---- */
  CpTrainLocal   local;             /* region scores (AUTO for quick and paper) */
  int            local_image_size;  /* S of the regions; 0: cp_train_local_image_size */
  int            local_grid;        /* regions per side; 0: local_image_size / 8 */
  int            local_channels;    /* channels kept per region; 0: 64 */
  gboolean       hold_out;          /* calibrate on images held out of training (TRUE) */
};

/* The size the local model reads images at: @opts->local_image_size, or
 * four times the training size, at most 256 and at least 64. */
int         cp_train_local_image_size (const CpTrainOptions *opts);

/* Fills @opts with the defaults of @profile:
 *  - "paper": the reference: S = 256, B = 32 per view, 10000 steps, lr 0.03.
 *  - "quick": the CPU default, tuned to train a synthetic category in a few
 *    minutes on two cores (see the values in train.c and the report).
 *  - "instant": no training at all (0 steps): the Gaussian and threshold
 *    are fitted on the ImageNet embedding at S = 256, the paper's
 *    baseline; it needs weights_path (an error otherwise).
 * NULL means "quick".  Returns FALSE (opts still filled with "quick") for
 * an unknown profile name. */
gboolean    cp_train_options_init (CpTrainOptions *opts, const char *profile);

typedef enum
{
  CP_TRAIN_PHASE_LOADING,     /* decoding and caching train/good */
  CP_TRAIN_PHASE_TRAINING,    /* SGD steps */
  CP_TRAIN_PHASE_FITTING,     /* embedding train/good, threshold, Gaussian */
  CP_TRAIN_PHASE_EVALUATING,  /* scoring test/ for the AUROC */
  CP_TRAIN_PHASE_SAVING,      /* writing the model */
} CpTrainPhase;

const char *cp_train_phase_to_string (CpTrainPhase phase);

struct _CpTrainProgress
{
  CpTrainPhase phase;
  int          step;              /* steps done (TRAINING), else items done in this phase */
  int          total_steps;       /* steps (TRAINING), else items in this phase */
  double       loss;              /* loss of the last step (NaN before the first) */
  double       lr;                /* lr used by the last step */
  double       images_per_sec;    /* training images (all views) per second, recent average */
  double       eta_seconds;       /* estimated time left in this phase (NaN if unknown) */
  double       data_wait_seconds; /* total time the network waited for batches */
  double       elapsed_seconds;   /* since cp_train_category () started */
};

/* CpTrainProgressFunc is called on the thread that runs cp_train_category
 * (): at every training step and a few times per other phase.  Must be
 * quick. */

struct _CpTrainResult
{
  char      *model_path;          /* file written (owned) */
  double     auroc;               /* image AUROC on test/, NaN when there is no test set */
  double     threshold;           /* pass/fail threshold stored in the model */
  double     false_reject_rate;
  double     seconds;             /* wall time of the whole run */
  int        steps;               /* steps trained (including resumed ones) */
  double     final_loss;
  int        train_images;        /* images in train/good actually used */
  int        test_images;         /* test images scored (0 without a test set) */
  GPtrArray *skipped_images;      /* char *: "PATH: reason" for each unreadable image */
  GArray    *loss_history;        /* float: loss of every step, for the loss curve */
  char      *device_name;         /* backend that trained: "cpu" or "cuda" */
  char      *notice;              /* e.g. why "auto" fell back to the CPU, or NULL */
  char      *backbone_init;       /* SHA-256 of the weights the backbone started from, or
                                   * "scratch" (the model's backbone_init metadata) */
  int        calibration_images;  /* train/good images held out to set the threshold (0: k-fold) */
  double     local_alignment;     /* of the training regions (NaN without Gaussians) */
  double     local_separation;    /* two-level separation of the training images (NaN when
                                   * not measured) */
  const char *local_density;      /* "per-location", "shared", "pattern" (static), NULL
                                   * without a local model */
};

void        cp_train_result_init  (CpTrainResult *result);
/* Frees what the result owns and re-initialises it. */
void        cp_train_result_clear (CpTrainResult *result);

/* Trains one category.  @progress may be NULL; @cancel may be NULL, else it
 * is read at every step (and between images while loading and fitting):
 * non-zero stops the run with CP_PIPELINE_ERROR_CANCELLED, leaving any old
 * model and the last checkpoint intact.  A NaN/Inf loss stops with
 * CP_PIPELINE_ERROR_NUMERIC (the last checkpoint is kept).  @result is
 * filled on success (init it first; it may hold skipped_images on error). */
gboolean    cp_train_category     (const CpTrainOptions *opts,
                                   CpTrainProgressFunc   progress,
                                   gpointer              user_data,
                                   const volatile int   *cancel,
                                   CpTrainResult        *result,
                                   GError              **error);

/* MODEL_DIR/<category>.safetensors (newly allocated). */
char       *cp_train_model_path      (const char *model_dir, const char *category);
/* MODEL_DIR/.<category>.checkpoint.safetensors (newly allocated). */
char       *cp_train_checkpoint_path (const char *model_dir, const char *category);

G_END_DECLS
