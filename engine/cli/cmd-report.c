/* cmd-report.c: `cutpaste report`: the shift report of a line database
 * as a PDF and a CSV (line/report.h). */
#include "config.h"

#include <stdio.h>

#include "cli-common.h"
#include "commands.h"
#include "line/report.h"

int
cp_cmd_report (int argc, char **argv)
{
  g_autofree char *db_path = NULL, *from_text = NULL, *to_text = NULL, *pdf = NULL, *csv = NULL;
  g_autofree char *category = NULL, *title = NULL, *worst_text = NULL;
  GOptionEntry entries[] = {
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "Line database written by 'cutpaste watch'", "FILE" },
    { "from", 0, 0, G_OPTION_ARG_STRING, &from_text, "Start of the period (ISO 8601, local time unless a zone is given; default: the first part)", "T" },
    { "to", 0, 0, G_OPTION_ARG_STRING, &to_text, "End of the period, not included (default: after the last part)", "T" },
    { "pdf", 0, 0, G_OPTION_ARG_FILENAME, &pdf, "Write the report as a PDF", "OUT.pdf" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv, "Write every part of the period as CSV", "OUT.csv" },
    { "category", 0, 0, G_OPTION_ARG_STRING, &category, "Only parts of this category", "CAT" },
    { "title", 0, 0, G_OPTION_ARG_STRING, &title, "Title of the report (default: Shift report)", "TEXT" },
    { "worst", 0, 0, G_OPTION_ARG_STRING, &worst_text, "Worst parts shown with their heatmaps (6)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- the shift report of a line: PDF and CSV");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpRecords) records = NULL;
  g_autoptr (CpReport) report = NULL;
  CpReportOptions opts;
  const CpPartCounts *counts;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "The PDF shows the parts, passed, failed and overridden, the yield, the drift\n"
    "status, the score histogram with the threshold, the yield and the scores over\n"
    "time, the worst parts with their heatmaps, the operators' overrides and who\n"
    "made them, refits and the models used.  Times: 2026-03-02T06:00, 2026-03-02 14:00,\n"
    "2026-03-02 (midnight), with an optional zone (Z, +01:00).\n"
    "Exit status: 0 ok, 1 failed, 2 usage.");
  if (!cp_cli_parse (context, "report", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc > 1)
    {
      cp_cli_error ("report", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  if (db_path == NULL || (pdf == NULL && csv == NULL))
    {
      cp_cli_error ("report", "--db and at least one of --pdf and --csv are required (see 'cutpaste report --help')");
      return CP_EXIT_USAGE;
    }
  cp_report_options_init (&opts);
  if (from_text && !cp_records_parse_time (from_text, &opts.from_us))
    {
      cp_cli_error ("report", "--from: '%s' is not a time (e.g. 2026-03-02T06:00)", from_text);
      return CP_EXIT_USAGE;
    }
  if (to_text && !cp_records_parse_time (to_text, &opts.to_us))
    {
      cp_cli_error ("report", "--to: '%s' is not a time (e.g. 2026-03-02T14:00)", to_text);
      return CP_EXIT_USAGE;
    }
  if (opts.from_us != G_MININT64 && opts.to_us != G_MAXINT64 && opts.to_us <= opts.from_us)
    {
      cp_cli_error ("report", "--to (%s) is not after --from (%s)", to_text, from_text);
      return CP_EXIT_USAGE;
    }
  if (worst_text && (!cp_cli_parse_int (worst_text, &opts.worst) || opts.worst < 0 || opts.worst > 30))
    {
      cp_cli_error ("report", "--worst must be a whole number from 0 to 30 (got '%s')", worst_text);
      return CP_EXIT_USAGE;
    }
  opts.category = category;
  opts.title = title;

  records = cp_records_open (db_path, CP_RECORDS_OPEN_EXISTING, 5000, &error);
  if (records == NULL)
    {
      cp_cli_error ("report", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  report = cp_report_new (records, &opts, &error);
  if (report == NULL)
    {
      cp_cli_error ("report", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  if (pdf && !cp_report_write_pdf (report, pdf, &error))
    {
      cp_cli_error ("report", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  if (csv && !cp_report_write_csv (report, csv, &error))
    {
      cp_cli_error ("report", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  counts = cp_report_get_counts (report);
  printf ("%" G_GINT64_FORMAT " parts: %" G_GINT64_FORMAT " passed, %" G_GINT64_FORMAT " failed, %" G_GINT64_FORMAT
          " overridden; yield %.1f %%\n", counts->total, counts->final_passed, counts->final_failed,
          counts->overridden, counts->total > 0 ? 100.0 * counts->yield : 0.0);
  printf ("%s\n", cp_report_get_drift_text (report));
  if (pdf)
    printf ("wrote %s (%d pages)\n", pdf, cp_report_get_n_pages (report));
  if (csv)
    printf ("wrote %s\n", csv);
  return CP_EXIT_OK;
}
