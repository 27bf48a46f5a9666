/* test-records.c: the line database: a new file gets the schema, WAL and
 * foreign keys; parts are recorded once per (path, content) and in one
 * transaction; a newer or foreign database is refused and left as it was;
 * a lock held by another connection gives a "busy" error that a retry
 * gets past; overrides, counts, yield buckets, recent scores and refits
 * read back what was written. */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "line/records.h"
#include "line/records-private.h"
#include "test-support.h"

static char *work_root;

static char *
db_path (const char *name)
{
  char *path = g_build_filename (work_root, name, NULL);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (path, "-shm", NULL);

  g_unlink (path);
  g_unlink (wal);
  g_unlink (shm);
  return path;
}

static CpModelRecord *
test_model (const char *hash)
{
  CpModelRecord *m = g_new0 (CpModelRecord, 1);

  m->file_hash = g_strdup (hash);
  m->path = g_strdup ("/models/weave.safetensors");
  m->category = g_strdup ("weave");
  m->threshold = 10.0;
  m->threshold_source = g_strdup ("cross-validation");
  m->image_size = 64;
  m->created = g_strdup ("2026-01-01T00:00:00Z");
  return m;
}

static CpPart *
test_part (const char *name, const char *hash, gint64 time_us, double score)
{
  CpPart *p = cp_part_new ();

  p->time_us = time_us;
  p->file_path = g_strdup_printf ("/in/%s", name);
  p->content_hash = g_strdup (hash);
  p->file_size = 1234;
  p->category = g_strdup ("weave");
  p->score = score;
  p->threshold = 10.0;
  p->verdict = score > 10.0 ? CP_VERDICT_FAIL : CP_VERDICT_PASS;
  return p;
}

/* A raw connection, as another program would have. */
static sqlite3 *
raw_open (const char *path)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  return db;
}

static int
raw_int (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  int v;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  v = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  return v;
}

static char *
raw_text (sqlite3 *db, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  char *v;

  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  v = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  return v;
}

static void
test_new_database (void)
{
  g_autofree char *path = db_path ("new.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = cp_records_open (path, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  sqlite3 *db;
  g_autofree char *mode = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (rec);
  db = raw_open (path);
  g_assert_cmpint (raw_int (db, "PRAGMA user_version"), ==, CP_RECORDS_SCHEMA_VERSION);
  g_assert_cmpint (raw_int (db, "PRAGMA application_id"), ==, CP_RECORDS_APPLICATION_ID);
  mode = raw_text (db, "PRAGMA journal_mode");
  g_assert_cmpstr (mode, ==, "wal");
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                "name IN ('models', 'parts', 'refits')"), ==, 3);
  sqlite3_close (db);

  /* Our connection enforces foreign keys: a part of a model that does not
   * exist is refused. */
  g_assert_cmpint (sqlite3_exec (rec->db, "INSERT INTO parts (time, file_path, final_path, content_hash, "
                                          "file_size, category, model_id, score, threshold, verdict) "
                                          "VALUES ('t', 'a', 'a', 'h', 1, 'c', 999, 1, 2, 'pass')",
                                 NULL, NULL, NULL), ==, SQLITE_CONSTRAINT_FOREIGNKEY);
  /* Reopening an up-to-date file changes nothing. */
  g_clear_pointer (&rec, cp_records_close);
  rec = cp_records_open (path, CP_RECORDS_OPEN_EXISTING, 0, &error);
  g_assert_no_error (error);

  /* EXISTING refuses a missing file and creates nothing. */
  {
    g_autofree char *missing = db_path ("missing.sqlite");
    CpRecords *none = cp_records_open (missing, CP_RECORDS_OPEN_EXISTING, 0, &error);
    g_assert_null (none);
    g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_FOUND);
    g_assert_nonnull (strstr (error->message, missing));
    g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
    g_clear_error (&error);
  }
}

