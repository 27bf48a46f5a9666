/* refit-rows.c: refits table rows of a good-set change. */
#include "refit-rows.h"

gboolean
cp_records_add_good_set_change (CpRecords             *records,
                                const CpGoodSetChange *change,
                                const char            *model_path,
                                const char            *operator_name,
                                const char            *note,
                                GError               **error)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_refit_record_free);
  g_autofree char *model = g_canonicalize_filename (model_path, NULL);
  gint64 now = g_get_real_time ();

  for (int pass = 0; pass < 2; pass++)
    {
      GPtrArray *images = pass == 0 ? change->added : change->removed;

      for (guint i = 0; i < images->len; i++)
        {
          const CpGoodImage *image = images->pdata[i];
          CpRefitRecord *row = g_new0 (CpRefitRecord, 1);

          row->time_us = now;
          row->added = pass == 0;
          row->model_path = g_strdup (model);
          row->model_hash_before = g_strdup (change->hash_before);
          row->model_hash_after = g_strdup (change->hash_after);
          row->image_path = g_strdup (image->path);
          row->source_path = g_strdup (image->source);
          row->content_hash = g_strdup (image->sha256);
          row->operator_name = g_strdup (operator_name);
          row->note = g_strdup (note);
          row->threshold_before = change->refit.threshold_before;
          row->threshold_after = change->refit.threshold_after;
          g_ptr_array_add (rows, row);
        }
    }
  if (rows->len == 0)
    return TRUE;
  return cp_records_add_refits (records, (CpRefitRecord *const *) rows->pdata, (int) rows->len, error);
}
