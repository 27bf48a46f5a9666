/* json.c: strict JSON parser and compact writer (see json.h). */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Locale-independent number conversions                                    */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void
c_locale_init (void)
{
  c_locale = newlocale (LC_ALL_MASK, "C", (locale_t) 0);
}

/* Switches this thread to the "C" locale so that '.' is the decimal point
 * whatever LC_NUMERIC the application chose; returns the previous one. */
static locale_t
c_locale_push (void)
{
  pthread_once (&c_locale_once, c_locale_init);
  if (c_locale == (locale_t) 0)
    return (locale_t) 0;
  return uselocale (c_locale);
}

static void
c_locale_pop (locale_t previous)
{
  if (previous != (locale_t) 0)
    uselocale (previous);
}

double
cp_json_strtod (const char *text,
                char      **end)
{
  locale_t previous = c_locale_push ();
  double value = strtod (text, end);

  c_locale_pop (previous);
  return value;
}

int
cp_json_format_double (char   *buf,
                       size_t  size,
                       double  value)
{
  char sci[40], digits[24], out[48];
  locale_t previous;
  size_t nd = 0, n = 0;
  int exponent;
  const char *e;

  if (!isfinite (value))
    return snprintf (buf, size, "%s", isnan (value) ? "nan" : value > 0 ? "inf" : "-inf");

  /* The fewest significant digits that read back to the same double. */
  previous = c_locale_push ();
  for (int precision = 0; precision <= 16; precision++)
    {
      snprintf (sci, sizeof sci, "%.*e", precision, value);
      if (strtod (sci, NULL) == value)
        break;
    }
  c_locale_pop (previous);

  /* sci is "-d.ddde+XX": split it into digits and exponent, then lay it out
   * as Python's repr() does: fixed notation for 1e-4 <= |v| < 1e16. */
  for (const char *c = sci; *c != '\0' && *c != 'e'; c++)
    if (*c >= '0' && *c <= '9')
      digits[nd++] = *c;
  digits[nd] = '\0';
  e = strchr (sci, 'e');
  exponent = e != NULL ? atoi (e + 1) : 0;

  if (signbit (value))
    out[n++] = '-';
  if (exponent >= -4 && exponent < 16)
    {
      if (exponent < 0)
        {
          out[n++] = '0';
          out[n++] = '.';
          for (int i = 0; i < -exponent - 1; i++)
            out[n++] = '0';
          memcpy (out + n, digits, nd);
          n += nd;
        }
      else
        {
          for (int i = 0; i <= exponent; i++)
            out[n++] = (size_t) i < nd ? digits[i] : '0';
          out[n++] = '.';
          if ((size_t) exponent + 1 < nd)
            {
              memcpy (out + n, digits + exponent + 1, nd - (size_t) exponent - 1);
              n += nd - (size_t) exponent - 1;
            }
          else
            out[n++] = '0';   /* "100.0": keep it a double for readers */
        }
    }
  else
    {
      out[n++] = digits[0];
      if (nd > 1)
        {
          out[n++] = '.';
          memcpy (out + n, digits + 1, nd - 1);
          n += nd - 1;
        }
      n += (size_t) snprintf (out + n, sizeof out - n, "e%c%02d", exponent < 0 ? '-' : '+',
                              exponent < 0 ? -exponent : exponent);
    }
  out[n] = '\0';
  return snprintf (buf, size, "%s", out);
}

/* ------------------------------------------------------------------------ */
/* Arena: every node, string and child array of a document lives in a few    */
/* large blocks, freed together.                                              */

typedef struct CpJsonBlock CpJsonBlock;
struct CpJsonBlock
{
  CpJsonBlock *next;
  size_t       used;
  size_t       size;
  max_align_t  data[];
};

struct CpJsonDoc
{
  CpJson      *root;
  CpJsonBlock *blocks;
};

#define BLOCK_MIN (64 * 1024)

static void *
arena_alloc (CpJsonDoc *doc,
             size_t     size)
{
  const size_t align = alignof (max_align_t);
  CpJsonBlock *block = doc->blocks;
  void *result;

  if (size > SIZE_MAX / 2)
    return NULL;
  size = (size + align - 1) / align * align;
  if (block == NULL || block->size - block->used < size)
    {
      size_t block_size = size > BLOCK_MIN ? size : BLOCK_MIN;

      block = malloc (sizeof *block + block_size);
      if (block == NULL)
        return NULL;
      block->used = 0;
      block->size = block_size;
      /* A big one-off allocation goes behind the current block so the
       * current block's free space is not wasted. */
      if (doc->blocks != NULL && block_size == size)
        {
          block->next = doc->blocks->next;
          doc->blocks->next = block;
        }
      else
        {
          block->next = doc->blocks;
          doc->blocks = block;
        }
    }
  result = (char *) block->data + block->used;
  block->used += size;
  return result;
}

