/* records-schema.c: the tables of a line database and the migrations that
 * build them, one per schema version.
 *
 * A migration is never edited once released: a change to the tables is a
 * new entry at the end of `migrations` (and CP_RECORDS_SCHEMA_VERSION goes
 * up by one), so that every older database is brought forward by the same
 * steps a fresh one takes.
 */
#include "records-private.h"

#include <stdio.h>

/* migrations[v] takes a database from version v to v + 1. */
static const char *const migrations[] = {
  /* 0 -> 1: models, parts, refits. */
  "CREATE TABLE models ("
  "  id INTEGER PRIMARY KEY,"
  "  file_hash TEXT NOT NULL UNIQUE,"
  "  path TEXT NOT NULL,"
  "  category TEXT NOT NULL,"
  "  threshold REAL,"
  "  threshold_source TEXT,"
  "  image_size INTEGER,"
  "  created TEXT,"
  "  first_used TEXT NOT NULL,"
  "  reference_scores BLOB,"
  "  reference_source TEXT"
  ");"
  "CREATE TABLE parts ("
  "  id INTEGER PRIMARY KEY,"
  "  time TEXT NOT NULL,"
  "  file_path TEXT NOT NULL,"
  "  final_path TEXT NOT NULL,"
  "  content_hash TEXT NOT NULL,"
  "  file_size INTEGER NOT NULL,"
  "  category TEXT NOT NULL,"
  "  model_id INTEGER NOT NULL REFERENCES models (id),"
  "  score REAL NOT NULL,"
  "  threshold REAL NOT NULL,"
  "  verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail')),"
  "  heatmap_max REAL,"
  "  heatmap_path TEXT,"
  "  override_verdict TEXT CHECK (override_verdict IN ('pass', 'fail')),"
  "  override_note TEXT,"
  "  override_by TEXT,"
  "  override_time TEXT,"
  "  UNIQUE (file_path, content_hash)"
  ");"
  "CREATE INDEX parts_time ON parts (time);"
  "CREATE INDEX parts_hash ON parts (content_hash);"
  "CREATE INDEX parts_model ON parts (model_id, verdict, time);"
  "CREATE TABLE refits ("
  "  id INTEGER PRIMARY KEY,"
  "  time TEXT NOT NULL,"
  "  action TEXT NOT NULL CHECK (action IN ('add', 'remove')),"
  "  model_path TEXT NOT NULL,"
  "  model_hash_before TEXT,"
  "  model_hash_after TEXT,"
  "  image_path TEXT NOT NULL,"
  "  source_path TEXT,"
  "  content_hash TEXT NOT NULL,"
  "  operator TEXT,"
  "  note TEXT,"
  "  threshold_before REAL,"
  "  threshold_after REAL"
  ");"
  "CREATE INDEX refits_time ON refits (time);",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == CP_RECORDS_SCHEMA_VERSION);

gboolean
cp_records_run_migrations (CpRecords *records, int from, int to, GError **error)
{
  g_return_val_if_fail (from >= 0 && to <= CP_RECORDS_SCHEMA_VERSION && from <= to, FALSE);
  for (int v = from; v < to; v++)
    {
      g_autofree char *what = g_strdup_printf ("migrating from schema version %d to %d", v, v + 1);
      g_autofree char *set = g_strdup_printf ("PRAGMA user_version = %d;", v + 1);

      if (!cp_records_exec (records, migrations[v], what, error)
          || !cp_records_exec (records, set, what, error))
        return FALSE;
    }
  return TRUE;
}

/* Whether the database holds any table (ours or another program's). */
static gboolean
has_tables (CpRecords *records, gboolean *any, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (records->db, "SELECT count(*) FROM sqlite_master", -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      sqlite3_finalize (stmt);
      return cp_records_fail (records, rc, "reading its tables", error);
    }
  *any = sqlite3_column_int (stmt, 0) > 0;
  sqlite3_finalize (stmt);
  return TRUE;
}

/* Refuses a newer or foreign database; reads only. */
static gboolean
check_owner (CpRecords *records, int *version, GError **error)
{
  int app_id = 0;
  gboolean any = FALSE;

  if (!cp_records_pragma_int (records, "user_version", version, error)
      || !cp_records_pragma_int (records, "application_id", &app_id, error)
      || !has_tables (records, &any, error))
    return FALSE;
  if (app_id != CP_RECORDS_APPLICATION_ID && (app_id != 0 || any))
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_RECORDS,
                   "%s: not a CutPaste line database (SQLite application id 0x%08x, %s); "
                   "give --db a new file or one cutpaste wrote", records->path, (unsigned) app_id,
                   any ? "it holds other tables" : "no tables");
      return FALSE;
    }
  if (*version > CP_RECORDS_SCHEMA_VERSION)
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NEWER_SCHEMA,
                   "%s: the database has schema version %d, written by a newer cutpaste; this "
                   "program reads versions up to %d and leaves the file as it is", records->path,
                   *version, CP_RECORDS_SCHEMA_VERSION);
      return FALSE;
    }
  return TRUE;
}

gboolean
cp_records_migrate (CpRecords *records, GError **error)
{
  int version;
  g_autofree char *set_id = NULL;

  if (!check_owner (records, &version, error))
    return FALSE;
  if (version == CP_RECORDS_SCHEMA_VERSION)
    return TRUE;

  /* IMMEDIATE takes the write lock first, so a second program opening the
   * same new file waits instead of migrating it twice; the checks are
   * repeated inside the lock for that reason. */
  if (!cp_records_exec (records, "BEGIN IMMEDIATE", "starting the schema migration", error))
    return FALSE;
  if (!check_owner (records, &version, error))
    goto fail;
  set_id = g_strdup_printf ("PRAGMA application_id = %d;", CP_RECORDS_APPLICATION_ID);
  if (!cp_records_run_migrations (records, version, CP_RECORDS_SCHEMA_VERSION, error)
      || !cp_records_exec (records, set_id, "marking the database as ours", error)
      || !cp_records_exec (records, "COMMIT", "finishing the schema migration", error))
    goto fail;
  return TRUE;

fail:
  if (!sqlite3_get_autocommit (records->db))
    sqlite3_exec (records->db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}
