/* test-window-weights.c: the window and ImageNet weights.  A local HTTP
 * server (a GThreadedSocketService on 127.0.0.1, in this process) serves
 * a genuine ResNet-18 weights file the test writes with our own
 * safetensors writer, a 404, a file that is not weights, a connection cut
 * halfway and one that stalls; $CUTPASTE_WEIGHTS_URL points the
 * application at it, and $XDG_CACHE_HOME, $TORCH_HOME and $HF_HOME at
 * empty temporary folders.
 *
 * The banner shows when no weights are found; a 404, a wrong file, a cut
 * connection, a cancel and quitting during a download each leave the
 * cache empty (the first three say why); Not now hides the banner for good; "Use Weights File…" with
 * a bad file names it and its problem; Download from Preferences puts the
 * file in the cache and the Preferences row shows it; the instant profile
 * cannot be chosen without weights and, with them, makes a model the
 * Inspection page scores with; training records the weights it started
 * from, or "scratch" when the setting says so. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-inspect-item.h"
#include "cp-preferences-window.h"
#include "cp-training-settings.h"
#include "cp-weights-banner.h"
#include "cp-weights-settings.h"
#include "cp-weights-state.h"
#include "cp-window.h"
#include "cp-worker.h"
#include "window-probe.h"
#include "core/io/safetensors.h"
#include "data/synth.h"
#include "pipeline/train.h"
#include "test-support.h"
#include "weights/weights-file.h"

#define CATEGORY "washer"

static CpApplication *app;
static CpWindow *window;
static CpWorker *worker;
static char *tmp_dir;
static char *data_dir;
static char *cache_dir;          /* $XDG_CACHE_HOME/cutpaste/weights */
static GBytes *weights_bytes;    /* the genuine file the server sends */
static char *weights_sha;
static guint16 port;

/* ---- the HTTP server -------------------------------------------------------- */

static gboolean
send_all (GOutputStream *out,
          const void    *data,
          gsize          size)
{
  return g_output_stream_write_all (out, data, size, NULL, NULL, NULL);
}

static void
send_head (GOutputStream *out,
           const char    *status,
           gsize          length)
{
  g_autofree char *head =
    g_strdup_printf ("HTTP/1.1 %s\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n",
                     status, length);

  send_all (out, head, strlen (head));
}

/* One connection, on the service's own thread: reads the request's head
 * and answers by its path. */
static gboolean
on_run (GThreadedSocketService *service,
        GSocketConnection      *connection,
        GObject                *source,
        gpointer                user_data)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  GString *request = g_string_new (NULL);
  char buffer[4096];
  gsize size;
  const guint8 *body = g_bytes_get_data (weights_bytes, &size);
  g_auto(GStrv) words = NULL;
  const char *path;

  while (strstr (request->str, "\r\n\r\n") == NULL)
    {
      gssize n = g_input_stream_read (in, buffer, sizeof buffer, NULL, NULL);

      if (n <= 0)
        {
          g_string_free (request, TRUE);
          return TRUE;
        }
      g_string_append_len (request, buffer, n);
    }
  words = g_strsplit (request->str, " ", 3);
  g_string_free (request, TRUE);
  path = words[0] != NULL && words[1] != NULL ? words[1] : "";

  if (g_str_equal (path, "/resnet18.safetensors"))
    {
      send_head (out, "200 OK", size);
      send_all (out, body, size);
    }
  else if (g_str_equal (path, "/not-weights.safetensors"))
    {
      static const char text[] = "<html>a login page, not weights</html>\n";

      send_head (out, "200 OK", sizeof text - 1);
      send_all (out, text, sizeof text - 1);
    }
  else if (g_str_equal (path, "/cut.safetensors"))
    {
      /* Promises the whole file, sends a third, hangs up. */
      send_head (out, "200 OK", size);
      send_all (out, body, size / 3);
    }
  else if (g_str_equal (path, "/stall.safetensors"))
    {
      /* Promises the whole file, sends 2 MB, then waits for the client
       * to go (a cancel closes the connection). */
      send_head (out, "200 OK", size);
      send_all (out, body, 2 << 20);
      g_output_stream_flush (out, NULL, NULL);
      while (g_input_stream_read (in, buffer, sizeof buffer, NULL, NULL) > 0)
        ;
    }
  else
    {
      static const char text[] = "not found\n";

      send_head (out, "404 Not Found", sizeof text - 1);
      send_all (out, text, sizeof text - 1);
    }
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  return TRUE;
}