static void
test_migration_from_empty_file (void)
{
  /* A zero-length file (touch db.sqlite) is a valid empty database:
   * version 0, migrated up. */
  g_autofree char *path = db_path ("empty.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = NULL;
  sqlite3 *db;

  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  rec = cp_records_open (path, CP_RECORDS_OPEN_EXISTING, 0, &error);
  g_assert_no_error (error);
  db = raw_open (path);
  g_assert_cmpint (raw_int (db, "PRAGMA user_version"), ==, CP_RECORDS_SCHEMA_VERSION);
  sqlite3_close (db);
}

static void
test_newer_and_foreign_refused (void)
{
  g_autofree char *newer = db_path ("newer.sqlite");
  g_autofree char *foreign = db_path ("foreign.sqlite");
  g_autofree char *text = db_path ("text.sqlite");
  g_autofree char *before = NULL, *after = NULL;
  g_autoptr (GError) error = NULL;
  gsize len_before = 0, len_after = 0;
  CpRecords *rec;
  sqlite3 *db;

  /* A database a newer program wrote: version + 1 with a table we do not
   * know. */
  rec = cp_records_open (newer, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_assert_no_error (error);
  cp_records_close (rec);
  db = raw_open (newer);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE cameras (id INTEGER PRIMARY KEY); "
                                     "PRAGMA user_version = 2;", NULL, NULL, NULL), ==, SQLITE_OK);
  /* Back to a rollback journal, so that the file alone holds everything
   * and can be compared byte for byte. */
  g_assert_cmpint (sqlite3_exec (db, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  g_assert_true (g_file_get_contents (newer, &before, &len_before, NULL));
  rec = cp_records_open (newer, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_assert_null (rec);
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NEWER_SCHEMA);
  g_assert_nonnull (strstr (error->message, newer));
  g_assert_nonnull (strstr (error->message, "schema version 2"));
  g_assert_nonnull (strstr (error->message, "newer cutpaste"));
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (newer, &after, &len_after, NULL));
  g_assert_true (len_before == len_after && memcmp (before, after, len_before) == 0);

  /* Another application's SQLite file. */
  db = raw_open (foreign);
  g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE invoices (id INTEGER); PRAGMA journal_mode = DELETE;",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  rec = cp_records_open (foreign, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_assert_null (rec);
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_RECORDS);
  g_assert_nonnull (strstr (error->message, foreign));
  g_clear_error (&error);
  db = raw_open (foreign);
  g_assert_cmpint (raw_int (db, "PRAGMA user_version"), ==, 0);
  g_assert_cmpint (raw_int (db, "SELECT count(*) FROM sqlite_master"), ==, 1);
  sqlite3_close (db);

  /* Not SQLite at all. */
  g_assert_true (g_file_set_contents (text, "part,score\na.png,1.0\n", -1, NULL));
  rec = cp_records_open (text, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_assert_null (rec);
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_RECORDS);
  g_assert_nonnull (strstr (error->message, text));
  g_clear_error (&error);
  {
    g_autofree char *contents = NULL;
    g_assert_true (g_file_get_contents (text, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "part,score\na.png,1.0\n");
  }

  /* A folder. */
  rec = cp_records_open (work_root, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_assert_null (rec);
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_IO);
  g_clear_error (&error);
}

static void
test_parts_once (void)
{
  g_autofree char *path = db_path ("parts.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = cp_records_open (path, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_autoptr (CpModelRecord) model = test_model ("aaaa");
  gint64 t0 = 1767225600LL * G_USEC_PER_SEC;   /* 2026-01-01T00:00:00Z */
  CpPart *parts[3];
  gboolean already[3];
  g_autoptr (CpPart) found = NULL;

  g_assert_no_error (error);
  parts[0] = test_part ("a.png", "h1", t0, 5.0);
  parts[1] = test_part ("b.png", "h2", t0 + 1000, 12.5);
  parts[2] = test_part ("c.png", "h3", t0 + 2000, 7.25);
  parts[1]->final_path = g_strdup ("/fail/b.png");
  parts[1]->heatmap_max = 3.5;
  parts[1]->heatmap_path = g_strdup ("/heat/h2.png");
  g_assert_true (cp_records_record_parts (rec, model, parts, 3, already, &error));
  g_assert_no_error (error);
  g_assert_cmpint (model->id, >, 0);
  for (int i = 0; i < 3; i++)
    {
      g_assert_cmpint (parts[i]->id, >, 0);
      g_assert_false (already[i]);
    }

  /* The same file again (a restart): not a second row. */
  {
    g_autoptr (CpPart) again = test_part ("a.png", "h1", t0 + 5000, 5.0);
    g_autoptr (CpPart) changed = test_part ("a.png", "h9", t0 + 6000, 6.0);
    CpPart *both[2] = { again, changed };
    gboolean old[2];
    CpPartCounts counts;
    CpPartQuery q;

    g_assert_true (cp_records_record_parts (rec, model, both, 2, old, &error));
    g_assert_true (old[0]);
    g_assert_cmpint (again->id, ==, parts[0]->id);
    /* Same name, new content: a new part. */
    g_assert_false (old[1]);
    cp_part_query_init (&q);
    g_assert_true (cp_records_count_parts (rec, &q, &counts, &error));
    g_assert_cmpint (counts.total, ==, 4);
    g_assert_cmpint (counts.passed, ==, 3);
    g_assert_cmpint (counts.failed, ==, 1);
    g_assert_cmpfloat (counts.yield, ==, 0.75);
    g_assert_cmpint (counts.first_us, ==, t0);
    g_assert_cmpint (counts.last_us, ==, t0 + 6000);
  }

  found = cp_records_find_part (rec, "/in/b.png", "h2", &error);
  g_assert_no_error (error);
  g_assert_nonnull (found);
  g_assert_cmpint (found->time_us, ==, t0 + 1000);
  g_assert_cmpstr (found->final_path, ==, "/fail/b.png");
  g_assert_cmpstr (found->model_hash, ==, "aaaa");
  g_assert_cmpfloat (found->score, ==, 12.5);
  g_assert_cmpfloat (found->heatmap_max, ==, 3.5);
  g_assert_cmpstr (found->heatmap_path, ==, "/heat/h2.png");
  g_assert_cmpint (found->verdict, ==, CP_VERDICT_FAIL);
  g_assert_cmpint (found->override_verdict, ==, CP_VERDICT_NONE);
  g_assert_cmpint (cp_part_final_verdict (found), ==, CP_VERDICT_FAIL);
  {
    g_autoptr (CpPart) a = cp_records_find_part (rec, "/in/a.png", "h1", &error);
    g_autoptr (CpPart) none = cp_records_find_part (rec, "/in/zzz.png", "h1", &error);
    g_assert_nonnull (a);
    g_assert_cmpstr (a->final_path, ==, "/in/a.png");
    g_assert_true (isnan (a->heatmap_max));
    g_assert_null (none);
    g_assert_no_error (error);
  }

  /* A part that cannot be stored makes the whole batch fail: nothing of
   * it is written. */
  {
    g_autoptr (CpPart) good = test_part ("d.png", "h4", t0 + 7000, 1.0);
    g_autoptr (CpPart) bad = test_part ("e.png", "h5", t0 + 8000, NAN);
    CpPart *batch[2] = { good, bad };

    g_assert_false (cp_records_record_parts (rec, model, batch, 2, NULL, &error));
    g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "/in/e.png"));
    g_clear_error (&error);
    g_assert_cmpint (good->id, ==, 0);
    g_assert_null (cp_records_find_part (rec, "/in/d.png", "h4", &error));
    g_assert_no_error (error);
  }

  /* An override, by id and by hash. */
  g_assert_true (cp_records_set_override (rec, parts[1]->id, CP_VERDICT_PASS, "glare, not a scratch",
                                          "ana", &error));
  g_clear_pointer (&found, cp_part_free);
  found = cp_records_get_part (rec, parts[1]->id, &error);
  g_assert_cmpint (found->override_verdict, ==, CP_VERDICT_PASS);
  g_assert_cmpstr (found->override_note, ==, "glare, not a scratch");
  g_assert_cmpstr (found->override_by, ==, "ana");
  g_assert_cmpint (found->override_time_us, >, 0);
  g_assert_cmpint (cp_part_final_verdict (found), ==, CP_VERDICT_PASS);
  g_assert_false (cp_records_set_override (rec, 99999, CP_VERDICT_PASS, NULL, NULL, &error));
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NOT_FOUND);
  g_clear_error (&error);
  {
    int changed = -1;
    g_assert_true (cp_records_set_override_by_hash (rec, "h3", CP_VERDICT_FAIL, "dent", "bo", &changed, &error));
    g_assert_cmpint (changed, ==, 1);
    g_assert_true (cp_records_set_override_by_hash (rec, "nothing", CP_VERDICT_FAIL, NULL, NULL, &changed, &error));
    g_assert_cmpint (changed, ==, 0);
  }

  /* Queries: newest first, worst first, overridden only, counts with
   * overrides, a time window. */
  {
    CpPartQuery q;
    g_autoptr (GPtrArray) list = NULL;
    CpPartCounts counts;

    cp_part_query_init (&q);
    q.order = CP_PART_ORDER_TIME_DESC;
    q.limit = 2;
    list = cp_records_list_parts (rec, &q, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 2);
    g_assert_cmpstr (((CpPart *) list->pdata[0])->content_hash, ==, "h9");
    g_assert_cmpstr (((CpPart *) list->pdata[1])->content_hash, ==, "h3");
    g_clear_pointer (&list, g_ptr_array_unref);

    cp_part_query_init (&q);
    q.order = CP_PART_ORDER_SCORE_DESC;
    list = cp_records_list_parts (rec, &q, &error);
    g_assert_cmpuint (list->len, ==, 4);
    g_assert_cmpfloat (((CpPart *) list->pdata[0])->score, ==, 12.5);
    g_clear_pointer (&list, g_ptr_array_unref);

    cp_part_query_init (&q);
    q.overridden_only = TRUE;
    list = cp_records_list_parts (rec, &q, &error);
    g_assert_cmpuint (list->len, ==, 2);
    g_clear_pointer (&list, g_ptr_array_unref);

    cp_part_query_init (&q);
    g_assert_true (cp_records_count_parts (rec, &q, &counts, &error));
    g_assert_cmpint (counts.overridden, ==, 2);
    /* b failed but was passed by hand; c passed but was failed by hand. */
    g_assert_cmpint (counts.final_passed, ==, 3);
    g_assert_cmpint (counts.final_failed, ==, 1);

    cp_part_query_init (&q);
    q.from_us = t0 + 1000;
    q.to_us = t0 + 2000;
    list = cp_records_list_parts (rec, &q, &error);
    g_assert_cmpuint (list->len, ==, 1);
    g_assert_cmpstr (((CpPart *) list->pdata[0])->content_hash, ==, "h2");
    g_clear_pointer (&list, g_ptr_array_unref);

    cp_part_query_init (&q);
    q.category = "washer";
    g_assert_true (cp_records_count_parts (rec, &q, &counts, &error));
    g_assert_cmpint (counts.total, ==, 0);
    g_assert_true (isnan (counts.yield));
  }
  for (int i = 0; i < 3; i++)
    cp_part_free (parts[i]);
}

