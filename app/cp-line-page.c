/* cp-line-page.c: the Line page: a hot folder watched with the selected
 * category's model (engine/line/watcher.h), every part recorded once in
 * the line database, the live counts and yield, the last parts with their
 * thumbnails and heatmaps, the yield and the scores over time (the drift
 * chart, with the drift rule's verdict), "Mark as good" on a part that
 * failed, and the shift report.
 *
 * The page only displays: the watcher scores on its own thread and
 * reports through signals on the main context; what the page shows is
 * read back from the database on a connection of its own (WAL: it never
 * waits for the watcher).  A stopped or closed page stops its watcher
 * and hears nothing from it again; the application is held until the
 * watcher's thread has ended.
 *
 * Actions: win.line-choose-folder, win.line-set-folder (s),
 * win.line-choose-pass-folder, win.line-choose-fail-folder,
 * win.line-set-move-folders ((ss): pass and fail folders, "" for none),
 * win.line-choose-database, win.line-set-database (s), win.line-start,
 * win.line-stop, win.line-mark-good (x: a part of the database),
 * win.line-export-report (s: "shift", "8h" or "all"; a file chooser),
 * win.line-write-report ((ss): the period and the PDF path; the CSV goes
 * beside it).
 * Properties: "running", "db-path", "folder".
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include <adwaita.h>

#include "core/tsan.h"
#include "line/records.h"
#include "line/report.h"
#include "line/watcher.h"
#include "cp-line-page.h"
#include "cp-mark-good.h"
#include "cp-plots.h"

#define LAST_PARTS       30      /* rows in the list */
#define CHART_PARTS      2000    /* points in the scores chart */
#define THUMBNAIL_SIZE   48
#define EIGHT_HOURS_US   (G_GINT64_CONSTANT (8) * 3600 * G_USEC_PER_SEC)

struct _CpLinePage
{
  CpPage         parent_instance;

  GSignalGroup  *session_signals;
  GSignalGroup  *item_signals;
  char          *folder;          /* the hot folder, or NULL */
  char          *pass_dir;        /* both or neither */
  char          *fail_dir;
  char          *db_path;         /* chosen, or NULL: the default */
  CpWatcher     *watcher;         /* while running */
  char          *watch_category;
  CpRecords     *records;         /* the page's own reading connection */
  gint64         since_us;        /* the shift: since the latest Start */
  guint          refresh_id;
  GHashTable    *rows;            /* "id:verdict" -> row (a reference) */
  CpDriftState   drift_state;
  char          *drift_text;
  char          *fault_text;

  /* template widgets */
  AdwActionRow  *folder_row;
  AdwActionRow  *move_row;
  AdwActionRow  *db_row;
  GtkLabel      *status_label;
  GtkLabel      *fault_label;
  GtkLabel      *total_label;
  GtkLabel      *passed_label;
  GtkLabel      *failed_label;
  GtkLabel      *yield_label;
  GtkListBox    *parts_list;
  GtkLabel      *drift_label;
  CpPlotView    *scores_view;
  CpPlotView    *yield_view;
};

enum
{
  PROP_0,
  PROP_RUNNING,
  PROP_DB_PATH,
  PROP_FOLDER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CpLinePage, cp_line_page, CP_TYPE_PAGE)

static void schedule_refresh (CpLinePage *self);

static CpSession *
session_of (CpLinePage *self)
{
  return cp_page_get_session (CP_PAGE (self));
}

/* The database of this line: the one chosen, else one in the
 * application's data folder. */
static char *
db_path (CpLinePage *self)
{
  if (self->db_path != NULL)
    return g_strdup (self->db_path);
  return g_build_filename (g_get_user_data_dir (), "cutpaste-inspector", "line", "line.sqlite", NULL);
}

/* ---- what the page shows ------------------------------------------------------- */

static void
update_rows_labels (CpLinePage *self)
{
  g_autofree char *db = db_path (self);
  g_autofree char *moves = NULL;

  adw_action_row_set_subtitle (self->folder_row, self->folder != NULL ? self->folder
                               : _("Choose the folder the camera writes its images to"));
  if (self->pass_dir != NULL && self->fail_dir != NULL)
    /* Translators: where parts go after they are scored. */
    moves = g_strdup_printf (_("PASS → %s\nFAIL → %s"), self->pass_dir, self->fail_dir);
  else if (self->pass_dir != NULL || self->fail_dir != NULL)
    moves = g_strdup_printf (_("Choose the other folder too (PASS → %s, FAIL → %s)"),
                             self->pass_dir != NULL ? self->pass_dir : "?",
                             self->fail_dir != NULL ? self->fail_dir : "?");
  else
    moves = g_strdup (_("Parts stay in the hot folder"));
  adw_action_row_set_subtitle (self->move_row, moves);
  adw_action_row_set_subtitle (self->db_row, db);
}

