/* cli-common.h: helpers shared by the train, eval and predict commands. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Exit statuses of every command. */
#define CP_EXIT_OK     0
#define CP_EXIT_FAILED 1
#define CP_EXIT_USAGE  2

/* Parses @argv with @context; on a usage error prints it with a hint and
 * returns FALSE. */
gboolean cp_cli_parse (GOptionContext *context, const char *command, int *argc, char ***argv);

/* Prints "cutpaste COMMAND: message" to stderr. */
void     cp_cli_error (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Expands "--type": a comma-separated list, or "all" for every category
 * under @data_dir that holds train/good.  NULL (message printed) when a
 * name is empty or "all" finds nothing. */
char   **cp_cli_expand_categories (const char *command, const char *data_dir, const char *spec);

/* Parses a finite double / an int / a non-negative 64-bit integer; FALSE
 * on trailing garbage or range errors. */
gboolean cp_cli_parse_double (const char *text, double *value);
gboolean cp_cli_parse_int    (const char *text, int *value);
gboolean cp_cli_parse_u64    (const char *text, guint64 *value);

/* Prints @s to stdout as a JSON string: quoted, with '"', '\\' and
 * control characters escaped. */
void     cp_cli_print_json_string (const char *s);

G_END_DECLS
