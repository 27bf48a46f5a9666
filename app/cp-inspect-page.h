/* cp-inspect-page.h: the Inspect page of the window (see cp-inspect-page.c). */
#pragma once

#include "cp-page.h"

G_BEGIN_DECLS

#define CP_TYPE_INSPECT_PAGE (cp_inspect_page_get_type ())
G_DECLARE_FINAL_TYPE (CpInspectPage, cp_inspect_page, CP, INSPECT_PAGE, CpPage)

G_END_DECLS
