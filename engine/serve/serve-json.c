/* serve-json.c: JSON numbers, strings and error bodies of the service. */
#include "serve-json.h"

#include <math.h>

void
cp_serve_json_number (CpJsonWriter *w, double value)
{
  if (isfinite (value))
    cp_json_writer_double (w, value);
  else
    cp_json_writer_null (w);
}

void
cp_serve_json_string (CpJsonWriter *w, const char *value)
{
  if (value == NULL)
    cp_json_writer_null (w);
  else if (g_utf8_validate (value, -1, NULL))
    cp_json_writer_string (w, value);
  else
    {
      g_autofree char *valid = g_utf8_make_valid (value, -1);
      cp_json_writer_string (w, valid);
    }
}

char *
cp_serve_json_finish (CpJsonWriter *w)
{
  CpError err = { 0 };
  size_t length = 0;
  char *text = cp_json_writer_steal (w, &length, &err);
  char *copy;

  cp_json_writer_clear (w);
  if (text == NULL)
    return cp_serve_json_error (500, "internal", err.message);
  /* The writer's buffer comes from malloc; the service frees with g_free. */
  copy = g_strndup (text, length);
  free (text);
  return copy;
}

char *
cp_serve_json_error (guint status, const char *code, const char *message)
{
  CpJsonWriter w;
  CpError err = { 0 };
  size_t length = 0;
  char *text, *copy;

  cp_json_writer_init (&w);
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "error");
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "status");
  cp_json_writer_int (&w, status);
  cp_json_writer_key (&w, "code");
  cp_serve_json_string (&w, code);
  cp_json_writer_key (&w, "message");
  cp_serve_json_string (&w, message);
  cp_json_writer_end_object (&w);
  cp_json_writer_end_object (&w);
  text = cp_json_writer_steal (&w, &length, &err);
  cp_json_writer_clear (&w);
  if (text == NULL)
    return g_strdup_printf ("{\"error\": {\"status\": %u, \"code\": \"internal\", "
                            "\"message\": \"the error message could not be written\"}}", status);
  copy = g_strndup (text, length);
  free (text);
  return copy;
}
