/* cmd-watch.c: `cutpaste watch`: score the images that arrive in a hot
 * folder, record each part once in the line database, move them to a pass
 * or fail folder, and warn about drift (line/watcher.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib-unix.h>

#include "cli-common.h"
#include "commands.h"
#include "line/watcher.h"

typedef struct
{
  GMainLoop *loop;
  CpWatcher *watcher;
  gboolean   json;
  gboolean   failed;
  double     exit_when_idle;   /* seconds; < 0: never */
  gint64     idle_since;
  gboolean   stopping;
} WatchRun;

static void
on_started (CpWatcher *watcher, const char *description, gpointer user_data)
{
  fprintf (stderr, "cutpaste watch: %s\n", description);
}

static void
on_part (CpWatcher *watcher, const CpPart *part, gboolean already, gpointer user_data)
{
  WatchRun *run = user_data;
  g_autofree char *time = cp_records_format_time (part->time_us);
  gboolean moved = part->final_path && strcmp (part->final_path, part->file_path) != 0;

  if (run->json)
    {
      printf ("{\"time\": \"%s\", \"path\": ", time);
      cp_cli_print_json_string (part->file_path);
      printf (", \"final_path\": ");
      cp_cli_print_json_string (part->final_path ? part->final_path : part->file_path);
      printf (", \"sha256\": \"%s\", \"score\": %.6f, \"threshold\": %.6f, \"verdict\": \"%s\", "
              "\"already_recorded\": %s", part->content_hash, part->score, part->threshold,
              cp_verdict_to_string (part->verdict), already ? "true" : "false");
      if (!isnan (part->heatmap_max))
        printf (", \"heatmap_max\": %.6f", part->heatmap_max);
      printf ("}\n");
    }
  else if (already)
    printf ("%s\t%s\t%.6f\t%s\talready recorded%s%s\n", time, part->file_path, part->score,
            cp_verdict_to_string (part->verdict), moved ? ", moved to " : "", moved ? part->final_path : "");
  else
    printf ("%s\t%s\t%.6f\t%s%s%s\n", time, part->file_path, part->score, cp_verdict_to_string (part->verdict),
            moved ? "\t-> " : "", moved ? part->final_path : "");
  fflush (stdout);
}

static void
on_fault (CpWatcher *watcher, int kind, const char *path, const char *message, gpointer user_data)
{
  fprintf (stderr, "cutpaste watch: %s fault: %s\n", cp_watch_fault_to_string (kind), message);
}

static void
on_fault_cleared (CpWatcher *watcher, int kind, const char *message, gpointer user_data)
{
  fprintf (stderr, "cutpaste watch: %s\n", message);
}

static void
on_drift (CpWatcher *watcher, const CpWatchDrift *drift, gpointer user_data)
{
  fprintf (stderr, "cutpaste watch: %s%s\n",
           drift->state == CP_DRIFT_HIGHER || drift->state == CP_DRIFT_LOWER ? "WARNING: " : "", drift->message);
}

static void
on_notice (CpWatcher *watcher, const char *message, gpointer user_data)
{
  fprintf (stderr, "cutpaste watch: %s\n", message);
}

