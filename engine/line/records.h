/* records.h: the per-part records of a line (one SQLite database per line
 * or station).
 *
 * Tables (schema version CP_RECORDS_SCHEMA_VERSION, records-schema.c):
 *  - models: every model file parts were scored with, by the SHA-256 of the
 *    file (a refit or a stored threshold makes a new row), with its path,
 *    category, threshold and, once known, the reference good scores the
 *    drift rule compares with.
 *  - parts: one row per part: time, the file's path where it arrived and
 *    where it was moved, its content's SHA-256 and size, category, model,
 *    score, threshold, verdict, heatmap maximum and overlay file, and the
 *    operator's override (verdict, note, who, when).  (file_path,
 *    content_hash) is unique: the same bytes arriving under the same name
 *    are the same part, so a part is recorded once even when a watcher
 *    restarts or two watchers share a folder.
 *  - refits: each image added to or removed from a good set by a refit.
 *
 * The database runs in WAL mode (a reader, e.g. the Line page or
 * `cutpaste report`, never waits for the watcher and the watcher never
 * waits for a reader), with foreign keys on and synchronous=FULL (a
 * recorded part survives a power cut, not only a crash).  Every write is
 * one transaction: a killed process leaves no half-written row.
 *
 * Opening migrates an older schema in one transaction (the SQLite
 * user_version holds the version) and refuses, with CP_RECORDS_ERROR_NEWER_SCHEMA
 * and a message naming the file and both versions, a database written by a
 * newer program; a SQLite file of another application (a foreign
 * application_id, or tables without ours) is refused too, and nothing is
 * written to either.
 *
 * Times are microseconds since 1970 (UTC) in the API and ISO 8601 UTC text
 * with microseconds ("2026-01-02T03:04:05.000006Z") in the database, so
 * that the sqlite3 shell shows them readably and they sort as text.
 *
 * A CpRecords is one connection: use it from one thread at a time; open
 * one per thread (the watcher's worker has its own).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CP_RECORDS_SCHEMA_VERSION 1
/* PRAGMA application_id of our databases: "CPL1" (CutPaste line). */
#define CP_RECORDS_APPLICATION_ID 0x43504c31

#define CP_RECORDS_ERROR (cp_records_error_quark ())

typedef enum
{
  CP_RECORDS_ERROR_BUSY,          /* locked by another connection or process: try again later */
  CP_RECORDS_ERROR_FULL,          /* the disk (or the database) is full */
  CP_RECORDS_ERROR_NEWER_SCHEMA,  /* written by a newer program: not read, not written */
  CP_RECORDS_ERROR_NOT_RECORDS,   /* not a CutPaste line database */
  CP_RECORDS_ERROR_CORRUPT,       /* damaged database file */
  CP_RECORDS_ERROR_IO,            /* cannot open, read or write the file */
  CP_RECORDS_ERROR_READ_ONLY,     /* the file or its folder cannot be written */
  CP_RECORDS_ERROR_NOT_FOUND,     /* no such part or model; or no database (CP_RECORDS_OPEN_EXISTING) */
  CP_RECORDS_ERROR_INVALID,       /* bad argument */
  CP_RECORDS_ERROR_FAILED,        /* anything else SQLite reports */
} CpRecordsError;

GQuark cp_records_error_quark (void);

typedef enum
{
  CP_RECORDS_OPEN_DEFAULT  = 0,       /* create the file when missing */
  CP_RECORDS_OPEN_EXISTING = 1 << 0,  /* a missing file is CP_RECORDS_ERROR_NOT_FOUND */
} CpRecordsOpenFlags;

/* A verdict, and an operator's override of one. */
typedef enum
{
  CP_VERDICT_NONE,   /* no override */
  CP_VERDICT_PASS,
  CP_VERDICT_FAIL,
} CpVerdict;

/* "pass", "fail" ("" for NONE). */
const char *cp_verdict_to_string (CpVerdict verdict);

typedef struct _CpRecords CpRecords;

/* Opens (creating when allowed) and migrates @path.  Waits up to
 * @busy_timeout_ms for a lock held by another process at each statement
 * (0: the default of 2000 ms). */
CpRecords  *cp_records_open      (const char          *path,
                                  CpRecordsOpenFlags   flags,
                                  int                  busy_timeout_ms,
                                  GError             **error);
void        cp_records_close     (CpRecords *records);
const char *cp_records_get_path  (const CpRecords *records);

/* ---- models --------------------------------------------------------------- */

