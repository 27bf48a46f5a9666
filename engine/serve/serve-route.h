/* serve-route.h: which endpoint a request is for, from its method, path
 * (as sent, percent-encoded) and query, or the error that answers it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  CP_SERVE_ROUTE_ERROR,     /* status, code and message say why */
  CP_SERVE_ROUTE_SCORE,
  CP_SERVE_ROUTE_MODELS,
  CP_SERVE_ROUTE_HEALTHZ,
  CP_SERVE_ROUTE_METRICS,
} CpServeRouteKind;

typedef struct
{
  CpServeRouteKind kind;
  char            *category;   /* SCORE: decoded */
  gboolean         heatmap;    /* SCORE: ?heatmap=1 */
  guint            status;     /* ERROR: 400, 404 or 405 */
  const char      *code;       /* ERROR */
  char            *message;    /* ERROR */
  const char      *allow;      /* ERROR 405: the Allow header */
} CpServeRoute;

/* Longest category name accepted in a URL (a file name must hold it). */
#define CP_SERVE_MAX_CATEGORY 200

/* Fills @route (clear with cp_serve_route_clear).  @query holds the
 * decoded query parameters (may be NULL). */
void        cp_serve_route_parse    (const char   *method,
                                     const char   *path,
                                     GHashTable   *query,
                                     CpServeRoute *route);
void        cp_serve_route_clear    (CpServeRoute *route);
/* "score", "models", "healthz", "metrics" or "other": the endpoint label
 * of the metrics. */
const char *cp_serve_route_endpoint (const CpServeRoute *route);

G_END_DECLS