static void
test_yield_and_recent (void)
{
  g_autofree char *path = db_path ("yield.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = cp_records_open (path, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_autoptr (CpModelRecord) m1 = test_model ("m1");
  g_autoptr (CpModelRecord) m2 = test_model ("m2");
  gint64 hour = 3600LL * G_USEC_PER_SEC, t0 = 1767225600LL * G_USEC_PER_SEC;
  g_autoptr (GArray) buckets = NULL;
  g_autoptr (GArray) recent = NULL;
  CpPartQuery q;

  /* Hour 0: 3 parts (1 fail); hour 1: none; hour 2: 2 parts (0 fail). */
  for (int i = 0; i < 5; i++)
    {
      static const double scores[] = { 1, 11, 2, 3, 4 };
      static const int hours[] = { 0, 0, 0, 2, 2 };
      g_autofree char *name = g_strdup_printf ("p%d.png", i);
      g_autofree char *hash = g_strdup_printf ("h%d", i);
      g_autoptr (CpPart) p = test_part (name, hash, t0 + hours[i] * hour + i * G_USEC_PER_SEC, scores[i]);
      CpPart *one[1] = { p };

      g_assert_true (cp_records_record_parts (rec, i < 3 ? m1 : m2, one, 1, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpint (m1->id, !=, m2->id);
  cp_part_query_init (&q);
  buckets = cp_records_yield_buckets (rec, &q, hour, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (buckets->len, ==, 3);
  g_assert_cmpint (g_array_index (buckets, CpYieldBucket, 0).start_us, ==, t0);
  g_assert_cmpint (g_array_index (buckets, CpYieldBucket, 0).total, ==, 3);
  g_assert_cmpint (g_array_index (buckets, CpYieldBucket, 0).final_passed, ==, 2);
  g_assert_cmpint (g_array_index (buckets, CpYieldBucket, 1).total, ==, 0);
  g_assert_cmpint (g_array_index (buckets, CpYieldBucket, 2).start_us, ==, t0 + 2 * hour);
  g_assert_cmpint (g_array_index (buckets, CpYieldBucket, 2).final_passed, ==, 2);

  /* Passed parts of model 1 only, oldest first, the last 1. */
  recent = cp_records_recent_passed_scores (rec, m1->id, 10, &error);
  g_assert_cmpuint (recent->len, ==, 2);
  g_assert_cmpfloat (g_array_index (recent, double, 0), ==, 1);
  g_assert_cmpfloat (g_array_index (recent, double, 1), ==, 2);
  g_clear_pointer (&recent, g_array_unref);
  recent = cp_records_recent_passed_scores (rec, m1->id, 1, &error);
  g_assert_cmpuint (recent->len, ==, 1);
  g_assert_cmpfloat (g_array_index (recent, double, 0), ==, 2);

  /* Reference scores round-trip exactly. */
  {
    double ref[] = { 0.1, 2.5, 1e-300, 7.0 / 3.0 };
    g_autoptr (CpModelRecord) back = NULL;
    g_autoptr (GPtrArray) models = NULL;

    g_assert_true (cp_records_set_reference (rec, m1->id, ref, 4, "cross-validation", &error));
    back = cp_records_find_model (rec, "m1", &error);
    g_assert_nonnull (back);
    g_assert_cmpint (back->n_reference, ==, 4);
    for (int i = 0; i < 4; i++)
      g_assert_true (back->reference_scores[i] == ref[i]);
    g_assert_cmpstr (back->reference_source, ==, "cross-validation");
    g_assert_cmpint (back->first_used_us, >, 0);
    g_assert_null (cp_records_find_model (rec, "zz", &error));
    g_assert_no_error (error);
    models = cp_records_list_models (rec, &error);
    g_assert_cmpuint (models->len, ==, 2);
  }
}

static void
test_busy (void)
{
  g_autofree char *path = db_path ("busy.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = cp_records_open (path, CP_RECORDS_OPEN_DEFAULT, 100, &error);
  g_autoptr (CpModelRecord) model = test_model ("b1");
  g_autoptr (CpPart) p = test_part ("x.png", "hx", 1, 1.0);
  CpPart *one[1] = { p };
  sqlite3 *other;

  g_assert_no_error (error);
  /* Another program holds the write lock. */
  other = raw_open (path);
  g_assert_cmpint (sqlite3_exec (other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_false (cp_records_record_parts (rec, model, one, 1, NULL, &error));
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  g_assert_cmpint (p->id, ==, 0);
  /* Readers are not blocked in WAL mode. */
  g_assert_null (cp_records_find_part (rec, "/in/x.png", "hx", &error));
  g_assert_no_error (error);
  /* Once it lets go, the same parts are recorded. */
  g_assert_cmpint (sqlite3_exec (other, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (other);
  g_assert_true (cp_records_record_parts (rec, model, one, 1, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (p->id, >, 0);
}

static void
test_migrated_meanwhile (void)
{
  g_autofree char *path = db_path ("meanwhile.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = cp_records_open (path, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  g_autoptr (CpModelRecord) model = test_model ("c1");
  g_autoptr (CpPart) p = test_part ("y.png", "hy", 1, 1.0);
  CpPart *one[1] = { p };
  sqlite3 *other = raw_open (path);

  /* A newer program migrates the file while we hold it open. */
  g_assert_cmpint (sqlite3_exec (other, "PRAGMA user_version = 7", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (other);
  g_assert_false (cp_records_record_parts (rec, model, one, 1, NULL, &error));
  g_assert_error (error, CP_RECORDS_ERROR, CP_RECORDS_ERROR_NEWER_SCHEMA);
  g_assert_nonnull (strstr (error->message, "schema version 7"));
  g_clear_error (&error);
  other = raw_open (path);
  g_assert_cmpint (raw_int (other, "SELECT count(*) FROM parts"), ==, 0);
  g_assert_cmpint (raw_int (other, "SELECT count(*) FROM models"), ==, 0);
  sqlite3_close (other);
}

static void
test_refits_and_times (void)
{
  g_autofree char *path = db_path ("refits.sqlite");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) rec = cp_records_open (path, CP_RECORDS_OPEN_DEFAULT, 0, &error);
  CpRefitRecord r = { 0 };
  CpRefitRecord *one[1] = { &r };
  g_autoptr (GPtrArray) list = NULL;
  g_autofree char *text = NULL;
  gint64 t = 0;

  r.time_us = 1767225600LL * G_USEC_PER_SEC + 6;
  r.added = TRUE;
  r.model_path = "/m/weave.safetensors";
  r.model_hash_before = "before";
  r.model_hash_after = "after";
  r.image_path = "/d/weave/train/good/refit-x.png";
  r.source_path = "/fail/x.png";
  r.content_hash = "hx";
  r.operator_name = "ana";
  r.note = "glare";
  r.threshold_before = 10;
  r.threshold_after = 11;
  g_assert_true (cp_records_add_refits (rec, one, 1, &error));
  g_assert_cmpint (r.id, >, 0);
  list = cp_records_list_refits (rec, G_MININT64, G_MAXINT64, &error);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpint (((CpRefitRecord *) list->pdata[0])->time_us, ==, r.time_us);
  g_assert_true (((CpRefitRecord *) list->pdata[0])->added);
  g_assert_cmpstr (((CpRefitRecord *) list->pdata[0])->operator_name, ==, "ana");
  g_assert_cmpfloat (((CpRefitRecord *) list->pdata[0])->threshold_after, ==, 11);

  text = cp_records_format_time (r.time_us);
  g_assert_cmpstr (text, ==, "2026-01-01T00:00:00.000006Z");
  g_assert_true (cp_records_parse_time (text, &t));
  g_assert_cmpint (t, ==, r.time_us);
  g_assert_true (cp_records_parse_time ("2026-01-01T01:00:00+01:00", &t));
  g_assert_cmpint (t, ==, 1767225600LL * G_USEC_PER_SEC);
  g_assert_true (cp_records_parse_time ("2026-01-01 06:30Z", &t));
  g_assert_cmpint (t, ==, (1767225600LL + 6 * 3600 + 30 * 60) * G_USEC_PER_SEC);
  g_assert_true (cp_records_parse_time ("2026-01-01", &t));
  g_assert_false (cp_records_parse_time ("yesterday", &t));
  g_assert_false (cp_records_parse_time ("", &t));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  work_root = cp_test_make_tmp_dir ("cp-records-XXXXXX");
  g_test_add_func ("/records/new-database", test_new_database);
  g_test_add_func ("/records/migration-from-empty-file", test_migration_from_empty_file);
  g_test_add_func ("/records/newer-and-foreign-refused", test_newer_and_foreign_refused);
  g_test_add_func ("/records/parts-once", test_parts_once);
  g_test_add_func ("/records/yield-and-recent", test_yield_and_recent);
  g_test_add_func ("/records/busy", test_busy);
  g_test_add_func ("/records/migrated-meanwhile", test_migrated_meanwhile);
  g_test_add_func ("/records/refits-and-times", test_refits_and_times);
  status = g_test_run ();
  cp_test_remove_tree (work_root);
  g_free (work_root);
  return status;
}