static gboolean
can_start (CpLinePage  *self,
           const char **why)
{
  CpSession *session = session_of (self);
  CpCategoryItem *item = session != NULL ? cp_session_get_selected (session) : NULL;

  *why = NULL;
  if (self->watcher != NULL)
    *why = "";
  else if (item == NULL)
    *why = _("Open a dataset and choose a category first.");
  else if (!cp_category_item_is_trained (item))
    *why = _("This category has no model yet: train it on the Training page first.");
  else if (self->folder == NULL)
    *why = _("Choose the hot folder to watch.");
  else if ((self->pass_dir == NULL) != (self->fail_dir == NULL))
    *why = _("Choose both the PASS and the FAIL folder, or neither.");
  return *why == NULL;
}

static void
update_actions (CpLinePage *self)
{
  const char *why;
  gboolean running = self->watcher != NULL;
  gboolean startable = can_start (self, &why);

  cp_page_set_action_enabled (CP_PAGE (self), "line-start", startable);
  cp_page_set_action_enabled (CP_PAGE (self), "line-stop", running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-choose-folder", !running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-set-folder", !running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-choose-pass-folder", !running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-choose-fail-folder", !running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-set-move-folders", !running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-choose-database", !running);
  cp_page_set_action_enabled (CP_PAGE (self), "line-set-database", !running);
  if (!running)
    gtk_label_set_text (self->status_label, why != NULL ? why : _("Ready to watch the hot folder."));
}

static void
set_fault (CpLinePage *self,
           const char *text)
{
  g_free (self->fault_text);
  self->fault_text = g_strdup (text);
  gtk_label_set_text (self->fault_label, text != NULL ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->fault_label), text != NULL);
}

static void
show_drift (CpLinePage         *self,
            const CpWatchDrift *drift)
{
  g_autofree char *text = NULL;
  const CpDriftResult *r = drift != NULL ? &drift->result : NULL;

  self->drift_state = drift != NULL ? drift->state : CP_DRIFT_UNKNOWN;
  gtk_widget_remove_css_class (GTK_WIDGET (self->drift_label), "warning");
  if (drift == NULL)
    text = g_strdup (self->watcher != NULL ? _("Drift: waiting for the first parts.")
                                           : _("Drift is checked while the folder is watched."));
  else if (drift->state == CP_DRIFT_HIGHER || drift->state == CP_DRIFT_LOWER)
    {
      /* Translators: the drift warning; "higher" or "lower" comes from
       * the two messages below. */
      text = g_strdup_printf (drift->state == CP_DRIFT_HIGHER
                              ? _("Drift warning: the last %d passed parts score higher than the reference "
                                  "(median %.3f against %.3f, %.0f %% above its 90th percentile, p = %.1e). "
                                  "Check the camera, the lighting and the parts.")
                              : _("Drift warning: the last %d passed parts score lower than the reference "
                                  "(median %.3f against %.3f, %.0f %% above its 90th percentile, p = %.1e)."),
                              r->n_recent, r->recent_median, r->reference_median,
                              r->above_reference_upper * 100, r->p_value);
      gtk_widget_add_css_class (GTK_WIDGET (self->drift_label), "warning");
    }
  else if (drift->state == CP_DRIFT_STEADY)
    text = g_strdup_printf (_("Drift: steady (the last %d passed parts against %d reference scores, p = %.2f)."),
                            r->n_recent, drift->n_reference, r->p_value);
  else
    text = g_strdup_printf (_("Drift: not enough passed parts yet (%d of %d)."), r->n_recent,
                            CP_DRIFT_DEFAULT_MIN_RECENT);
  g_free (self->drift_text);
  self->drift_text = g_strdup (text);
  gtk_label_set_text (self->drift_label, text);
}

/* ---- thumbnails, decoded off the main thread ------------------------------------- */

static void
thumbnail_thread (GTask        *task,
                  gpointer      source,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  GError *error = NULL;
  GdkPixbuf *pixbuf;

  /* GLib's hand-offs are invisible to TSan (see core/tsan.h). */
  CP_TSAN_ACQUIRE (task_data);
  pixbuf = gdk_pixbuf_new_from_file_at_scale (task_data, THUMBNAIL_SIZE * 2, THUMBNAIL_SIZE * 2, TRUE, &error);
  if (pixbuf == NULL)
    g_task_return_error (task, error);
  else
    {
      CP_TSAN_RELEASE (pixbuf);
      g_task_return_pointer (task, pixbuf, g_object_unref);
    }
}

static void
thumbnail_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GdkPixbuf) pixbuf = g_task_propagate_pointer (G_TASK (result), NULL);
  g_autoptr(GdkTexture) texture = NULL;

  if (pixbuf == NULL)
    return;
  CP_TSAN_ACQUIRE (pixbuf);
  texture = gdk_texture_new_for_pixbuf (pixbuf);
  gtk_image_set_from_paintable (GTK_IMAGE (source), GDK_PAINTABLE (texture));
}

static GtkWidget *
thumbnail_new (const char *path,
               const char *tooltip)
{
  GtkWidget *image = gtk_image_new_from_icon_name ("image-x-generic-symbolic");
  GTask *task = g_task_new (image, NULL, thumbnail_done, NULL);

  gtk_image_set_pixel_size (GTK_IMAGE (image), THUMBNAIL_SIZE);
  if (tooltip != NULL)
    gtk_widget_set_tooltip_text (image, tooltip);
  g_task_set_task_data (task, g_strdup (path), g_free);
  CP_TSAN_RELEASE (g_task_get_task_data (task));
  g_task_run_in_thread (task, thumbnail_thread);
  g_object_unref (task);
  return image;
}

