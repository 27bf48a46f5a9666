/* cp-eval-page.h: the Eval page of the window (see cp-eval-page.c). */
#pragma once

#include "cp-page.h"

G_BEGIN_DECLS

#define CP_TYPE_EVAL_PAGE (cp_eval_page_get_type ())
G_DECLARE_FINAL_TYPE (CpEvalPage, cp_eval_page, CP, EVAL_PAGE, CpPage)

G_END_DECLS
