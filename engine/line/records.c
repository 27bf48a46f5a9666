/* records.c: the line database: opening, models, parts, overrides,
 * queries and refits. */
#include "records-private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

G_DEFINE_QUARK (cp-records-error-quark, cp_records_error)

#define DEFAULT_BUSY_TIMEOUT_MS 2000

const char *
cp_verdict_to_string (CpVerdict verdict)
{
  switch (verdict)
    {
    case CP_VERDICT_PASS: return "pass";
    case CP_VERDICT_FAIL: return "fail";
    case CP_VERDICT_NONE:
    default: return "";
    }
}

static CpVerdict
verdict_from_text (const unsigned char *text)
{
  if (text == NULL)
    return CP_VERDICT_NONE;
  if (strcmp ((const char *) text, "pass") == 0)
    return CP_VERDICT_PASS;
  if (strcmp ((const char *) text, "fail") == 0)
    return CP_VERDICT_FAIL;
  return CP_VERDICT_NONE;
}

/* ---- errors and helpers -------------------------------------------------- */

gboolean
cp_records_fail (CpRecords *records, int rc, const char *what, GError **error)
{
  int primary = rc & 0xff;
  int sys_errno = records->db ? sqlite3_system_errno (records->db) : 0;
  const char *message = records->db ? sqlite3_errmsg (records->db) : sqlite3_errstr (rc);
  CpRecordsError code;
  const char *hint = "";

  switch (primary)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      code = CP_RECORDS_ERROR_BUSY;
      hint = " (another program holds a lock on it)";
      break;
    case SQLITE_FULL:
      code = CP_RECORDS_ERROR_FULL;
      hint = " (no space left on the disk)";
      break;
    case SQLITE_NOTADB:
      code = CP_RECORDS_ERROR_NOT_RECORDS;
      hint = " (not a CutPaste line database)";
      break;
    case SQLITE_CORRUPT:
      code = CP_RECORDS_ERROR_CORRUPT;
      break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      code = CP_RECORDS_ERROR_READ_ONLY;
      break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      /* A write that found no space comes back as an I/O error from some
       * file systems: the errno tells. */
      if (sys_errno == ENOSPC || sys_errno == EDQUOT)
        {
          code = CP_RECORDS_ERROR_FULL;
          hint = " (no space left on the disk)";
        }
      else
        code = CP_RECORDS_ERROR_IO;
      break;
    default:
      code = CP_RECORDS_ERROR_FAILED;
      break;
    }
  if (sys_errno != 0 && code != CP_RECORDS_ERROR_BUSY)
    g_set_error (error, CP_RECORDS_ERROR, code, "%s: %s: %s%s [%s]", records->path, what, message, hint,
                 g_strerror (sys_errno));
  else
    g_set_error (error, CP_RECORDS_ERROR, code, "%s: %s: %s%s", records->path, what, message, hint);
  return FALSE;
}