/* ---- the last parts --------------------------------------------------------------- */

static const char *
part_file (const CpPart *part)
{
  return part->final_path != NULL && g_file_test (part->final_path, G_FILE_TEST_EXISTS)
         ? part->final_path : part->file_path;
}

static GtkWidget *
part_row_new (const CpPart *part)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *verdict = gtk_label_new (NULL);
  g_autofree char *name = g_path_get_basename (part_file (part));
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (part->time_us / G_USEC_PER_SEC);
  g_autofree char *clock = g_date_time_format (time, "%H:%M:%S");
  g_autofree char *subtitle = NULL;
  CpVerdict final = cp_part_final_verdict (part);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
  if (part->override_verdict != CP_VERDICT_NONE)
    /* Translators: time, score, threshold, the operator's verdict and who gave it. */
    subtitle = g_strdup_printf (_("%s · score %.3f (threshold %.3f) · scored %s, marked %s by %s"), clock,
                                part->score, part->threshold,
                                part->verdict == CP_VERDICT_FAIL ? _("FAIL") : _("PASS"),
                                part->override_verdict == CP_VERDICT_FAIL ? _("FAIL") : _("PASS"),
                                part->override_by != NULL ? part->override_by : "?");
  else
    subtitle = g_strdup_printf (_("%s · score %.3f (threshold %.3f)"), clock, part->score, part->threshold);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), thumbnail_new (part_file (part), part_file (part)));
  if (part->heatmap_path != NULL)
    adw_action_row_add_suffix (ADW_ACTION_ROW (row), thumbnail_new (part->heatmap_path, _("Defect heatmap")));
  if (final == CP_VERDICT_FAIL)
    {
      GtkWidget *button = gtk_button_new_with_mnemonic (_("_Mark as Good"));

      gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
      gtk_widget_set_tooltip_text (button, _("A wrong reject: add this image to the good set and refit the "
                                             "threshold (seconds)"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "win.line-mark-good");
      gtk_actionable_set_action_target_value (GTK_ACTIONABLE (button), g_variant_new_int64 (part->id));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), button);
    }
  gtk_label_set_text (GTK_LABEL (verdict), final == CP_VERDICT_FAIL ? _("FAIL") : _("PASS"));
  gtk_widget_add_css_class (verdict, final == CP_VERDICT_FAIL ? "error" : "success");
  gtk_widget_set_valign (verdict, GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), verdict);
  g_object_set_data_full (G_OBJECT (row), "cp-part", cp_part_copy (part), (GDestroyNotify) cp_part_free);
  return row;
}

/* Newest first; rows of parts still shown are kept (their thumbnails
 * are not decoded again). */
static void
show_parts (CpLinePage *self,
            GPtrArray  *parts)
{
  g_autoptr(GHashTable) rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->parts_list))) != NULL)
    gtk_list_box_remove (self->parts_list, child);
  for (guint i = 0; parts != NULL && i < parts->len; i++)
    {
      const CpPart *part = parts->pdata[i];
      char *key = g_strdup_printf ("%" G_GINT64_FORMAT ":%d", part->id, (int) cp_part_final_verdict (part));
      GtkWidget *row = g_hash_table_lookup (self->rows, key);

      row = row != NULL ? g_object_ref (row) : g_object_ref_sink (part_row_new (part));
      gtk_list_box_append (self->parts_list, row);
      g_hash_table_replace (rows, key, row);
    }
  g_hash_table_unref (self->rows);
  self->rows = g_steal_pointer (&rows);
}

/* ---- reading the database --------------------------------------------------------- */

static gboolean
ensure_records (CpLinePage *self)
{
  g_autofree char *path = db_path (self);
  g_autoptr(GError) error = NULL;

  if (self->records != NULL && g_strcmp0 (cp_records_get_path (self->records), path) == 0)
    return TRUE;
  g_clear_pointer (&self->records, cp_records_close);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return FALSE;
  self->records = cp_records_open (path, CP_RECORDS_OPEN_EXISTING, 200, &error);
  if (self->records == NULL)
    set_fault (self, error->message);
  return self->records != NULL;
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The median and the 90th percentile of the reference scores: the
 * running watcher's, else those the database keeps for @model_id (it
 * keeps the cross-validated ones; a model's own calibration scores are
 * read from the model file). */
static void
reference_band (CpLinePage *self,
                gint64      model_id,
                double     *median,
                double     *upper)
{
  g_autoptr(CpModelRecord) model = NULL;
  g_autofree double *sorted = NULL;
  const double *scores = NULL;
  int n = 0;

  *median = *upper = NAN;
  if (self->watcher != NULL)
    scores = cp_watcher_get_reference (self->watcher, &n, NULL);
  if (scores == NULL || n == 0)
    {
      model = cp_records_get_model (self->records, model_id, NULL);
      if (model != NULL)
        {
          scores = model->reference_scores;
          n = model->n_reference;
        }
    }
  if (scores == NULL || n == 0)
    return;
  sorted = g_memdup2 (scores, sizeof (double) * n);
  qsort (sorted, n, sizeof (double), compare_doubles);
  *median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  *upper = sorted[MIN (n - 1, (int) ceil (0.9 * n) - 1)];
}