typedef struct
{
  gint64  id;                 /* 0 until stored */
  char   *file_hash;          /* SHA-256 (hex) of the model file */
  char   *path;
  char   *category;
  double  threshold;
  char   *threshold_source;   /* "cross-validation", "manual", ... */
  int     image_size;
  char   *created;            /* the model's own creation time (metadata), may be "" */
  gint64  first_used_us;      /* set when the row is made */
  /* Reference good scores for the drift rule (NULL / 0 until known) and
   * where they come from ("calibration", "cross-validation"). */
  double *reference_scores;
  int     n_reference;
  char   *reference_source;
} CpModelRecord;

void           cp_model_record_free (CpModelRecord *model);

/* The row for @file_hash, or NULL (no error) when there is none. */
CpModelRecord *cp_records_find_model (CpRecords   *records,
                                      const char  *file_hash,
                                      GError     **error);
CpModelRecord *cp_records_get_model  (CpRecords   *records,
                                      gint64       id,
                                      GError     **error);
/* Every model, oldest first (CpModelRecord *, owned by the array). */
GPtrArray     *cp_records_list_models (CpRecords  *records,
                                       GError    **error);
/* Stores @model when no row has its file_hash (then sets model->id and
 * first_used_us), else reads the row's id into it. */
gboolean       cp_records_ensure_model (CpRecords     *records,
                                        CpModelRecord *model,
                                        GError       **error);
/* Stores the reference scores of model @id. */
gboolean       cp_records_set_reference (CpRecords    *records,
                                         gint64        id,
                                         const double *scores,
                                         int           n,
                                         const char   *source,
                                         GError      **error);

/* ---- parts ---------------------------------------------------------------- */

typedef struct
{
  gint64     id;              /* 0 until stored */
  gint64     time_us;
  char      *file_path;       /* where the file arrived */
  char      *final_path;      /* where it is kept: moved to the pass/fail folder, or file_path */
  char      *content_hash;    /* SHA-256 (hex) of the bytes scored */
  gint64     file_size;
  char      *category;
  gint64     model_id;
  char      *model_hash;      /* read from the models table; ignored when storing */
  double     score;
  double     threshold;
  CpVerdict  verdict;         /* PASS or FAIL */
  double     heatmap_max;     /* NaN: no heatmap */
  char      *heatmap_path;    /* the overlay PNG, or NULL */
  CpVerdict  override_verdict;
  char      *override_note;
  char      *override_by;
  gint64     override_time_us;
} CpPart;

CpPart   *cp_part_new  (void);   /* zeroed, NaN heatmap_max */
void      cp_part_free (CpPart *part);
CpPart   *cp_part_copy (const CpPart *part);
/* The verdict that counts: the override when there is one. */
CpVerdict cp_part_final_verdict (const CpPart *part);

/* The part recorded for (@file_path, @content_hash), or NULL (no error). */
CpPart   *cp_records_find_part (CpRecords   *records,
                                const char  *file_path,
                                const char  *content_hash,
                                GError     **error);
CpPart   *cp_records_get_part  (CpRecords   *records,
                                gint64       id,
                                GError     **error);

/* Records @n parts scored with @model in ONE transaction: the model row is
 * made if needed (model->id is set), then each part (part->model_id and
 * part->id are set).  A part whose (file_path, content_hash) is already
 * recorded is not stored again: its id is set to the existing row's and
 * *@already (may be NULL; n entries) is TRUE for it.  On any failure
 * nothing is written (and the ids are left as they were): the caller keeps
 * the parts and tries again (CP_RECORDS_ERROR_BUSY, _FULL, ...).  A
 * database migrated meanwhile by a newer program gives
 * CP_RECORDS_ERROR_NEWER_SCHEMA. */
gboolean  cp_records_record_parts (CpRecords     *records,
                                   CpModelRecord *model,
                                   CpPart *const *parts,
                                   int            n,
                                   gboolean      *already,
                                   GError       **error);

/* Sets (or, with CP_VERDICT_NONE, clears) the override of part @id.
 * @operator_name NULL: the login name. */
gboolean  cp_records_set_override (CpRecords   *records,
                                   gint64       id,
                                   CpVerdict    verdict,
                                   const char  *note,
                                   const char  *operator_name,
                                   GError     **error);
/* The same for every part whose content hash is @content_hash; the
 * number of parts changed goes to *@changed (may be NULL). */
