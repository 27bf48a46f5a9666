/* eval-plots.h: the PNG plots of `cutpaste eval --save-plots`. */
#pragma once

#include <glib.h>

#include "pipeline/evaluate.h"

G_BEGIN_DECLS

/* Writes DIR/<category>-roc.png, -hist.png and -tsne.png. */
gboolean cp_eval_save_plots (const CpEvalResult *result, const char *dir, GError **error);

G_END_DECLS
