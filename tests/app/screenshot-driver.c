/* screenshot-driver.c: walks the real window through every page on a
 * synthetic dataset and captures the screen after each one with
 * ImageMagick's `import -window root`.  Run by build-aux/screenshots.sh
 * under Xvfb; not a test.
 *
 *   screenshot-driver OUT_DIR [LOCALE_DIR]
 */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-window.h"
#include "window-probe.h"
#include "cp-worker.h"
#include "data/synth.h"

static CpApplication *app;
static CpWindow *window;
static CpWorker *worker;

static void
wait_idle (void)
{
  cp_worker_wait_idle (worker);
  probe_settle (500);
}

static void
capture (const char *out_dir,
         const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.png", out_dir, name);
  const char *argv[] = { "import", "-window", "root", path, NULL };
  g_autoptr(GError) error = NULL;
  int status = 0;

  probe_settle (800);
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                     &status, &error) || !g_spawn_check_wait_status (status, &error))
    g_error ("import %s: %s", path, error->message);
  g_print ("wrote %s\n", path);
}

int
main (int argc, char **argv)
{
  g_autofree char *tmp_dir = NULL;
  g_autofree char *data_dir = NULL;
  g_autoptr(GError) error = NULL;
  CpSynthOptions synth;
  GSettings *settings;
  const char *out_dir;

  if (argc < 2)
    {
      g_printerr ("usage: %s OUT_DIR [LOCALE_DIR]\n", argv[0]);
      return 2;
    }
  out_dir = argv[1];
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, argc > 2 ? argv[2] : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  tmp_dir = g_dir_make_tmp ("cp-screenshots-XXXXXX", NULL);
  g_setenv ("XDG_DATA_HOME", tmp_dir, TRUE);
  if (!gtk_init_check ())
    {
      g_printerr ("no display\n");
      return 77;
    }

  data_dir = g_build_filename (tmp_dir, "mvtec-like", NULL);
  cp_synth_options_init (&synth);
  synth.size = 128;
  synth.n_train = 20;
  synth.n_test_good = 10;
  synth.n_test_defect = 4;
  if (!cp_synth_write (data_dir, &synth, NULL, NULL, &error))
    g_error ("synthetic dataset: %s", error->message);

  app = cp_application_new ();
  g_application_register (G_APPLICATION (app), NULL, NULL);
  worker = cp_application_get_worker (app);
  settings = cp_application_get_settings (app);
  g_settings_set_string (settings, "device", "cpu");
  /* The preset a new user starts with: a model worth looking at. */
  g_settings_set_string (settings, "profile", "quick");
  /* And its heatmap model, so that the Inspection page shows where the
   * defect is. */
  g_settings_set_boolean (settings, "heatmaps", TRUE);

  window = cp_window_new (app);
  gtk_window_present (GTK_WINDOW (window));
  probe_settle (1000);
  capture (out_dir, "welcome");
  /* The first start offers ImageNet weights (the welcome picture shows
   * the banner); the other pictures are of the pages, as after "Not Now". */
  g_settings_set_boolean (settings, "offer-weights", FALSE);

  probe_open_dataset (window, data_dir);
  wait_idle ();
  /* The texture: its heatmaps (one shared Gaussian) show the defects
   * clearly; the washer's per-location ones mostly show the part. */
  cp_session_select_name (probe_session (window), "weave");

  /* Training: capture while it runs, when the curve has some length. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.train", NULL);
  {
    gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;

    while (g_get_monotonic_time () < deadline)
      {
        g_main_context_iteration (NULL, TRUE);
        if (probe_category_state (window, "weave") == CP_CATEGORY_STATE_TRAINING)
          break;
      }
    probe_settle (150000);
  }
  capture (out_dir, "training");
  wait_idle ();

  /* The other category stays untrained: the list shows both states. */
  probe_show_page (window, "dataset");
  wait_idle ();
  capture (out_dir, "dataset");

  probe_show_page (window, "augment");
  wait_idle ();
  capture (out_dir, "augmentations");

  {
    const char *picks[] = { "test/good", "test/hole", "test/stain", "test/scratch" };
    GSList *files = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS (picks); i++)
      {
        g_autofree char *dir = g_build_filename (data_dir, "weave", picks[i], NULL);
        g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
        const char *name;
        int taken = 0;

        while (handle != NULL && (name = g_dir_read_name (handle)) != NULL && taken < 2)
          {
            g_autofree char *path = g_build_filename (dir, name, NULL);

            files = g_slist_append (files, g_file_new_for_path (path));
            taken++;
          }
      }
    {
      g_autofree char *bad = g_build_filename (tmp_dir, "readme.txt", NULL);

      g_file_set_contents (bad, "not an image\n", -1, NULL);
      files = g_slist_append (files, g_file_new_for_path (bad));
    }
    probe_drop (window, files);
    g_slist_free_full (files, g_object_unref);
    wait_idle ();
    probe_select_inspect_row (window, 2);   /* the first hole */
    wait_idle ();   /* the heatmap */
    /* The threshold moved off the stored one: Save and Reset are offered. */
    {
      GtkRange *scale = GTK_RANGE (probe_threshold (window, "scale"));

      gtk_range_set_value (scale, floor (gtk_range_get_value (scale) * 90) / 100);
    }
    capture (out_dir, "inspection");
  }

  probe_show_page (window, "eval");
  wait_idle ();
  capture (out_dir, "evaluation");

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  probe_settle (500);
  capture (out_dir, "preferences");
  {
    /* Close the preferences so that About is shown alone. */
    GListModel *toplevels = gtk_window_get_toplevels ();

    for (guint i = g_list_model_get_n_items (toplevels); i > 0; i--)
      {
        g_autoptr(GtkWindow) top = g_list_model_get_item (toplevels, i - 1);

        if (top != GTK_WINDOW (window))
          gtk_window_close (top);
      }
  }
  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  probe_settle (500);
  capture (out_dir, "about");

  gtk_window_destroy (GTK_WINDOW (window));
  cp_worker_shutdown (worker);
  return 0;
}
