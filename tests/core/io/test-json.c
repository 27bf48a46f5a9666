/* test-json.c: the strict JSON parser and the writer. */
#include <locale.h>
#include <stdint.h>

#include "harness.h"
#include "core/io/json.h"
#include "core/rng.h"

/* Parses @text (copied into an exact-size buffer without a terminating NUL,
 * so that any read past the end shows under ASan). */
static CpJsonDoc *
parse_exact (const char *text,
             size_t      length,
             const CpJsonLimits *limits,
             size_t     *offset,
             CpError    *error)
{
  char *copy = malloc (length > 0 ? length : 1);
  CpJsonDoc *doc;

  memcpy (copy, text, length);
  doc = cp_json_parse (copy, length, limits, offset, error);
  free (copy);
  return doc;
}

static CpJsonDoc *
parse (const char *text,
       CpError    *error)
{
  return parse_exact (text, strlen (text), NULL, NULL, error);
}

/* Expects @text to fail at byte @offset with a message containing @what. */
static void
expect_error (const char *text,
              size_t      length,
              size_t      offset,
              const char *what)
{
  CpError error;
  size_t at = 12345;
  CpJsonDoc *doc;

  cp_error_clear (&error);
  doc = parse_exact (text, length, NULL, &at, &error);
  CHECK_MSG (doc == NULL, "parsed invalid JSON: %.*s", (int) length, text);
  cp_json_doc_free (doc);
  CHECK_MSG (error.code == CP_ERR_FORMAT, "code %d for %.*s", error.code, (int) length, text);
  CHECK_MSG (at == offset, "offset %zu, expected %zu for %.*s (%s)", at, offset, (int) length,
             text, error.message);
  CHECK_MSG (strstr (error.message, what) != NULL, "message '%s' lacks '%s'", error.message,
             what);
  {
    char tail[64];

    snprintf (tail, sizeof tail, "at byte %zu", offset);
    CHECK_MSG (strstr (error.message, tail) != NULL, "message '%s' lacks '%s'", error.message,
               tail);
  }
}

#define EXPECT_ERROR(text, offset, what) expect_error (text, sizeof (text) - 1, offset, what)

static void
test_valid_document (void)
{
  const char *text =
    " {\"name\": \"resnet18\", \"layers\": [1, -2, 3.5, true, false, null],\r\n"
    "\t\"nested\": {\"z\": {}, \"a\": []}, \"zeta\": 0, \"alpha\": \"\"} ";
  CpError error;
  CpJsonDoc *doc = parse (text, &error);
  const CpJson *root, *layers, *nested;

  CHECK_MSG (doc != NULL, "%s", error.message);
  if (doc == NULL)
    return;
  root = cp_json_doc_root (doc);
  CHECK (root->type == CP_JSON_OBJECT);
  CHECK (root->length == 5);
  /* Key order is the input order, not sorted. */
  CHECK (strcmp (root->keys[0], "name") == 0);
  CHECK (strcmp (root->keys[1], "layers") == 0);
  CHECK (strcmp (root->keys[2], "nested") == 0);
  CHECK (strcmp (root->keys[3], "zeta") == 0);
  CHECK (strcmp (root->keys[4], "alpha") == 0);
  CHECK (root->offset == 1);

  CHECK (strcmp (cp_json_object_get (root, "name")->string, "resnet18") == 0);
  CHECK (cp_json_object_get (root, "name")->length == 8);
  CHECK (cp_json_object_get (root, "missing") == NULL);
  CHECK (cp_json_object_get (root, "alpha")->type == CP_JSON_STRING);
  CHECK (cp_json_object_get (root, "alpha")->length == 0);

  layers = cp_json_object_get (root, "layers");
  CHECK (layers->type == CP_JSON_ARRAY && layers->length == 6);
  CHECK (layers->items[0]->type == CP_JSON_INT && layers->items[0]->integer == 1);
  CHECK (layers->items[1]->type == CP_JSON_INT && layers->items[1]->integer == -2);
  CHECK (layers->items[1]->number == -2.0);
  CHECK (layers->items[2]->type == CP_JSON_DOUBLE && layers->items[2]->number == 3.5);
  CHECK (layers->items[3]->type == CP_JSON_BOOL && layers->items[3]->boolean);
  CHECK (layers->items[4]->type == CP_JSON_BOOL && !layers->items[4]->boolean);
  CHECK (layers->items[5]->type == CP_JSON_NULL);
  /* Offsets point at the value in the input. */
  CHECK (text[layers->offset] == '[');
  CHECK (text[layers->items[2]->offset] == '3');

  nested = cp_json_object_get (root, "nested");
  CHECK (nested->type == CP_JSON_OBJECT && nested->length == 2);
  CHECK (nested->items[0]->type == CP_JSON_OBJECT && nested->items[0]->length == 0);
  CHECK (nested->items[1]->type == CP_JSON_ARRAY && nested->items[1]->length == 0);
  cp_json_doc_free (doc);

  /* Scalars are documents too. */
  doc = parse ("  42 ", &error);
  CHECK (doc != NULL && cp_json_doc_root (doc)->integer == 42);
  cp_json_doc_free (doc);
  doc = parse ("\"x\"", &error);
  CHECK (doc != NULL && strcmp (cp_json_doc_root (doc)->string, "x") == 0);
  cp_json_doc_free (doc);
}

