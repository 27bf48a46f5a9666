/* serve-route.c: the service's URL space. */
#include "serve-route.h"

#include <string.h>

#define SCORE_PREFIX "/v1/score/"

static void
route_error (CpServeRoute *route, guint status, const char *code, char *message)
{
  route->kind = CP_SERVE_ROUTE_ERROR;
  route->status = status;
  route->code = code;
  route->message = message;
}

static gboolean
method_is (const char *method, const char *expected)
{
  return method != NULL && strcmp (method, expected) == 0;
}

/* GET and HEAD for the read-only endpoints. */
static gboolean
get_route (CpServeRoute *route, const char *method, CpServeRouteKind kind, const char *path)
{
  if (method_is (method, "GET") || method_is (method, "HEAD"))
    {
      route->kind = kind;
      return TRUE;
    }
  route_error (route, 405, "method_not_allowed",
               g_strdup_printf ("%s takes GET, not %s", path, method ? method : "(none)"));
  route->allow = "GET, HEAD";
  return FALSE;
}

/* heatmap=1|0|true|false; any other parameter is refused rather than
 * ignored, so that a misspelt option is noticed. */
static gboolean
parse_query (CpServeRoute *route, GHashTable *query)
{
  GHashTableIter iter;
  gpointer key, value;

  if (query == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, query);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const char *v = value ? value : "";

      if (strcmp (key, "heatmap") != 0)
        {
          g_autofree char *shown = g_utf8_make_valid (key, -1);
          route_error (route, 400, "bad_query",
                       g_strdup_printf ("unknown query parameter '%s' (the only one is heatmap=1)", shown));
          return FALSE;
        }
      if (strcmp (v, "1") == 0 || strcmp (v, "true") == 0)
        route->heatmap = TRUE;
      else if (strcmp (v, "0") == 0 || strcmp (v, "false") == 0)
        route->heatmap = FALSE;
      else
        {
          g_autofree char *shown = g_utf8_make_valid (v, -1);
          route_error (route, 400, "bad_query",
                       g_strdup_printf ("heatmap must be 1 or 0 (got '%s')", shown));
          return FALSE;
        }
    }
  return TRUE;
}

void
cp_serve_route_parse (const char *method, const char *path, GHashTable *query, CpServeRoute *route)
{
  memset (route, 0, sizeof *route);
  if (path == NULL || path[0] == '\0')
    path = "/";

  if (strcmp (path, "/healthz") == 0)
    get_route (route, method, CP_SERVE_ROUTE_HEALTHZ, path);
  else if (strcmp (path, "/metrics") == 0)
    get_route (route, method, CP_SERVE_ROUTE_METRICS, path);
  else if (strcmp (path, "/v1/models") == 0)
    get_route (route, method, CP_SERVE_ROUTE_MODELS, path);
  else if (g_str_has_prefix (path, SCORE_PREFIX))
    {
      const char *segment = path + strlen (SCORE_PREFIX);
      g_autofree char *category = NULL;

      if (segment[0] == '\0' || strchr (segment, '/') != NULL)
        {
          route_error (route, 400, "bad_url",
                       g_strdup ("expected /v1/score/CATEGORY with one category name"));
          return;
        }
      /* %2F (a slash) and %00 are refused by the decoder itself. */
      category = g_uri_unescape_string (segment, "/");
      if (category == NULL || !g_utf8_validate (category, -1, NULL) || category[0] == '.'
          || strlen (category) > CP_SERVE_MAX_CATEGORY)
        {
          route_error (route, 400, "bad_url",
                       g_strdup ("the category in the URL is not a valid name (percent-encoded UTF-8, "
                                 "no '/', no leading '.', at most 200 bytes)"));
          return;
        }
      if (!method_is (method, "POST"))
        {
          route_error (route, 405, "method_not_allowed",
                       g_strdup_printf ("/v1/score/CATEGORY takes POST with the image as the body, not %s",
                                        method ? method : "(none)"));
          route->allow = "POST";
          return;
        }
      if (!parse_query (route, query))
        return;
      route->kind = CP_SERVE_ROUTE_SCORE;
      route->category = g_steal_pointer (&category);
    }
  else
    {
      g_autofree char *shown = g_utf8_make_valid (path, MIN (strlen (path), 200));
      route_error (route, 404, "not_found",
                   g_strdup_printf ("no endpoint %s (POST /v1/score/CATEGORY, GET /v1/models, "
                                    "GET /healthz, GET /metrics)", shown));
    }
}

void
cp_serve_route_clear (CpServeRoute *route)
{
  g_clear_pointer (&route->category, g_free);
  g_clear_pointer (&route->message, g_free);
}

const char *
cp_serve_route_endpoint (const CpServeRoute *route)
{
  switch (route->kind)
    {
    case CP_SERVE_ROUTE_SCORE: return "score";
    case CP_SERVE_ROUTE_MODELS: return "models";
    case CP_SERVE_ROUTE_HEALTHZ: return "healthz";
    case CP_SERVE_ROUTE_METRICS: return "metrics";
    case CP_SERVE_ROUTE_ERROR:
    default: return "other";
    }
}
