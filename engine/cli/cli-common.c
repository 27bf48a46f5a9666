/* cli-common.c: option parsing, category lists and JSON strings for the
 * commands. */
#include "cli-common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/dataset.h"

gboolean
cp_cli_parse (GOptionContext *context, const char *command, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      fprintf (stderr, "cutpaste %s: %s\nRun 'cutpaste %s --help' for usage.\n", command,
               error->message, command);
      return FALSE;
    }
  return TRUE;
}

void
cp_cli_error (const char *command, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "cutpaste %s: %s\n", command, msg);
}

char **
cp_cli_expand_categories (const char *command, const char *data_dir, const char *spec)
{
  g_auto (GStrv) parts = NULL;

  if (strcmp (spec, "all") == 0)
    {
      g_autoptr (GError) error = NULL;
      char **all = cp_dataset_scan_root (data_dir, &error);

      if (all == NULL)
        cp_cli_error (command, "%s", error->message);
      return all;
    }
  parts = g_strsplit (spec, ",", -1);
  for (int i = 0; parts[i]; i++)
    {
      g_strstrip (parts[i]);
      if (parts[i][0] == '\0')
        {
          cp_cli_error (command, "empty category name in --type '%s'", spec);
          return NULL;
        }
    }
  return g_steal_pointer (&parts);
}

gboolean
cp_cli_parse_double (const char *text, double *value)
{
  char *end = NULL;
  double v;

  errno = 0;
  v = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || errno != 0 || !isfinite (v))
    return FALSE;
  *value = v;
  return TRUE;
}

gboolean
cp_cli_parse_int (const char *text, int *value)
{
  char *end = NULL;
  gint64 v;

  errno = 0;
  v = g_ascii_strtoll (text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < G_MININT || v > G_MAXINT)
    return FALSE;
  *value = (int) v;
  return TRUE;
}

gboolean
cp_cli_parse_u64 (const char *text, guint64 *value)
{
  char *end = NULL;
  guint64 v;

  errno = 0;
  if (text[0] == '-')
    return FALSE;
  v = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != '\0' || errno != 0)
    return FALSE;
  *value = v;
  return TRUE;
}

void
cp_cli_print_json_string (const char *s)
{
  putchar ('"');
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        printf ("\\%c", *p);
      else if (*p < 0x20)
        printf ("\\u%04x", *p);
      else
        putchar (*p);
    }
  putchar ('"');
}
