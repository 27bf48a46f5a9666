/* cp-dataset-page.h: the Dataset page of the window (see cp-dataset-page.c). */
#pragma once

#include "cp-page.h"

G_BEGIN_DECLS

#define CP_TYPE_DATASET_PAGE (cp_dataset_page_get_type ())
G_DECLARE_FINAL_TYPE (CpDatasetPage, cp_dataset_page, CP, DATASET_PAGE, CpPage)

G_END_DECLS
