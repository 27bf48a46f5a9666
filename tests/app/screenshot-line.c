/* screenshot-line.c: the Line page on a short synthetic shift, captured
 * with ImageMagick's `import -window root`.  A small weave model (and its
 * patch model, for the heatmaps of failed parts) watches a hot folder;
 * good and defective parts arrive, then good parts from a camera slightly
 * out of focus (a small model on 20 images: its 8 held-out reference
 * scores rarely let the drift rule speak this soon), then a defect.  Run by build-aux/screenshots.sh under Xvfb; not a test.
 *
 *   screenshot-line OUT_PNG [LOCALE_DIR]
 */
#include "config.h"

#include <locale.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "cp-application.h"
#include "cp-window.h"
#include "cp-worker.h"
#include "window-probe.h"
#include "data/synth.h"
#include "pipeline/localize.h"
#include "pipeline/train.h"

static CpWindow *window;
static char *hot_dir;
static int n_dropped;

static int
shown_parts (void)
{
  GtkWidget *page = probe_page (window, "line");
  GObject *label = gtk_widget_get_template_child (page, G_OBJECT_TYPE (page), "total_label");
  const char *space = strrchr (gtk_label_get_text (GTK_LABEL (label)), ' ');

  return space != NULL ? atoi (space + 1) : 0;
}

/* Waits until the page shows every part dropped so far. */
static void
wait_scored (void)
{
  gint64 end = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;

  while (shown_parts () < n_dropped && g_get_monotonic_time () < end)
    probe_settle (100);
}

/* Writes @pixbuf into the hot folder (a temporary name, then a rename);
 * @blur > 0: a camera out of focus (a box blur of that radius). */
static void
drop (GdkPixbuf  *pixbuf,
      const char *name,
      int         blur)
{
  g_autoptr(GdkPixbuf) copy = gdk_pixbuf_copy (pixbuf);
  g_autofree char *path = g_build_filename (hot_dir, name, NULL);
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  const guchar *src = gdk_pixbuf_read_pixels (pixbuf);
  guchar *dst = gdk_pixbuf_get_pixels (copy);
  int stride = gdk_pixbuf_get_rowstride (copy);
  int channels = gdk_pixbuf_get_n_channels (copy);
  int w = gdk_pixbuf_get_width (copy), h = gdk_pixbuf_get_height (copy);

  for (int y = 0; blur > 0 && y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < channels; c++)
        {
          int sum = 0, n = 0;

          for (int dy = -blur; dy <= blur; dy++)
            for (int dx = -blur; dx <= blur; dx++)
              {
                int yy = CLAMP (y + dy, 0, h - 1), xx = CLAMP (x + dx, 0, w - 1);

                sum += src[yy * stride + xx * channels + c];
                n++;
              }
          dst[y * stride + x * channels + c] = (guchar) (sum / n);
        }
  if (!gdk_pixbuf_save (copy, tmp, "png", NULL, NULL) || g_rename (tmp, path) != 0)
    g_error ("cannot write %s", path);
  n_dropped++;
}

/* The PNG files of @dir, sorted. */
static GPtrArray *
images_of (const char *dir)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL)
    if (g_str_has_suffix (name, ".png"))
      g_ptr_array_add (paths, g_build_filename (dir, name, NULL));
  g_ptr_array_sort (paths, (GCompareFunc) g_strcmp0);
  return paths;
}

static void
train (const char *data_dir,
       const char *model_dir,
       gboolean    patch)
{
  CpTrainOptions opts;
  CpLocalizeOptions loc;
  CpTrainResult result;
  g_autoptr(GError) error = NULL;

  cp_train_options_init (&opts, "quick");
  opts.data_dir = data_dir;
  opts.category = "weave";
  opts.device = "cpu";
  opts.model_dir = model_dir;
  opts.image_size = 64;
  opts.steps = 60;
  opts.evaluate_test = FALSE;
  if (patch)
    {
      cp_localize_options_init (&loc);
      loc.density = CP_PATCH_DENSITY_SHARED;
      loc.max_fit_images = 8;
      opts.steps = 20;
      cp_localize_train_setup (&opts, &loc);
    }
  cp_train_result_init (&result);
  if (!cp_train_category (&opts, NULL, NULL, NULL, &result, &error))
    g_error ("training: %s", error->message);
  cp_train_result_clear (&result);
}

