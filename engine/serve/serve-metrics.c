/* serve-metrics.c: counters and the latency histogram of the service. */
#include "serve-metrics.h"

#include <pthread.h>
#include <string.h>

/* Upper bounds of the latency buckets, seconds: from a small model's
 * score on a fast machine to a heatmap on a slow one. */
static const double bucket_bounds[] = {
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
#define N_BUCKETS G_N_ELEMENTS (bucket_bounds)

struct _CpServeMetrics
{
  pthread_mutex_t lock;   /* pthread, not GMutex: visible to ThreadSanitizer */
  GHashTable *requests;   /* "endpoint\tstatus" -> count (guint64 *) */
  GHashTable *aborted;    /* endpoint -> count */
  GHashTable *verdicts;   /* "category\tverdict" -> count */
  guint64     buckets[N_BUCKETS];
  guint64     count;
  double      sum;
};

CpServeMetrics *
cp_serve_metrics_new (void)
{
  CpServeMetrics *metrics = g_new0 (CpServeMetrics, 1);

  pthread_mutex_init (&metrics->lock, NULL);
  metrics->requests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  metrics->aborted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  metrics->verdicts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return metrics;
}

void
cp_serve_metrics_free (CpServeMetrics *metrics)
{
  if (metrics == NULL)
    return;
  g_hash_table_unref (metrics->requests);
  g_hash_table_unref (metrics->aborted);
  g_hash_table_unref (metrics->verdicts);
  pthread_mutex_destroy (&metrics->lock);
  g_free (metrics);
}

static void
bump (GHashTable *table, char *key)
{
  guint64 *count = g_hash_table_lookup (table, key);

  if (count == NULL)
    {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (table, key, count);
    }
  else
    g_free (key);
  (*count)++;
}

void
cp_serve_metrics_request (CpServeMetrics *metrics, const char *endpoint, guint status, double seconds)
{
  pthread_mutex_lock (&metrics->lock);
  bump (metrics->requests, g_strdup_printf ("%s\t%u", endpoint, status));
  if (seconds >= 0)
    {
      for (gsize i = 0; i < N_BUCKETS; i++)
        if (seconds <= bucket_bounds[i])
          metrics->buckets[i]++;
      metrics->count++;
      metrics->sum += seconds;
    }
  pthread_mutex_unlock (&metrics->lock);
}

void
cp_serve_metrics_aborted (CpServeMetrics *metrics, const char *endpoint)
{
  pthread_mutex_lock (&metrics->lock);
  bump (metrics->aborted, g_strdup (endpoint));
  pthread_mutex_unlock (&metrics->lock);
}

void
cp_serve_metrics_verdict (CpServeMetrics *metrics, const char *category, const char *verdict)
{
  pthread_mutex_lock (&metrics->lock);
  bump (metrics->verdicts, g_strdup_printf ("%s\t%s", category, verdict));
  pthread_mutex_unlock (&metrics->lock);
}

/* A label value: backslash, double quote and line feed escaped. */
static void
append_label (GString *out, const char *value)
{
  for (const char *p = value; *p; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The keys of @table, sorted: a scrape lists series in a stable order. */
static GPtrArray *
sorted_keys (GHashTable *table)
{
  GPtrArray *keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (keys, key);
  g_ptr_array_sort (keys, compare_keys);
  return keys;
}

/* Series "name{a="x",b="y"} count" for keys "x\ty". */
static void
append_pairs (GString *out, GHashTable *table, const char *name, const char *label_a, const char *label_b)
{
  g_autoptr (GPtrArray) keys = sorted_keys (table);

  for (guint i = 0; i < keys->len; i++)
    {
      const char *key = keys->pdata[i];
      const char *tab = label_b ? strchr (key, '\t') : NULL;
      guint64 *count = g_hash_table_lookup (table, key);
      g_autofree char *first = tab ? g_strndup (key, tab - key) : g_strdup (key);

      g_string_append_printf (out, "%s{%s=\"", name, label_a);
      append_label (out, first);
      if (tab)
        {
          g_string_append_printf (out, "\",%s=\"", label_b);
          append_label (out, tab + 1);
        }
      g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", *count);
    }
}

char *
cp_serve_metrics_render (CpServeMetrics *metrics, CpServePool *pool, CpServeRegistry *registry)
{
  GString *out = g_string_new (NULL);
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  pthread_mutex_lock (&metrics->lock);
  g_string_append (out, "# HELP cutpaste_requests_total Requests answered, by endpoint and HTTP status.\n"
                        "# TYPE cutpaste_requests_total counter\n");
  append_pairs (out, metrics->requests, "cutpaste_requests_total", "endpoint", "status");
  g_string_append (out, "# HELP cutpaste_requests_aborted_total Requests whose client went away before the answer.\n"
                        "# TYPE cutpaste_requests_aborted_total counter\n");
  append_pairs (out, metrics->aborted, "cutpaste_requests_aborted_total", "endpoint", NULL);
  g_string_append (out, "# HELP cutpaste_verdicts_total Images scored, by category and verdict.\n"
                        "# TYPE cutpaste_verdicts_total counter\n");
  append_pairs (out, metrics->verdicts, "cutpaste_verdicts_total", "category", "verdict");
  g_string_append (out, "# HELP cutpaste_score_request_seconds Score requests, from the request head read to the response written.\n"
                        "# TYPE cutpaste_score_request_seconds histogram\n");
  for (gsize i = 0; i < N_BUCKETS; i++)
    g_string_append_printf (out, "cutpaste_score_request_seconds_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            g_ascii_dtostr (number, sizeof number, bucket_bounds[i]), metrics->buckets[i]);
  g_string_append_printf (out, "cutpaste_score_request_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
                          metrics->count);
  g_string_append_printf (out, "cutpaste_score_request_seconds_sum %s\n",
                          g_ascii_dtostr (number, sizeof number, metrics->sum));
  g_string_append_printf (out, "cutpaste_score_request_seconds_count %" G_GUINT64_FORMAT "\n", metrics->count);
  pthread_mutex_unlock (&metrics->lock);

  g_string_append_printf (out,
    "# HELP cutpaste_queue_depth Score requests waiting for a worker.\n"
    "# TYPE cutpaste_queue_depth gauge\n"
    "cutpaste_queue_depth %d\n"
    "# HELP cutpaste_queue_capacity Most requests that may wait; more are answered 503.\n"
    "# TYPE cutpaste_queue_capacity gauge\n"
    "cutpaste_queue_capacity %d\n"
    "# HELP cutpaste_jobs_running Score requests on a worker now.\n"
    "# TYPE cutpaste_jobs_running gauge\n"
    "cutpaste_jobs_running %d\n"
    "# HELP cutpaste_workers Worker threads.\n"
    "# TYPE cutpaste_workers gauge\n"
    "cutpaste_workers %d\n"
    "# HELP cutpaste_models_loaded Categories being served.\n"
    "# TYPE cutpaste_models_loaded gauge\n"
    "cutpaste_models_loaded %d\n"
    "# HELP cutpaste_model_loads_total Model files loaded or reloaded since start.\n"
    "# TYPE cutpaste_model_loads_total counter\n"
    "cutpaste_model_loads_total %" G_GUINT64_FORMAT "\n"
    "# HELP cutpaste_model_load_failures_total Model files that failed to load.\n"
    "# TYPE cutpaste_model_load_failures_total counter\n"
    "cutpaste_model_load_failures_total %" G_GUINT64_FORMAT "\n",
    cp_serve_pool_waiting (pool), cp_serve_pool_capacity (pool), cp_serve_pool_running (pool),
    cp_serve_pool_workers (pool), cp_serve_registry_count (registry),
    cp_serve_registry_loads (registry), cp_serve_registry_load_failures (registry));
  return g_string_free (out, FALSE);
}