static GSocketService *
start_server (void)
{
  GSocketService *service = g_threaded_socket_service_new (4);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error))
    g_error ("cannot listen on 127.0.0.1: %s", error->message);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (service, "run", G_CALLBACK (on_run), NULL);
  g_socket_service_start (service);
  return service;
}

/* Before each download, never during one: the download reads the
 * variable on its own thread when it starts. */
static void
serve (const char *name)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/%s", port, name);

  g_setenv ("CUTPASTE_WEIGHTS_URL", url, TRUE);
}

/* ---- the window ---------------------------------------------------------------- */

static CpWeightsState *
weights_state (void)
{
  return cp_session_get_weights (probe_session (window));
}

typedef gboolean (*Condition) (gpointer data);

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until @cond holds.  The limit only keeps a broken
 * build from hanging CI; nothing here is a timing assertion. */
static void
wait_until (Condition cond,
            gpointer  data)
{
  gint64 give_up = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  guint tick = g_timeout_add (50, wake_up, NULL);

  while (!cond (data))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, give_up);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (tick);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
weights_settled (gpointer data)
{
  CpWeightsState *weights = weights_state ();

  return cp_weights_state_get_checked (weights)
         && cp_weights_state_get_activity (weights) == CP_WEIGHTS_ACTIVITY_IDLE;
}

static gboolean
download_started (gpointer data)
{
  return cp_weights_state_get_received (weights_state ()) > 0;
}

static GtkWidget *
banner_child (const char *id)
{
  GtkWidget *banner = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (window), CP_TYPE_WINDOW,
                                                                 "weights_banner"));
  GObject *child;

  g_assert_nonnull (banner);
  child = gtk_widget_get_template_child (banner, CP_TYPE_WEIGHTS_BANNER, id);
  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

static gboolean
banner_shown (void)
{
  return gtk_revealer_get_reveal_child (GTK_REVEALER (banner_child ("revealer")));
}

static const char *
banner_text (void)
{
  return gtk_label_get_text (GTK_LABEL (banner_child ("message_label")));
}

/* A click: "clicked" at once, which runs the button's action. */
static void
press (GtkWidget *button)
{
  g_assert_true (gtk_widget_get_sensitive (button));
  g_assert_true (gtk_widget_get_visible (button));
  g_signal_emit_by_name (button, "clicked");
}

/* Every entry of the cache folder, hidden ones too ("" when there is
 * none or no folder). */
static char *
cache_listing (void)
{
  g_autoptr(GDir) dir = g_dir_open (cache_dir, 0, NULL);
  GString *names = g_string_new (NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_string_append_printf (names, "%s%s", names->len ? " " : "", name);
  return g_string_free (names, FALSE);
}

static void
assert_cache_empty (void)
{
  g_autofree char *listing = cache_listing ();

  g_assert_cmpstr (listing, ==, "");
}

/* The Preferences window the app action opened (the last one). */
static GtkWidget *
open_preferences (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  GtkWidget *prefs = NULL;

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWidget) top = g_list_model_get_item (toplevels, i);

      if (CP_IS_PREFERENCES_WINDOW (top))
        prefs = top;
    }
  g_assert_nonnull (prefs);
  return prefs;
}

static GtkWidget *
prefs_child (GtkWidget  *prefs,
             GType       type,
             const char *group,
             const char *id)
{
  GObject *widget = gtk_widget_get_template_child (prefs, CP_TYPE_PREFERENCES_WINDOW, group);
  GObject *child;

  g_assert_nonnull (widget);
  child = gtk_widget_get_template_child (GTK_WIDGET (widget), type, id);
  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

/* ---- the instant choice, as the profile list shows it ---- */

static GtkWidget *
find_descendant (GtkWidget *widget,
                 GType      type,
                 const char *label)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type)
      && (label == NULL || g_strcmp0 (gtk_label_get_text (GTK_LABEL (widget)), label) == 0))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_descendant (child, type, label);

      if (found != NULL)
        return found;
    }
  return NULL;
}