/* A bucket width that gives at most about 24 bars over @span_us (from
 * 10 seconds, so that a run's first minutes show bars too). */
static gint64
bucket_width (gint64 span_us)
{
  static const int seconds[] = { 10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400 };

  for (gsize i = 0; i < G_N_ELEMENTS (seconds); i++)
    if (span_us / (seconds[i] * G_USEC_PER_SEC) < 24)
      return seconds[i] * G_USEC_PER_SEC;
  return G_GINT64_CONSTANT (86400) * G_USEC_PER_SEC;
}

static void
set_count_label (GtkLabel   *label,
                 const char *what,
                 gint64      value)
{
  g_autofree char *text = g_strdup_printf ("%s %" G_GINT64_FORMAT, what, value);

  gtk_label_set_text (label, text);
}

static gboolean
refresh (gpointer user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);
  CpPartQuery query;
  CpPartCounts counts = { 0 };
  g_autoptr(GPtrArray) last = NULL;
  g_autoptr(GPtrArray) recent = NULL;
  g_autoptr(GArray) buckets = NULL;
  g_autofree char *yield = NULL;
  double threshold = NAN, median = NAN, upper = NAN;
  gint64 width = 60 * G_USEC_PER_SEC;

  self->refresh_id = 0;
  if (ensure_records (self))
    {
      cp_part_query_init (&query);
      query.from_us = self->since_us;
      if (!cp_records_count_parts (self->records, &query, &counts, NULL))
        memset (&counts, 0, sizeof counts);
      query.order = CP_PART_ORDER_TIME_DESC;
      query.limit = LAST_PARTS;
      last = cp_records_list_parts (self->records, &query, NULL);
      query.limit = CHART_PARTS;
      recent = cp_records_list_parts (self->records, &query, NULL);
      if (recent != NULL)
        {
          /* Oldest first for the chart. */
          for (guint i = 0; i < recent->len / 2; i++)
            {
              gpointer t = recent->pdata[i];

              recent->pdata[i] = recent->pdata[recent->len - 1 - i];
              recent->pdata[recent->len - 1 - i] = t;
            }
          if (recent->len > 0)
            {
              const CpPart *newest = recent->pdata[recent->len - 1];

              threshold = newest->threshold;
              reference_band (self, newest->model_id, &median, &upper);
            }
        }
      if (counts.total > 0)
        {
          cp_part_query_init (&query);
          query.from_us = self->since_us;
          width = bucket_width (counts.last_us - counts.first_us);
          buckets = cp_records_yield_buckets (self->records, &query, width, NULL);
        }
    }
  if (self->watcher != NULL && !isnan (cp_watcher_get_threshold (self->watcher)))
    threshold = cp_watcher_get_threshold (self->watcher);
  /* "drift-changed" reports changes of state; the numbers move with
   * every batch. */
  if (self->watcher != NULL && cp_watcher_get_drift (self->watcher) != NULL)
    show_drift (self, cp_watcher_get_drift (self->watcher));

  /* Translators: counts of the parts of the shift. */
  set_count_label (self->total_label, _("Parts"), counts.total);
  set_count_label (self->passed_label, _("Passed"), counts.final_passed);
  set_count_label (self->failed_label, _("Failed"), counts.final_failed);
  yield = counts.total > 0 ? g_strdup_printf (_("Yield %.1f %%"), counts.yield * 100)
                           : g_strdup (_("Yield —"));
  gtk_label_set_text (self->yield_label, yield);
  show_parts (self, last);
  if (counts.total > 0)
    {
      cp_plots_set_scores (self->scores_view, recent, threshold, median, upper);
      cp_plots_set_yield (self->yield_view, buckets, width);
    }
  else
    {
      cp_plot_view_set_funcs (self->scores_view, NULL, NULL, NULL, NULL);
      cp_plot_view_set_funcs (self->yield_view, NULL, NULL, NULL, NULL);
    }
  return G_SOURCE_REMOVE;
}

static void
schedule_refresh (CpLinePage *self)
{
  if (self->refresh_id == 0)
    self->refresh_id = g_idle_add_full (G_PRIORITY_LOW, refresh, self, NULL);
}

/* ---- the watcher ------------------------------------------------------------------- */

static void
on_started (CpWatcher  *watcher,
            const char *description,
            CpLinePage *self)
{
  g_autofree char *text = g_strdup_printf (_("Watching %s with the model of “%s”."), self->folder,
                                           self->watch_category);

  gtk_label_set_text (self->status_label, text);
  show_drift (self, NULL);
  schedule_refresh (self);
}

static void
on_part_recorded (CpWatcher    *watcher,
                  const CpPart *part,
                  gboolean      already,
                  CpLinePage   *self)
{
  schedule_refresh (self);
}

static void
on_fault (CpWatcher   *watcher,
          CpWatchFault kind,
          const char  *path,
          const char  *message,
          CpLinePage  *self)
{
  set_fault (self, message);
}

