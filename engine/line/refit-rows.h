/* refit-rows.h: a change of a model's good set, as rows of the line
 * database's refits table.
 *
 * `cutpaste refit --db` and the application's "Mark as Good" both record
 * what a refit added and removed: one row per image, with the model's
 * hashes and thresholds before and after.  What each then does to the
 * parts' overrides differs, and stays with the caller.
 */
#pragma once

#include <glib.h>

#include "line/records.h"
#include "pipeline/good-set.h"

G_BEGIN_DECLS

/* Stores a row per image @change added, then per image it removed, all
 * timed now, with @model_path made absolute; @operator_name and @note may
 * be NULL.  Nothing is written when the change holds no image. */
gboolean cp_records_add_good_set_change (CpRecords             *records,
                                         const CpGoodSetChange *change,
                                         const char            *model_path,
                                         const char            *operator_name,
                                         const char            *note,
                                         GError               **error);

G_END_DECLS