typedef struct
{
  GtkWidget *popover;
  GtkWidget *label;
} Popup;

static gboolean
instant_listed (gpointer data)
{
  Popup *popup = data;

  popup->label = find_descendant (popup->popover, GTK_TYPE_LABEL, "Instant");
  return popup->label != NULL;
}

/* Opens the profile row's list on the Training page and returns the
 * widget of its Instant choice (title and description), with whether
 * it is sensitive and its tooltip; the list is closed again. */
static gboolean
instant_choice_sensitive (char **tooltip)
{
  GtkWidget *settings = probe_child (window, "train", "training_settings");
  GtkWidget *row = GTK_WIDGET (gtk_widget_get_template_child (settings, CP_TYPE_TRAINING_SETTINGS,
                                                              "profile_row"));
  Popup popup = { NULL, NULL };
  GtkWidget *item;
  gboolean sensitive;

  probe_show_page (window, "train");
  adw_action_row_activate (ADW_ACTION_ROW (row));
  popup.popover = find_descendant (row, GTK_TYPE_POPOVER, NULL);
  g_assert_nonnull (popup.popover);
  wait_until (instant_listed, &popup);
  item = gtk_widget_get_parent (popup.label);
  sensitive = gtk_widget_is_sensitive (item);
  *tooltip = g_strdup (gtk_widget_get_tooltip_text (item));
  gtk_popover_popdown (GTK_POPOVER (popup.popover));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return sensitive;
}

static void
use_settings (const char *profile)
{
  GSettings *settings = cp_application_get_settings (app);

  g_settings_set_string (settings, "profile", profile);
  g_settings_set_string (settings, "device", "cpu");
  if (g_str_equal (profile, "custom"))
    {
      g_settings_set_int (settings, "steps", 2);
      g_settings_set_int (settings, "batch-size", 2);
      g_settings_set_int (settings, "image-size", 32);
    }
}

static char *
model_metadata (const char *key)
{
  g_autofree char *model = cp_train_model_path (cp_session_get_model_dir (probe_session (window)),
                                                CATEGORY);
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (model, &err);
  char *value;

  g_assert_nonnull (st);
  value = g_strdup (cp_safetensors_metadata (st, key));
  cp_safetensors_close (st);
  return value;
}

static void
train (void)
{
  g_autofree char *model = cp_train_model_path (cp_session_get_model_dir (probe_session (window)),
                                                CATEGORY);

  g_unlink (model);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.train", NULL));
  probe_wait_idle (worker);
}

/* ---- the tests ------------------------------------------------------------------ */

/* Nothing in any cache: the banner offers the download. */
static void
test_banner_when_none (void)
{
  wait_until (weights_settled, NULL);
  g_assert_false (cp_weights_state_has_weights (weights_state ()));
  g_assert_true (banner_shown ());
  g_assert_nonnull (strstr (banner_text (), "45 MB"));
  g_assert_true (gtk_widget_get_visible (banner_child ("download_button")));
  g_assert_false (gtk_widget_get_visible (banner_child ("cancel_button")));
}

/* Without weights the instant choice cannot be picked and says why; a
 * run asked for anyway (the key set behind the window's back) fails
 * with that reason and writes no model. */
static void
test_instant_needs_weights (void)
{
  g_autofree char *tooltip = NULL;
  g_autofree char *model = NULL;
  GtkLabel *status = GTK_LABEL (probe_child (window, "train", "train_status"));

  g_assert_false (instant_choice_sensitive (&tooltip));
  g_assert_nonnull (tooltip);
  g_assert_nonnull (strstr (tooltip, "ImageNet weights"));

  probe_open_dataset (window, data_dir);
  probe_wait_idle (worker);
  g_assert_true (cp_session_select_name (probe_session (window), CATEGORY));
  use_settings ("instant");
  train ();
  model = cp_train_model_path (cp_session_get_model_dir (probe_session (window)), CATEGORY);
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  g_assert_nonnull (strstr (gtk_label_get_text (status), "none were found"));
  use_settings ("custom");
}

