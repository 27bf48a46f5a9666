/* json.h: a small strict JSON (RFC 8259) parser and writer, libc only.
 *
 * Used for safetensors headers and model metadata.  The parser builds a
 * read-only tree: objects keep their key order, strings are unescaped to
 * UTF-8 (\uXXXX surrogate pairs included), integers without fraction or
 * exponent become int64 (an integer that does not fit is an error, never a
 * silent rounding), other numbers become doubles.  Input must be valid
 * UTF-8; nesting depth, input size and node count are limited so a hostile
 * file cannot exhaust the stack or memory.  Syntax errors report the byte
 * offset where parsing stopped.
 *
 * The writer appends compact JSON to a growable buffer and takes care of
 * commas and string escaping.  Doubles are written in the shortest form
 * that reads back to the same value; both directions ignore the process
 * locale (a GTK application runs with LC_NUMERIC set from the environment).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_JSON_NULL,
  CP_JSON_BOOL,
  CP_JSON_INT,
  CP_JSON_DOUBLE,
  CP_JSON_STRING,
  CP_JSON_ARRAY,
  CP_JSON_OBJECT,
} CpJsonType;

typedef struct CpJson CpJson;

struct CpJson
{
  CpJsonType type;
  size_t     offset;        /* byte offset of the value in the input */
  bool       boolean;       /* CP_JSON_BOOL */
  int64_t    integer;       /* CP_JSON_INT */
  double     number;        /* CP_JSON_INT and CP_JSON_DOUBLE */
  char      *string;        /* CP_JSON_STRING: UTF-8, NUL terminated */
  size_t     length;        /* string bytes (a "\u0000" counts), or child count */
  CpJson   **items;         /* CP_JSON_ARRAY and CP_JSON_OBJECT: the values */
  char     **keys;          /* CP_JSON_OBJECT: the keys, NUL terminated */
  size_t    *key_lengths;   /* CP_JSON_OBJECT: key bytes */
};

typedef struct
{
  int    max_depth;             /* nested arrays/objects; default 64, at most 1000 */
  size_t max_input;             /* bytes of input; default 128 MiB */
  size_t max_nodes;             /* values in the tree; default 1 Mi */
  bool   allow_duplicate_keys;  /* default false: a repeated key is an error */
} CpJsonLimits;

/* Fills @limits with the defaults above. */
void        cp_json_limits_init (CpJsonLimits *limits);

typedef struct CpJsonDoc CpJsonDoc;

/* Parses @length bytes of @text (which need not be NUL terminated) as one
 * JSON value with optional surrounding white space.  @limits may be NULL
 * for the defaults.  On failure returns NULL, sets @error (CP_ERR_FORMAT for
 * bad syntax and exceeded limits, CP_ERR_NOMEM when allocation fails) with
 * a message such as "expected ',' or '}' at byte 17", and stores the byte
 * offset in @error_offset when it is not NULL. */
CpJsonDoc    *cp_json_parse       (const char         *text,
                                   size_t              length,
                                   const CpJsonLimits *limits,
                                   size_t             *error_offset,
                                   CpError            *error);
const CpJson *cp_json_doc_root    (const CpJsonDoc *doc);
void          cp_json_doc_free    (CpJsonDoc *doc);

const char   *cp_json_type_name   (CpJsonType type);   /* "object", ... */

/* The first value under @key in object @node, NULL when absent or when
 * @node is not an object. */
const CpJson *cp_json_object_get  (const CpJson *node, const char *key);
/* Index of the first key of object @node that repeats an earlier key, or -1.
 * Useful with allow_duplicate_keys to report the duplicate in context. */
ptrdiff_t     cp_json_object_find_duplicate (const CpJson *node);

/* Writer. */

#define CP_JSON_WRITER_MAX_DEPTH 64

typedef struct
{
  char   *data;       /* NUL terminated; owned by the writer */
  size_t  length;
  size_t  capacity;
  int     depth;
  bool    need_comma[CP_JSON_WRITER_MAX_DEPTH + 1];
  bool    in_object[CP_JSON_WRITER_MAX_DEPTH + 1];
  bool    after_key;
  CpStatus status;    /* first failure, sticky; CP_OK while all is well */
  char    failure[160];
} CpJsonWriter;

void        cp_json_writer_init         (CpJsonWriter *w);
void        cp_json_writer_clear        (CpJsonWriter *w);   /* frees data */
/* Takes the text out of the writer (caller frees); NULL if anything failed,
 * with @error set, or if a container is still open. */
char       *cp_json_writer_steal        (CpJsonWriter *w, size_t *length, CpError *error);

void        cp_json_writer_begin_object (CpJsonWriter *w);
void        cp_json_writer_end_object   (CpJsonWriter *w);
void        cp_json_writer_begin_array  (CpJsonWriter *w);
void        cp_json_writer_end_array    (CpJsonWriter *w);
/* Inside an object: the key of the next value. */
void        cp_json_writer_key          (CpJsonWriter *w, const char *key);
void        cp_json_writer_string       (CpJsonWriter *w, const char *value);
void        cp_json_writer_string_len   (CpJsonWriter *w, const char *value, size_t length);
void        cp_json_writer_int          (CpJsonWriter *w, int64_t value);
/* NaN and infinities have no JSON form: they make the writer fail. */
void        cp_json_writer_double       (CpJsonWriter *w, double value);
void        cp_json_writer_bool         (CpJsonWriter *w, bool value);
void        cp_json_writer_null         (CpJsonWriter *w);

/* Appends @value as a quoted JSON string literal to @w's buffer with no
 * comma handling: '"', '\\' and control characters are escaped, other
 * UTF-8 passes through.  Invalid UTF-8 makes the writer fail. */
void        cp_json_writer_append_quoted (CpJsonWriter *w, const char *value, size_t length);

/* Locale-independent conversions, also used by other writers (CSV). */
/* Writes the shortest "%.Ng" form of finite @value that reads back exactly;
 * returns the length, as snprintf. */
int         cp_json_format_double       (char *buf, size_t size, double value);
/* strtod in the "C" locale. */
double      cp_json_strtod              (const char *text, char **end);

#ifdef __cplusplus
}
#endif
