/* window-probe.h: how the window tests and the screenshot driver reach
 * into the real window: through its session, its pages' properties and
 * actions, and the template children of the pages (GTK's own lookup).
 * Nothing here is a getter the application exports for tests.  At the
 * end, what every window test's main () sets up, and the tiny models
 * the tests train with the engine. */
#pragma once

#include <adwaita.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-category-item.h"
#include "cp-model-folder-group.h"
#include "cp-session.h"
#include "cp-window.h"
#include "cp-worker.h"
#include "data/synth.h"
#include "pipeline/localize.h"
#include "pipeline/train.h"
#include "test-support.h"

static inline CpSession *
probe_session (CpWindow *w)
{
  CpSession *session = NULL;

  g_object_get (w, "session", &session, NULL);
  g_object_unref (session);   /* the window holds it */
  return session;
}

/* Waits until the engine thread has nothing queued, then lets the
 * widgets catch up with what the results changed. */
static inline void
probe_wait_idle (CpWorker *worker)
{
  cp_worker_wait_idle (worker);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Lets the main loop run (and draw) for @ms milliseconds. */
static inline void
probe_settle (int ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (10000);
    }
}

/* Activates window action @action (without a parameter), as its menu
 * item or shortcut would. */
static inline void
probe_activate (CpWindow   *w,
                const char *action)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), action, NULL));
}

/* The message dialog shown for @parent, if any. */
static inline AdwMessageDialog *
probe_dialog (CpWindow *parent)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) toplevel = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (toplevel) && gtk_window_get_transient_for (toplevel) == GTK_WINDOW (parent)
          && gtk_widget_get_visible (GTK_WIDGET (toplevel)))
        return ADW_MESSAGE_DIALOG (toplevel);
    }
  return NULL;
}

/* The button labelled @label in @widget's tree, or NULL. */
static inline GtkWidget *
probe_find_button (GtkWidget  *widget,
                   const char *label)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = probe_find_button (child, label);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* "dataset", "train", "augment", "inspect" or "eval". */
static inline GtkWidget *
probe_page (CpWindow   *w,
            const char *name)
{
  g_autofree char *id = g_strdup_printf ("%s_page", name);
  GObject *page = gtk_widget_get_template_child (GTK_WIDGET (w), CP_TYPE_WINDOW, id);

  g_assert_nonnull (page);
  return GTK_WIDGET (page);
}

/* Template child @id of page @page. */
static inline GtkWidget *
probe_child (CpWindow   *w,
             const char *page,
             const char *id)
{
  GtkWidget *widget = probe_page (w, page);
  GObject *child = gtk_widget_get_template_child (widget, G_OBJECT_TYPE (widget), id);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

/* Template child @id of the Dataset page's model folder group:
 * "folder_label", "origin_label", "use_folder_button", "import_button". */
static inline GtkWidget *
probe_model_folder (CpWindow   *w,
                    const char *id)
{
  GtkWidget *group = probe_child (w, "dataset", "model_folder_group");
  GObject *child = gtk_widget_get_template_child (group, CP_TYPE_MODEL_FOLDER_GROUP, id);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

/* The subtitle of category @name's row on the Dataset page: its counts
 * and what its model says. */
static inline const char *
probe_dataset_subtitle (CpWindow   *w,
                        const char *name)
{
  GtkWidget *list = probe_child (w, "dataset", "category_list");

  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL; row = gtk_widget_get_next_sibling (row))
    if (ADW_IS_ACTION_ROW (row) &&
        g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), name) == 0)
      return adw_action_row_get_subtitle (ADW_ACTION_ROW (row));
  g_assert_not_reached ();
}

static inline void
probe_show_page (CpWindow   *w,
                 const char *name)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), "win.page", "s", name));
}

/* As the Open Dataset dialog would: asks first about a moved threshold. */
static inline void
probe_open_dataset (CpWindow   *w,
                    const char *path)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), "win.open-folder", "s", path));
}

static inline CpCategoryState
probe_category_state (CpWindow   *w,
                      const char *name)
{
  CpCategoryItem *item = cp_session_find (probe_session (w), name);

  return item != NULL ? cp_category_item_get_state (item) : CP_CATEGORY_STATE_NOT_TRAINED;
}

