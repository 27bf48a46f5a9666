/* variant.c: names and class counts of the self-supervision variants. */
#include "variant.h"

#include <stddef.h>
#include <strings.h>

static const char *const variant_names[CP_AUGMENT_N_VARIANTS] = {
  [CP_AUGMENT_3WAY] = "3way",
  [CP_AUGMENT_BINARY] = "binary",
  [CP_AUGMENT_SCAR] = "scar",
  [CP_AUGMENT_UNION] = "union",
};

const char *
cp_augment_variant_to_string (CpAugmentVariant variant)
{
  if ((int) variant < 0 || (int) variant >= CP_AUGMENT_N_VARIANTS)
    return NULL;
  return variant_names[variant];
}

int
cp_augment_variant_from_string (const char       *name,
                                CpAugmentVariant *variant)
{
  if (name == NULL)
    return 0;
  for (int i = 0; i < CP_AUGMENT_N_VARIANTS; i++)
    if (strcasecmp (name, variant_names[i]) == 0)
      {
        *variant = (CpAugmentVariant) i;
        return 1;
      }
  return 0;
}

int
cp_augment_variant_num_classes (CpAugmentVariant variant)
{
  return variant == CP_AUGMENT_3WAY ? 3 : 2;
}

int
cp_augment_variant_num_views (CpAugmentVariant variant)
{
  return cp_augment_variant_num_classes (variant);
}