gboolean
cp_records_exec (CpRecords *records, const char *sql, const char *what, GError **error)
{
  int rc = sqlite3_exec (records->db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    return cp_records_fail (records, rc, what, error);
  return TRUE;
}

gboolean
cp_records_pragma_int (CpRecords *records, const char *pragma, int *value, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA %s", pragma);
  g_autofree char *what = g_strdup_printf ("reading %s", pragma);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (records->db, sql, -1, &stmt, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      sqlite3_finalize (stmt);
      return cp_records_fail (records, rc, what, error);
    }
  *value = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  return TRUE;
}

static sqlite3_stmt *
prepare (CpRecords *records, const char *sql, const char *what, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (records->db, sql, -1, &stmt, NULL);

  if (rc != SQLITE_OK)
    {
      cp_records_fail (records, rc, what, error);
      sqlite3_finalize (stmt);
      return NULL;
    }
  return stmt;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

static void
bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
  if (text)
    sqlite3_bind_text (stmt, index, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (stmt, index);
}

/* NaN is stored as NULL (SQLite would do so anyway), read back as NaN. */
static void
bind_double (sqlite3_stmt *stmt, int index, double value)
{
  if (isnan (value))
    sqlite3_bind_null (stmt, index);
  else
    sqlite3_bind_double (stmt, index, value);
}

static void
bind_time (sqlite3_stmt *stmt, int index, gint64 time_us)
{
  sqlite3_bind_text (stmt, index, cp_records_format_time (time_us), -1, g_free);
}

static char *
column_text (sqlite3_stmt *stmt, int col)
{
  const unsigned char *text = sqlite3_column_text (stmt, col);

  return text ? g_strdup ((const char *) text) : NULL;
}

static double
column_double (sqlite3_stmt *stmt, int col)
{
  return sqlite3_column_type (stmt, col) == SQLITE_NULL ? NAN : sqlite3_column_double (stmt, col);
}

static gint64
column_time (sqlite3_stmt *stmt, int col)
{
  const unsigned char *text = sqlite3_column_text (stmt, col);
  gint64 t = 0;

  if (text == NULL || !cp_records_parse_time ((const char *) text, &t))
    return 0;
  return t;
}

static gboolean
begin (CpRecords *records, const char *what, GError **error)
{
  return cp_records_exec (records, "BEGIN IMMEDIATE", what, error);
}

static gboolean
commit (CpRecords *records, const char *what, GError **error)
{
  return cp_records_exec (records, "COMMIT", what, error);
}

static void
rollback (CpRecords *records)
{
  if (!sqlite3_get_autocommit (records->db))
    sqlite3_exec (records->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- times ---------------------------------------------------------------- */

char *
cp_records_format_time (gint64 time_us)
{
  gint64 seconds = time_us / G_USEC_PER_SEC;
  int micro = (int) (time_us % G_USEC_PER_SEC);
  g_autoptr (GDateTime) dt = NULL;
  g_autofree char *base = NULL;

  if (micro < 0)
    {
      micro += G_USEC_PER_SEC;
      seconds--;
    }
  dt = g_date_time_new_from_unix_utc (seconds);
  if (dt == NULL)
    return g_strdup ("");
  base = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
  return g_strdup_printf ("%s.%06dZ", base, micro);
}

gboolean
cp_records_parse_time (const char *text, gint64 *time_us)
{
  g_autofree char *iso = NULL;
  g_autoptr (GTimeZone) local = NULL;
  g_autoptr (GDateTime) dt = NULL;
  size_t len;

  if (text == NULL)
    return FALSE;
  len = strlen (text);
  /* "2026-01-02": the start of that day; "2026-01-02 06:00": T or space. */
  if (len == 10)
    iso = g_strdup_printf ("%sT00:00:00", text);
  else
    {
      iso = g_strdup (text);
      if (len > 10 && iso[10] == ' ')
        iso[10] = 'T';
    }
  /* GLib needs seconds ("T06:00" is refused): add them before any zone. */
  if (strlen (iso) >= 16 && iso[10] == 'T' && iso[13] == ':' && iso[16] != ':')
    {
      char *longer = g_strdup_printf ("%.16s:00%s", iso, iso + 16);
      g_free (iso);
      iso = longer;
    }
  local = g_time_zone_new_local ();
  dt = g_date_time_new_from_iso8601 (iso, local);
  if (dt == NULL)
    return FALSE;
  *time_us = g_date_time_to_unix (dt) * G_USEC_PER_SEC + g_date_time_get_microsecond (dt);
  return TRUE;
}

/* ---- opening --------------------------------------------------------------- */

CpRecords *
cp_records_open (const char *path, CpRecordsOpenFlags flags, int busy_timeout_ms, GError **error)
{
  g_autoptr (CpRecords) records = g_new0 (CpRecords, 1);
  int rc, sqlite_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  sqlite3_stmt *stmt = NULL;
  gboolean wal = FALSE;

  records->path = g_strdup (path);
  if (flags & CP_RECORDS_OPEN_EXISTING)
    {
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_FOUND,
                       "%s: no such database", path);
          return NULL;
        }
    }
  else
    sqlite_flags |= SQLITE_OPEN_CREATE;
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_IO, "%s: is a folder, not a database", path);
      return NULL;
    }

  rc = sqlite3_open_v2 (path, &records->db, sqlite_flags, NULL);
  if (rc != SQLITE_OK)
    {
      cp_records_fail (records, rc, "cannot open the database", error);
      return NULL;
    }
  sqlite3_extended_result_codes (records->db, 1);
  sqlite3_busy_timeout (records->db, busy_timeout_ms > 0 ? busy_timeout_ms : DEFAULT_BUSY_TIMEOUT_MS);
  /* Per connection, and no write: safe before we know the file is ours. */
  if (!cp_records_exec (records, "PRAGMA foreign_keys = ON", "turning on foreign keys", error)
      || !cp_records_exec (records, "PRAGMA synchronous = FULL", "setting synchronous writes", error))
    return NULL;
  if (!cp_records_migrate (records, error))
    return NULL;

  /* WAL once the file is known to be ours (changing the journal mode
   * writes the header). */
  rc = sqlite3_prepare_v2 (records->db, "PRAGMA journal_mode", -1, &stmt, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    wal = g_ascii_strcasecmp ((const char *) sqlite3_column_text (stmt, 0), "wal") == 0;
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    {
      cp_records_fail (records, rc, "reading the journal mode", error);
      return NULL;
    }
  if (!wal && !cp_records_exec (records, "PRAGMA journal_mode = WAL", "switching to WAL mode", error))
    return NULL;
  return g_steal_pointer (&records);
}

void
cp_records_close (CpRecords *records)
{
  if (records == NULL)
    return;
  /* sqlite3_close_v2 waits for nothing: statements are all finalised. */
  if (records->db)
    sqlite3_close_v2 (records->db);
  g_free (records->path);
  g_free (records);
}

const char *
cp_records_get_path (const CpRecords *records)
{
  return records->path;
}

/* ---- models ---------------------------------------------------------------- */

void
cp_model_record_free (CpModelRecord *model)
{
  if (model == NULL)
    return;
  g_free (model->file_hash);
  g_free (model->path);
  g_free (model->category);
  g_free (model->threshold_source);
  g_free (model->created);
  g_free (model->reference_scores);
  g_free (model->reference_source);
  g_free (model);
}

#define MODEL_COLUMNS "id, file_hash, path, category, threshold, threshold_source, image_size, " \
                      "created, first_used, reference_scores, reference_source"

static CpModelRecord *
model_from_row (sqlite3_stmt *stmt)
{
  CpModelRecord *m = g_new0 (CpModelRecord, 1);
  const void *blob;
  int bytes;

  m->id = sqlite3_column_int64 (stmt, 0);
  m->file_hash = column_text (stmt, 1);
  m->path = column_text (stmt, 2);
  m->category = column_text (stmt, 3);
  m->threshold = column_double (stmt, 4);
  m->threshold_source = column_text (stmt, 5);
  m->image_size = sqlite3_column_int (stmt, 6);
  m->created = column_text (stmt, 7);
  m->first_used_us = column_time (stmt, 8);
  blob = sqlite3_column_blob (stmt, 9);
  bytes = sqlite3_column_bytes (stmt, 9);
  if (blob != NULL && bytes > 0 && bytes % 8 == 0)
    {
      m->n_reference = bytes / 8;
      m->reference_scores = g_new (double, m->n_reference);
      for (int i = 0; i < m->n_reference; i++)
        {
          guint64 bits;
          memcpy (&bits, (const char *) blob + 8 * i, 8);
          bits = GUINT64_FROM_LE (bits);
          memcpy (&m->reference_scores[i], &bits, 8);
        }
    }
  m->reference_source = column_text (stmt, 10);
  return m;
}

static CpModelRecord *
find_model (CpRecords *records, const char *where, gint64 id, const char *hash, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT " MODEL_COLUMNS " FROM models WHERE %s", where);
  g_autoptr (sqlite3_stmt) stmt = prepare (records, sql, "reading a model", error);
  int rc;

  if (stmt == NULL)
    return NULL;
  if (hash)
    bind_text (stmt, 1, hash);
  else
    sqlite3_bind_int64 (stmt, 1, id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return model_from_row (stmt);
  if (rc != SQLITE_DONE)
    cp_records_fail (records, rc, "reading a model", error);
  return NULL;
}

CpModelRecord *
cp_records_find_model (CpRecords *records, const char *file_hash, GError **error)
{
  return find_model (records, "file_hash = ?1", 0, file_hash, error);
}

CpModelRecord *
cp_records_get_model (CpRecords *records, gint64 id, GError **error)
{
  GError *local = NULL;
  CpModelRecord *m = find_model (records, "id = ?1", id, NULL, &local);

  if (m == NULL && local == NULL)
    g_set_error (&local, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_FOUND, "%s: no model %" G_GINT64_FORMAT,
                 records->path, id);
  if (local)
    g_propagate_error (error, local);
  return m;
}

GPtrArray *
cp_records_list_models (CpRecords *records, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = prepare (records, "SELECT " MODEL_COLUMNS " FROM models ORDER BY id",
                                           "listing models", error);
  g_autoptr (GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_model_record_free);
  int rc;

  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (models, model_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      cp_records_fail (records, rc, "listing models", error);
      return NULL;
    }
  return g_steal_pointer (&models);
}

static void
bind_scores (sqlite3_stmt *stmt, int index, const double *scores, int n)
{
  guint64 *le;

  if (scores == NULL || n <= 0)
    {
      sqlite3_bind_null (stmt, index);
      return;
    }
  le = g_new (guint64, n);
  for (int i = 0; i < n; i++)
    {
      guint64 bits;
      memcpy (&bits, &scores[i], 8);
      le[i] = GUINT64_TO_LE (bits);
    }
  sqlite3_bind_blob (stmt, index, le, n * 8, g_free);
}

/* Inside a transaction: the row of @model->file_hash, made when missing. */
static gboolean
ensure_model_locked (CpRecords *records, CpModelRecord *model, GError **error)
{
  g_autoptr (sqlite3_stmt) insert = NULL;
  g_autoptr (sqlite3_stmt) select = NULL;
  gint64 now = g_get_real_time ();
  int rc;

  insert = prepare (records,
                    "INSERT INTO models (file_hash, path, category, threshold, threshold_source, "
                    "image_size, created, first_used, reference_scores, reference_source) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                    "ON CONFLICT (file_hash) DO NOTHING", "storing a model", error);
  if (insert == NULL)
    return FALSE;
  bind_text (insert, 1, model->file_hash);
  bind_text (insert, 2, model->path);
  bind_text (insert, 3, model->category);
  bind_double (insert, 4, model->threshold);
  bind_text (insert, 5, model->threshold_source);
  sqlite3_bind_int (insert, 6, model->image_size);
  bind_text (insert, 7, model->created);
  bind_time (insert, 8, now);
  bind_scores (insert, 9, model->reference_scores, model->n_reference);
  bind_text (insert, 10, model->reference_source);
  rc = sqlite3_step (insert);
  if (rc != SQLITE_DONE)
    return cp_records_fail (records, rc, "storing a model", error);

  select = prepare (records, "SELECT id, first_used FROM models WHERE file_hash = ?1", "storing a model", error);
  if (select == NULL)
    return FALSE;
  bind_text (select, 1, model->file_hash);
  rc = sqlite3_step (select);
  if (rc != SQLITE_ROW)
    return cp_records_fail (records, rc, "storing a model", error);
  model->id = sqlite3_column_int64 (select, 0);
  model->first_used_us = column_time (select, 1);
  return TRUE;
}

gboolean
cp_records_ensure_model (CpRecords *records, CpModelRecord *model, GError **error)
{
  CpModelRecord copy = *model;

  if (model->file_hash == NULL || model->path == NULL || model->category == NULL)
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_INVALID,
                   "%s: a model needs a file hash, a path and a category", records->path);
      return FALSE;
    }
  if (!begin (records, "storing a model", error))
    return FALSE;
  if (!ensure_model_locked (records, &copy, error) || !commit (records, "storing a model", error))
    {
      rollback (records);
      return FALSE;
    }
  model->id = copy.id;
  model->first_used_us = copy.first_used_us;
  return TRUE;
}

gboolean
cp_records_set_reference (CpRecords *records, gint64 id, const double *scores, int n,
                          const char *source, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = prepare (records,
                                           "UPDATE models SET reference_scores = ?1, reference_source = ?2 "
                                           "WHERE id = ?3", "storing reference scores", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  bind_scores (stmt, 1, scores, n);
  bind_text (stmt, 2, source);
  sqlite3_bind_int64 (stmt, 3, id);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE)
    return cp_records_fail (records, rc, "storing reference scores", error);
  return TRUE;
}

/* ---- parts ----------------------------------------------------------------- */

CpPart *
cp_part_new (void)
{
  CpPart *part = g_new0 (CpPart, 1);

  part->heatmap_max = NAN;
  part->score = NAN;
  part->threshold = NAN;
  return part;
}

void
cp_part_free (CpPart *part)
{
  if (part == NULL)
    return;
  g_free (part->file_path);
  g_free (part->final_path);
  g_free (part->content_hash);
  g_free (part->category);
  g_free (part->model_hash);
  g_free (part->heatmap_path);
  g_free (part->override_note);
  g_free (part->override_by);
  g_free (part);
}

CpPart *
cp_part_copy (const CpPart *part)
{
  CpPart *copy = g_new (CpPart, 1);

  *copy = *part;
  copy->file_path = g_strdup (part->file_path);
  copy->final_path = g_strdup (part->final_path);
  copy->content_hash = g_strdup (part->content_hash);
  copy->category = g_strdup (part->category);
  copy->model_hash = g_strdup (part->model_hash);
  copy->heatmap_path = g_strdup (part->heatmap_path);
  copy->override_note = g_strdup (part->override_note);
  copy->override_by = g_strdup (part->override_by);
  return copy;
}

CpVerdict
cp_part_final_verdict (const CpPart *part)
{
  return part->override_verdict != CP_VERDICT_NONE ? part->override_verdict : part->verdict;
}

#define PART_COLUMNS "p.id, p.time, p.file_path, p.final_path, p.content_hash, p.file_size, " \
                     "p.category, p.model_id, m.file_hash, p.score, p.threshold, p.verdict, " \
                     "p.heatmap_max, p.heatmap_path, p.override_verdict, p.override_note, " \
                     "p.override_by, p.override_time"
#define PART_FROM    " FROM parts p JOIN models m ON m.id = p.model_id"

static CpPart *
part_from_row (sqlite3_stmt *stmt)
{
  CpPart *p = cp_part_new ();

  p->id = sqlite3_column_int64 (stmt, 0);
  p->time_us = column_time (stmt, 1);
  p->file_path = column_text (stmt, 2);
  p->final_path = column_text (stmt, 3);
  p->content_hash = column_text (stmt, 4);
  p->file_size = sqlite3_column_int64 (stmt, 5);
  p->category = column_text (stmt, 6);
  p->model_id = sqlite3_column_int64 (stmt, 7);
  p->model_hash = column_text (stmt, 8);
  p->score = column_double (stmt, 9);
  p->threshold = column_double (stmt, 10);
  p->verdict = verdict_from_text (sqlite3_column_text (stmt, 11));
  p->heatmap_max = column_double (stmt, 12);
  p->heatmap_path = column_text (stmt, 13);
  p->override_verdict = verdict_from_text (sqlite3_column_text (stmt, 14));
  p->override_note = column_text (stmt, 15);
  p->override_by = column_text (stmt, 16);
  p->override_time_us = column_time (stmt, 17);
  return p;
}

static CpPart *
find_part (CpRecords *records, const char *where, const char *a, const char *b, gint64 id, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT " PART_COLUMNS PART_FROM " WHERE %s", where);
  g_autoptr (sqlite3_stmt) stmt = prepare (records, sql, "reading a part", error);
  int rc;

  if (stmt == NULL)
    return NULL;
  if (a)
    {
      bind_text (stmt, 1, a);
      bind_text (stmt, 2, b);
    }
  else
    sqlite3_bind_int64 (stmt, 1, id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return part_from_row (stmt);
  if (rc != SQLITE_DONE)
    cp_records_fail (records, rc, "reading a part", error);
  return NULL;
}

CpPart *
cp_records_find_part (CpRecords *records, const char *file_path, const char *content_hash, GError **error)
{
  return find_part (records, "p.file_path = ?1 AND p.content_hash = ?2", file_path, content_hash, 0, error);
}

CpPart *
cp_records_get_part (CpRecords *records, gint64 id, GError **error)
{
  GError *local = NULL;
  CpPart *p = find_part (records, "p.id = ?1", NULL, NULL, id, &local);

  if (p == NULL && local == NULL)
    g_set_error (&local, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_FOUND, "%s: no part %" G_GINT64_FORMAT,
                 records->path, id);
  if (local)
    g_propagate_error (error, local);
  return p;
}

static gboolean
check_part (CpRecords *records, const CpPart *p, GError **error)
{
  if (p->file_path == NULL || p->content_hash == NULL || p->category == NULL || !isfinite (p->score)
      || !isfinite (p->threshold) || (p->verdict != CP_VERDICT_PASS && p->verdict != CP_VERDICT_FAIL))
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_INVALID,
                   "%s: part %s lacks a path, hash, category, finite score and threshold or verdict",
                   records->path, p->file_path ? p->file_path : "(no path)");
      return FALSE;
    }
  return TRUE;
}

