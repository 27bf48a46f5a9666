/* cp-mark-good.h: "Mark as good" on a part that failed, from the
 * Inspection page or the Line page, and its Undo.
 *
 * The image goes into the category's good set (DATA_DIR/CATEGORY/train/good,
 * copied under a name made from its SHA-256, so nothing there is ever
 * overwritten) and the model's Gaussian and threshold are refitted on its
 * existing network (pipeline/good-set.h: seconds, not a retraining), on the
 * engine thread.  With a line database the change is recorded as
 * `cutpaste refit --db` records it: a refits row per image, and the part
 * (and every part with the same bytes) gets the operator's override to
 * pass; Undo records the removal and clears those overrides.
 *
 * When it is done, the category item reads its model file again (its
 * threshold updates, pages follow "notify::threshold") and the session
 * toasts, with an Undo button (win.undo-mark-good, "(ss)": the category
 * and the database path, "" for none) after a change.
 */
#pragma once

#include "cp-session.h"

G_BEGIN_DECLS

/* Adds @image to @category's good set and refits.  @part_id: the line
 * database's part the image is (0: none); @db_path: that database, or
 * NULL. */
void cp_mark_good      (CpSession  *session,
                        const char *category,
                        const char *image,
                        const char *db_path,
                        gint64      part_id);

/* Takes out the images the last "Mark as good" of @category added, and
 * refits. */
void cp_mark_good_undo (CpSession  *session,
                        const char *category,
                        const char *db_path);

G_END_DECLS
