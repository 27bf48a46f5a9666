/* cp-augment-page.h: the Augment page of the window (see cp-augment-page.c). */
#pragma once

#include "cp-page.h"

G_BEGIN_DECLS

#define CP_TYPE_AUGMENT_PAGE (cp_augment_page_get_type ())
G_DECLARE_FINAL_TYPE (CpAugmentPage, cp_augment_page, CP, AUGMENT_PAGE, CpPage)

G_END_DECLS