gboolean
cp_records_record_parts (CpRecords *records, CpModelRecord *model, CpPart *const *parts, int n,
                         gboolean *already, GError **error)
{
  g_autoptr (sqlite3_stmt) insert = NULL;
  g_autoptr (sqlite3_stmt) select = NULL;
  g_autofree gint64 *ids = g_new0 (gint64, MAX (n, 1));
  g_autofree gboolean *old = g_new0 (gboolean, MAX (n, 1));
  CpModelRecord m = *model;
  int version;

  for (int i = 0; i < n; i++)
    if (!check_part (records, parts[i], error))
      return FALSE;
  if (!begin (records, "recording parts", error))
    return FALSE;
  /* Another program may have migrated the file since we opened it. */
  if (!cp_records_pragma_int (records, "user_version", &version, error))
    goto fail;
  if (version > CP_RECORDS_SCHEMA_VERSION)
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NEWER_SCHEMA,
                   "%s: a newer cutpaste changed the database to schema version %d while we were "
                   "using it (we write version %d); nothing was written", records->path, version,
                   CP_RECORDS_SCHEMA_VERSION);
      goto fail;
    }
  if (!ensure_model_locked (records, &m, error))
    goto fail;
  insert = prepare (records,
                    "INSERT INTO parts (time, file_path, final_path, content_hash, file_size, category, "
                    "model_id, score, threshold, verdict, heatmap_max, heatmap_path, override_verdict, "
                    "override_note, override_by, override_time) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
                    "ON CONFLICT (file_path, content_hash) DO NOTHING", "recording parts", error);
  select = prepare (records, "SELECT id FROM parts WHERE file_path = ?1 AND content_hash = ?2",
                    "recording parts", error);
  if (insert == NULL || select == NULL)
    goto fail;
  for (int i = 0; i < n; i++)
    {
      const CpPart *p = parts[i];
      int rc;

      sqlite3_reset (insert);
      sqlite3_clear_bindings (insert);
      bind_time (insert, 1, p->time_us);
      bind_text (insert, 2, p->file_path);
      bind_text (insert, 3, p->final_path ? p->final_path : p->file_path);
      bind_text (insert, 4, p->content_hash);
      sqlite3_bind_int64 (insert, 5, p->file_size);
      bind_text (insert, 6, p->category);
      sqlite3_bind_int64 (insert, 7, m.id);
      sqlite3_bind_double (insert, 8, p->score);
      sqlite3_bind_double (insert, 9, p->threshold);
      bind_text (insert, 10, cp_verdict_to_string (p->verdict));
      bind_double (insert, 11, p->heatmap_max);
      bind_text (insert, 12, p->heatmap_path);
      if (p->override_verdict != CP_VERDICT_NONE)
        {
          bind_text (insert, 13, cp_verdict_to_string (p->override_verdict));
          bind_text (insert, 14, p->override_note);
          bind_text (insert, 15, p->override_by);
          bind_time (insert, 16, p->override_time_us);
        }
      rc = sqlite3_step (insert);
      if (rc != SQLITE_DONE)
        {
          g_autofree char *what = g_strdup_printf ("recording %s", p->file_path);
          cp_records_fail (records, rc, what, error);
          goto fail;
        }
      if (sqlite3_changes (records->db) == 1)
        {
          ids[i] = sqlite3_last_insert_rowid (records->db);
          continue;
        }
      /* Already recorded (a restart, or a second watcher on the folder). */
      old[i] = TRUE;
      sqlite3_reset (select);
      bind_text (select, 1, p->file_path);
      bind_text (select, 2, p->content_hash);
      rc = sqlite3_step (select);
      if (rc != SQLITE_ROW)
        {
          cp_records_fail (records, rc, "recording parts", error);
          goto fail;
        }
      ids[i] = sqlite3_column_int64 (select, 0);
    }
  g_clear_pointer (&insert, sqlite3_finalize);
  g_clear_pointer (&select, sqlite3_finalize);
  if (!commit (records, "recording parts", error))
    goto fail;

  model->id = m.id;
  model->first_used_us = m.first_used_us;
  for (int i = 0; i < n; i++)
    {
      parts[i]->id = ids[i];
      parts[i]->model_id = m.id;
      if (already)
        already[i] = old[i];
    }
  return TRUE;

