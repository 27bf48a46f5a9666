/* evaluate.h: scoring a category's test images with a trained model
 * (SPEC section 6): per-image scores and verdicts, image AUROC, ROC curve,
 * embeddings for t-SNE, and the CSV / Markdown result files.
 */
#pragma once

#include <glib.h>

#include "model.h"
#include "pipeline-error.h"

G_BEGIN_DECLS

typedef struct
{
  char    *path;          /* image file */
  int      label;         /* 0 = test/good, 1 = any other test folder */
  char    *defect_type;   /* folder name under test/ ("good", "scratch", ...) */
  double   score;         /* Mahalanobis distance */
  gboolean anomalous;     /* verdict: score > model threshold */
} CpEvalImage;

typedef struct
{
  double fpr;
  double tpr;
  double threshold;       /* score at which this point is reached */
} CpRocPoint;

typedef struct
{
  gboolean with_train_embeddings;  /* embed train/good too (for t-SNE) */
  int      augmented_samples;      /* embed this many CutPaste and as many scar samples (0 = none) */
  guint64  seed;                   /* for choosing augmented samples */
} CpEvalOptions;

void cp_eval_options_init (CpEvalOptions *opts);

typedef struct
{
  char       *category;
  GArray     *images;          /* CpEvalImage, test images that were scored */
  double      auroc;           /* NaN when test/ lacks good or defect images */
  GArray     *roc;             /* CpRocPoint from (0,0) to (1,1) */
  double      threshold;       /* the model's threshold used for verdicts */
  int         false_rejects;   /* good images called anomalous */
  int         misses;          /* defect images called good */
  int         n_good;          /* good test images scored */
  double      target_false_reject_rate;  /* the rate the model's threshold was set for (NaN:
                                          * unknown or set by hand) */
  float      *test_embeddings; /* images->len x 512, L2-normalised, same order */
  float      *train_embeddings;/* n_train x 512 (with_train_embeddings) or NULL */
  int         n_train;
  float      *aug_embeddings;  /* n_aug x 512 or NULL */
  int        *aug_labels;      /* CpAugmentKind: CP_AUGMENT_KIND_CUTPASTE or _SCAR */
  int         n_aug;
  GPtrArray  *skipped_images;  /* char *: "PATH: reason" */
  double      seconds;
} CpEvalResult;

void cp_eval_result_init  (CpEvalResult *result);
void cp_eval_result_clear (CpEvalResult *result);

/* Called with the number of images scored so far and the total. */
typedef void (*CpEvalProgressFunc) (int done, int total, gpointer user_data);

/* Scores every image under DATA_DIR/CATEGORY/test/<defect>; @opts may be NULL (defaults).
 * A missing test/ folder is CP_PIPELINE_ERROR_DATA; unreadable images are
 * skipped and listed. */
gboolean cp_evaluate_category (const char          *data_dir,
                               const char          *category,
                               CpModel             *model,
                               const CpEvalOptions *opts,
                               CpEvalProgressFunc   progress,
                               gpointer             user_data,
                               const volatile int  *cancel,
                               CpEvalResult        *result,
                               GError             **error);

/* Image AUROC of @scores against @labels (1 = anomalous), ties counted as
 * half; NaN when either class is empty.  @roc (may be NULL) receives the
 * ROC points. */
double   cp_eval_auroc (const double *scores, const int *labels, int n, GArray *roc);

/* One defect type's image AUROC: its images against all of test/good. */
typedef struct
{
  char   *defect_type;  /* folder name under test/ */
  int     count;        /* images of this type that were scored */
  double  auroc;        /* NaN when test/good had no scored image */
} CpDefectAuroc;

/* The AUROC of each defect type of @result against the good test images,
 * in folder-name order (newly allocated array of CpDefectAuroc; free with
 * g_array_unref, which frees the names).  Tells a user which kinds of
 * defect a model misses: one image AUROC hides that. */
GArray  *cp_eval_auroc_by_defect (const CpEvalResult *result);

/* ---- the t-SNE map (eval-tsne.c) ---------------------------------------- */

/* Every map of an evaluation uses these, so the application and
 * `cutpaste eval --plots` draw the same map of the same model: the seed of
 * t-SNE's start, its iterations (van der Maaten's default), and the
 * CutPaste and scar samples embedded beside the test and train images. */
#define CP_EVAL_TSNE_SEED              0
#define CP_EVAL_TSNE_ITERATIONS        1000
#define CP_EVAL_TSNE_AUGMENTED_SAMPLES 50

/* Asks cp_evaluate_category () for what cp_eval_tsne () maps: the train
 * embeddings and CP_EVAL_TSNE_AUGMENTED_SAMPLES of each augmentation. */
void     cp_eval_options_want_tsne (CpEvalOptions *opts);

/* Embeds the test, train and augmented embeddings of @result together, in
 * that order, into *@xy ((*@n_points, 2), newly allocated; g_free), with
 * CP_EVAL_TSNE_SEED and CP_EVAL_TSNE_ITERATIONS.  Fewer than two points:
 * TRUE with *@xy NULL.  Raising *@cancel (may be NULL) stops it with
 * CP_PIPELINE_ERROR_CANCELLED.  Point i < images->len is test image i;
 * then n_train train images; then the augmented samples, of the kinds in
 * aug_labels. */
gboolean cp_eval_tsne (const CpEvalResult *result,
                       const volatile int *cancel,
                       float             **xy,
                       int                *n_points,
                       GError            **error);

/* path,label,defect_type,score,verdict: one row per image, atomic write.
 * label is the truth (good or defect), verdict the threshold's (PASS or
 * FAIL, as the application says). */
gboolean cp_eval_write_csv (const CpEvalResult *result, const char *path, GError **error);

/* Per-category summary with the mean AUROC: Markdown table as text
 * (newly allocated), and files (either path may be NULL), atomic writes. */
char    *cp_eval_summary_markdown (CpEvalResult *const *results, int n);
gboolean cp_eval_write_summary    (CpEvalResult *const *results, int n,
                                   const char *markdown_path,
                                   const char *csv_path,
                                   GError    **error);

G_END_DECLS