/* A failed download says why in the banner and leaves nothing behind. */
static void
download_fails (const char *name,
                const char *why)
{
  serve (name);
  press (banner_child ("download_button"));
  g_assert_cmpint (cp_weights_state_get_activity (weights_state ()), ==,
                   CP_WEIGHTS_ACTIVITY_DOWNLOADING);
  wait_until (weights_settled, NULL);
  g_assert_nonnull (cp_weights_state_get_error (weights_state ()));
  g_assert_true (banner_shown ());
  g_assert_nonnull (strstr (banner_text (), why));
  g_assert_true (gtk_widget_has_css_class (banner_child ("message_label"), "error"));
  g_assert_false (cp_weights_state_has_weights (weights_state ()));
  assert_cache_empty ();
}

static void
test_download_404 (void)
{
  download_fails ("missing/resnet18.safetensors", "404");
}

static void
test_download_wrong_file (void)
{
  download_fails ("not-weights.safetensors", "not-weights.safetensors");
}

static void
test_download_cut (void)
{
  download_fails ("cut.safetensors", "broke off");
}

/* Cancel while bytes are arriving: nothing stays, and no error shows. */
static void
test_download_cancel (void)
{
  serve ("stall.safetensors");
  press (banner_child ("download_button"));
  wait_until (download_started, NULL);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (banner_child ("progress_bar"))));
  g_assert_nonnull (strstr (banner_text (), "Downloading"));
  /* The temporary file is there while it downloads... */
  {
    g_autofree char *listing = cache_listing ();

    g_assert_nonnull (strstr (listing, ".resnet18-download-"));
  }
  press (banner_child ("cancel_button"));
  wait_until (weights_settled, NULL);
  /* ...and gone once cancelled. */
  g_assert_null (cp_weights_state_get_error (weights_state ()));
  assert_cache_empty ();
  g_assert_true (banner_shown ());
  g_assert_true (gtk_widget_get_visible (banner_child ("download_button")));
}

/* Quitting during a download (what the application's shutdown does)
 * returns only once the temporary file is gone. */
static void
test_quit_during_download (void)
{
  serve ("stall.safetensors");
  press (banner_child ("download_button"));
  wait_until (download_started, NULL);
  cp_weights_state_shutdown (weights_state ());
  assert_cache_empty ();
  g_assert_cmpint (cp_weights_state_get_activity (weights_state ()), !=,
                   CP_WEIGHTS_ACTIVITY_DOWNLOADING);
  g_assert_null (cp_weights_state_get_error (weights_state ()));
}

/* Not now is remembered: the banner goes and does not come back. */
static void
test_not_now (void)
{
  GSettings *settings = cp_application_get_settings (app);

  press (banner_child ("not_now_button"));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_false (banner_shown ());
  g_assert_false (g_settings_get_boolean (settings, "offer-weights"));
  cp_weights_state_refresh (weights_state ());
  wait_until (weights_settled, NULL);
  g_assert_false (banner_shown ());
}

/* "Use Weights File…" with a file that is not weights: the error names
 * the file, and the cache stays empty. */
static void
test_use_bad_file (void)
{
  g_autofree char *bad = g_build_filename (tmp_dir, "holiday-photo.pth", NULL);
  GtkWidget *prefs = open_preferences ();
  GtkWidget *group = GTK_WIDGET (gtk_widget_get_template_child (prefs, CP_TYPE_PREFERENCES_WINDOW,
                                                                "weights_settings"));
  GtkWidget *error_row = prefs_child (prefs, CP_TYPE_WEIGHTS_SETTINGS, "weights_settings", "error_row");
  GtkWidget *row = prefs_child (prefs, CP_TYPE_WEIGHTS_SETTINGS, "weights_settings", "weights_row");

  g_assert_true (g_file_set_contents (bad, "\x89PNG\r\n\x1a\n not a checkpoint", -1, NULL));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (row)), "None"));
  g_assert_false (gtk_widget_get_visible (error_row));
  g_assert_true (gtk_widget_activate_action (group, "weights.use-file", "s", bad));
  wait_until (weights_settled, NULL);
  g_assert_true (gtk_widget_get_visible (error_row));
  g_assert_nonnull (strstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (error_row)),
                            "holiday-photo.pth"));
  g_assert_false (cp_weights_state_has_weights (weights_state ()));
  assert_cache_empty ();
  gtk_window_destroy (GTK_WINDOW (prefs));
}