fail:
  g_clear_pointer (&insert, sqlite3_finalize);
  g_clear_pointer (&select, sqlite3_finalize);
  rollback (records);
  return FALSE;
}

static gboolean
set_override (CpRecords *records, const char *where, gint64 id, const char *hash, CpVerdict verdict,
              const char *note, const char *operator_name, int *changed, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("UPDATE parts SET override_verdict = ?1, override_note = ?2, "
                                          "override_by = ?3, override_time = ?4 WHERE %s", where);
  g_autoptr (sqlite3_stmt) stmt = prepare (records, sql, "storing an override", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  if (verdict == CP_VERDICT_NONE)
    {
      for (int i = 1; i <= 4; i++)
        sqlite3_bind_null (stmt, i);
    }
  else
    {
      bind_text (stmt, 1, cp_verdict_to_string (verdict));
      bind_text (stmt, 2, note);
      bind_text (stmt, 3, operator_name ? operator_name : g_get_user_name ());
      bind_time (stmt, 4, g_get_real_time ());
    }
  if (hash)
    bind_text (stmt, 5, hash);
  else
    sqlite3_bind_int64 (stmt, 5, id);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_DONE)
    return cp_records_fail (records, rc, "storing an override", error);
  if (changed)
    *changed = sqlite3_changes (records->db);
  return TRUE;
}

