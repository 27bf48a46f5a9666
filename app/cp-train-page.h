/* cp-train-page.h: the Train page of the window (see cp-train-page.c). */
#pragma once

#include "cp-page.h"

G_BEGIN_DECLS

#define CP_TYPE_TRAIN_PAGE (cp_train_page_get_type ())
G_DECLARE_FINAL_TYPE (CpTrainPage, cp_train_page, CP, TRAIN_PAGE, CpPage)

G_END_DECLS