/* Download from Preferences (the way back after Not now): the file lands
 * in the cache, checked, and the row shows it with its SHA-256. */
static void
test_download_from_preferences (void)
{
  GtkWidget *prefs = open_preferences ();
  GtkWidget *row = prefs_child (prefs, CP_TYPE_WEIGHTS_SETTINGS, "weights_settings", "weights_row");
  GtkWidget *download = prefs_child (prefs, CP_TYPE_WEIGHTS_SETTINGS, "weights_settings",
                                     "download_button");
  GtkWidget *error_row = prefs_child (prefs, CP_TYPE_WEIGHTS_SETTINGS, "weights_settings", "error_row");
  g_autofree char *expected = g_strdup_printf ("resnet18-%.8s.safetensors", weights_sha);
  g_autofree char *listing = NULL;
  g_autofree char *stored = NULL;
  g_autofree char *stored_sha = NULL;
  const char *subtitle;
  gsize length;

  serve ("resnet18.safetensors");
  press (download);
  wait_until (weights_settled, NULL);
  g_assert_null (cp_weights_state_get_error (weights_state ()));
  g_assert_true (cp_weights_state_has_weights (weights_state ()));
  g_assert_false (gtk_widget_get_visible (error_row));

  listing = cache_listing ();
  g_assert_cmpstr (listing, ==, expected);
  stored = g_build_filename (cache_dir, expected, NULL);
  {
    g_autofree char *bytes = NULL;

    g_assert_true (g_file_get_contents (stored, &bytes, &length, NULL));
    stored_sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) bytes, length);
  }
  g_assert_cmpstr (stored_sha, ==, weights_sha);

  subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (row));
  g_assert_nonnull (strstr (subtitle, stored));
  {
    g_autofree char *short_sha = g_strndup (weights_sha, 12);

    g_assert_nonnull (strstr (subtitle, short_sha));
  }
  g_assert_false (banner_shown ());
  /* What the refused instant run said no longer stands. */
  g_assert_null (strstr (gtk_label_get_text (GTK_LABEL (probe_child (window, "train", "train_status"))),
                         "none were found"));
  gtk_window_destroy (GTK_WINDOW (prefs));
}

/* With weights the instant choice is open; its model is fitted without
 * a step, records the weights, and the Inspection page scores with it. */
static void
test_instant_trains (void)
{
  g_autofree char *tooltip = NULL;
  g_autofree char *backbone = NULL;
  g_autofree char *good = g_build_filename (data_dir, CATEGORY, "test", "good", NULL);
  g_autoptr(GDir) dir = g_dir_open (good, 0, NULL);
  g_autoptr(CpInspectItem) item = NULL;
  g_autofree char *image = NULL;
  GSList *files = NULL;

  g_assert_true (instant_choice_sensitive (&tooltip));
  g_assert_null (tooltip);

  use_settings ("instant");
  train ();
  g_assert_cmpint (probe_category_state (window, CATEGORY), ==, CP_CATEGORY_STATE_TRAINED);
  backbone = model_metadata ("backbone_init");
  g_assert_cmpstr (backbone, ==, weights_sha);

  g_assert_nonnull (dir);
  image = g_build_filename (good, g_dir_read_name (dir), NULL);
  files = g_slist_append (NULL, g_file_new_for_path (image));
  probe_drop (window, files);
  g_slist_free_full (files, g_object_unref);
  probe_wait_idle (worker);
  g_assert_cmpuint (g_list_model_get_n_items (probe_inspect_items (window)), ==, 1);
  item = g_list_model_get_item (probe_inspect_items (window), 0);
  g_assert_null (cp_inspect_item_get_error (item));
  g_assert_true (isfinite (cp_inspect_item_get_score (item)));
}

/* Training starts from the weights found (the default); with the
 * setting off it starts from scratch, which the instant profile cannot
 * do: its choice closes and a run asked for anyway says why. */