gboolean
cp_records_set_override (CpRecords *records, gint64 id, CpVerdict verdict, const char *note,
                         const char *operator_name, GError **error)
{
  int changed = 0;

  if (!set_override (records, "id = ?5", id, NULL, verdict, note, operator_name, &changed, error))
    return FALSE;
  if (changed == 0)
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_FOUND, "%s: no part %" G_GINT64_FORMAT,
                   records->path, id);
      return FALSE;
    }
  return TRUE;
}

gboolean
cp_records_set_override_by_hash (CpRecords *records, const char *content_hash, CpVerdict verdict,
                                 const char *note, const char *operator_name, int *changed, GError **error)
{
  return set_override (records, "content_hash = ?5", 0, content_hash, verdict, note, operator_name,
                       changed, error);
}

/* ---- queries ---------------------------------------------------------------- */

void
cp_part_query_init (CpPartQuery *query)
{
  memset (query, 0, sizeof *query);
  query->from_us = G_MININT64;
  query->to_us = G_MAXINT64;
  query->order = CP_PART_ORDER_TIME;
}

/* The WHERE clause of @q with numbered parameters starting at ?1; bind
 * them with bind_query. */
static char *
query_where (const CpPartQuery *q)
{
  GString *s = g_string_new (" WHERE 1");

  if (q->from_us != G_MININT64)
    g_string_append (s, " AND p.time >= ?1");
  if (q->to_us != G_MAXINT64)
    g_string_append (s, " AND p.time < ?2");
  if (q->category)
    g_string_append (s, " AND p.category = ?3");
  if (q->model_id > 0)
    g_string_append (s, " AND p.model_id = ?4");
  if (q->verdict != CP_VERDICT_NONE)
    g_string_append (s, " AND p.verdict = ?5");
  if (q->overridden_only)
    g_string_append (s, " AND p.override_verdict IS NOT NULL");
  return g_string_free (s, FALSE);
}

