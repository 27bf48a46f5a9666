/* eval-plots.c: ROC, score histogram and t-SNE plots of an evaluation. */
#include "eval-plots.h"

gboolean
cp_eval_save_plots (const CpEvalResult *result, const char *dir, GError **error)
{
  g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
               "plots are not available in this build yet");
  return FALSE;
}
