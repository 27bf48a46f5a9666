/* report-private.h: what report.c (the data, the files) and
 * report-draw.c (the pages) share. */
#pragma once

#include "core/density/drift.h"
#include "report.h"

G_BEGIN_DECLS

/* What a page after the first holds: a piece of one section. */
typedef enum
{
  REPORT_SECTION_WORST,
  REPORT_SECTION_OVERRIDES,
  REPORT_SECTION_REFITS,
  REPORT_SECTION_MODELS,
} ReportSection;

typedef struct
{
  int           page;
  ReportSection section;
  int           first;     /* first row (tables) */
  int           count;     /* rows on this page */
  double        y;         /* top of the piece */
  gboolean      heading;   /* the section's title and column heads come first */
} ReportPiece;

struct _CpReport
{
  char            *db_path;
  char            *category;
  char            *title;
  gint64           from_us;
  gint64           to_us;
  gint64           generated_us;
  CpPartCounts     counts;
  GPtrArray       *parts;       /* CpPart *, oldest first */
  GPtrArray       *worst;       /* CpPart *, highest score first */
  GPtrArray       *overrides;   /* CpPart * with an override, oldest first */
  GPtrArray       *refits;      /* CpRefitRecord * */
  GPtrArray       *models;      /* CpModelRecord * used by the parts */
  GArray          *buckets;     /* CpYieldBucket */
  gint64           bucket_us;
  double           threshold;   /* of the model of the last part (NaN: none) */
  gboolean         thresholds_differ;
  /* Drift: the last passed parts of the latest model against its reference. */
  CpDriftResult    drift;
  gboolean         drift_checked;
  char            *drift_text;
  char            *reference_source;
  /* Layout (report-draw.c). */
  GArray          *pieces;      /* ReportPiece */
  int              n_pages;
};

/* Lays out the pages after the first (report-draw.c). */
void cp_report_layout (CpReport *report);

G_END_DECLS
