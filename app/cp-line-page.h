/* cp-line-page.h: the Line page of the window (see cp-line-page.c). */
#pragma once

#include "cp-page.h"

G_BEGIN_DECLS

#define CP_TYPE_LINE_PAGE (cp_line_page_get_type ())
G_DECLARE_FINAL_TYPE (CpLinePage, cp_line_page, CP, LINE_PAGE, CpPage)

G_END_DECLS