static void
on_stopped (CpWatcher *watcher, const GError *error, gpointer user_data)
{
  WatchRun *run = user_data;
  CpWatchCounts counts;

  if (error)
    {
      cp_cli_error ("watch", "%s", error->message);
      run->failed = TRUE;
    }
  cp_watcher_get_counts (watcher, &counts);
  fprintf (stderr, "cutpaste watch: stopped: %" G_GINT64_FORMAT " parts recorded (%" G_GINT64_FORMAT " passed, %"
           G_GINT64_FORMAT " failed), %" G_GINT64_FORMAT " faults\n", counts.recorded, counts.passed,
           counts.failed, counts.faults);
  g_main_loop_quit (run->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  WatchRun *run = user_data;

  if (!run->stopping)
    {
      fprintf (stderr, "cutpaste watch: stopping after the part in progress\n");
      run->stopping = TRUE;
      cp_watcher_stop (run->watcher);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
check_idle (gpointer user_data)
{
  WatchRun *run = user_data;
  gint64 now = g_get_monotonic_time ();

  if (run->stopping || !cp_watcher_is_running (run->watcher))
    return G_SOURCE_CONTINUE;
  if (!cp_watcher_is_idle (run->watcher))
    {
      run->idle_since = 0;
      return G_SOURCE_CONTINUE;
    }
  if (run->idle_since == 0)
    run->idle_since = now;
  if ((now - run->idle_since) / 1e6 >= run->exit_when_idle)
    {
      run->stopping = TRUE;
      cp_watcher_stop (run->watcher);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
parse_ms (const char *option, const char *text, int *value)
{
  if (text == NULL)
    return TRUE;
  if (!cp_cli_parse_int (text, value) || *value < 0)
    {
      cp_cli_error ("watch", "%s must be a number of milliseconds (got '%s')", option, text);
      return FALSE;
    }
  return TRUE;
}

int
cp_cmd_watch (int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *category = NULL, *folder = NULL, *db_path = NULL, *move_to = NULL;
  g_autofree char *heatmaps = NULL, *heatmap_dir = NULL, *data_dir = NULL, *device = NULL;
  g_autofree char *settle = NULL, *rescan = NULL, *open_timeout = NULL, *idle_text = NULL, *window = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "model-dir", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "Folder of the models ('cutpaste train --model-dir')", "DIR" },
    { "category", 0, 0, G_OPTION_ARG_STRING, &category, "Category of the parts: the model DIR/CAT.safetensors", "CAT" },
    { "folder", 0, 0, G_OPTION_ARG_FILENAME, &folder, "Hot folder the camera writes images into", "IN" },
    { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "Line database (default: DIR/line.sqlite)", "FILE" },
    { "move-to", 0, 0, G_OPTION_ARG_FILENAME, &move_to, "Move recorded parts to PASS_DIR or FAIL_DIR by verdict", "PASS_DIR,FAIL_DIR" },
    { "heatmaps", 0, 0, G_OPTION_ARG_STRING, &heatmaps, "Heatmaps with the patch model: failed (default), all, none", "WHICH" },
    { "heatmap-dir", 0, 0, G_OPTION_ARG_FILENAME, &heatmap_dir, "Where heatmap overlays go (default: FILE.heatmaps)", "DIR" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Dataset root, for drift reference scores when the model stores none", "DIR" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "settle", 0, 0, G_OPTION_ARG_STRING, &settle, "A file found by a rescan is taken after MS unchanged (1000)", "MS" },
    { "rescan", 0, 0, G_OPTION_ARG_STRING, &rescan, "Rescan the folder every MS (1000)", "MS" },
    { "open-timeout", 0, 0, G_OPTION_ARG_STRING, &open_timeout, "A file never closed by its writer is taken after MS unchanged (10000)", "MS" },
    { "drift-window", 0, 0, G_OPTION_ARG_STRING, &window, "Passed parts the drift check compares (50)", "N" },
    { "exit-when-idle", 0, 0, G_OPTION_ARG_STRING, &idle_text, "Stop after S seconds with nothing to do (for scripts)", "S" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "One JSON object per part", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- score and record every image that arrives in a folder");
  g_autoptr (GError) error = NULL;
  g_autoptr (CpWatcher) watcher = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *default_db = NULL;
  CpWatcherOptions opts;
  WatchRun run = { 0 };
  g_auto (GStrv) dirs = NULL;
  guint sigint, sigterm, idle_source = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Scores each image that arrives in IN with the category's model (as 'cutpaste predict'),\n"
    "records it once in the line database (SQLite: time, file and its SHA-256, model,\n"
    "score, threshold, verdict, heatmap maximum), then moves it to PASS_DIR or FAIL_DIR.\n"
    "A part already recorded (after a restart) is not scored again.  Files that cannot\n"
    "be scored are reported once and left in IN.  Prints one line per part: time,\n"
    "path, score, verdict.  Warns when the scores of passed parts drift away from the\n"
    "model's reference good scores (see README, 'On the line').  Stops on Ctrl+C.\n"
    "Exit status: 0 stopped, 1 could not start, 2 usage.");
  if (!cp_cli_parse (context, "watch", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc > 1)
    {
      cp_cli_error ("watch", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  if (model_dir == NULL || category == NULL || folder == NULL)
    {
      cp_cli_error ("watch", "--model-dir, --category and --folder are required (see 'cutpaste watch --help')");
      return CP_EXIT_USAGE;
    }

  cp_watcher_options_init (&opts);
  opts.model_dir = model_dir;
  opts.category = category;
  opts.folder = folder;
  default_db = g_build_filename (model_dir, "line.sqlite", NULL);
  opts.db_path = db_path ? db_path : default_db;
  opts.data_dir = data_dir;
  opts.device = device;
  opts.heatmap_dir = heatmap_dir;
  if (move_to)
    {
      dirs = g_strsplit (move_to, ",", -1);
      if (g_strv_length (dirs) != 2 || dirs[0][0] == '\0' || dirs[1][0] == '\0')
        {
          cp_cli_error ("watch", "--move-to takes two folders, PASS_DIR,FAIL_DIR (got '%s')", move_to);
          return CP_EXIT_USAGE;
        }
      opts.pass_dir = dirs[0];
      opts.fail_dir = dirs[1];
    }
  if (heatmaps)
    {
      if (strcmp (heatmaps, "failed") == 0)
        opts.heatmaps = CP_HEATMAPS_FAILED;
      else if (strcmp (heatmaps, "all") == 0)
        opts.heatmaps = CP_HEATMAPS_ALL;
      else if (strcmp (heatmaps, "none") == 0)
        opts.heatmaps = CP_HEATMAPS_NONE;
      else
        {
          cp_cli_error ("watch", "--heatmaps is failed, all or none (got '%s')", heatmaps);
          return CP_EXIT_USAGE;
        }
    }
  if (!parse_ms ("--settle", settle, &opts.settle_ms) || !parse_ms ("--rescan", rescan, &opts.rescan_ms)
      || !parse_ms ("--open-timeout", open_timeout, &opts.open_timeout_ms))
    return CP_EXIT_USAGE;
  if (window && (!cp_cli_parse_int (window, &opts.drift_window) || opts.drift_window < 2))
    {
      cp_cli_error ("watch", "--drift-window must be a whole number >= 2 (got '%s')", window);
      return CP_EXIT_USAGE;
    }
  run.exit_when_idle = -1;
  if (idle_text && (!cp_cli_parse_double (idle_text, &run.exit_when_idle) || run.exit_when_idle < 0))
    {
      cp_cli_error ("watch", "--exit-when-idle must be a number of seconds (got '%s')", idle_text);
      return CP_EXIT_USAGE;
    }

  watcher = cp_watcher_new (&opts, &error);
  if (watcher == NULL)
    {
      cp_cli_error ("watch", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  fprintf (stderr, "cutpaste watch: recording in %s\n", cp_watcher_get_db_path (watcher));
  loop = g_main_loop_new (NULL, FALSE);
  run.loop = loop;
  run.watcher = watcher;
  run.json = json;
  g_signal_connect (watcher, "started", G_CALLBACK (on_started), &run);
  g_signal_connect (watcher, "part-recorded", G_CALLBACK (on_part), &run);
  g_signal_connect (watcher, "fault", G_CALLBACK (on_fault), &run);
  g_signal_connect (watcher, "fault-cleared", G_CALLBACK (on_fault_cleared), &run);
  g_signal_connect (watcher, "drift-changed", G_CALLBACK (on_drift), &run);
  g_signal_connect (watcher, "notice", G_CALLBACK (on_notice), &run);
  g_signal_connect (watcher, "stopped", G_CALLBACK (on_stopped), &run);
  sigint = g_unix_signal_add (SIGINT, on_signal, &run);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &run);
  if (run.exit_when_idle >= 0)
    idle_source = g_timeout_add (50, check_idle, &run);
  if (!cp_watcher_start (watcher, &error))
    {
      cp_cli_error ("watch", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  if (idle_source)
    g_source_remove (idle_source);
  return run.failed ? CP_EXIT_FAILED : CP_EXIT_OK;
}