static void
test_numbers (void)
{
  static const struct
  {
    const char *text;
    bool        is_int;
    int64_t     integer;
    double      number;
  } cases[] = {
    { "0", true, 0, 0.0 },
    { "-0", true, 0, 0.0 },
    { "7", true, 7, 7.0 },
    { "123456789012", true, 123456789012LL, 123456789012.0 },
    { "9223372036854775807", true, INT64_MAX, 9223372036854775807.0 },
    { "-9223372036854775808", true, INT64_MIN, -9223372036854775808.0 },
    { "1.5", false, 0, 1.5 },
    { "-0.25", false, 0, -0.25 },
    { "1e3", false, 0, 1000.0 },
    { "1E+3", false, 0, 1000.0 },
    { "25e-1", false, 0, 2.5 },
    { "0.1", false, 0, 0.1 },
    { "1.7976931348623157e308", false, 0, 1.7976931348623157e308 },
    { "4.9406564584124654e-324", false, 0, 4.9406564584124654e-324 },
    { "1e-400", false, 0, 0.0 },   /* underflow rounds to zero, as strtod */
    { "3.141592653589793", false, 0, 3.141592653589793 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      CpError error;
      CpJsonDoc *doc = parse (cases[i].text, &error);
      const CpJson *v;

      CHECK_MSG (doc != NULL, "%s: %s", cases[i].text, error.message);
      if (doc == NULL)
        continue;
      v = cp_json_doc_root (doc);
      CHECK_MSG (v->type == (cases[i].is_int ? CP_JSON_INT : CP_JSON_DOUBLE), "%s: type %s",
                 cases[i].text, cp_json_type_name (v->type));
      if (cases[i].is_int)
        CHECK_MSG (v->integer == cases[i].integer, "%s: %lld", cases[i].text,
                   (long long) v->integer);
      CHECK_MSG (v->number == cases[i].number, "%s: %.17g", cases[i].text, v->number);
      cp_json_doc_free (doc);
    }

  EXPECT_ERROR ("9223372036854775808", 0, "does not fit in 64 bits");
  EXPECT_ERROR ("-9223372036854775809", 0, "does not fit in 64 bits");
  EXPECT_ERROR ("[1, 99999999999999999999999]", 4, "does not fit in 64 bits");
  EXPECT_ERROR ("1e400", 0, "out of the range");
  EXPECT_ERROR ("-1e400", 0, "out of the range");
  EXPECT_ERROR ("01", 1, "leading zeros");
  EXPECT_ERROR ("-01", 2, "leading zeros");
  EXPECT_ERROR ("1.", 2, "digit after the decimal point");
  EXPECT_ERROR ("1.e5", 2, "digit after the decimal point");
  EXPECT_ERROR (".5", 0, "expected a value");
  EXPECT_ERROR ("+1", 0, "expected a value");
  EXPECT_ERROR ("-", 1, "expected a digit");
  EXPECT_ERROR ("-x", 1, "expected a digit");
  EXPECT_ERROR ("1e", 2, "exponent");
  EXPECT_ERROR ("1e+", 3, "exponent");
  EXPECT_ERROR ("0x10", 1, "after the JSON value");
  EXPECT_ERROR ("NaN", 0, "expected a value");
  EXPECT_ERROR ("Infinity", 0, "expected a value");
  EXPECT_ERROR ("-Infinity", 1, "expected a digit");
}

static void
check_string (const char *json,
              const char *expected,
              size_t      expected_length)
{
  CpError error;
  CpJsonDoc *doc = parse (json, &error);
  const CpJson *v;

  CHECK_MSG (doc != NULL, "%s: %s", json, error.message);
  if (doc == NULL)
    return;
  v = cp_json_doc_root (doc);
  CHECK (v->type == CP_JSON_STRING);
  CHECK_MSG (v->length == expected_length, "%s: length %zu", json, v->length);
  CHECK_MSG (memcmp (v->string, expected, expected_length) == 0, "%s: wrong bytes", json);
  CHECK (v->string[v->length] == '\0');
  cp_json_doc_free (doc);
}

static void
test_strings (void)
{
  check_string ("\"plain\"", "plain", 5);
  check_string ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
  check_string ("\"caf\\u00e9\"", "caf\xc3\xa9", 5);
  check_string ("\"\\u20AC\"", "\xe2\x82\xac", 3);
  check_string ("\"\\u0041\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
                "A\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 12);
  /* Surrogate pairs: U+1F600 and the highest code point U+10FFFF. */
  check_string ("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
  check_string ("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
  /* An escaped NUL is kept and counted. */
  check_string ("\"a\\u0000b\"", "a\0b", 3);
  /* Raw UTF-8 passes through (2, 3 and 4 byte forms). */
  check_string ("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                9);

  EXPECT_ERROR ("\"abc", 0, "unterminated string");
  EXPECT_ERROR ("\"abc\\\"", 0, "unterminated string");
  EXPECT_ERROR ("\"a\\qb\"", 2, "invalid escape");
  EXPECT_ERROR ("\"\\u12\"", 1, "four hex digits");
  EXPECT_ERROR ("\"\\u12G4\"", 1, "four hex digits");
  EXPECT_ERROR ("\"x\\ud800\"", 2, "high surrogate");
  EXPECT_ERROR ("\"\\ud800\\u0041\"", 1, "high surrogate");
  EXPECT_ERROR ("\"\\ud800\\ud800\"", 1, "high surrogate");
  EXPECT_ERROR ("\"\\udc00\"", 1, "unpaired low surrogate");
  EXPECT_ERROR ("\"a\nb\"", 2, "control character 0x0a");
  EXPECT_ERROR ("\"a\tb\"", 2, "control character 0x09");
  EXPECT_ERROR ("\"\xff\"", 1, "invalid UTF-8");
  EXPECT_ERROR ("\"\xc0\x80\"", 1, "invalid UTF-8");             /* overlong NUL */
  EXPECT_ERROR ("\"\xe0\x80\xaf\"", 1, "invalid UTF-8");         /* overlong '/' */
  EXPECT_ERROR ("\"\xed\xa0\x80\"", 1, "invalid UTF-8");         /* encoded surrogate */
  EXPECT_ERROR ("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8");     /* past U+10FFFF */
  EXPECT_ERROR ("\"ab\xe2\x82\"", 3, "invalid UTF-8");           /* truncated sequence */
  EXPECT_ERROR ("\"\x80\"", 1, "invalid UTF-8");                 /* lone continuation */
}

static void
test_syntax_errors (void)
{
  EXPECT_ERROR ("", 0, "unexpected end of input");
  EXPECT_ERROR ("   ", 3, "unexpected end of input");
  EXPECT_ERROR ("[1,2", 4, "unexpected end of input");
  EXPECT_ERROR ("[1,]", 3, "expected a value");
  EXPECT_ERROR ("[1 2]", 3, "expected ',' or ']'");
  EXPECT_ERROR ("{\"a\" 1}", 5, "expected ':'");
  EXPECT_ERROR ("{\"a\":1,}", 7, "expected a string key");
  EXPECT_ERROR ("{a:1}", 1, "expected a string key");
  EXPECT_ERROR ("{,}", 1, "expected a string key");
  EXPECT_ERROR ("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
  EXPECT_ERROR ("{\"a\":1]", 6, "expected ',' or '}'");
  EXPECT_ERROR ("[1}", 2, "expected ',' or ']'");
  EXPECT_ERROR ("1 2", 2, "after the JSON value");
  EXPECT_ERROR ("{} {}", 3, "after the JSON value");
  EXPECT_ERROR ("tru", 0, "expected a value");
  EXPECT_ERROR ("nul", 0, "expected a value");
  EXPECT_ERROR ("True", 0, "expected a value");
  EXPECT_ERROR ("'a'", 0, "unexpected '''");
  EXPECT_ERROR ("\xef\xbb\xbf{}", 0, "byte 0xef");   /* no BOM */
  EXPECT_ERROR ("[1,\f2]", 3, "byte 0x0c");           /* form feed is not white space */
  EXPECT_ERROR ("{\"a\":1,\"b\":2,\"a\":3}", 17, "duplicate key 'a'");
  /* An embedded NUL is not the end of the text. */
  expect_error ("[1]\0", 4, 3, "after the JSON value");
}

static void
test_duplicates (void)
{
  CpJsonLimits limits;
  CpError error;
  CpJsonDoc *doc;
  const CpJson *root;
  char big[4096];
  size_t n = 0;

  cp_json_limits_init (&limits);
  limits.allow_duplicate_keys = true;
  doc = parse_exact ("{\"a\":1,\"b\":2,\"b\":3,\"a\":4}", 25, &limits, NULL, &error);
  CHECK_MSG (doc != NULL, "%s", doc ? "" : error.message);
  if (doc != NULL)
    {
      root = cp_json_doc_root (doc);
      CHECK (root->length == 4);
      CHECK (cp_json_object_get (root, "a")->integer == 1);   /* the first wins */
      CHECK (cp_json_object_find_duplicate (root) == 2);
      cp_json_doc_free (doc);
    }

  /* Many keys take the sorting path; the duplicate is the last one. */
  n += (size_t) sprintf (big + n, "{");
  for (int i = 0; i < 200; i++)
    n += (size_t) sprintf (big + n, "\"k%d\":%d,", i, i);
  n += (size_t) sprintf (big + n, "\"k7\":0}");
  doc = parse_exact (big, n, &limits, NULL, &error);
  CHECK (doc != NULL);
  if (doc != NULL)
    {
      CHECK (cp_json_object_find_duplicate (cp_json_doc_root (doc)) == 200);
      cp_json_doc_free (doc);
    }
  limits.allow_duplicate_keys = false;
  doc = parse_exact (big, n, &limits, NULL, &error);
  CHECK (doc == NULL);
  CHECK (strstr (error.message, "duplicate key 'k7'") != NULL);
  cp_json_doc_free (doc);

  /* Keys differing only after an escaped NUL are different keys. */
  doc = parse ("{\"a\\u0000x\":1,\"a\\u0000y\":2,\"a\":3}", &error);
  CHECK_MSG (doc != NULL, "%s", doc ? "" : error.message);
  cp_json_doc_free (doc);
}

static char *
nested_arrays (int depth,
               size_t *length)
{
  char *text = malloc ((size_t) depth * 2 + 1);

  memset (text, '[', (size_t) depth);
  memset (text + depth, ']', (size_t) depth);
  *length = (size_t) depth * 2;
  return text;
}

static void
test_depth_and_limits (void)
{
  CpJsonLimits limits;
  CpError error;
  size_t length, at;
  char *text;
  CpJsonDoc *doc;

  /* 64 levels are the default limit, 65 are refused where the 65th opens. */
  text = nested_arrays (64, &length);
  doc = parse_exact (text, length, NULL, NULL, &error);
  CHECK_MSG (doc != NULL, "%s", doc ? "" : error.message);
  cp_json_doc_free (doc);
  free (text);

  text = nested_arrays (65, &length);
  doc = parse_exact (text, length, NULL, &at, &error);
  CHECK (doc == NULL);
  CHECK (error.code == CP_ERR_FORMAT);
  CHECK (at == 64);
  CHECK (strstr (error.message, "nesting deeper than 64") != NULL);
  free (text);

  /* A million levels must fail cleanly, not overflow the stack. */
  text = nested_arrays (1000000, &length);
  doc = parse_exact (text, length, NULL, NULL, &error);
  CHECK (doc == NULL && error.code == CP_ERR_FORMAT);
  free (text);

  /* Objects count as levels too. */
  cp_json_limits_init (&limits);
  limits.max_depth = 2;
  doc = parse_exact ("{\"a\":{\"b\":1}}", 13, &limits, NULL, &error);
  CHECK (doc != NULL);
  cp_json_doc_free (doc);
  doc = parse_exact ("{\"a\":{\"b\":[]}}", 14, &limits, &at, &error);
  CHECK (doc == NULL && at == 10);

  /* Input size. */
  cp_json_limits_init (&limits);
  limits.max_input = 8;
  doc = parse_exact ("[1,2,3,4]", 9, &limits, NULL, &error);
  CHECK (doc == NULL && error.code == CP_ERR_FORMAT);
  CHECK (strstr (error.message, "exceeds the limit of 8 bytes") != NULL);
  doc = parse_exact ("[1,2,3]", 7, &limits, NULL, &error);
  CHECK (doc != NULL);
  cp_json_doc_free (doc);

  /* Node count: the array and its 3 items are 4 values. */
  cp_json_limits_init (&limits);
  limits.max_nodes = 4;
  doc = parse_exact ("[1,2,3]", 7, &limits, NULL, &error);
  CHECK (doc != NULL);
  cp_json_doc_free (doc);
  doc = parse_exact ("[1,2,3,4]", 9, &limits, &at, &error);
  CHECK (doc == NULL && at == 7);
  CHECK (strstr (error.message, "more than 4 values") != NULL);
}

static void
test_large_document (void)
{
  /* 100000 members exercise the arena and the child stack growth. */
  size_t cap = 4 << 20, n = 0;
  char *text = malloc (cap);
  CpError error;
  CpJsonDoc *doc;
  bool ok = true;

  n += (size_t) sprintf (text + n, "{");
  for (int i = 0; i < 100000; i++)
    n += (size_t) sprintf (text + n, "%s\"t%d\":[%d,\"v%d\"]", i ? "," : "", i, i, i);
  n += (size_t) sprintf (text + n, "}");
  doc = parse_exact (text, n, NULL, NULL, &error);
  CHECK_MSG (doc != NULL, "%s", doc ? "" : error.message);
  if (doc != NULL)
    {
      const CpJson *root = cp_json_doc_root (doc);

      CHECK (root->length == 100000);
      for (int i = 0; i < 100000 && ok; i++)
        {
          char key[32];

          sprintf (key, "t%d", i);
          ok = strcmp (root->keys[i], key) == 0 && root->items[i]->length == 2
               && root->items[i]->items[0]->integer == i;
        }
      CHECK (ok);
      cp_json_doc_free (doc);
    }
  free (text);
}

static void
test_writer (void)
{
  CpJsonWriter w;
  CpError error;
  size_t length;
  char *text;

  cp_json_writer_init (&w);
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "s");
  cp_json_writer_string (&w, "q\"b\\s/\n\t\x01\x1f caf\xc3\xa9");
  cp_json_writer_key (&w, "i");
  cp_json_writer_int (&w, INT64_MIN);
  cp_json_writer_key (&w, "d");
  cp_json_writer_begin_array (&w);
  cp_json_writer_double (&w, 0.1);
  cp_json_writer_double (&w, 1.0);
  cp_json_writer_double (&w, -2.5e-300);
  cp_json_writer_double (&w, 1e21);
  cp_json_writer_end_array (&w);
  cp_json_writer_key (&w, "b");
  cp_json_writer_bool (&w, true);
  cp_json_writer_key (&w, "n");
  cp_json_writer_null (&w);
  cp_json_writer_key (&w, "e");
  cp_json_writer_begin_object (&w);
  cp_json_writer_end_object (&w);
  cp_json_writer_end_object (&w);
  text = cp_json_writer_steal (&w, &length, &error);
  CHECK (text != NULL);
  if (text == NULL)
    return;
  CHECK_MSG (strcmp (text, "{\"s\":\"q\\\"b\\\\s/\\n\\t\\u0001\\u001f caf\xc3\xa9\","
                           "\"i\":-9223372036854775808,\"d\":[0.1,1.0,-2.5e-300,1e+21],"
                           "\"b\":true,\"n\":null,\"e\":{}}") == 0, "%s", text);
  CHECK (length == strlen (text));

  /* And it parses back to the same values. */
  {
    CpJsonDoc *doc = parse (text, &error);
    const CpJson *root;

    CHECK (doc != NULL);
    if (doc != NULL)
      {
        root = cp_json_doc_root (doc);
        CHECK (strcmp (cp_json_object_get (root, "s")->string,
                       "q\"b\\s/\n\t\x01\x1f caf\xc3\xa9") == 0);
        CHECK (cp_json_object_get (root, "i")->integer == INT64_MIN);
        CHECK (cp_json_object_get (root, "d")->items[0]->number == 0.1);
        CHECK (cp_json_object_get (root, "d")->items[1]->type == CP_JSON_DOUBLE);
        CHECK (cp_json_object_get (root, "d")->items[2]->number == -2.5e-300);
        cp_json_doc_free (doc);
      }
  }
  free (text);

  /* Misuse and values JSON cannot carry fail with a message. */
  cp_json_writer_init (&w);
  cp_json_writer_begin_array (&w);
  cp_json_writer_double (&w, NAN);
  cp_json_writer_end_array (&w);
  CHECK (cp_json_writer_steal (&w, NULL, &error) == NULL);
  CHECK (error.code == CP_ERR_NUMERIC && strstr (error.message, "NaN") != NULL);

  cp_json_writer_init (&w);
  cp_json_writer_string (&w, "bad \xff byte");
  CHECK (cp_json_writer_steal (&w, NULL, &error) == NULL);
  CHECK (error.code == CP_ERR_INVALID && strstr (error.message, "invalid UTF-8") != NULL);

  cp_json_writer_init (&w);
  cp_json_writer_begin_object (&w);
  cp_json_writer_int (&w, 1);
  CHECK (cp_json_writer_steal (&w, NULL, &error) == NULL);
  CHECK (strstr (error.message, "needs a key") != NULL);

  cp_json_writer_init (&w);
  cp_json_writer_begin_array (&w);
  cp_json_writer_key (&w, "k");
  CHECK (cp_json_writer_steal (&w, NULL, &error) == NULL);
  CHECK (strstr (error.message, "key outside an object") != NULL);

  cp_json_writer_init (&w);
  cp_json_writer_begin_array (&w);
  CHECK (cp_json_writer_steal (&w, NULL, &error) == NULL);
  CHECK (strstr (error.message, "still open") != NULL);

  cp_json_writer_init (&w);
  cp_json_writer_int (&w, 1);
  cp_json_writer_int (&w, 2);
  CHECK (cp_json_writer_steal (&w, NULL, &error) == NULL);
  CHECK (strstr (error.message, "more than one top-level value") != NULL);
}

static void
test_double_format (void)
{
  static const double values[] = {
    0.0, -0.0, 1.0, 0.1, 1.0 / 3.0, 2.0 / 3.0, 1e-7, 123456789.125, 5e-324, 1.7976931348623157e308,
    0.30000000000000004, 100.0, 1e16, 9007199254740993.0,
  };
  CpRng rng;

  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    {
      char buf[64];

      cp_json_format_double (buf, sizeof buf, values[i]);
      CHECK_MSG (cp_json_strtod (buf, NULL) == values[i], "%s", buf);
      CHECK_MSG (signbit (cp_json_strtod (buf, NULL)) == signbit (values[i]), "%s", buf);
    }
  {
    char buf[64];

    cp_json_format_double (buf, sizeof buf, 0.1);
    CHECK (strcmp (buf, "0.1") == 0);
    cp_json_format_double (buf, sizeof buf, 100.0);
    CHECK (strcmp (buf, "100.0") == 0);
    cp_json_format_double (buf, sizeof buf, -0.0);
    CHECK (strcmp (buf, "-0.0") == 0);
    cp_json_format_double (buf, sizeof buf, 1e-7);
    CHECK (strcmp (buf, "1e-07") == 0);
    cp_json_format_double (buf, sizeof buf, 0.0001);
    CHECK (strcmp (buf, "0.0001") == 0);
    cp_json_format_double (buf, sizeof buf, 123456789.125);
    CHECK (strcmp (buf, "123456789.125") == 0);
    cp_json_format_double (buf, sizeof buf, 1e16);
    CHECK (strcmp (buf, "1e+16") == 0);
    cp_json_format_double (buf, sizeof buf, 1234.5e200);
    CHECK_MSG (strcmp (buf, "1.2345e+203") == 0, "%s", buf);
  }

  /* Random doubles of every magnitude read back exactly. */
  cp_rng_seed (&rng, 7);
  for (int i = 0; i < 20000; i++)
    {
      uint64_t bits = cp_rng_next_u64 (&rng);
      double v;
      char buf[64];

      memcpy (&v, &bits, sizeof v);
      if (!isfinite (v))
        continue;
      cp_json_format_double (buf, sizeof buf, v);
      if (cp_json_strtod (buf, NULL) != v)
        {
          CHECK_MSG (false, "%.17g written as %s", v, buf);
          break;
        }
    }
}

/* A locale with a decimal comma: an installed one, or one compiled into a
 * scratch folder with localedef (LOCPATH) when the sources are present.
 * Returns its name or NULL; *@scratch is set to the folder to remove. */
static const char *
find_comma_locale (char **scratch)
{
  static const char *const locales[] = {
    "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "nl_NL.UTF-8",
  };
  char dir[] = "/tmp/cp-io-locale-XXXXXX";
  char command[256];

  *scratch = NULL;
  for (size_t i = 0; i < sizeof locales / sizeof locales[0]; i++)
    if (setlocale (LC_NUMERIC, locales[i]) != NULL)
      return locales[i];
  if (mkdtemp (dir) == NULL)
    return NULL;
  *scratch = strdup (dir);
  snprintf (command, sizeof command,
            "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", dir);
  if (system (command) != 0)
    return NULL;
  setenv ("LOCPATH", dir, 1);
  if (setlocale (LC_NUMERIC, "de_DE.UTF-8") != NULL)
    return "de_DE.UTF-8 (compiled)";
  return NULL;
}

static void
test_locale_independence (void)
{
  char *scratch = NULL;
  const char *found = find_comma_locale (&scratch);
  CpJsonDoc *doc;
  CpError error;
  char buf[64];

  if (found == NULL)
    {
      printf ("# no comma-decimal locale available; checking the C locale only\n");
      setlocale (LC_NUMERIC, "C");
    }
  else
    {
      /* The locale really is active: libc itself writes a comma. */
      snprintf (buf, sizeof buf, "%.1f", 1.5);
      CHECK_MSG (strcmp (buf, "1,5") == 0, "%s under %s", buf, found);
      printf ("# testing under %s\n", found);
    }
  doc = parse ("[1.5, 2.25e1]", &error);
  CHECK (doc != NULL);
  if (doc != NULL)
    {
      CHECK (cp_json_doc_root (doc)->items[0]->number == 1.5);
      CHECK (cp_json_doc_root (doc)->items[1]->number == 22.5);
      cp_json_doc_free (doc);
    }
  cp_json_format_double (buf, sizeof buf, 1.5);
  CHECK_MSG (strcmp (buf, "1.5") == 0, "%s under %s", buf, found ? found : "C");
  CHECK (cp_json_strtod ("0.25", NULL) == 0.25);
  setlocale (LC_NUMERIC, "C");
  if (scratch != NULL)
    {
      char command[256];

      snprintf (command, sizeof command, "rm -rf '%s'", scratch);
      if (system (command) != 0)
        printf ("# could not remove %s\n", scratch);
      free (scratch);
    }
}

/* Writes random strings (any code point, control characters included) and
 * checks they parse back byte for byte. */
static void
test_string_round_trip (void)
{
  CpRng rng;

  cp_rng_seed (&rng, 11);
  for (int iter = 0; iter < 2000; iter++)
    {
      char raw[256];
      size_t n = 0;
      int count = (int) cp_rng_int_range (&rng, 0, 40);
      CpJsonWriter w;
      CpError error;
      char *text;
      CpJsonDoc *doc;

      for (int i = 0; i < count; i++)
        {
          unsigned long cp;

          do
            {
              int kind = (int) cp_rng_int_range (&rng, 0, 4);

              cp = kind == 0 ? (unsigned long) cp_rng_int_range (&rng, 0, 0x1f)
                 : kind == 1 ? (unsigned long) cp_rng_int_range (&rng, 0x20, 0x7f)
                 : (unsigned long) cp_rng_int_range (&rng, 0x80, 0x10ffff);
            }
          while (cp >= 0xd800 && cp <= 0xdfff);
          if (cp < 0x80)
            raw[n++] = (char) cp;
          else if (cp < 0x800)
            {
              raw[n++] = (char) (0xc0 | (cp >> 6));
              raw[n++] = (char) (0x80 | (cp & 0x3f));
            }
          else if (cp < 0x10000)
            {
              raw[n++] = (char) (0xe0 | (cp >> 12));
              raw[n++] = (char) (0x80 | ((cp >> 6) & 0x3f));
              raw[n++] = (char) (0x80 | (cp & 0x3f));
            }
          else
            {
              raw[n++] = (char) (0xf0 | (cp >> 18));
              raw[n++] = (char) (0x80 | ((cp >> 12) & 0x3f));
              raw[n++] = (char) (0x80 | ((cp >> 6) & 0x3f));
              raw[n++] = (char) (0x80 | (cp & 0x3f));
            }
        }
      cp_json_writer_init (&w);
      cp_json_writer_string_len (&w, raw, n);
      text = cp_json_writer_steal (&w, NULL, &error);
      CHECK (text != NULL);
      if (text == NULL)
        return;
      doc = parse (text, &error);
      CHECK_MSG (doc != NULL, "%s: %s", text, doc ? "" : error.message);
      if (doc != NULL)
        {
          const CpJson *v = cp_json_doc_root (doc);

          CHECK (v->length == n && memcmp (v->string, raw, n) == 0);
          cp_json_doc_free (doc);
        }
      free (text);
      if (harness_failed_checks > 0)
        return;
    }
}

/* Random edits of a valid document: the parser may accept or refuse, but
 * must never crash or read outside the buffer (checked under ASan). */
static void
test_mutations (void)
{
  const char *base =
    "{\"a\":[1,2.5,-3e2,true,false,null],\"b\":{\"c\":\"d\\u00e9\\ud83d\\ude00\"},\"e\":\"\"}";
  size_t base_len = strlen (base);
  CpRng rng;
  int accepted = 0;

  cp_rng_seed (&rng, 3);
  for (int iter = 0; iter < 20000; iter++)
    {
      char buf[256];
      size_t n = base_len;
      int edits = (int) cp_rng_int_range (&rng, 1, 4);
      CpError error;
      CpJsonDoc *doc;

      memcpy (buf, base, n);
      for (int e = 0; e < edits; e++)
        {
          size_t at;

          if (n == 0)
            break;
          at = (size_t) cp_rng_int_range (&rng, 0, (int64_t) n - 1);

          switch (cp_rng_int_range (&rng, 0, 3))
            {
            case 0:
              buf[at] = (char) cp_rng_int_range (&rng, 0, 255);
              break;
            case 1:
              n = at;   /* truncate */
              break;
            default:
              buf[at] = "{}[]\",:\\u0e-."[cp_rng_int_range (&rng, 0, 12)];
              break;
            }
        }
      doc = parse_exact (buf, n, NULL, NULL, &error);
      if (doc != NULL)
        accepted++;
      else
        CHECK (error.code == CP_ERR_FORMAT);
      cp_json_doc_free (doc);
    }
  printf ("# %d of 20000 mutated documents still parse\n", accepted);
}

int
main (void)
{
  RUN_TEST (test_valid_document);
  RUN_TEST (test_numbers);
  RUN_TEST (test_strings);
  RUN_TEST (test_syntax_errors);
  RUN_TEST (test_duplicates);
  RUN_TEST (test_depth_and_limits);
  RUN_TEST (test_large_document);
  RUN_TEST (test_writer);
  RUN_TEST (test_double_format);
  RUN_TEST (test_locale_independence);
  RUN_TEST (test_string_round_trip);
  RUN_TEST (test_mutations);
  return harness_exit ();
}