static void
bind_query (sqlite3_stmt *stmt, const CpPartQuery *q)
{
  if (q->from_us != G_MININT64)
    bind_time (stmt, 1, q->from_us);
  if (q->to_us != G_MAXINT64)
    bind_time (stmt, 2, q->to_us);
  if (q->category)
    bind_text (stmt, 3, q->category);
  if (q->model_id > 0)
    sqlite3_bind_int64 (stmt, 4, q->model_id);
  if (q->verdict != CP_VERDICT_NONE)
    bind_text (stmt, 5, cp_verdict_to_string (q->verdict));
}

GPtrArray *
cp_records_list_parts (CpRecords *records, const CpPartQuery *query, GError **error)
{
  g_autofree char *where = query_where (query);
  g_autofree char *limit = query->limit > 0 ? g_strdup_printf (" LIMIT %d", query->limit) : g_strdup ("");
  const char *order = query->order == CP_PART_ORDER_TIME_DESC ? " ORDER BY p.time DESC, p.id DESC"
                    : query->order == CP_PART_ORDER_SCORE_DESC ? " ORDER BY p.score DESC, p.id"
                    : " ORDER BY p.time, p.id";
  g_autofree char *sql = g_strconcat ("SELECT " PART_COLUMNS PART_FROM, where, order, limit, NULL);
  g_autoptr (sqlite3_stmt) stmt = prepare (records, sql, "listing parts", error);
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_part_free);
  int rc;

  if (stmt == NULL)
    return NULL;
  bind_query (stmt, query);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (parts, part_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      cp_records_fail (records, rc, "listing parts", error);
      return NULL;
    }
  return g_steal_pointer (&parts);
}

