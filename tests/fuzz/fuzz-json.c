/* fuzz-json.c: the JSON parser of engine/core/io (safetensors headers and
 * model metadata are JSON read from files we did not write).
 *
 * Beyond "no crash": a document that parses is written back with the
 * JSON writer and parsed again, and both trees must be equal.  This checks
 * unescaping, UTF-8 validation and number conversion against each other.
 * The first input byte picks the limits (tight depth/node limits, duplicate
 * keys allowed or not) so the limit paths are fuzzed too.
 */
#include <math.h>
#include <string.h>

#include "core/io/json.h"
#include "fuzz-common.h"

static void
write_node (CpJsonWriter *w, const CpJson *node)
{
  switch (node->type)
    {
    case CP_JSON_NULL:
      cp_json_writer_null (w);
      break;
    case CP_JSON_BOOL:
      cp_json_writer_bool (w, node->boolean);
      break;
    case CP_JSON_INT:
      cp_json_writer_int (w, node->integer);
      break;
    case CP_JSON_DOUBLE:
      cp_json_writer_double (w, node->number);
      break;
    case CP_JSON_STRING:
      cp_json_writer_string_len (w, node->string, node->length);
      break;
    case CP_JSON_ARRAY:
      cp_json_writer_begin_array (w);
      for (size_t i = 0; i < node->length; i++)
        write_node (w, node->items[i]);
      cp_json_writer_end_array (w);
      break;
    case CP_JSON_OBJECT:
      cp_json_writer_begin_object (w);
      for (size_t i = 0; i < node->length; i++)
        {
          cp_json_writer_key (w, node->keys[i]);
          write_node (w, node->items[i]);
        }
      cp_json_writer_end_object (w);
      break;
    }
}

/* Whether the tree can go through the writer: keys are NUL terminated
 * there, and nesting is limited to CP_JSON_WRITER_MAX_DEPTH. */
static int
writable (const CpJson *node, int depth)
{
  if (node->type != CP_JSON_ARRAY && node->type != CP_JSON_OBJECT)
    return !(node->type == CP_JSON_DOUBLE && !isfinite (node->number));
  if (depth >= CP_JSON_WRITER_MAX_DEPTH)
    return 0;
  for (size_t i = 0; i < node->length; i++)
    {
      if (node->type == CP_JSON_OBJECT && strlen (node->keys[i]) != node->key_lengths[i])
        return 0;
      if (!writable (node->items[i], depth + 1))
        return 0;
    }
  return 1;
}

static int
same (const CpJson *a, const CpJson *b)
{
  if (a->type != b->type)
    return 0;
  switch (a->type)
    {
    case CP_JSON_NULL:
      return 1;
    case CP_JSON_BOOL:
      return a->boolean == b->boolean;
    case CP_JSON_INT:
      return a->integer == b->integer;
    case CP_JSON_DOUBLE:
      /* The writer promises the shortest form that reads back exactly. */
      return memcmp (&a->number, &b->number, sizeof a->number) == 0;
    case CP_JSON_STRING:
      return a->length == b->length && memcmp (a->string, b->string, a->length) == 0;
    case CP_JSON_ARRAY:
    case CP_JSON_OBJECT:
      if (a->length != b->length)
        return 0;
      for (size_t i = 0; i < a->length; i++)
        {
          if (a->type == CP_JSON_OBJECT
              && (a->key_lengths[i] != b->key_lengths[i]
                  || memcmp (a->keys[i], b->keys[i], a->key_lengths[i]) != 0))
            return 0;
          if (!same (a->items[i], b->items[i]))
            return 0;
        }
      return 1;
    }
  return 0;
}

/* Every lookup of the public API on every object of the tree. */
static void
walk (const CpJson *node)
{
  if (node->type == CP_JSON_OBJECT)
    {
      ptrdiff_t dup = cp_json_object_find_duplicate (node);
      FUZZ_ASSERT (dup == -1 || (dup > 0 && (size_t) dup < node->length));
      /* Lookups take a NUL-terminated key: keys holding "\u0000" cannot
       * be asked for. */
      for (size_t i = 0; i < node->length; i++)
        if (strlen (node->keys[i]) == node->key_lengths[i])
          FUZZ_ASSERT (cp_json_object_get (node, node->keys[i]) != NULL);
    }
  if (node->type == CP_JSON_STRING)
    FUZZ_ASSERT (node->string[node->length] == '\0');
  FUZZ_ASSERT (cp_json_type_name (node->type) != NULL);
  if (node->type == CP_JSON_ARRAY || node->type == CP_JSON_OBJECT)
    for (size_t i = 0; i < node->length; i++)
      walk (node->items[i]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  CpJsonLimits limits;
  CpJsonDoc *doc;
  CpError error = { 0 };
  size_t offset = (size_t) -1;
  uint8_t mode = size > 0 ? data[0] : 0;

  cp_json_limits_init (&limits);
  if (size > 0)
    {
      data++;
      size--;
    }
  if (mode & 1)
    limits.allow_duplicate_keys = true;
  if (mode & 2)
    {
      limits.max_depth = 1 + (mode >> 4);
      limits.max_nodes = 1 + (mode >> 2);
    }

  doc = cp_json_parse ((const char *) data, size, &limits, &offset, &error);
  if (doc == NULL)
    {
      FUZZ_ASSERT (error.code == CP_ERR_FORMAT || error.code == CP_ERR_NOMEM);
      FUZZ_ASSERT (error.message[0] != '\0');
      FUZZ_ASSERT (offset <= size);
      return 0;
    }
  walk (cp_json_doc_root (doc));

  if (writable (cp_json_doc_root (doc), 0))
    {
      CpJsonWriter w;
      char *text;
      size_t length = 0;
      CpJsonDoc *again;

      cp_json_writer_init (&w);
      write_node (&w, cp_json_doc_root (doc));
      text = cp_json_writer_steal (&w, &length, &error);
      if (text == NULL)
        {
          fprintf (stderr, "writer refused a parsed document: %s\n", error.message);
          abort ();
        }
      cp_json_writer_clear (&w);
      cp_json_limits_init (&limits);
      limits.allow_duplicate_keys = true;
      again = cp_json_parse (text, length, &limits, NULL, &error);
      if (again == NULL)
        {
          fprintf (stderr, "written JSON does not parse: %s\n%.*s\n", error.message, (int) length, text);
          abort ();
        }
      FUZZ_ASSERT (same (cp_json_doc_root (doc), cp_json_doc_root (again)));
      cp_json_doc_free (again);
      free (text);
    }
  cp_json_doc_free (doc);
  return 0;
}
