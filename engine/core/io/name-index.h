/* name-index.h: finding a name in records through an index sorted by
 * name (the safetensors header's tensors, a zip archive's entries). */
#pragma once

#include <stddef.h>

/* The position in @records of the record named @name, or -1.  The
 * @count records lie @record_size bytes apart, each with its name (a
 * const char *) @name_offset bytes in; @by_name lists their positions
 * in strcmp order of the names. */
int cp_name_index_find (const int  *by_name,
                        int         count,
                        const void *records,
                        size_t      record_size,
                        size_t      name_offset,
                        const char *name);
