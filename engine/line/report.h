/* report.h: the shift report of a line: what a line database recorded
 * between two times, as A4 pages drawn with cairo (a PDF file, or any
 * cairo surface: the application shows and exports the very same pages)
 * and as a CSV of every part.
 *
 * Page 1: the parts, passed, failed and overridden, the yield, the drift
 * status (the rule of core/density/drift.h on the last passed parts of the
 * period against the reference scores the database holds for the model),
 * the score histogram with the threshold, the yield over time and the
 * scores over time with the reference band.  Then the worst parts with
 * their heatmaps (or their images, when they have none), the operators'
 * overrides and who made them, the refits, and the models used; long
 * tables go on over further pages.
 *
 * The CSV has one row per part, oldest first: id, time (ISO 8601 UTC),
 * file path, final path, SHA-256, size, category, model SHA-256, score,
 * threshold, verdict, heatmap maximum, heatmap file, override, its note,
 * who made it and when, and the final verdict.
 *
 * Both files are written atomically (temporary file, fsync, rename).
 * Text is translated (gettext domain of the application) and drawn with
 * pango, so a Chinese desktop gets a Chinese report.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "records.h"

G_BEGIN_DECLS

/* A4 in points. */
#define CP_REPORT_PAGE_WIDTH  595.0
#define CP_REPORT_PAGE_HEIGHT 842.0

typedef struct
{
  gint64      from_us;      /* inclusive; G_MININT64: from the first part */
  gint64      to_us;        /* exclusive; G_MAXINT64: to the last part */
  const char *category;     /* NULL: every category */
  int         worst;        /* worst parts shown with images (6) */
  const char *title;        /* NULL: "Shift report" */
} CpReportOptions;

void cp_report_options_init (CpReportOptions *options);

typedef struct _CpReport CpReport;

/* Reads everything the report shows from @records.  A period without
 * parts is not an error: the report says so. */
CpReport   *cp_report_new          (CpRecords              *records,
                                    const CpReportOptions  *options,
                                    GError                **error);
void        cp_report_free         (CpReport *report);

const CpPartCounts *cp_report_get_counts (const CpReport *report);
/* One line on drift: "steady", "higher ...", "not checked: ..." (UTF-8, translated). */
const char *cp_report_get_drift_text (const CpReport *report);
/* The parts of the period, oldest first (CpPart *, owned by the report). */
GPtrArray  *cp_report_get_parts    (const CpReport *report);

int         cp_report_get_n_pages  (CpReport *report);
/* Draws page @page (0-based) into @cr, which covers
 * CP_REPORT_PAGE_WIDTH x CP_REPORT_PAGE_HEIGHT units (scale the context
 * for a widget or a PNG). */
void        cp_report_draw_page    (CpReport *report,
                                    cairo_t  *cr,
                                    int       page);

gboolean    cp_report_write_pdf    (CpReport    *report,
                                    const char  *path,
                                    GError     **error);
gboolean    cp_report_write_csv    (CpReport    *report,
                                    const char  *path,
                                    GError     **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpReport, cp_report_free)

G_END_DECLS
