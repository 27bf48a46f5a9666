/* name-index.c: binary search of a sorted name index. */
#include "name-index.h"

#include <string.h>

static const char *
name_of (const void *records, size_t record_size, size_t name_offset, int index)
{
  const char *record = (const char *) records + (size_t) index * record_size;
  const char *name;

  memcpy (&name, record + name_offset, sizeof name);
  return name;
}

int
cp_name_index_find (const int  *by_name,
                    int         count,
                    const void *records,
                    size_t      record_size,
                    size_t      name_offset,
                    const char *name)
{
  int lo = 0, hi = count;

  while (lo < hi)
    {
      int mid = lo + (hi - lo) / 2;
      int c = strcmp (name_of (records, record_size, name_offset, by_name[mid]), name);

      if (c == 0)
        return by_name[mid];
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return -1;
}
