/* report.c: the shift report's data, its CSV and its PDF (report.h); the
 * pages themselves are drawn by report-draw.c. */
#include "config.h"

#include "report-private.h"

#include <cairo-pdf.h>
#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "core/io/fs.h"
#include "core/density/threshold.h"
#include "reference.h"

void
cp_report_options_init (CpReportOptions *options)
{
  memset (options, 0, sizeof *options);
  options->from_us = G_MININT64;
  options->to_us = G_MAXINT64;
  options->worst = 6;
}

void
cp_report_free (CpReport *report)
{
  if (report == NULL)
    return;
  g_free (report->db_path);
  g_free (report->category);
  g_free (report->title);
  g_clear_pointer (&report->parts, g_ptr_array_unref);
  g_clear_pointer (&report->worst, g_ptr_array_unref);
  g_clear_pointer (&report->overrides, g_ptr_array_unref);
  g_clear_pointer (&report->refits, g_ptr_array_unref);
  g_clear_pointer (&report->models, g_ptr_array_unref);
  g_clear_pointer (&report->buckets, g_array_unref);
  g_clear_pointer (&report->pieces, g_array_unref);
  g_free (report->drift_text);
  g_free (report->reference_source);
  g_free (report);
}

static int
compare_score_desc (gconstpointer a, gconstpointer b)
{
  const CpPart *x = *(CpPart *const *) a, *y = *(CpPart *const *) b;

  if (x->score != y->score)
    return x->score < y->score ? 1 : -1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Buckets of a width that gives at most about 24 over @span. */
static gint64
bucket_width (gint64 span)
{
  static const gint64 minutes[] = { 1, 5, 10, 15, 30, 60, 120, 240, 480, 720, 1440, 10080 };

  for (gsize i = 0; i < G_N_ELEMENTS (minutes); i++)
    if (span / (minutes[i] * 60 * G_USEC_PER_SEC) < 24)
      return minutes[i] * 60 * G_USEC_PER_SEC;
  return minutes[G_N_ELEMENTS (minutes) - 1] * 60 * G_USEC_PER_SEC;
}

static void
judge_drift (CpReport *report)
{
  const CpPart *last = report->parts->len > 0 ? report->parts->pdata[report->parts->len - 1] : NULL;
  const CpModelRecord *model = NULL;
  g_autoptr (GArray) recent = g_array_new (FALSE, FALSE, sizeof (double));
  CpDriftOptions opts;
  CpError err = { 0 };
  GString *text = g_string_new (NULL);

  report->drift_checked = FALSE;
  for (guint i = 0; last && i < report->models->len; i++)
    if (((CpModelRecord *) report->models->pdata[i])->id == last->model_id)
      model = report->models->pdata[i];
  if (last == NULL)
    g_string_append (text, _("Drift not checked: no parts in this period."));
  else if (model == NULL || model->n_reference == 0)
    g_string_append (text, _("Drift not checked: the database holds no reference scores for the model in use "
                             "('cutpaste watch' records them)."));
  else
    {
      cp_drift_options_init (&opts);
      for (guint i = 0; i < report->parts->len; i++)
        {
          const CpPart *p = report->parts->pdata[i];
          if (p->model_id == model->id && p->verdict == CP_VERDICT_PASS)
            g_array_append_val (recent, p->score);
        }
      if (cp_drift_test (model->reference_scores, model->n_reference, (const double *) recent->data,
                         (int) recent->len, model->threshold, CP_DRIFT_UNKNOWN, &opts, &report->drift, &err)
          != CP_OK)
        g_string_append_printf (text, _("Drift not checked: %s."), err.message);
      else
        {
          const CpDriftResult *r = &report->drift;

          report->drift_checked = TRUE;
          report->reference_source = g_strdup (model->reference_source);
          switch (r->state)
            {
            case CP_DRIFT_HIGHER:
            case CP_DRIFT_LOWER:
              g_string_append_printf (text, r->state == CP_DRIFT_HIGHER
                                      ? _("DRIFT: the last %d passed parts score higher than the reference: "
                                          "median %.4g against %.4g, %.0f%% above the reference's 90th "
                                          "percentile (10%% expected), Mann-Whitney p = %.2g.")
                                      : _("DRIFT: the last %d passed parts score lower than the reference: "
                                          "median %.4g against %.4g, %.0f%% above the reference's 90th "
                                          "percentile (10%% expected), Mann-Whitney p = %.2g."),
                                      r->n_recent, r->recent_median, r->reference_median,
                                      100 * r->above_reference_upper, r->p_value);
              break;
            case CP_DRIFT_STEADY:
              g_string_append_printf (text, _("No drift: the last %d passed parts have median score %.4g, the "
                                              "reference %.4g (Mann-Whitney p = %.2g)."), r->n_recent,
                                      r->recent_median, r->reference_median, r->p_value);
              break;
            case CP_DRIFT_UNKNOWN:
            default:
              g_string_append_printf (text, _("Drift not judged: %d passed parts of the %d needed."),
                                      r->n_recent, CP_DRIFT_DEFAULT_MIN_RECENT);
              break;
            }
          if (g_strcmp0 (model->reference_source, CP_REFERENCE_SOURCE_CALIBRATION) == 0)
            g_string_append_printf (text, " %s", _("Reference: the held-out calibration scores stored in the model."));
          else
            g_string_append_printf (text, " %s", _("Reference: cross-validated train/good scores (the model "
                                                   "stores no calibration scores; the network trained on those "
                                                   "images, so new good parts may score higher)."));
        }
    }
  report->drift_text = g_string_free (text, FALSE);
}

CpReport *
cp_report_new (CpRecords *records, const CpReportOptions *options, GError **error)
{
  g_autoptr (CpReport) report = g_new0 (CpReport, 1);
  CpPartQuery q;
  gint64 first, last;

  report->db_path = g_strdup (cp_records_get_path (records));
  report->category = g_strdup (options->category);
  report->title = g_strdup (options->title ? options->title : _("Shift report"));
  report->from_us = options->from_us;
  report->to_us = options->to_us;
  report->generated_us = g_get_real_time ();
  report->threshold = NAN;

  cp_part_query_init (&q);
  q.from_us = options->from_us;
  q.to_us = options->to_us;
  q.category = options->category;
  report->parts = cp_records_list_parts (records, &q, error);
  if (report->parts == NULL || !cp_records_count_parts (records, &q, &report->counts, error))
    return NULL;

  report->worst = g_ptr_array_new ();
  report->overrides = g_ptr_array_new ();
  for (guint i = 0; i < report->parts->len; i++)
    {
      CpPart *p = report->parts->pdata[i];

      g_ptr_array_add (report->worst, p);
      if (p->override_verdict != CP_VERDICT_NONE)
        g_ptr_array_add (report->overrides, p);
    }
  g_ptr_array_sort (report->worst, compare_score_desc);
  if (report->worst->len > (guint) MAX (options->worst, 0))
    g_ptr_array_set_size (report->worst, MAX (options->worst, 0));

  report->refits = cp_records_list_refits (records, options->from_us, options->to_us, error);
  if (report->refits == NULL)
    return NULL;

  /* The models the parts were scored with. */
  report->models = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_model_record_free);
  {
    g_autoptr (GHashTable) seen = g_hash_table_new (g_int64_hash, g_int64_equal);

    for (guint i = 0; i < report->parts->len; i++)
      {
        CpPart *p = report->parts->pdata[i];
        CpModelRecord *m;

        if (g_hash_table_contains (seen, &p->model_id))
          continue;
        g_hash_table_add (seen, &p->model_id);
        m = cp_records_get_model (records, p->model_id, error);
        if (m == NULL)
          return NULL;
        g_ptr_array_add (report->models, m);
      }
  }
  /* One category in the period: name it even when none was asked for. */
  if (report->category == NULL && report->parts->len > 0)
    {
      const char *only = ((CpPart *) report->parts->pdata[0])->category;

      for (guint i = 1; i < report->parts->len && only; i++)
        if (g_strcmp0 (((CpPart *) report->parts->pdata[i])->category, only) != 0)
          only = NULL;
      report->category = g_strdup (only);
    }
  if (report->parts->len > 0)
    {
      const CpPart *lastp = report->parts->pdata[report->parts->len - 1];

      report->threshold = lastp->threshold;
      for (guint i = 0; i < report->parts->len; i++)
        if (((CpPart *) report->parts->pdata[i])->threshold != report->threshold)
          report->thresholds_differ = TRUE;
    }

  first = options->from_us != G_MININT64 ? options->from_us : report->counts.first_us;
  last = options->to_us != G_MAXINT64 ? options->to_us : report->counts.last_us;
  report->bucket_us = bucket_width (MAX (last - first, 1));
  report->buckets = cp_records_yield_buckets (records, &q, report->bucket_us, error);
  if (report->buckets == NULL)
    return NULL;

  judge_drift (report);
  cp_report_layout (report);
  return g_steal_pointer (&report);
}