gboolean
cp_records_count_parts (CpRecords *records, const CpPartQuery *query, CpPartCounts *counts, GError **error)
{
  g_autofree char *where = query_where (query);
  g_autofree char *sql = g_strconcat (
    "SELECT count(*), "
    "  coalesce (sum (p.verdict = 'pass'), 0), coalesce (sum (p.verdict = 'fail'), 0), "
    "  coalesce (sum (p.override_verdict IS NOT NULL), 0), "
    "  coalesce (sum (coalesce (p.override_verdict, p.verdict) = 'pass'), 0), "
    "  min (p.time), max (p.time)"
    " FROM parts p", where, NULL);
  g_autoptr (sqlite3_stmt) stmt = prepare (records, sql, "counting parts", error);
  int rc;

  memset (counts, 0, sizeof *counts);
  counts->yield = NAN;
  if (stmt == NULL)
    return FALSE;
  bind_query (stmt, query);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    return cp_records_fail (records, rc, "counting parts", error);
  counts->total = sqlite3_column_int64 (stmt, 0);
  counts->passed = sqlite3_column_int64 (stmt, 1);
  counts->failed = sqlite3_column_int64 (stmt, 2);
  counts->overridden = sqlite3_column_int64 (stmt, 3);
  counts->final_passed = sqlite3_column_int64 (stmt, 4);
  counts->final_failed = counts->total - counts->final_passed;
  counts->first_us = column_time (stmt, 5);
  counts->last_us = column_time (stmt, 6);
  if (counts->total > 0)
    counts->yield = (double) counts->final_passed / counts->total;
  return TRUE;
}

GArray *
cp_records_yield_buckets (CpRecords *records, const CpPartQuery *query, gint64 width_us, GError **error)
{
  g_autofree char *where = query_where (query);
  g_autofree char *sql = g_strconcat ("SELECT p.time, coalesce (p.override_verdict, p.verdict) = 'pass'"
                                      " FROM parts p", where, " ORDER BY p.time", NULL);
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autoptr (GArray) buckets = g_array_new (FALSE, TRUE, sizeof (CpYieldBucket));
  int rc;

  if (width_us <= 0)
    {
      g_set_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_INVALID, "%s: bucket width must be positive",
                   records->path);
      return NULL;
    }
  stmt = prepare (records, sql, "reading the yield", error);
  if (stmt == NULL)
    return NULL;
  bind_query (stmt, query);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 t = column_time (stmt, 0);
      gint64 start = t - (((t % width_us) + width_us) % width_us);
      CpYieldBucket *last;

      if (buckets->len == 0)
        g_array_append_val (buckets, ((CpYieldBucket) { start, 0, 0 }));
      last = &g_array_index (buckets, CpYieldBucket, buckets->len - 1);
      while (last->start_us < start)
        {
          CpYieldBucket next = { last->start_us + width_us, 0, 0 };
          g_array_append_val (buckets, next);
          last = &g_array_index (buckets, CpYieldBucket, buckets->len - 1);
        }
      last->total++;
      last->final_passed += sqlite3_column_int (stmt, 1);
    }
  if (rc != SQLITE_DONE)
    {
      cp_records_fail (records, rc, "reading the yield", error);
      return NULL;
    }
  return g_steal_pointer (&buckets);
}