int
main (int argc, char **argv)
{
  g_autofree char *tmp_dir = NULL, *data_dir = NULL, *db = NULL, *pass = NULL, *fail = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) goods = NULL;
  g_autoptr(GPtrArray) defects = NULL;
  const char *const *types;
  CpApplication *app;
  CpWorker *worker;
  CpSynthOptions synth;
  const char *argv_import[] = { "import", "-window", "root", NULL, NULL };
  int status = 0;

  if (argc < 2)
    {
      g_printerr ("usage: %s OUT_PNG [LOCALE_DIR]\n", argv[0]);
      return 2;
    }
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, argc > 2 ? argv[2] : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  tmp_dir = g_dir_make_tmp ("cp-line-shot-XXXXXX", NULL);
  g_setenv ("XDG_DATA_HOME", tmp_dir, TRUE);
  if (!gtk_init_check ())
    {
      g_printerr ("no display\n");
      return 77;
    }
  data_dir = g_build_filename (tmp_dir, "dataset", NULL);
  hot_dir = g_build_filename (tmp_dir, "camera-1", NULL);
  pass = g_build_filename (tmp_dir, "passed", NULL);
  fail = g_build_filename (tmp_dir, "rejected", NULL);
  db = g_build_filename (tmp_dir, "station-1.sqlite", NULL);
  g_mkdir_with_parents (hot_dir, 0755);
  g_mkdir_with_parents (pass, 0755);
  g_mkdir_with_parents (fail, 0755);
  cp_synth_options_init (&synth);
  synth.categories = (const char *const[]) { "weave", NULL };
  synth.size = 128;
  synth.n_train = 20;
  synth.n_test_good = 20;
  synth.n_test_defect = 4;
  if (!cp_synth_write (data_dir, &synth, NULL, NULL, &error))
    g_error ("synthetic dataset: %s", error->message);

  app = cp_application_new ();
  g_application_register (G_APPLICATION (app), NULL, NULL);
  worker = cp_application_get_worker (app);
  g_settings_set_string (cp_application_get_settings (app), "device", "cpu");
  /* The page, not the first start's offer of ImageNet weights. */
  g_settings_set_boolean (cp_application_get_settings (app), "offer-weights", FALSE);
  window = cp_window_new (app);
  gtk_window_present (GTK_WINDOW (window));
  probe_open_dataset (window, data_dir);
  cp_worker_wait_idle (worker);
  probe_settle (200);
  train (data_dir, cp_session_get_model_dir (probe_session (window)), FALSE);
  train (data_dir, cp_session_get_model_dir (probe_session (window)), TRUE);
  cp_session_refresh (probe_session (window));
  cp_worker_wait_idle (worker);
  cp_session_select_name (probe_session (window), "weave");
  probe_settle (200);

  probe_show_page (window, "line");
  gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-database", "s", db);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-folder", "s", hot_dir);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.line-set-move-folders", "(ss)", pass, fail);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.line-start", NULL);

  /* Good parts, a few defective ones among them, then the lighting
   * changes. */
  {
    g_autofree char *good_dir = g_build_filename (data_dir, "weave", "test", "good", NULL);
    g_autofree char *train_dir = g_build_filename (data_dir, "weave", "train", "good", NULL);
    g_autoptr(GPtrArray) more = images_of (train_dir);

    goods = images_of (good_dir);
    for (guint i = 0; i < more->len; i++)
      g_ptr_array_add (goods, g_strdup (more->pdata[i]));
  }
  types = cp_synth_defect_types ("weave");
  defects = g_ptr_array_new_with_free_func (g_free);
  for (int t = 0; types[t] != NULL; t++)
    {
      g_autofree char *dir = g_build_filename (data_dir, "weave", "test", types[t], NULL);
      g_autoptr(GPtrArray) some = images_of (dir);

      for (guint i = 0; i < some->len && i < 2; i++)
        g_ptr_array_add (defects, g_strdup (some->pdata[i]));
    }
  for (guint i = 0, d = 0; i < 24; i++)
    {
      g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (goods->pdata[i % goods->len], NULL);
      g_autofree char *name = g_strdup_printf ("part-%04u.png", n_dropped + 1);

      drop (pixbuf, name, 0);
      if (i % 4 == 3 && d < defects->len)
        {
          g_autoptr(GdkPixbuf) bad = gdk_pixbuf_new_from_file (defects->pdata[d++], NULL);
          g_autofree char *bad_name = g_strdup_printf ("part-%04u.png", n_dropped + 1);

          drop (bad, bad_name, 0);
        }
      wait_scored ();
      probe_settle (300);
    }
  for (guint i = 0; i < 36; i++)
    {
      g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_file (goods->pdata[(i + 7) % goods->len], NULL);
      g_autofree char *name = g_strdup_printf ("part-%04u.png", n_dropped + 1);

      drop (pixbuf, name, 1);
      wait_scored ();
      probe_settle (300);
    }
  /* A last defective part: the list shows a rejected part on top. */
  {
    g_autoptr(GdkPixbuf) bad = gdk_pixbuf_new_from_file (defects->pdata[0], NULL);
    g_autofree char *name = g_strdup_printf ("part-%04u.png", n_dropped + 1);

    drop (bad, name, 0);
    wait_scored ();
  }
  probe_settle (1500);

  argv_import[3] = argv[1];
  if (!g_spawn_sync (NULL, (char **) argv_import, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                     &status, &error) || !g_spawn_check_wait_status (status, &error))
    g_error ("import %s: %s", argv[1], error->message);
  g_print ("wrote %s\n", argv[1]);

  gtk_widget_activate_action (GTK_WIDGET (window), "win.line-stop", NULL);
  probe_settle (2000);
  gtk_window_destroy (GTK_WINDOW (window));
  cp_worker_shutdown (worker);
  return 0;
}