/* Files dropped on the window: what its drop target hands to the
 * Inspection page. */
static inline void
probe_drop (CpWindow *w,
            GSList   *files)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) uris = NULL;

  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *uri = g_file_get_uri (l->data);

      g_strv_builder_add (builder, uri);
    }
  uris = g_strv_builder_end (builder);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (w), "win.inspect-files", "^as", uris));
}

static inline GListModel *
probe_inspect_items (CpWindow *w)
{
  GListModel *items = NULL;

  g_object_get (probe_page (w, "inspect"), "items", &items, NULL);
  g_object_unref (items);   /* the page holds it */
  return items;
}

static inline void
probe_select_inspect_row (CpWindow *w,
                          guint     index)
{
  g_object_set (probe_page (w, "inspect"), "selected", index, NULL);
}

/* The threshold controls of the Inspection page: "scale" (the slider),
 * "save" and "reset" (its buttons), "origin" (what the file holds). */
static inline GtkWidget *
probe_threshold (CpWindow   *w,
                 const char *name)
{
  const char *id = g_str_equal (name, "scale") ? "threshold_scale"
                   : g_str_equal (name, "save") ? "threshold_save_button"
                   : g_str_equal (name, "reset") ? "threshold_reset_button"
                   : "threshold_origin";

  return probe_child (w, "inspect", id);
}

/* ---- a window test's main () ------------------------------------------------ */

/* A synthetic dataset of one @category at @root: 64 x 64 images, 10 in
 * train/good, @n_test_good and @n_test_defect in test/. */
static inline void
probe_make_dataset (const char *root,
                    const char *category,
                    int         n_test_good,
                    int         n_test_defect)
{
  const char *categories[] = { category, NULL };
  CpSynthOptions synth;
  g_autoptr(GError) error = NULL;

  cp_synth_options_init (&synth);
  synth.categories = categories;
  synth.size = 64;
  synth.n_train = 10;
  synth.n_test_good = n_test_good;
  synth.n_test_defect = n_test_defect;
  if (!cp_synth_write (root, &synth, NULL, NULL, &error))
    g_error ("synthetic dataset: %s", error->message);
}

/* What a window test's main () asks of probe_setup (). */
typedef struct
{
  const char *tmp_template;    /* of the temporary folder: "cp-app-NAME-XXXXXX" */
  const char *category;        /* the one category of the dataset at TMP/data */
  int         n_test_good;
  int         n_test_defect;
  /* Sets more of the environment (in the temporary folder) before GTest
   * and GTK start; may be NULL. */
  void      (*prepare) (const char *tmp_dir);
} ProbeSetup;

/* Before g_test_run (): a temporary folder for all the test writes (also
 * the user's data folder: the application's own model folders go there),
 * GSettings in memory, GTest and GTK, a synthetic dataset at TMP/data
 * (probe_make_dataset ()), the application and its window, presented.
 * FALSE without a display, having removed the folder: main () then
 * returns 77 (skipped).  probe_teardown () undoes it all. */