gboolean  cp_records_set_override_by_hash (CpRecords   *records,
                                           const char  *content_hash,
                                           CpVerdict    verdict,
                                           const char  *note,
                                           const char  *operator_name,
                                           int         *changed,
                                           GError     **error);

typedef enum
{
  CP_PART_ORDER_TIME,         /* oldest first */
  CP_PART_ORDER_TIME_DESC,    /* newest first */
  CP_PART_ORDER_SCORE_DESC,   /* highest score first */
} CpPartOrder;

/* Which parts a query covers.  Fill with cp_part_query_init (): every
 * part, oldest first. */
typedef struct
{
  gint64      from_us;        /* inclusive; G_MININT64: no bound */
  gint64      to_us;          /* exclusive; G_MAXINT64: no bound */
  const char *category;       /* NULL: any */
  gint64      model_id;       /* 0: any */
  CpVerdict   verdict;        /* NONE: any; else the verdict at scoring time */
  gboolean    overridden_only;
  CpPartOrder order;
  int         limit;          /* 0: no limit */
} CpPartQuery;

void       cp_part_query_init      (CpPartQuery *query);
/* The parts @query covers (CpPart *, owned by the array). */
GPtrArray *cp_records_list_parts   (CpRecords         *records,
                                    const CpPartQuery *query,
                                    GError           **error);

typedef struct
{
  gint64 total;
  gint64 passed;               /* verdict at scoring time */
  gint64 failed;
  gint64 overridden;           /* parts with an override */
  gint64 final_passed;         /* final verdict (override first) */
  gint64 final_failed;
  double yield;                /* final_passed / total; NaN when total is 0 */
  gint64 first_us, last_us;    /* times of the first and last part (0 when none) */
} CpPartCounts;

/* Counts of the parts @query covers (order and limit are ignored). */
gboolean   cp_records_count_parts  (CpRecords         *records,
                                    const CpPartQuery *query,
                                    CpPartCounts      *counts,
                                    GError           **error);

typedef struct
{
  gint64 start_us;             /* the bucket covers [start_us, start_us + width) */
  gint64 total;
  gint64 final_passed;
} CpYieldBucket;

/* Yield over time: parts @query covers, in buckets of @width_us starting
 * at the first bucket boundary (multiple of @width_us since 1970) at or
 * before the first part.  Empty buckets between parts are included.
 * Returns a GArray of CpYieldBucket. */
GArray    *cp_records_yield_buckets (CpRecords         *records,
                                     const CpPartQuery *query,
                                     gint64             width_us,
                                     GError           **error);

/* The scores of the last @limit parts scored with model @model_id that
 * passed (verdict at scoring time), oldest first: the drift rule's window.
 * GArray of double. */
GArray    *cp_records_recent_passed_scores (CpRecords  *records,
                                            gint64      model_id,
                                            int         limit,
                                            GError    **error);

/* ---- refits --------------------------------------------------------------- */

typedef struct
{
  gint64  id;
  gint64  time_us;
  gboolean added;              /* TRUE: added to the good set; FALSE: removed */
  char   *model_path;
  char   *model_hash_before;
  char   *model_hash_after;
  char   *image_path;          /* the copy in train/good */
  char   *source_path;         /* where it was copied from (may be NULL) */
  char   *content_hash;
  char   *operator_name;
  char   *note;
  double  threshold_before;
  double  threshold_after;
} CpRefitRecord;

void       cp_refit_record_free   (CpRefitRecord *refit);
/* Stores @n refit rows in one transaction (ids set). */
gboolean   cp_records_add_refits  (CpRecords            *records,
                                   CpRefitRecord *const *refits,
                                   int                   n,
                                   GError              **error);
/* Refits with time in [from_us, to_us), oldest first (CpRefitRecord *). */
GPtrArray *cp_records_list_refits (CpRecords  *records,
                                   gint64      from_us,
                                   gint64      to_us,
                                   GError    **error);

/* ---- times ---------------------------------------------------------------- */

/* "2026-01-02T03:04:05.000006Z" (newly allocated). */
char      *cp_records_format_time (gint64 time_us);
/* Parses ISO 8601 ("2026-01-02T03:04:05Z", "2026-01-02 06:00", a bare
 * date "2026-01-02"; without a zone the local time zone) into *@time_us. */
gboolean   cp_records_parse_time  (const char *text,
                                   gint64     *time_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpRecords, cp_records_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpPart, cp_part_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpModelRecord, cp_model_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpRefitRecord, cp_refit_record_free)

G_END_DECLS