const CpPartCounts *cp_report_get_counts (const CpReport *report) { return &report->counts; }
const char *cp_report_get_drift_text (const CpReport *report) { return report->drift_text; }
GPtrArray *cp_report_get_parts (const CpReport *report) { return report->parts; }
int cp_report_get_n_pages (CpReport *report) { return report->n_pages; }

/* ---- CSV ----------------------------------------------------------------------------- */

static void
csv_field (GString *out, const char *text)
{
  if (text == NULL)
    text = "";
  if (strpbrk (text, ",\"\r\n") == NULL)
    {
      g_string_append (out, text);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = text; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
csv_number (GString *out, double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (isfinite (value))
    g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.6f", value));
}

gboolean
cp_report_write_csv (CpReport *report, const char *path, GError **error)
{
  g_autoptr (GString) out = g_string_new ("id,time,file_path,final_path,sha256,file_size,category,model_sha256,"
                                          "score,threshold,verdict,heatmap_max,heatmap_path,override,"
                                          "override_note,override_by,override_time,final_verdict\n");
  CpError err = { 0 };

  for (guint i = 0; i < report->parts->len; i++)
    {
      const CpPart *p = report->parts->pdata[i];
      g_autofree char *time = cp_records_format_time (p->time_us);
      g_autofree char *otime = p->override_verdict != CP_VERDICT_NONE ? cp_records_format_time (p->override_time_us)
                                                                      : NULL;

      g_string_append_printf (out, "%" G_GINT64_FORMAT ",%s,", p->id, time);
      csv_field (out, p->file_path);
      g_string_append_c (out, ',');
      csv_field (out, p->final_path);
      g_string_append_printf (out, ",%s,%" G_GINT64_FORMAT ",", p->content_hash, p->file_size);
      csv_field (out, p->category);
      g_string_append_printf (out, ",%s,", p->model_hash ? p->model_hash : "");
      csv_number (out, p->score);
      g_string_append_c (out, ',');
      csv_number (out, p->threshold);
      g_string_append_printf (out, ",%s,", cp_verdict_to_string (p->verdict));
      csv_number (out, p->heatmap_max);
      g_string_append_c (out, ',');
      csv_field (out, p->heatmap_path);
      g_string_append_printf (out, ",%s,", cp_verdict_to_string (p->override_verdict));
      csv_field (out, p->override_note);
      g_string_append_c (out, ',');
      csv_field (out, p->override_by);
      g_string_append_printf (out, ",%s,%s\n", otime ? otime : "", cp_verdict_to_string (cp_part_final_verdict (p)));
    }
  if (cp_write_file_atomic (path, out->str, out->len, &err) != CP_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot write %s: %s", path, err.message);
      return FALSE;
    }
  return TRUE;
}

/* ---- PDF ----------------------------------------------------------------------------- */

typedef struct
{
  CpAtomicFile *file;
  CpError       error;
  gboolean      failed;
} PdfSink;

static cairo_status_t
pdf_write (void *closure, const unsigned char *data, unsigned int length)
{
  PdfSink *sink = closure;

  if (sink->failed)
    return CAIRO_STATUS_WRITE_ERROR;
  if (cp_atomic_file_write (sink->file, data, length, &sink->error) != CP_OK)
    {
      sink->failed = TRUE;
      return CAIRO_STATUS_WRITE_ERROR;
    }
  return CAIRO_STATUS_SUCCESS;
}

gboolean
cp_report_write_pdf (CpReport *report, const char *path, GError **error)
{
  PdfSink sink = { 0 };
  cairo_surface_t *surface;
  cairo_t *cr;
  cairo_status_t status;

  sink.file = cp_atomic_file_open (path, &sink.error);
  if (sink.file == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot write %s: %s", path, sink.error.message);
      return FALSE;
    }
  surface = cairo_pdf_surface_create_for_stream (pdf_write, &sink, CP_REPORT_PAGE_WIDTH, CP_REPORT_PAGE_HEIGHT);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_TITLE, report->title);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_CREATOR, "CutPaste Inspector " PACKAGE_VERSION);
  cr = cairo_create (surface);
  for (int page = 0; page < report->n_pages; page++)
    {
      cp_report_draw_page (report, cr, page);
      cairo_show_page (cr);
    }
  status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS || sink.failed)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot write %s: %s", path,
                   sink.failed ? sink.error.message : cairo_status_to_string (status));
      cp_atomic_file_abort (sink.file);
      return FALSE;
    }
  if (cp_atomic_file_commit (sink.file, &sink.error) != CP_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot write %s: %s", path, sink.error.message);
      return FALSE;
    }
  return TRUE;
}