GArray *
cp_records_recent_passed_scores (CpRecords *records, gint64 model_id, int limit, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = prepare (records,
                                           "SELECT score FROM (SELECT score, time, id FROM parts "
                                           "WHERE model_id = ?1 AND verdict = 'pass' "
                                           "ORDER BY time DESC, id DESC LIMIT ?2) ORDER BY time, id",
                                           "reading recent scores", error);
  g_autoptr (GArray) scores = g_array_new (FALSE, FALSE, sizeof (double));
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, model_id);
  sqlite3_bind_int (stmt, 2, limit > 0 ? limit : -1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      double s = sqlite3_column_double (stmt, 0);
      g_array_append_val (scores, s);
    }
  if (rc != SQLITE_DONE)
    {
      cp_records_fail (records, rc, "reading recent scores", error);
      return NULL;
    }
  return g_steal_pointer (&scores);
}

/* ---- refits ----------------------------------------------------------------- */

void
cp_refit_record_free (CpRefitRecord *refit)
{
  if (refit == NULL)
    return;
  g_free (refit->model_path);
  g_free (refit->model_hash_before);
  g_free (refit->model_hash_after);
  g_free (refit->image_path);
  g_free (refit->source_path);
  g_free (refit->content_hash);
  g_free (refit->operator_name);
  g_free (refit->note);
  g_free (refit);
}

gboolean
cp_records_add_refits (CpRecords *records, CpRefitRecord *const *refits, int n, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = NULL;
  g_autofree gint64 *ids = g_new0 (gint64, MAX (n, 1));

  if (!begin (records, "recording a refit", error))
    return FALSE;
  stmt = prepare (records,
                  "INSERT INTO refits (time, action, model_path, model_hash_before, model_hash_after, "
                  "image_path, source_path, content_hash, operator, note, threshold_before, threshold_after) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)", "recording a refit", error);
  if (stmt == NULL)
    goto fail;
  for (int i = 0; i < n; i++)
    {
      const CpRefitRecord *r = refits[i];
      int rc;

      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      bind_time (stmt, 1, r->time_us);
      bind_text (stmt, 2, r->added ? "add" : "remove");
      bind_text (stmt, 3, r->model_path);
      bind_text (stmt, 4, r->model_hash_before);
      bind_text (stmt, 5, r->model_hash_after);
      bind_text (stmt, 6, r->image_path);
      bind_text (stmt, 7, r->source_path);
      bind_text (stmt, 8, r->content_hash);
      bind_text (stmt, 9, r->operator_name ? r->operator_name : g_get_user_name ());
      bind_text (stmt, 10, r->note);
      bind_double (stmt, 11, r->threshold_before);
      bind_double (stmt, 12, r->threshold_after);
      rc = sqlite3_step (stmt);
      if (rc != SQLITE_DONE)
        {
          cp_records_fail (records, rc, "recording a refit", error);
          goto fail;
        }
      ids[i] = sqlite3_last_insert_rowid (records->db);
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  if (!commit (records, "recording a refit", error))
    goto fail;
  for (int i = 0; i < n; i++)
    refits[i]->id = ids[i];
  return TRUE;

fail:
  g_clear_pointer (&stmt, sqlite3_finalize);
  rollback (records);
  return FALSE;
}

GPtrArray *
cp_records_list_refits (CpRecords *records, gint64 from_us, gint64 to_us, GError **error)
{
  g_autoptr (sqlite3_stmt) stmt = prepare (records,
                                           "SELECT id, time, action, model_path, model_hash_before, "
                                           "model_hash_after, image_path, source_path, content_hash, "
                                           "operator, note, threshold_before, threshold_after FROM refits "
                                           "WHERE time >= ?1 AND time < ?2 ORDER BY time, id",
                                           "listing refits", error);
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_refit_record_free);
  int rc;

  if (stmt == NULL)
    return NULL;
  /* Open bounds as text that sorts before / after every time. */
  if (from_us == G_MININT64)
    bind_text (stmt, 1, "");
  else
    bind_time (stmt, 1, from_us);
  if (to_us == G_MAXINT64)
    bind_text (stmt, 2, "~");
  else
    bind_time (stmt, 2, to_us);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      CpRefitRecord *r = g_new0 (CpRefitRecord, 1);

      r->id = sqlite3_column_int64 (stmt, 0);
      r->time_us = column_time (stmt, 1);
      r->added = g_strcmp0 ((const char *) sqlite3_column_text (stmt, 2), "add") == 0;
      r->model_path = column_text (stmt, 3);
      r->model_hash_before = column_text (stmt, 4);
      r->model_hash_after = column_text (stmt, 5);
      r->image_path = column_text (stmt, 6);
      r->source_path = column_text (stmt, 7);
      r->content_hash = column_text (stmt, 8);
      r->operator_name = column_text (stmt, 9);
      r->note = column_text (stmt, 10);
      r->threshold_before = column_double (stmt, 11);
      r->threshold_after = column_double (stmt, 12);
      g_ptr_array_add (list, r);
    }
  if (rc != SQLITE_DONE)
    {
      cp_records_fail (records, rc, "listing refits", error);
      return NULL;
    }
  return g_steal_pointer (&list);
}
