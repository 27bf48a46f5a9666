/* serve-json.h: the JSON pieces every endpoint of the scoring service
 * writes, on top of the core's JSON writer. */
#pragma once

#include <glib.h>

#include "core/io/json.h"

G_BEGIN_DECLS

/* A number, or null for NaN and infinities (JSON has neither). */
void  cp_serve_json_number (CpJsonWriter *w, double value);
/* A string; bytes that are not UTF-8 (a URL's, say) become U+FFFD. */
void  cp_serve_json_string (CpJsonWriter *w, const char *value);
/* Takes the text out of @w (newly allocated); a writer that failed gives
 * an error object naming the failure instead, so a response always is
 * JSON. */
char *cp_serve_json_finish (CpJsonWriter *w);

/* The body of every error response:
 * {"error": {"status": 404, "code": "unknown_category", "message": "..."}}.
 * @code is a stable machine-readable word, @message says what is wrong
 * for a person. */
char *cp_serve_json_error  (guint status, const char *code, const char *message);

G_END_DECLS