static void
on_fault_cleared (CpWatcher   *watcher,
                  CpWatchFault kind,
                  const char  *message,
                  CpLinePage  *self)
{
  set_fault (self, NULL);
}

static void
on_drift_changed (CpWatcher          *watcher,
                  const CpWatchDrift *drift,
                  CpLinePage         *self)
{
  show_drift (self, drift);
  schedule_refresh (self);
}

static void
on_notice (CpWatcher  *watcher,
           const char *message,
           CpLinePage *self)
{
  if (session_of (self) != NULL)
    cp_session_toast (session_of (self), message);
}

static void
forget_watcher (CpLinePage *self)
{
  if (self->watcher == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->watcher, self);
  g_clear_object (&self->watcher);
  g_clear_pointer (&self->watch_category, g_free);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

static void
on_stopped (CpWatcher    *watcher,
            const GError *error,
            CpLinePage   *self)
{
  forget_watcher (self);
  update_actions (self);
  if (error != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Stopped: %s"), error->message);

      gtk_label_set_text (self->status_label, text);
    }
  else
    gtk_label_set_text (self->status_label, _("Stopped."));
  schedule_refresh (self);
}

/* The application lives until the watcher's thread has ended, even when
 * the window closes first. */
static void
release_application (CpWatcher    *watcher,
                     const GError *error,
                     GApplication *app)
{
  g_application_release (app);
}

static void
action_start (GSimpleAction *action,
              GVariant      *param,
              gpointer       user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);
  CpSession *session = session_of (self);
  CpCategoryItem *item;
  CpWatcherOptions options;
  g_autofree char *db = db_path (self);
  g_autofree char *db_dir = g_path_get_dirname (db);
  g_autofree char *device = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CpWatcher) watcher = NULL;
  GtkWindow *window = cp_page_get_window (CP_PAGE (self));
  GApplication *app = window != NULL ? G_APPLICATION (gtk_window_get_application (window)) : NULL;
  const char *why;

  if (!can_start (self, &why))
    return;
  item = cp_session_get_selected (session);
  device = g_settings_get_string (cp_session_get_settings (session), "device");
  g_mkdir_with_parents (db_dir, 0755);
  cp_watcher_options_init (&options);
  options.model_dir = cp_session_get_model_dir (session);
  options.category = cp_category_item_get_name (item);
  options.folder = self->folder;
  options.db_path = db;
  options.pass_dir = self->pass_dir;
  options.fail_dir = self->fail_dir;
  options.data_dir = cp_session_get_data_dir (session);
  options.device = device;
  options.heatmaps = CP_HEATMAPS_FAILED;
  watcher = cp_watcher_new (&options, &error);
  if (watcher == NULL)
    {
      gtk_label_set_text (self->status_label, error->message);
      return;
    }
  g_signal_connect (watcher, "started", G_CALLBACK (on_started), self);
  g_signal_connect (watcher, "part-recorded", G_CALLBACK (on_part_recorded), self);
  g_signal_connect (watcher, "fault", G_CALLBACK (on_fault), self);
  g_signal_connect (watcher, "fault-cleared", G_CALLBACK (on_fault_cleared), self);
  g_signal_connect (watcher, "drift-changed", G_CALLBACK (on_drift_changed), self);
  g_signal_connect (watcher, "notice", G_CALLBACK (on_notice), self);
  g_signal_connect (watcher, "stopped", G_CALLBACK (on_stopped), self);
  if (!cp_watcher_start (watcher, &error))
    {
      g_signal_handlers_disconnect_by_data (watcher, self);
      gtk_label_set_text (self->status_label, error->message);
      return;
    }
  if (app != NULL)
    {
      g_application_hold (app);
      g_signal_connect_data (watcher, "stopped", G_CALLBACK (release_application), g_object_ref (app),
                             (GClosureNotify) (void (*) (void)) g_object_unref, 0);
    }
  self->watcher = g_steal_pointer (&watcher);
  self->watch_category = g_strdup (cp_category_item_get_name (item));
  self->since_us = g_get_real_time ();
  set_fault (self, NULL);
  gtk_label_set_text (self->status_label, _("Loading the model…"));
  show_drift (self, NULL);
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  schedule_refresh (self);
}

static void
action_stop (GSimpleAction *action,
             GVariant      *param,
             gpointer       user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);

  if (self->watcher != NULL)
    {
      gtk_label_set_text (self->status_label, _("Stopping after the parts being scored…"));
      cp_watcher_stop (self->watcher);
    }
}

/* ---- folders and the database ----------------------------------------------------- */

/* The station's folders and database are kept in the settings, so that
 * the page shows them again after a restart ("" = not chosen). */
static void
remember (CpLinePage *self,
          const char *key,
          const char *value)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  GSettings *settings = session != NULL ? cp_session_get_settings (session) : NULL;

  if (settings != NULL)
    g_settings_set_string (settings, key, value != NULL ? value : "");
}

static void
set_folder (CpLinePage *self,
            const char *folder)
{
  g_free (self->folder);
  self->folder = folder != NULL && *folder != '\0' ? g_strdup (folder) : NULL;
  remember (self, "line-folder", self->folder);
  update_rows_labels (self);
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FOLDER]);
}

