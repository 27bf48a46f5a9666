/* pipeline-format.c: the text forms of times and numbers in model
 * metadata and result files. */
#include "pipeline-private.h"

#include <math.h>

char *
cp_pipeline_now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
}

char *
cp_pipeline_format_double (double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isnan (value))
    return g_strdup ("nan");
  /* g_ascii_dtostr is locale-independent and round-trips. */
  return g_strdup (g_ascii_dtostr (buf, sizeof buf, value));
}
