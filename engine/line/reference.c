/* reference.c: reference good scores for the drift rule (reference.h). */
#include "reference.h"

#include <math.h>
#include <string.h>

#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "pipeline/pipeline-error.h"
#include "pipeline/refit.h"

void
cp_reference_clear (CpReference *reference)
{
  g_clear_pointer (&reference->scores, g_free);
  g_clear_pointer (&reference->source, g_free);
  reference->n = 0;
}

gboolean
cp_reference_from_model_file (const char *model_path, CpReference *reference, GError **error)
{
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (model_path, &err);
  const CpTensorInfo *info;
  g_autofree float *values = NULL;

  if (st == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "cannot read model %s", err.message);
      return FALSE;
    }
  info = cp_safetensors_find (st, CP_REFERENCE_CALIBRATION_TENSOR);
  if (info == NULL)
    {
      cp_safetensors_close (st);
      return FALSE;
    }
  if (info->ndim != 1 || info->shape[0] < 1 || info->shape[0] > G_MAXINT / 2)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: tensor %s is not a list of scores [n]",
                   model_path, CP_REFERENCE_CALIBRATION_TENSOR);
      cp_safetensors_close (st);
      return FALSE;
    }
  values = g_new (float, info->shape[0]);
  if (cp_safetensors_read_f32 (st, CP_REFERENCE_CALIBRATION_TENSOR, info->shape, 1, values, &err) != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: %s", model_path, err.message);
      cp_safetensors_close (st);
      return FALSE;
    }
  cp_reference_clear (reference);
  reference->n = (int) info->shape[0];
  reference->scores = g_new (double, reference->n);
  for (int i = 0; i < reference->n; i++)
    {
      if (!isfinite (values[i]))
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: %s[%d] is not finite", model_path,
                       CP_REFERENCE_CALIBRATION_TENSOR, i);
          cp_reference_clear (reference);
          cp_safetensors_close (st);
          return FALSE;
        }
      reference->scores[i] = values[i];
    }
  reference->source = g_strdup (CP_REFERENCE_SOURCE_CALIBRATION);
  cp_safetensors_close (st);
  return TRUE;
}

gboolean
cp_reference_find (CpModel *model, const CpModelRecord *cached, const char *data_dir, CpReference *reference,
                   GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (CpCategory) cat = NULL;
  g_autoptr (GPtrArray) paths = NULL;
  const char *root;

  if (cp_reference_from_model_file (cp_model_get_path (model), reference, &local))
    return TRUE;
  if (local)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (cached && cached->n_reference > 0)
    {
      cp_reference_clear (reference);
      reference->n = cached->n_reference;
      reference->scores = g_memdup2 (cached->reference_scores, sizeof (double) * cached->n_reference);
      reference->source = g_strdup (cached->reference_source ? cached->reference_source
                                                              : CP_REFERENCE_SOURCE_CROSS_VALIDATION);
      return TRUE;
    }
  root = data_dir ? data_dir : cp_model_get_metadata (model, "data_dir");
  if (root == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "%s: no reference scores for the drift check: the model stores no calibration scores and "
                   "does not record its dataset (give --data-dir)", cp_model_get_path (model));
      return FALSE;
    }
  cat = cp_dataset_scan_category (root, cp_model_get_category (model), &local);
  if (cat == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "no reference scores for the drift check: the model stores no calibration scores and its "
                   "good set cannot be read: %s", local->message);
      return FALSE;
    }
  paths = g_ptr_array_new ();
  for (size_t i = 0; i < cat->n_train; i++)
    g_ptr_array_add (paths, cat->train[i].path);
  cp_reference_clear (reference);
  if (!cp_model_cross_validated_scores (model, (const char *const *) paths->pdata, (int) paths->len, NULL,
                                        &reference->scores, &reference->n, &local))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "no reference scores for the drift check: %s", local->message);
      return FALSE;
    }
  reference->source = g_strdup (CP_REFERENCE_SOURCE_CROSS_VALIDATION);
  return TRUE;
}

char *
cp_reference_describe (const CpReference *reference)
{
  if (reference == NULL || reference->n == 0)
    return g_strdup ("no reference scores");
  if (g_strcmp0 (reference->source, CP_REFERENCE_SOURCE_CALIBRATION) == 0)
    return g_strdup_printf ("reference: %d held-out calibration scores stored in the model", reference->n);
  return g_strdup_printf ("reference: %d cross-validated train/good scores computed for this model (it "
                          "stores no calibration scores; the network trained on these images, so new good "
                          "parts may score higher than they do)", reference->n);
}