static void
set_move_folders (CpLinePage *self,
                  const char *pass_dir,
                  const char *fail_dir)
{
  g_free (self->pass_dir);
  g_free (self->fail_dir);
  self->pass_dir = pass_dir != NULL && *pass_dir != '\0' ? g_strdup (pass_dir) : NULL;
  self->fail_dir = fail_dir != NULL && *fail_dir != '\0' ? g_strdup (fail_dir) : NULL;
  remember (self, "line-pass-folder", self->pass_dir);
  remember (self, "line-fail-folder", self->fail_dir);
  update_rows_labels (self);
  update_actions (self);
}

static void
set_database (CpLinePage *self,
              const char *path)
{
  g_free (self->db_path);
  self->db_path = path != NULL && *path != '\0' ? g_strdup (path) : NULL;
  remember (self, "line-database", self->db_path);
  g_clear_pointer (&self->records, cp_records_close);
  set_fault (self, NULL);
  update_rows_labels (self);
  schedule_refresh (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DB_PATH]);
}

typedef enum
{
  CHOOSE_FOLDER,
  CHOOSE_PASS,
  CHOOSE_FAIL,
  CHOOSE_DATABASE,
  CHOOSE_REPORT,
} ChooseWhat;

static void write_report (CpLinePage *self, const char *range, const char *pdf_path);

static void
on_chosen (GtkNativeDialog *dialog,
           int              response,
           CpLinePage      *self)
{
  ChooseWhat what = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "cp-what"));
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      path = file != NULL ? g_file_get_path (file) : NULL;
    }
  if (path == NULL)
    {
      if (response == GTK_RESPONSE_ACCEPT && session_of (self) != NULL)
        cp_session_toast (session_of (self), _("Only local files can be used"));
    }
  else
    switch (what)
      {
      case CHOOSE_FOLDER:
        set_folder (self, path);
        break;
      case CHOOSE_PASS:
        set_move_folders (self, path, self->fail_dir);
        break;
      case CHOOSE_FAIL:
        set_move_folders (self, self->pass_dir, path);
        break;
      case CHOOSE_DATABASE:
        set_database (self, path);
        break;
      case CHOOSE_REPORT:
        write_report (self, g_object_get_data (G_OBJECT (dialog), "cp-range"), path);
        break;
      default:
        break;
      }
  g_object_unref (dialog);
  g_object_unref (self);
}

static GtkFileChooserNative *
chooser_new (CpLinePage           *self,
             ChooseWhat            what,
             const char           *title,
             GtkFileChooserAction  action,
             const char           *accept)
{
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (title, cp_page_get_window (CP_PAGE (self)),
                                                              action, accept, _("_Cancel"));

  g_object_set_data (G_OBJECT (dialog), "cp-what", GINT_TO_POINTER (what));
  g_signal_connect (dialog, "response", G_CALLBACK (on_chosen), g_object_ref (self));
  return dialog;
}

static void
action_choose_folder (GSimpleAction *action,
                      GVariant      *param,
                      gpointer       user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);
  const char *name = g_action_get_name (G_ACTION (action));
  ChooseWhat what = g_str_equal (name, "line-choose-pass-folder") ? CHOOSE_PASS
                    : g_str_equal (name, "line-choose-fail-folder") ? CHOOSE_FAIL : CHOOSE_FOLDER;
  const char *title = what == CHOOSE_PASS ? _("Folder for Parts that Pass")
                      : what == CHOOSE_FAIL ? _("Folder for Parts that Fail") : _("Hot Folder");

  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser_new (self, what, title,
                                                          GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                          _("_Select"))));
}

static void
action_set_folder (GSimpleAction *action,
                   GVariant      *param,
                   gpointer       user_data)
{
  set_folder (CP_LINE_PAGE (user_data), g_variant_get_string (param, NULL));
}

static void
action_set_move_folders (GSimpleAction *action,
                         GVariant      *param,
                         gpointer       user_data)
{
  const char *pass_dir, *fail_dir;

  g_variant_get (param, "(&s&s)", &pass_dir, &fail_dir);
  set_move_folders (CP_LINE_PAGE (user_data), pass_dir, fail_dir);
}

static void
action_choose_database (GSimpleAction *action,
                        GVariant      *param,
                        gpointer       user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);
  GtkFileChooserNative *dialog = chooser_new (self, CHOOSE_DATABASE, _("Line Database"),
                                              GTK_FILE_CHOOSER_ACTION_SAVE, _("_Select"));
  g_autofree char *current = db_path (self);
  g_autofree char *dir = g_path_get_dirname (current);
  g_autoptr(GFile) folder = g_file_new_for_path (dir);

  /* An existing database is opened and added to, never replaced. */
  gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (dialog), folder, NULL);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), "line.sqlite");
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
action_set_database (GSimpleAction *action,
                     GVariant      *param,
                     gpointer       user_data)
{
  set_database (CP_LINE_PAGE (user_data), g_variant_get_string (param, NULL));
}

/* ---- Mark as good ----------------------------------------------------------------- */

