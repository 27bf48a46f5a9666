/* cp-dataset-scan.c: the categories of a dataset and their model files. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <glib/gi18n.h>

#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "pipeline/train.h"
#include "cp-dataset-scan.h"

static void
scanned_category_free (gpointer data)
{
  CpScannedCategory *scanned = data;

  g_free (scanned->name);
  cp_model_info_clear (&scanned->info);
  g_free (scanned);
}

static double
metadata_double (CpSafetensors *st,
                 const char    *key)
{
  const char *value = cp_safetensors_metadata (st, key);

  return value != NULL ? g_ascii_strtod (value, NULL) : NAN;
}

void
cp_model_info_read (CpModelInfo *info,
                    const char  *path)
{
  CpError err = { 0 };
  CpSafetensors *st;
  const char *format, *version, *value;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return;
  st = cp_safetensors_open (path, &err);
  if (st == NULL)
    {
      info->state = CP_CATEGORY_STATE_MODEL_ERROR;
      info->problem = g_strdup (err.message);
      return;
    }
  format = cp_safetensors_metadata (st, "format");
  version = cp_safetensors_metadata (st, "format_version");
  if (format != NULL && g_strcmp0 (format, CP_MODEL_FORMAT) != 0)
    {
      info->state = CP_CATEGORY_STATE_MODEL_ERROR;
      info->problem = g_strdup_printf (_("The model is in format “%s”, not a CutPaste Inspector model"),
                                       format);
    }
  else if (version != NULL && atoi (version) != CP_MODEL_FORMAT_VERSION)
    {
      info->state = CP_CATEGORY_STATE_MODEL_ERROR;
      info->problem = g_strdup_printf (_("The model has format version %s; this version of the application reads version %d"),
                                       version, CP_MODEL_FORMAT_VERSION);
    }
  else
    info->state = CP_CATEGORY_STATE_TRAINED;

  info->auroc = metadata_double (st, "auroc");
  info->threshold = metadata_double (st, "threshold");
  info->threshold_source = cp_threshold_source_from_metadata (cp_safetensors_metadata (st, "threshold_source"),
                                                              cp_safetensors_metadata (st, "threshold"),
                                                              cp_safetensors_metadata (st, "false_reject_rate"));
  info->false_reject_rate = metadata_double (st, "false_reject_rate");
  info->cv_threshold = metadata_double (st, "cross_validation_threshold");
  if (info->threshold_source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION)
    info->cv_threshold = info->threshold;
  value = cp_safetensors_metadata (st, "image_size");
  info->image_size = value != NULL ? atoi (value) : 0;
  info->created = g_strdup (cp_safetensors_metadata (st, "created"));
  info->refits = g_strdup (cp_safetensors_metadata (st, "refit_added"));
  info->has_regions = g_strcmp0 (cp_safetensors_metadata (st, "score_parts"), "global+local") == 0;
  info->backbone_init = g_strdup (cp_safetensors_metadata (st, "backbone_init"));
  cp_safetensors_close (st);
}

GPtrArray *
cp_dataset_scan_with_models (const char         *root,
                             const char         *model_dir,
                             const volatile int *cancel,
                             GError            **error)
{
  g_auto(GStrv) names = cp_dataset_scan_root (root, error);
  GPtrArray *out;

  if (names == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func (scanned_category_free);
  for (guint i = 0; names[i] != NULL && !g_atomic_int_get (cancel); i++)
    {
      CpScannedCategory *scanned = g_new0 (CpScannedCategory, 1);
      g_autoptr(CpCategory) cat = NULL;
      g_autofree char *path = NULL;

      scanned->name = g_strdup (names[i]);
      cp_model_info_init (&scanned->info);
      /* A category whose folders cannot be read still shows, with no images. */
      cat = cp_dataset_scan_category (root, names[i], NULL);
      if (cat != NULL)
        {
          scanned->n_train = cat->n_train;
          scanned->n_test = cat->n_test;
        }
      path = cp_train_model_path (model_dir, names[i]);
      cp_model_info_read (&scanned->info, path);
      g_ptr_array_add (out, scanned);
    }
  return out;
}
