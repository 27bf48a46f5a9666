/* synth.h: a synthetic inspection dataset in MVTec AD layout.
 *
 * Two categories, both rendered procedurally from a seed:
 *   weave   a texture: plain-woven fabric under uneven light; defects
 *           scratch (thin curved dark or bright line), stain (soft-edged
 *           coloured blob) and hole (dark torn ellipse with a frayed rim);
 *   washer  an aligned object: a toothed lock washer of brushed steel on a
 *           dark table, with small pose and lighting changes; defects
 *           scratch, stain, missing_tooth and bent (one tooth bent aside).
 * None of the defects is a CutPaste patch: a model must generalise from the
 * self-supervised task to them.  Every good image differs from the others
 * (pose, light, threads, brushing, sensor noise), so the task is not a
 * pixel-exact comparison.  The same seed gives byte-identical files.
 */
#pragma once

#include <stdint.h>

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint64             seed;           /* default 1 */
  const char * const *categories;     /* NULL-terminated; NULL = all */
  int                 size;           /* image side S, default 256 */
  int                 n_train;        /* train/good images, default 80 */
  int                 n_test_good;    /* test/good images, default 20 */
  int                 n_test_defect;  /* images per defect type, default 10 */
  gboolean            force;          /* replace non-empty category folders */
} CpSynthOptions;

#define CP_SYNTH_MIN_SIZE 32
#define CP_SYNTH_MAX_SIZE 2048
#define CP_SYNTH_MAX_COUNT 100000

void                cp_synth_options_init  (CpSynthOptions *options);

/* The categories we generate, NULL-terminated: "washer", "weave". */
const char * const *cp_synth_categories    (void);

/* The defect folders of @category (NULL-terminated), NULL if unknown. */
const char * const *cp_synth_defect_types  (const char *category);

/* Renders one image: @defect is NULL or "good" for a good part, else one of
 * cp_synth_defect_types(); @split_id separates train (0) from test (1)
 * images so that they never coincide.  @rgb receives (S, S, 3) pixels and
 * @mask (may be NULL) S * S bytes of 0 or 255. */
gboolean            cp_synth_render        (const char *category,
                                            guint64     seed,
                                            int         split_id,
                                            const char *defect,
                                            int         index,
                                            int         size,
                                            uint8_t    *rgb,
                                            uint8_t    *mask,
                                            GError    **error);

/* Called after each written image; return FALSE to cancel. */
typedef gboolean (*CpSynthProgressFunc) (const char *category,
                                         int         done,
                                         int         total,
                                         gpointer    user_data);

/* Writes each requested category to @out_dir/<category> (creating @out_dir
 * when needed): train/good, test/good, test/<defect> and
 * ground_truth/<defect>/<name>_mask.png.  A category is built in a hidden
 * temporary folder beside it and renamed into place when complete.  An
 * existing non-empty category folder is an error unless options->force. */
gboolean            cp_synth_write         (const char               *out_dir,
                                            const CpSynthOptions     *options,
                                            CpSynthProgressFunc       progress,
                                            gpointer                  user_data,
                                            GError                  **error);

G_END_DECLS