static void
action_mark_good (GSimpleAction *action,
                  GVariant      *param,
                  gpointer       user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);
  g_autoptr(CpPart) part = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *db = db_path (self);

  if (session_of (self) == NULL || !ensure_records (self))
    return;
  part = cp_records_get_part (self->records, g_variant_get_int64 (param), &error);
  if (part == NULL)
    {
      cp_session_toast (session_of (self), error != NULL ? error->message : _("No such part"));
      return;
    }
  cp_mark_good (session_of (self), part->category, part_file (part), db, part->id);
}

/* ---- the report --------------------------------------------------------------------- */

typedef struct
{
  char   *db_path;
  char   *pdf_path;
  char   *csv_path;
  gint64  from_us;
} ReportJob;

static void
report_job_free (gpointer data)
{
  ReportJob *job = data;

  g_free (job->db_path);
  g_free (job->pdf_path);
  g_free (job->csv_path);
  g_free (job);
}

/* Engine thread: a connection of its own; both files atomic. */
static gpointer
report_run (CpWorkerJob        *worker_job,
            const volatile int *cancel,
            gpointer            job_data,
            GError            **error)
{
  ReportJob *job = job_data;
  g_autoptr(CpRecords) records = cp_records_open (job->db_path, CP_RECORDS_OPEN_EXISTING, 10000, error);
  g_autoptr(CpReport) report = NULL;
  CpReportOptions options;

  if (records == NULL)
    return NULL;
  cp_report_options_init (&options);
  options.from_us = job->from_us;
  report = cp_report_new (records, &options, error);
  if (report == NULL || !cp_report_write_pdf (report, job->pdf_path, error) ||
      !cp_report_write_csv (report, job->csv_path, error))
    return NULL;
  return g_strdup_printf (_("Saved the report in %s and %s"), job->pdf_path, job->csv_path);
}

static void
report_done (gpointer      result,
             const GError *error,
             gboolean      dropped,
             gpointer      user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);

  if (dropped || session_of (self) == NULL)
    return;
  cp_session_toast (session_of (self), result != NULL ? result : error->message);
}

static gint64
range_start (CpLinePage *self,
             const char *range)
{
  if (g_strcmp0 (range, "all") == 0)
    return G_MININT64;
  if (g_strcmp0 (range, "shift") == 0 && self->since_us > 0)
    return self->since_us;
  return g_get_real_time () - EIGHT_HOURS_US;
}

static void
write_report (CpLinePage *self,
              const char *range,
              const char *pdf_path)
{
  CpSession *session = session_of (self);
  ReportJob *job;
  g_autofree char *stem = NULL;

  if (session == NULL)
    return;
  job = g_new0 (ReportJob, 1);
  job->db_path = db_path (self);
  job->pdf_path = g_str_has_suffix (pdf_path, ".pdf") ? g_strdup (pdf_path) : g_strconcat (pdf_path, ".pdf", NULL);
  stem = g_strndup (job->pdf_path, strlen (job->pdf_path) - 4);
  job->csv_path = g_strconcat (stem, ".csv", NULL);
  job->from_us = range_start (self, range);
  cp_worker_submit (cp_session_get_worker (session), "line-report", report_run, job, report_job_free, NULL,
                    report_done, g_free, G_OBJECT (self));
}

static void
action_export_report (GSimpleAction *action,
                      GVariant      *param,
                      gpointer       user_data)
{
  CpLinePage *self = CP_LINE_PAGE (user_data);
  GtkFileChooserNative *dialog = chooser_new (self, CHOOSE_REPORT, _("Export Report"),
                                              GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"));
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *name = g_date_time_format (now, "line-report-%Y-%m-%d-%H%M.pdf");

  g_object_set_data_full (G_OBJECT (dialog), "cp-range", g_variant_dup_string (param, NULL), g_free);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), name);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
action_write_report (GSimpleAction *action,
                     GVariant      *param,
                     gpointer       user_data)
{
  const char *range, *path;

  g_variant_get (param, "(&s&s)", &range, &path);
  write_report (CP_LINE_PAGE (user_data), range, path);
}

/* ---- life cycle ---------------------------------------------------------------------- */

static void
cp_line_page_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (cp_line_page_parent_class)->map (widget);
  schedule_refresh (CP_LINE_PAGE (widget));
}

static void
on_selected_changed (CpLinePage *self)
{
  CpSession *session = session_of (self);

  g_signal_group_set_target (self->item_signals, session != NULL ? cp_session_get_selected (session) : NULL);
  update_actions (self);
}

static void
cp_line_page_session_changed (CpPage    *page,
                              CpSession *previous)
{
  CpLinePage *self = CP_LINE_PAGE (page);
  CpSession *session = cp_page_get_session (page);
  GSettings *settings = session != NULL ? cp_session_get_settings (session) : NULL;

  g_signal_group_set_target (self->session_signals, session);
  /* A new window shows the station as it was left (not while watching:
   * the running watcher keeps what it was started with). */
  if (settings != NULL && self->watcher == NULL)
    {
      g_autofree char *folder = g_settings_get_string (settings, "line-folder");
      g_autofree char *pass_dir = g_settings_get_string (settings, "line-pass-folder");
      g_autofree char *fail_dir = g_settings_get_string (settings, "line-fail-folder");
      g_autofree char *db = g_settings_get_string (settings, "line-database");

      set_folder (self, folder);
      set_move_folders (self, pass_dir, fail_dir);
      if (g_strcmp0 (db, self->db_path != NULL ? self->db_path : "") != 0)
        set_database (self, db);
    }
  on_selected_changed (self);
}

