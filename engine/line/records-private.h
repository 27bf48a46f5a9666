/* records-private.h: what records.c and records-schema.c share. */
#pragma once

#include <sqlite3.h>

#include "records.h"

G_BEGIN_DECLS

struct _CpRecords
{
  sqlite3 *db;
  char    *path;
};

/* Sets @error from the connection's last failure (@rc its result code):
 * "PATH: @what: SQLite's message", with the CP_RECORDS_ERROR code that
 * matches (busy, full, ...).  Returns FALSE. */
gboolean cp_records_fail (CpRecords *records, int rc, const char *what, GError **error);

/* Runs @sql (statements without results). */
gboolean cp_records_exec (CpRecords *records, const char *sql, const char *what, GError **error);

/* The database's PRAGMA user_version / application_id into *@value. */
gboolean cp_records_pragma_int (CpRecords *records, const char *pragma, int *value, GError **error);

/* Checks the version and owner of the open database and brings an older
 * schema up to CP_RECORDS_SCHEMA_VERSION in one transaction
 * (records-schema.c). */
gboolean cp_records_migrate (CpRecords *records, GError **error);

/* Runs the migrations that lead from version @from to version @to (both
 * within 0..CP_RECORDS_SCHEMA_VERSION) inside the caller's transaction;
 * for tests that build an old database. */
gboolean cp_records_run_migrations (CpRecords *records, int from, int to, GError **error);

G_END_DECLS
