/* variant.h: the self-supervision variants of SPEC section 2: the one
 * variant type of the engine, used by the augmentation, training
 * (CpTrainOptions.variant) and the command line.
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_AUGMENT_3WAY = 0,  /* normal / CutPaste / scar: three classes (default) */
  CP_AUGMENT_BINARY,    /* normal / CutPaste */
  CP_AUGMENT_SCAR,      /* normal / scar */
  CP_AUGMENT_UNION,     /* normal / a 50-50 choice of CutPaste or scar */
} CpAugmentVariant;

#define CP_AUGMENT_N_VARIANTS 4

/* "3way", "binary", "scar", "union"; NULL for a value out of range. */
const char *cp_augment_variant_to_string   (CpAugmentVariant variant);
/* Parses the names above (case-insensitive); returns 1 on success, 0 for an
 * unknown name (then *variant is left alone). */
int         cp_augment_variant_from_string (const char       *name,
                                            CpAugmentVariant *variant);
/* Classes of the classifier: 3 for 3way, else 2. */
int         cp_augment_variant_num_classes (CpAugmentVariant variant);
/* Views per source image in a batch: equal to the number of classes (the
 * union variant makes one augmented view, CutPaste or scar). */
int         cp_augment_variant_num_views   (CpAugmentVariant variant);

#ifdef __cplusplus
}
#endif