static void
test_train_records_weights (void)
{
  GSettings *settings = cp_application_get_settings (app);
  GtkLabel *status = GTK_LABEL (probe_child (window, "train", "train_status"));
  g_autofree char *from_weights = NULL;
  g_autofree char *tooltip = NULL;
  g_autofree char *model = cp_train_model_path (cp_session_get_model_dir (probe_session (window)),
                                                CATEGORY);

  use_settings ("custom");
  g_assert_true (g_settings_get_boolean (settings, "use-imagenet-weights"));
  train ();
  from_weights = model_metadata ("backbone_init");
  g_assert_cmpstr (from_weights, ==, weights_sha);
  /* The Dataset page says so, with the start of the file's SHA-256. */
  {
    g_autofree char *said = g_strdup_printf ("Started from: ImageNet weights (%.12s…)", weights_sha);

    g_assert_nonnull (strstr (probe_dataset_subtitle (window, CATEGORY), said));
  }

  g_settings_set_boolean (settings, "use-imagenet-weights", FALSE);
  g_assert_false (instant_choice_sensitive (&tooltip));
  g_assert_nonnull (strstr (tooltip, "off in Preferences"));
  use_settings ("instant");
  train ();
  g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
  g_assert_nonnull (strstr (gtk_label_get_text (status), "off in Preferences"));
  g_settings_set_boolean (settings, "use-imagenet-weights", TRUE);
  use_settings ("custom");
}

static void
set_env_dir (const char *tmp,
             const char *name,
             const char *sub)
{
  g_autofree char *path = g_build_filename (tmp, sub, NULL);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
  g_setenv (name, path, TRUE);
}

/* Every cache the engine looks in, empty. */
static void
empty_caches (const char *tmp)
{
  set_env_dir (tmp, "XDG_CACHE_HOME", "cache");
  set_env_dir (tmp, "TORCH_HOME", "torch");
  set_env_dir (tmp, "HF_HOME", "huggingface");
  g_unsetenv ("HF_HUB_CACHE");
}

int
main (int argc, char **argv)
{
  const ProbeSetup setup = { "cp-app-weights-XXXXXX", CATEGORY, 2, 2, empty_caches };
  g_autoptr(GSocketService) server = NULL;
  CpError err = { 0 };
  g_autofree char *master = NULL;
  char *bytes = NULL;
  gsize length;
  int status;

  if (!probe_setup (&argc, &argv, &setup, &tmp_dir, &data_dir, &app, &worker, &window))
    return 77;
  cache_dir = g_build_filename (tmp_dir, "cache", "cutpaste", "weights", NULL);

  /* Genuine weights, written by our own safetensors writer. */
  master = g_build_filename (tmp_dir, "served.safetensors", NULL);
  if (cp_test_write_resnet18_weights (master, 3, &err) != CP_OK)
    g_error ("weights: %s", err.message);
  g_assert_true (g_file_get_contents (master, &bytes, &length, NULL));
  weights_bytes = g_bytes_new_take (bytes, length);
  weights_sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, weights_bytes);
  server = start_server ();
  serve ("missing/resnet18.safetensors");

  g_test_add_func ("/app/window-weights/banner-when-none", test_banner_when_none);
  g_test_add_func ("/app/window-weights/instant-needs-weights", test_instant_needs_weights);
  g_test_add_func ("/app/window-weights/download-404", test_download_404);
  g_test_add_func ("/app/window-weights/download-wrong-file", test_download_wrong_file);
  g_test_add_func ("/app/window-weights/download-cut", test_download_cut);
  g_test_add_func ("/app/window-weights/download-cancel", test_download_cancel);
  g_test_add_func ("/app/window-weights/quit-during-download", test_quit_during_download);
  g_test_add_func ("/app/window-weights/not-now", test_not_now);
  g_test_add_func ("/app/window-weights/use-bad-file", test_use_bad_file);
  g_test_add_func ("/app/window-weights/download-from-preferences", test_download_from_preferences);
  g_test_add_func ("/app/window-weights/instant-trains", test_instant_trains);
  g_test_add_func ("/app/window-weights/train-records-weights", test_train_records_weights);
  status = g_test_run ();

  probe_teardown (tmp_dir, data_dir, app, worker, window);
  g_socket_service_stop (server);
  g_socket_listener_close (G_SOCKET_LISTENER (server));
  g_bytes_unref (weights_bytes);
  g_free (weights_sha);
  g_free (cache_dir);
  return status;
}
