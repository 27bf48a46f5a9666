/* cp-dataset-scan.h: reading a dataset folder and the model files of its
 * categories, on the engine thread. */
#pragma once

#include <glib.h>

#include "cp-category-item.h"

G_BEGIN_DECLS

typedef struct
{
  char        *name;
  int          n_train;
  int          n_test;
  CpModelInfo  info;
} CpScannedCategory;

/* The categories of the MVTec AD layout dataset at @root (in the order
 * engine/data lists them), each with what its model file in @model_dir
 * says.  A GPtrArray of CpScannedCategory that frees them; NULL with
 * @error set when @root is not such a dataset. */
GPtrArray *cp_dataset_scan_with_models (const char         *root,
                                        const char         *model_dir,
                                        const volatile int *cancel,
                                        GError            **error);

/* What the model file at @path says, into @info (initialised): state
 * NOT_TRAINED when there is no file, MODEL_ERROR with the problem when it
 * cannot be used.  Any thread. */
void       cp_model_info_read          (CpModelInfo        *info,
                                        const char         *path);

G_END_DECLS