static void
cp_line_page_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  CpLinePage *self = CP_LINE_PAGE (object);

  switch (prop_id)
    {
    case PROP_RUNNING:
      g_value_set_boolean (value, self->watcher != NULL);
      break;
    case PROP_DB_PATH:
      g_value_take_string (value, db_path (self));
      break;
    case PROP_FOLDER:
      g_value_set_string (value, self->folder);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_line_page_dispose (GObject *object)
{
  CpLinePage *self = CP_LINE_PAGE (object);

  /* The watcher goes on until its thread ends (it holds itself), but
   * tells this page nothing more. */
  if (self->watcher != NULL)
    {
      CpWatcher *watcher = g_object_ref (self->watcher);

      forget_watcher (self);
      cp_watcher_stop (watcher);
      g_object_unref (watcher);
    }
  g_clear_handle_id (&self->refresh_id, g_source_remove);
  cp_page_set_session (CP_PAGE (self), NULL);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->item_signals);
  g_clear_pointer (&self->rows, g_hash_table_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_LINE_PAGE);
  g_clear_pointer (&self->records, cp_records_close);
  G_OBJECT_CLASS (cp_line_page_parent_class)->dispose (object);
}

static void
cp_line_page_finalize (GObject *object)
{
  CpLinePage *self = CP_LINE_PAGE (object);

  g_free (self->folder);
  g_free (self->pass_dir);
  g_free (self->fail_dir);
  g_free (self->db_path);
  g_free (self->drift_text);
  g_free (self->fault_text);
  G_OBJECT_CLASS (cp_line_page_parent_class)->finalize (object);
}

static void
cp_line_page_class_init (CpLinePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = cp_line_page_dispose;
  object_class->finalize = cp_line_page_finalize;
  object_class->get_property = cp_line_page_get_property;
  widget_class->map = cp_line_page_map;
  CP_PAGE_CLASS (klass)->session_changed = cp_line_page_session_changed;

  properties[PROP_RUNNING] = g_param_spec_boolean ("running", NULL, NULL, FALSE, ro);
  properties[PROP_DB_PATH] = g_param_spec_string ("db-path", NULL, NULL, NULL, ro);
  properties[PROP_FOLDER] = g_param_spec_string ("folder", NULL, NULL, NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (CP_TYPE_PLOT_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-line-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, CpLinePage, name)
  BIND (folder_row);
  BIND (move_row);
  BIND (db_row);
  BIND (status_label);
  BIND (fault_label);
  BIND (total_label);
  BIND (passed_label);
  BIND (failed_label);
  BIND (yield_label);
  BIND (parts_list);
  BIND (drift_label);
  BIND (scores_view);
  BIND (yield_view);
#undef BIND
}

static void
cp_line_page_init (CpLinePage *self)
{
  static const GActionEntry actions[] = {
    { "line-choose-folder", action_choose_folder },
    { "line-set-folder", action_set_folder, "s" },
    { "line-choose-pass-folder", action_choose_folder },
    { "line-choose-fail-folder", action_choose_folder },
    { "line-set-move-folders", action_set_move_folders, "(ss)" },
    { "line-choose-database", action_choose_database },
    { "line-set-database", action_set_database, "s" },
    { "line-start", action_start },
    { "line-stop", action_stop },
    { "line-mark-good", action_mark_good, "x" },
    { "line-export-report", action_export_report, "s" },
    { "line-write-report", action_write_report, "(ss)" },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  cp_page_add_actions (CP_PAGE (self), actions, G_N_ELEMENTS (actions));
  self->rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->since_us = g_get_real_time () - EIGHT_HOURS_US;
  cp_plot_view_set_placeholder (self->scores_view, _("The scores of the parts over time, with the threshold "
                                                     "and the reference good scores: drift shows here."));
  cp_plot_view_set_placeholder (self->yield_view, _("The yield over time."));

  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (on_selected_changed), self);
  g_signal_group_connect_swapped (self->session_signals, "notify::model-dir",
                                  G_CALLBACK (update_actions), self);
  self->item_signals = g_signal_group_new (CP_TYPE_CATEGORY_ITEM);
  g_signal_group_connect_swapped (self->item_signals, "notify::state",
                                  G_CALLBACK (update_actions), self);
  /* A refit ("Mark as good") changes the threshold and the overrides. */
  g_signal_group_connect_swapped (self->item_signals, "notify::stored-threshold",
                                  G_CALLBACK (schedule_refresh), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::threshold",
                                  G_CALLBACK (schedule_refresh), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::model-stamp",
                                  G_CALLBACK (schedule_refresh), self);
  update_rows_labels (self);
  show_drift (self, NULL);
  update_actions (self);
}