static inline gboolean
probe_setup (int               *argc,
             char            ***argv,
             const ProbeSetup  *setup,
             char             **tmp_dir,
             char             **data_dir,
             CpApplication    **app,
             CpWorker         **worker,
             CpWindow         **window)
{
  *tmp_dir = cp_test_make_tmp_dir (setup->tmp_template);
  g_setenv ("XDG_DATA_HOME", *tmp_dir, TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  if (setup->prepare != NULL)
    setup->prepare (*tmp_dir);

  g_test_init (argc, argv, NULL);
  if (!gtk_init_check () || gdk_display_get_default () == NULL)
    {
      g_printerr ("no display: skipping\n");
      cp_test_remove_tree (*tmp_dir);
      g_clear_pointer (tmp_dir, g_free);
      return FALSE;
    }

  *data_dir = g_build_filename (*tmp_dir, "data", NULL);
  probe_make_dataset (*data_dir, setup->category, setup->n_test_good, setup->n_test_defect);

  *app = cp_application_new ();
  g_assert_true (g_application_register (G_APPLICATION (*app), NULL, NULL));
  *worker = cp_application_get_worker (*app);
  *window = cp_window_new (*app);
  gtk_window_present (GTK_WINDOW (*window));
  return TRUE;
}

/* After g_test_run (): the window, the engine thread, the application
 * and the temporary folder go. */
static inline void
probe_teardown (char          *tmp_dir,
                char          *data_dir,
                CpApplication *app,
                CpWorker      *worker,
                CpWindow      *window)
{
  gtk_window_destroy (GTK_WINDOW (window));
  cp_worker_shutdown (worker);
  g_object_unref (app);
  cp_test_remove_tree (tmp_dir);
  g_free (data_dir);
  g_free (tmp_dir);
}

/* ---- tiny models, trained by the engine --------------------------------------- */

/* A tiny model of @category of the dataset at @data_dir, written into
 * @model_dir exactly as `cutpaste train` writes it: 32 x 32 images, 2
 * steps of 2 images on the CPU from scratch, no test evaluation.
 * @local: CP_TRAIN_LOCAL_NONE for the global Gaussian alone, or the
 * quick profile's CP_TRAIN_LOCAL_AUTO (region scores: its region map is
 * a heatmap).  @seed picks the model. */
/* The options both tiny trainings share: @category of @data_dir into
 * @model_dir, @size x @size images, 2 steps of 2 on the CPU, no test
 * evaluation. */
static inline void
probe_tiny_options (CpTrainOptions *opts,
                    const char     *data_dir,
                    const char     *category,
                    const char     *model_dir,
                    int             size,
                    guint64         seed)
{
  cp_train_options_init (opts, "quick");
  opts->data_dir = data_dir;
  opts->category = category;
  opts->model_dir = model_dir;
  opts->image_size = size;
  opts->steps = 2;
  opts->batch_size = 2;
  opts->device = "cpu";
  opts->seed = seed;
  opts->evaluate_test = FALSE;
}

static inline void
probe_train_tiny_into (const char   *data_dir,
                       const char   *category,
                       const char   *model_dir,
                       CpTrainLocal  local,
                       guint64       seed)
{
  CpTrainOptions opts;
  CpTrainResult result;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  probe_tiny_options (&opts, data_dir, category, model_dir, 32, seed);
  opts.weights_path = NULL;
  opts.local = local;
  cp_train_result_init (&result);
  ok = cp_train_category (&opts, NULL, NULL, NULL, &result, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  cp_train_result_clear (&result);
}

/* The same for the dataset open in @w, into its model folder; then the
 * session looks at its models again, as after a model made elsewhere,
 * and the widgets catch up. */
static inline void
probe_train_tiny (CpWindow     *w,
                  const char   *category,
                  CpTrainLocal  local,
                  guint64       seed)
{
  CpSession *session = probe_session (w);

  probe_train_tiny_into (cp_session_get_data_dir (session), category,
                         cp_session_get_model_dir (session), local, seed);
  cp_session_refresh (session);
  probe_wait_idle (cp_session_get_worker (session));
}

/* A tiny heatmap (patch) model of @category beside its model in
 * @model_dir, as Defect heatmaps trains one: 64 x 64 images, 2 steps on
 * the CPU, one shared Gaussian fitted on 4 images (too few patches per
 * location at this size for one Gaussian each). */
static inline void
probe_train_tiny_patch_model (const char *data_dir,
                              const char *category,
                              const char *model_dir,
                              guint64     seed)
{
  CpTrainOptions opts;
  CpLocalizeOptions loc;
  CpTrainResult result;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  probe_tiny_options (&opts, data_dir, category, model_dir, 64, seed);
  cp_localize_options_init (&loc);
  loc.density = CP_PATCH_DENSITY_SHARED;
  loc.max_fit_images = 4;
  cp_localize_train_setup (&opts, &loc);
  cp_train_result_init (&result);
  ok = cp_train_category (&opts, NULL, NULL, NULL, &result, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  cp_train_result_clear (&result);
}