void
cp_json_doc_free (CpJsonDoc *doc)
{
  if (doc == NULL)
    return;
  while (doc->blocks != NULL)
    {
      CpJsonBlock *next = doc->blocks->next;

      free (doc->blocks);
      doc->blocks = next;
    }
  free (doc);
}

const CpJson *
cp_json_doc_root (const CpJsonDoc *doc)
{
  return doc != NULL ? doc->root : NULL;
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */

void
cp_json_limits_init (CpJsonLimits *limits)
{
  limits->max_depth = 64;
  limits->max_input = (size_t) 128 << 20;
  limits->max_nodes = (size_t) 1 << 20;
  limits->allow_duplicate_keys = false;
}

typedef struct
{
  const unsigned char *start;
  const unsigned char *p;
  const unsigned char *end;
  CpJsonLimits         limits;
  CpJsonDoc           *doc;
  size_t               nodes;

  /* Children of the containers being parsed, in order; a finished
   * container copies its slice into the arena.  One stack for the whole
   * parse keeps allocations few. */
  CpJson **values;
  char   **keys;
  size_t  *key_lengths;
  size_t   stack_len;
  size_t   stack_cap;

  CpError *error;
  size_t   error_offset;
  bool     failed;
} Parser;

static size_t
parser_offset (const Parser *ps,
               const unsigned char *at)
{
  return (size_t) (at - ps->start);
}

static bool parser_fail (Parser *ps, CpStatus code, const unsigned char *at,
                         const char *format, ...) __attribute__ ((format (printf, 4, 5)));

static bool
parser_fail (Parser              *ps,
             CpStatus             code,
             const unsigned char *at,
             const char          *format,
             ...)
{
  char what[CP_ERROR_MESSAGE_SIZE / 2];
  va_list args;

  if (ps->failed)
    return false;
  ps->failed = true;
  ps->error_offset = parser_offset (ps, at);
  va_start (args, format);
  vsnprintf (what, sizeof what, format, args);
  va_end (args);
  cp_error_set (ps->error, code, "%s at byte %zu", what, ps->error_offset);
  return false;
}

static bool
parser_nomem (Parser *ps)
{
  return parser_fail (ps, CP_ERR_NOMEM, ps->p, "out of memory");
}

/* Describes the byte at @at for a message: 'x', 0x0a or "end of input". */
static void
describe_byte (const Parser        *ps,
               const unsigned char *at,
               char                *buf,
               size_t               size)
{
  if (at >= ps->end)
    snprintf (buf, size, "end of input");
  else if (*at >= 0x20 && *at < 0x7f)
    snprintf (buf, size, "'%c'", *at);
  else
    snprintf (buf, size, "byte 0x%02x", *at);
}

static bool
parser_unexpected (Parser     *ps,
                   const char *expected)
{
  char got[32];

  describe_byte (ps, ps->p, got, sizeof got);
  if (ps->p >= ps->end)
    return parser_fail (ps, CP_ERR_FORMAT, ps->p, "unexpected end of input, expected %s",
                        expected);
  return parser_fail (ps, CP_ERR_FORMAT, ps->p, "unexpected %s, expected %s", got, expected);
}

static void
skip_space (Parser *ps)
{
  while (ps->p < ps->end
         && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static CpJson *
new_node (Parser              *ps,
          CpJsonType           type,
          const unsigned char *at)
{
  CpJson *node;

  if (ps->nodes >= ps->limits.max_nodes)
    {
      parser_fail (ps, CP_ERR_FORMAT, at, "more than %zu values", ps->limits.max_nodes);
      return NULL;
    }
  node = arena_alloc (ps->doc, sizeof *node);
  if (node == NULL)
    {
      parser_nomem (ps);
      return NULL;
    }
  memset (node, 0, sizeof *node);
  node->type = type;
  node->offset = parser_offset (ps, at);
  ps->nodes++;
  return node;
}

static bool
stack_push (Parser *ps,
            CpJson *value,
            char   *key,
            size_t  key_length)
{
  if (ps->stack_len == ps->stack_cap)
    {
      size_t cap = ps->stack_cap ? ps->stack_cap * 2 : 64;
      CpJson **values = realloc (ps->values, cap * sizeof *values);
      char **keys;
      size_t *lengths;

      if (values == NULL)
        return parser_nomem (ps);
      ps->values = values;
      keys = realloc (ps->keys, cap * sizeof *keys);
      if (keys == NULL)
        return parser_nomem (ps);
      ps->keys = keys;
      lengths = realloc (ps->key_lengths, cap * sizeof *lengths);
      if (lengths == NULL)
        return parser_nomem (ps);
      ps->key_lengths = lengths;
      ps->stack_cap = cap;
    }
  ps->values[ps->stack_len] = value;
  ps->keys[ps->stack_len] = key;
  ps->key_lengths[ps->stack_len] = key_length;
  ps->stack_len++;
  return true;
}

static int
hex_value (unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads the 4 hex digits after "\u" at @at; -1 when malformed. */
static long
read_hex4 (const Parser        *ps,
           const unsigned char *at)
{
  long value = 0;

  if (ps->end - at < 4)
    return -1;
  for (int i = 0; i < 4; i++)
    {
      int digit = hex_value (at[i]);

      if (digit < 0)
        return -1;
      value = value * 16 + digit;
    }
  return value;
}

static size_t
encode_utf8 (unsigned long cp,
             char         *out)
{
  if (cp < 0x80)
    {
      out[0] = (char) cp;
      return 1;
    }
  if (cp < 0x800)
    {
      out[0] = (char) (0xc0 | (cp >> 6));
      out[1] = (char) (0x80 | (cp & 0x3f));
      return 2;
    }
  if (cp < 0x10000)
    {
      out[0] = (char) (0xe0 | (cp >> 12));
      out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
      out[2] = (char) (0x80 | (cp & 0x3f));
      return 3;
    }
  out[0] = (char) (0xf0 | (cp >> 18));
  out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char) (0x80 | (cp & 0x3f));
  return 4;
}

/* Length of the valid UTF-8 sequence at @s (at most @avail bytes), or 0.
 * Rejects overlong forms, surrogates and code points past U+10FFFF, as
 * RFC 3629 requires. */
static size_t
utf8_sequence_length (const unsigned char *s,
                      size_t               avail)
{
  unsigned char c = s[0];
  size_t n;
  unsigned long cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (avail < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    {
      if ((s[i] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff
      || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

/* Parses the string starting at the opening quote at ps->p. */
static bool
parse_string (Parser  *ps,
              char   **out,
              size_t  *out_length)
{
  const unsigned char *open = ps->p;
  const unsigned char *q = open + 1;
  char *buf, *w;

  /* First pass: find the closing quote, so that the decoded text (never
   * longer than the raw text) can be allocated once. */
  while (q < ps->end && *q != '"')
    q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
  if (q >= ps->end)
    return parser_fail (ps, CP_ERR_FORMAT, open, "unterminated string");

  buf = arena_alloc (ps->doc, (size_t) (q - open));
  if (buf == NULL)
    return parser_nomem (ps);
  w = buf;

  for (const unsigned char *s = open + 1; s < q;)
    {
      if (*s == '\\')
        {
          unsigned long cp;
          long hi, lo;

          switch (s[1])
            {
            case '"': *w++ = '"'; s += 2; continue;
            case '\\': *w++ = '\\'; s += 2; continue;
            case '/': *w++ = '/'; s += 2; continue;
            case 'b': *w++ = '\b'; s += 2; continue;
            case 'f': *w++ = '\f'; s += 2; continue;
            case 'n': *w++ = '\n'; s += 2; continue;
            case 'r': *w++ = '\r'; s += 2; continue;
            case 't': *w++ = '\t'; s += 2; continue;
            case 'u':
              break;
            default:
              {
                char got[32];

                describe_byte (ps, s + 1, got, sizeof got);
                return parser_fail (ps, CP_ERR_FORMAT, s, "invalid escape \\ followed by %s",
                                    got);
              }
            }
          hi = read_hex4 (ps, s + 2);
          if (hi < 0 || s + 6 > q)
            return parser_fail (ps, CP_ERR_FORMAT, s, "\\u needs four hex digits");
          if (hi >= 0xdc00 && hi <= 0xdfff)
            return parser_fail (ps, CP_ERR_FORMAT, s,
                                "unpaired low surrogate \\u%04lX", (unsigned long) hi);
          if (hi >= 0xd800 && hi <= 0xdbff)
            {
              if (s + 12 > q || s[6] != '\\' || s[7] != 'u'
                  || (lo = read_hex4 (ps, s + 8)) < 0xdc00 || lo > 0xdfff)
                return parser_fail (ps, CP_ERR_FORMAT, s,
                                    "high surrogate \\u%04lX not followed by a low surrogate",
                                    (unsigned long) hi);
              cp = 0x10000 + (((unsigned long) hi - 0xd800) << 10)
                   + ((unsigned long) lo - 0xdc00);
              s += 12;
            }
          else
            {
              cp = (unsigned long) hi;
              s += 6;
            }
          w += encode_utf8 (cp, w);
        }
      else if (*s < 0x20)
        return parser_fail (ps, CP_ERR_FORMAT, s,
                            "control character 0x%02x must be escaped in a string", *s);
      else
        {
          size_t n = utf8_sequence_length (s, (size_t) (q - s));

          if (n == 0)
            return parser_fail (ps, CP_ERR_FORMAT, s, "invalid UTF-8 in string");
          memcpy (w, s, n);
          w += n;
          s += n;
        }
    }
  *w = '\0';
  *out = buf;
  *out_length = (size_t) (w - buf);
  ps->p = q + 1;
  return true;
}

static CpJson *
parse_number (Parser *ps)
{
  const unsigned char *start = ps->p;
  const unsigned char *s = start;
  bool is_integer = true;
  CpJson *node;

  if (s < ps->end && *s == '-')
    s++;
  if (s >= ps->end || !(*s >= '0' && *s <= '9'))
    {
      ps->p = s;
      parser_unexpected (ps, "a digit");
      return NULL;
    }
  if (*s == '0')
    {
      s++;
      if (s < ps->end && *s >= '0' && *s <= '9')
        {
          parser_fail (ps, CP_ERR_FORMAT, s, "leading zeros are not allowed in numbers");
          return NULL;
        }
    }
  else
    while (s < ps->end && *s >= '0' && *s <= '9')
      s++;
  if (s < ps->end && *s == '.')
    {
      is_integer = false;
      s++;
      if (s >= ps->end || !(*s >= '0' && *s <= '9'))
        {
          ps->p = s;
          parser_unexpected (ps, "a digit after the decimal point");
          return NULL;
        }
      while (s < ps->end && *s >= '0' && *s <= '9')
        s++;
    }
  if (s < ps->end && (*s == 'e' || *s == 'E'))
    {
      is_integer = false;
      s++;
      if (s < ps->end && (*s == '+' || *s == '-'))
        s++;
      if (s >= ps->end || !(*s >= '0' && *s <= '9'))
        {
          ps->p = s;
          parser_unexpected (ps, "a digit in the exponent");
          return NULL;
        }
      while (s < ps->end && *s >= '0' && *s <= '9')
        s++;
    }

  node = new_node (ps, is_integer ? CP_JSON_INT : CP_JSON_DOUBLE, start);
  if (node == NULL)
    return NULL;

  if (is_integer)
    {
      bool negative = *start == '-';
      /* Magnitude limit: 2^63 - 1, or 2^63 for a negative number. */
      uint64_t limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
      uint64_t magnitude = 0;

      for (const unsigned char *d = start + negative; d < s; d++)
        {
          unsigned digit = (unsigned) (*d - '0');

          if (magnitude > (limit - digit) / 10)
            {
              parser_fail (ps, CP_ERR_FORMAT, start,
                           "integer %.*s does not fit in 64 bits",
                           (int) (s - start > 40 ? 40 : s - start), (const char *) start);
              return NULL;
            }
          magnitude = magnitude * 10 + digit;
        }
      if (negative)
        node->integer = magnitude == (uint64_t) INT64_MAX + 1
                        ? INT64_MIN : -(int64_t) magnitude;
      else
        node->integer = (int64_t) magnitude;
      node->number = (double) node->integer;
    }
  else
    {
      size_t n = (size_t) (s - start);
      char small[64];
      char *text = n < sizeof small ? small : malloc (n + 1);

      if (text == NULL)
        {
          parser_nomem (ps);
          return NULL;
        }
      memcpy (text, start, n);
      text[n] = '\0';
      node->number = cp_json_strtod (text, NULL);
      if (text != small)
        free (text);
      if (isinf (node->number))
        {
          parser_fail (ps, CP_ERR_FORMAT, start, "number %.*s is out of the range of a double",
                       (int) (n > 40 ? 40 : n), (const char *) start);
          return NULL;
        }
    }
  ps->p = s;
  return node;
}

static bool
parse_literal (Parser     *ps,
               const char *word)
{
  size_t n = strlen (word);

  if ((size_t) (ps->end - ps->p) < n || memcmp (ps->p, word, n) != 0)
    return parser_unexpected (ps, "a value");
  ps->p += n;
  return true;
}

typedef struct
{
  const char *key;
  size_t      length;
  size_t      index;
} KeyRef;

static int
keyref_compare (const void *a,
                const void *b)
{
  const KeyRef *ka = a, *kb = b;
  size_t n = ka->length < kb->length ? ka->length : kb->length;
  int c = memcmp (ka->key, kb->key, n);

  if (c != 0)
    return c;
  if (ka->length != kb->length)
    return ka->length < kb->length ? -1 : 1;
  return ka->index < kb->index ? -1 : ka->index > kb->index;
}

/* Index of the first key that repeats an earlier one; -1 if none, -2 when
 * out of memory. */
static ptrdiff_t
find_duplicate (char * const  *keys,
                const size_t  *lengths,
                size_t         count)
{
  KeyRef *refs;
  size_t best = SIZE_MAX;

  if (count <= 16)
    {
      for (size_t j = 1; j < count; j++)
        for (size_t i = 0; i < j; i++)
          if (lengths[i] == lengths[j] && memcmp (keys[i], keys[j], lengths[i]) == 0)
            return (ptrdiff_t) j;
      return -1;
    }

  refs = malloc (count * sizeof *refs);
  if (refs == NULL)
    return -2;
  for (size_t i = 0; i < count; i++)
    refs[i] = (KeyRef) { keys[i], lengths[i], i };
  qsort (refs, count, sizeof *refs, keyref_compare);
  for (size_t i = 1; i < count; i++)
    if (refs[i].length == refs[i - 1].length
        && memcmp (refs[i].key, refs[i - 1].key, refs[i].length) == 0
        && refs[i].index < best)
      best = refs[i].index;
  free (refs);
  return best == SIZE_MAX ? -1 : (ptrdiff_t) best;
}

ptrdiff_t
cp_json_object_find_duplicate (const CpJson *node)
{
  ptrdiff_t index;

  if (node == NULL || node->type != CP_JSON_OBJECT)
    return -1;
  index = find_duplicate (node->keys, node->key_lengths, node->length);
  if (index == -2)
    {
      /* Out of memory: fall back to the quadratic scan. */
      for (size_t j = 1; j < node->length; j++)
        for (size_t i = 0; i < j; i++)
          if (node->key_lengths[i] == node->key_lengths[j]
              && memcmp (node->keys[i], node->keys[j], node->key_lengths[i]) == 0)
            return (ptrdiff_t) j;
      return -1;
    }
  return index;
}

static CpJson *parse_value (Parser *ps, int depth);

/* Moves the children pushed since @base into @node. */
static bool
finish_container (Parser *ps,
                  CpJson *node,
                  size_t  base)
{
  size_t count = ps->stack_len - base;

  node->length = count;
  if (count > 0)
    {
      node->items = arena_alloc (ps->doc, count * sizeof *node->items);
      if (node->items == NULL)
        return parser_nomem (ps);
      memcpy (node->items, ps->values + base, count * sizeof *node->items);
      if (node->type == CP_JSON_OBJECT)
        {
          node->keys = arena_alloc (ps->doc, count * sizeof *node->keys);
          node->key_lengths = arena_alloc (ps->doc, count * sizeof *node->key_lengths);
          if (node->keys == NULL || node->key_lengths == NULL)
            return parser_nomem (ps);
          memcpy (node->keys, ps->keys + base, count * sizeof *node->keys);
          memcpy (node->key_lengths, ps->key_lengths + base, count * sizeof *node->key_lengths);
        }
    }
  ps->stack_len = base;

  if (node->type == CP_JSON_OBJECT && !ps->limits.allow_duplicate_keys && count > 1)
    {
      ptrdiff_t dup = find_duplicate (node->keys, node->key_lengths, count);

      if (dup == -2)
        return parser_nomem (ps);
      if (dup >= 0)
        return parser_fail (ps, CP_ERR_FORMAT, ps->start + node->items[dup]->offset,
                            "duplicate key '%.200s'", node->keys[dup]);
    }
  return true;
}

static CpJson *
parse_container (Parser *ps,
                 int     depth,
                 bool    object)
{
  const unsigned char *open = ps->p;
  size_t base = ps->stack_len;
  CpJson *node;

  if (depth >= ps->limits.max_depth)
    {
      parser_fail (ps, CP_ERR_FORMAT, open, "nesting deeper than %d levels",
                   ps->limits.max_depth);
      return NULL;
    }
  node = new_node (ps, object ? CP_JSON_OBJECT : CP_JSON_ARRAY, open);
  if (node == NULL)
    return NULL;
  ps->p++;
  skip_space (ps);
  if (ps->p < ps->end && *ps->p == (object ? '}' : ']'))
    {
      ps->p++;
      return node;
    }

  for (;;)
    {
      char *key = NULL;
      size_t key_length = 0;
      CpJson *child;

      skip_space (ps);
      if (object)
        {
          if (ps->p >= ps->end || *ps->p != '"')
            {
              parser_unexpected (ps, "a string key");
              return NULL;
            }
          if (!parse_string (ps, &key, &key_length))
            return NULL;
          skip_space (ps);
          if (ps->p >= ps->end || *ps->p != ':')
            {
              parser_unexpected (ps, "':'");
              return NULL;
            }
          ps->p++;
        }
      child = parse_value (ps, depth + 1);
      if (child == NULL)
        return NULL;
      if (!stack_push (ps, child, key, key_length))
        return NULL;
      skip_space (ps);
      if (ps->p < ps->end && *ps->p == ',')
        {
          ps->p++;
          continue;
        }
      if (ps->p < ps->end && *ps->p == (object ? '}' : ']'))
        {
          ps->p++;
          break;
        }
      parser_unexpected (ps, object ? "',' or '}'" : "',' or ']'");
      return NULL;
    }
  if (!finish_container (ps, node, base))
    return NULL;
  return node;
}

static CpJson *
parse_value (Parser *ps,
             int     depth)
{
  const unsigned char *at;
  CpJson *node;

  skip_space (ps);
  at = ps->p;
  if (at >= ps->end)
    {
      parser_unexpected (ps, "a value");
      return NULL;
    }
  switch (*at)
    {
    case '{':
      return parse_container (ps, depth, true);
    case '[':
      return parse_container (ps, depth, false);
    case '"':
      node = new_node (ps, CP_JSON_STRING, at);
      if (node == NULL || !parse_string (ps, &node->string, &node->length))
        return NULL;
      return node;
    case 't':
    case 'f':
      node = new_node (ps, CP_JSON_BOOL, at);
      if (node == NULL || !parse_literal (ps, *at == 't' ? "true" : "false"))
        return NULL;
      node->boolean = *at == 't';
      return node;
    case 'n':
      node = new_node (ps, CP_JSON_NULL, at);
      if (node == NULL || !parse_literal (ps, "null"))
        return NULL;
      return node;
    default:
      if (*at == '-' || (*at >= '0' && *at <= '9'))
        return parse_number (ps);
      parser_unexpected (ps, "a value");
      return NULL;
    }
}

CpJsonDoc *
cp_json_parse (const char         *text,
               size_t              length,
               const CpJsonLimits *limits,
               size_t             *error_offset,
               CpError            *error)
{
  Parser ps;
  CpJsonDoc *doc;

  memset (&ps, 0, sizeof ps);
  if (limits != NULL)
    ps.limits = *limits;
  else
    cp_json_limits_init (&ps.limits);
  /* Parsing recurses once per level: bound it whatever the caller asks. */
  if (ps.limits.max_depth > 1000)
    ps.limits.max_depth = 1000;
  ps.error = error;
  if (error_offset != NULL)
    *error_offset = 0;

  if (text == NULL && length > 0)
    {
      cp_error_set (error, CP_ERR_INVALID, "cp_json_parse: NULL text");
      return NULL;
    }
  if (length > ps.limits.max_input)
    {
      cp_error_set (error, CP_ERR_FORMAT, "JSON text of %zu bytes exceeds the limit of %zu bytes",
                    length, ps.limits.max_input);
      return NULL;
    }
  doc = calloc (1, sizeof *doc);
  if (doc == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "out of memory parsing JSON");
      return NULL;
    }
  ps.doc = doc;
  ps.start = (const unsigned char *) (text != NULL ? text : "");
  ps.p = ps.start;
  ps.end = ps.start + length;

  doc->root = parse_value (&ps, 0);
  if (doc->root != NULL)
    {
      skip_space (&ps);
      if (ps.p != ps.end)
        parser_fail (&ps, CP_ERR_FORMAT, ps.p, "unexpected data after the JSON value");
    }
  free (ps.values);
  free (ps.keys);
  free (ps.key_lengths);
  if (ps.failed || doc->root == NULL)
    {
      if (error_offset != NULL)
        *error_offset = ps.error_offset;
      cp_json_doc_free (doc);
      return NULL;
    }
  return doc;
}

const char *
cp_json_type_name (CpJsonType type)
{
  switch (type)
    {
    case CP_JSON_NULL: return "null";
    case CP_JSON_BOOL: return "boolean";
    case CP_JSON_INT: return "integer";
    case CP_JSON_DOUBLE: return "number";
    case CP_JSON_STRING: return "string";
    case CP_JSON_ARRAY: return "array";
    case CP_JSON_OBJECT: return "object";
    default: return "unknown";
    }
}

const CpJson *
cp_json_object_get (const CpJson *node,
                    const char   *key)
{
  size_t n;

  if (node == NULL || node->type != CP_JSON_OBJECT || key == NULL)
    return NULL;
  n = strlen (key);
  for (size_t i = 0; i < node->length; i++)
    if (node->key_lengths[i] == n && memcmp (node->keys[i], key, n) == 0)
      return node->items[i];
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */

static void writer_fail (CpJsonWriter *w, CpStatus code, const char *format, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
writer_fail (CpJsonWriter *w,
             CpStatus      code,
             const char   *format,
             ...)
{
  va_list args;

  if (w->status != CP_OK)
    return;
  w->status = code;
  va_start (args, format);
  vsnprintf (w->failure, sizeof w->failure, format, args);
  va_end (args);
}

void
cp_json_writer_init (CpJsonWriter *w)
{
  memset (w, 0, sizeof *w);
}

void
cp_json_writer_clear (CpJsonWriter *w)
{
  free (w->data);
  cp_json_writer_init (w);
}

static bool
writer_reserve (CpJsonWriter *w,
                size_t        extra)
{
  size_t need;

  if (w->status != CP_OK)
    return false;
  if (extra > SIZE_MAX / 2 - w->length)
    {
      writer_fail (w, CP_ERR_NOMEM, "JSON text too large");
      return false;
    }
  need = w->length + extra + 1;
  if (need > w->capacity)
    {
      size_t cap = w->capacity ? w->capacity : 256;
      char *data;

      while (cap < need)
        cap *= 2;
      data = realloc (w->data, cap);
      if (data == NULL)
        {
          writer_fail (w, CP_ERR_NOMEM, "out of memory writing JSON");
          return false;
        }
      w->data = data;
      w->capacity = cap;
    }
  return true;
}

static void
writer_raw (CpJsonWriter *w,
            const char   *text,
            size_t        n)
{
  if (!writer_reserve (w, n))
    return;
  memcpy (w->data + w->length, text, n);
  w->length += n;
  w->data[w->length] = '\0';
}

/* Called before every value and key: checks the position is legal and
 * writes the separating comma. */
static bool
writer_before (CpJsonWriter *w,
               bool          is_key)
{
  if (w->status != CP_OK)
    return false;
  if (is_key)
    {
      if (!w->in_object[w->depth] || w->after_key)
        {
          writer_fail (w, CP_ERR_INVALID, "JSON writer: a key outside an object or after a key");
          return false;
        }
    }
  else if (w->in_object[w->depth] && !w->after_key)
    {
      writer_fail (w, CP_ERR_INVALID, "JSON writer: a value inside an object needs a key");
      return false;
    }
  else if (w->depth == 0 && w->need_comma[0])
    {
      writer_fail (w, CP_ERR_INVALID, "JSON writer: more than one top-level value");
      return false;
    }

  if (w->after_key)
    w->after_key = false;
  else if (w->need_comma[w->depth] && w->depth > 0)
    writer_raw (w, ",", 1);
  w->need_comma[w->depth] = true;
  return w->status == CP_OK;
}

static void
writer_open (CpJsonWriter *w,
             bool          object)
{
  if (!writer_before (w, false))
    return;
  if (w->depth >= CP_JSON_WRITER_MAX_DEPTH)
    {
      writer_fail (w, CP_ERR_INVALID, "JSON writer: nesting deeper than %d",
                   CP_JSON_WRITER_MAX_DEPTH);
      return;
    }
  writer_raw (w, object ? "{" : "[", 1);
  w->depth++;
  w->need_comma[w->depth] = false;
  w->in_object[w->depth] = object;
}

static void
writer_close (CpJsonWriter *w,
              bool          object)
{
  if (w->status != CP_OK)
    return;
  if (w->depth == 0 || w->in_object[w->depth] != object || w->after_key)
    {
      writer_fail (w, CP_ERR_INVALID, "JSON writer: unbalanced end of %s",
                   object ? "object" : "array");
      return;
    }
  w->depth--;
  writer_raw (w, object ? "}" : "]", 1);
}

void
cp_json_writer_begin_object (CpJsonWriter *w)
{
  writer_open (w, true);
}

void
cp_json_writer_end_object (CpJsonWriter *w)
{
  writer_close (w, true);
}

void
cp_json_writer_begin_array (CpJsonWriter *w)
{
  writer_open (w, false);
}

void
cp_json_writer_end_array (CpJsonWriter *w)
{
  writer_close (w, false);
}

void
cp_json_writer_append_quoted (CpJsonWriter *w,
                              const char   *value,
                              size_t        length)
{
  const unsigned char *s = (const unsigned char *) value;
  size_t i = 0;

  /* Worst case: every byte becomes \u00XX. */
  if (length > SIZE_MAX / 8 || !writer_reserve (w, length * 6 + 2))
    {
      writer_fail (w, CP_ERR_NOMEM, "JSON string too large");
      return;
    }
  w->data[w->length++] = '"';
  while (i < length)
    {
      unsigned char c = s[i];
      char *out = w->data + w->length;

      if (c == '"' || c == '\\')
        {
          out[0] = '\\';
          out[1] = (char) c;
          w->length += 2;
          i++;
        }
      else if (c < 0x20)
        {
          const char *short_form = NULL;

          switch (c)
            {
            case '\b': short_form = "\\b"; break;
            case '\f': short_form = "\\f"; break;
            case '\n': short_form = "\\n"; break;
            case '\r': short_form = "\\r"; break;
            case '\t': short_form = "\\t"; break;
            default: break;
            }
          if (short_form != NULL)
            {
              memcpy (out, short_form, 2);
              w->length += 2;
            }
          else
            {
              static const char hex[] = "0123456789abcdef";

              memcpy (out, "\\u00", 4);
              out[4] = hex[c >> 4];
              out[5] = hex[c & 15];
              w->length += 6;
            }
          i++;
        }
      else
        {
          size_t n = utf8_sequence_length (s + i, length - i);

          if (n == 0)
            {
              writer_fail (w, CP_ERR_INVALID, "JSON writer: invalid UTF-8 at byte %zu of a string",
                           i);
              w->data[w->length] = '\0';
              return;
            }
          memcpy (out, s + i, n);
          w->length += n;
          i += n;
        }
    }
  w->data[w->length++] = '"';
  w->data[w->length] = '\0';
}

void
cp_json_writer_key (CpJsonWriter *w,
                    const char   *key)
{
  if (key == NULL)
    {
      writer_fail (w, CP_ERR_INVALID, "JSON writer: NULL key");
      return;
    }
  if (!writer_before (w, true))
    return;
  cp_json_writer_append_quoted (w, key, strlen (key));
  writer_raw (w, ":", 1);
  w->after_key = true;
}

void
cp_json_writer_string_len (CpJsonWriter *w,
                           const char   *value,
                           size_t        length)
{
  if (value == NULL)
    {
      writer_fail (w, CP_ERR_INVALID, "JSON writer: NULL string");
      return;
    }
  if (writer_before (w, false))
    cp_json_writer_append_quoted (w, value, length);
}

void
cp_json_writer_string (CpJsonWriter *w,
                       const char   *value)
{
  cp_json_writer_string_len (w, value, value != NULL ? strlen (value) : 0);
}

void
cp_json_writer_int (CpJsonWriter *w,
                    int64_t       value)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%lld", (long long) value);

  if (writer_before (w, false))
    writer_raw (w, buf, (size_t) n);
}

void
cp_json_writer_double (CpJsonWriter *w,
                       double        value)
{
  char buf[64];
  int n;

  if (!isfinite (value))
    {
      writer_fail (w, CP_ERR_NUMERIC, "JSON writer: %s has no JSON form",
                   isnan (value) ? "NaN" : "infinity");
      return;
    }
  n = cp_json_format_double (buf, sizeof buf, value);
  if (writer_before (w, false))
    writer_raw (w, buf, (size_t) n);
}

void
cp_json_writer_bool (CpJsonWriter *w,
                     bool          value)
{
  if (writer_before (w, false))
    writer_raw (w, value ? "true" : "false", value ? 4 : 5);
}

void
cp_json_writer_null (CpJsonWriter *w)
{
  if (writer_before (w, false))
    writer_raw (w, "null", 4);
}

char *
cp_json_writer_steal (CpJsonWriter *w,
                      size_t       *length,
                      CpError      *error)
{
  char *data;

  if (w->status == CP_OK && (w->depth != 0 || w->after_key))
    writer_fail (w, CP_ERR_INVALID, "JSON writer: %d container(s) still open", w->depth);
  if (w->status == CP_OK && w->data == NULL)
    writer_fail (w, CP_ERR_INVALID, "JSON writer: nothing was written");
  if (w->status != CP_OK)
    {
      cp_error_set (error, w->status, "%s", w->failure);
      cp_json_writer_clear (w);
      return NULL;
    }
  data = w->data;
  if (length != NULL)
    *length = w->length;
  w->data = NULL;
  cp_json_writer_clear (w);
  return data;
}
