/* cp-inspect-item.h: one file on the Inspection page: its path, its score
 * against the selected category's model, or why it has none.
 * Properties: "path", "score" (NaN until scored), "error" (NULL when
 * fine), "thumbnail" (GdkTexture or NULL), "model" (which model gave the
 * score, for the row to say; NULL until scored). */
#pragma once

#include <gdk/gdk.h>

G_BEGIN_DECLS

#define CP_TYPE_INSPECT_ITEM (cp_inspect_item_get_type ())
G_DECLARE_FINAL_TYPE (CpInspectItem, cp_inspect_item, CP, INSPECT_ITEM, GObject)

CpInspectItem *cp_inspect_item_new           (const char    *path,
                                              const char    *error);
const char    *cp_inspect_item_get_path      (CpInspectItem *self);
double         cp_inspect_item_get_score     (CpInspectItem *self);
const char    *cp_inspect_item_get_error     (CpInspectItem *self);
GdkTexture    *cp_inspect_item_get_thumbnail (CpInspectItem *self);
/* A result: @error NULL when scored. */
void           cp_inspect_item_set_result    (CpInspectItem *self,
                                              double         score,
                                              const char    *error);
void           cp_inspect_item_set_thumbnail (CpInspectItem *self,
                                              GdkTexture    *thumbnail);
const char    *cp_inspect_item_get_model     (CpInspectItem *self);
void           cp_inspect_item_set_model     (CpInspectItem *self,
                                              const char    *model);
/* Scored again (another model): the score and its model go, an error
 * stays. */
void           cp_inspect_item_forget_score  (CpInspectItem *self);

G_END_DECLS
