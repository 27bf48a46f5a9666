/* cp-application.c: application actions, accelerators and shared state. */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-application.h"
#include "cp-resources.h"
#include "cp-preferences-window.h"
#include "cp-window.h"
#include "pipeline/train.h"

struct _CpApplication
{
  AdwApplication  parent_instance;

  GSettings      *settings;   /* owned */
  CpWorker       *worker;     /* owned; created on startup */
  CpWeightsState *weights;    /* owned; created on startup */
};

G_DEFINE_FINAL_TYPE (CpApplication, cp_application, ADW_TYPE_APPLICATION)

static void
cp_application_activate (GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    window = GTK_WINDOW (cp_window_new (CP_APPLICATION (app)));
  gtk_window_present (window);
}

static void
on_preferences (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  CpApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autoptr(CpSession) session = NULL;
  GtkWidget *prefs;

  /* The model folder shown is that of the window the preferences are for. */
  if (CP_IS_WINDOW (parent))
    g_object_get (parent, "session", &session, NULL);
  prefs = cp_preferences_window_new (self->settings, session, self->weights);

  gtk_window_set_transient_for (GTK_WINDOW (prefs), parent);
  gtk_window_present (GTK_WINDOW (prefs));
}

static void
on_about (GSimpleAction *action,
          GVariant      *parameter,
          gpointer       user_data)
{
  CpApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  const char *developers[] = { "The CutPaste Inspector developers", NULL };
  GtkWidget *about;

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", parent,
                        "application-name", _("CutPaste Inspector"),
                        "application-icon", APPLICATION_ID,
                        "version", PACKAGE_VERSION,
                        "developer-name", _("The CutPaste Inspector developers"),
                        "developers", developers,
                        "license-type", GTK_LICENSE_MIT_X11,
                        "website", "https://github.com/cutpaste/inspector",
                        "issue-url", "https://github.com/cutpaste/inspector/issues",
                        /* Translators: put your names here, one per line. */
                        "translator-credits", _("translator-credits"),
                        "comments", _("Self-supervised anomaly detection with CutPaste "
                                      "(Li, Sohn, Yoon and Pfister, CVPR 2021)."),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
on_shortcuts (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  CpApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autoptr(GtkBuilder) builder =
    gtk_builder_new_from_resource ("/io/github/cutpaste/Inspector/help-overlay.ui");
  GtkWindow *shortcuts = GTK_WINDOW (gtk_builder_get_object (builder, "help_overlay"));

  g_autoptr(GSList) objects = gtk_builder_get_objects (builder);

  /* GTK 4.8 shows an action-name shortcut's keys only in a window set as
   * an application window's help overlay; this one is opened by an app
   * action, so each shortcut gets its keys from the one accelerator
   * table (cp_application_startup). */
  for (GSList *l = objects; l != NULL; l = l->next)
    if (GTK_IS_SHORTCUTS_SHORTCUT (l->data))
      {
        g_autofree char *name = NULL;
        g_auto(GStrv) keys = NULL;

        g_object_get (l->data, "action-name", &name, NULL);
        if (name == NULL)
          continue;
        keys = gtk_application_get_accels_for_action (GTK_APPLICATION (self), name);
        if (keys != NULL && keys[0] != NULL)
          {
            g_autofree char *joined = g_strjoinv (" ", keys);

            g_object_set (l->data, "accelerator", joined, NULL);
          }
      }
  gtk_window_set_transient_for (shortcuts, parent);
  gtk_window_present (shortcuts);
}

static void
on_quit (GSimpleAction *action,
         GVariant      *parameter,
         gpointer       user_data)
{
  CpApplication *self = user_data;
  GList *copy = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (self)));

  /* Held: closing one window may take another (a dialog) with it. */
  for (GList *l = copy; l != NULL; l = l->next)
    g_object_ref (l->data);
  /* Closing, not destroying: a window may first ask about a threshold
   * that is not saved (or wait for one being saved), and a window that
   * goes cancels its jobs.  The application ends with its last window. */
  for (GList *l = copy; l != NULL; l = l->next)
    {
      if (g_list_find (gtk_application_get_windows (GTK_APPLICATION (self)), l->data) != NULL)
        gtk_window_close (l->data);
    }
  g_list_free_full (copy, g_object_unref);
}

static const GActionEntry app_actions[] = {
  { "preferences", on_preferences },
  { "about", on_about },
  { "shortcuts", on_shortcuts },
  { "quit", on_quit },
};

static void
cp_application_startup (GApplication *app)
{
  CpApplication *self = CP_APPLICATION (app);
  struct { const char *action; const char *accels[3]; } accels[] = {
    { "app.preferences", { "<Control>comma", NULL } },
    { "app.shortcuts", { "<Control>question", NULL } },
    { "app.quit", { "<Control>q", NULL } },
    { "win.open-dataset", { "<Control>o", NULL } },
    { "win.train", { "<Control>t", NULL } },
    { "win.train-all", { "<Control><Shift>t", NULL } },
    { "win.cancel", { "Escape", NULL } },
    { "win.inspect-open", { "<Control>i", NULL } },
    { "win.export-plots", { "<Control>e", NULL } },
    { "win.export-csv", { "<Control><Shift>e", NULL } },
    { "win.line-choose-folder", { "<Control><Shift>o", NULL } },
    { "win.line-start", { "<Control>r", NULL } },
    { "win.line-stop", { "<Control>period", NULL } },
  };

  G_APPLICATION_CLASS (cp_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions,
                                   G_N_ELEMENTS (app_actions), self);
  for (gsize i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self), accels[i].action,
                                           accels[i].accels);
  self->worker = cp_worker_new ();
  self->weights = cp_weights_state_new ();
}

static void
cp_application_shutdown (GApplication *app)
{
  CpApplication *self = CP_APPLICATION (app);

  if (self->worker != NULL)
    cp_worker_shutdown (self->worker);
  /* A download stops here and leaves nothing half-written. */
  if (self->weights != NULL)
    cp_weights_state_shutdown (self->weights);
  G_APPLICATION_CLASS (cp_application_parent_class)->shutdown (app);
}

static void
cp_application_dispose (GObject *object)
{
  CpApplication *self = CP_APPLICATION (object);

  g_clear_object (&self->worker);
  g_clear_object (&self->weights);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (cp_application_parent_class)->dispose (object);
}

static void
cp_application_class_init (CpApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = cp_application_dispose;
  app_class->activate = cp_application_activate;
  app_class->startup = cp_application_startup;
  app_class->shutdown = cp_application_shutdown;
}

/* A preset writes its numbers into the settings so that every view of
 * them (Training page, Preferences) shows what will run. */
static void
apply_profile (GSettings  *settings,
               const char *key,
               gpointer    user_data)
{
  g_autofree char *profile = g_settings_get_string (settings, "profile");
  CpTrainOptions opts;

  if (g_strcmp0 (profile, "custom") == 0)
    return;
  cp_train_options_init (&opts, profile);
  /* The instant profile takes no step: its steps and batch size mean
   * nothing (the rows hide), and the keys keep what they held. */
  if (opts.steps > 0)
    {
      g_settings_set_int (settings, "steps", opts.steps);
      g_settings_set_int (settings, "batch-size", opts.batch_size);
    }
  g_settings_set_int (settings, "image-size", opts.image_size);
}

static void
cp_application_init (CpApplication *self)
{
  static gsize registered = 0;

  if (g_once_init_enter (&registered))
    {
      cp_register_resource ();
      g_once_init_leave (&registered, 1);
    }
  self->settings = g_settings_new (APPLICATION_ID);
  g_signal_connect (self->settings, "changed::profile", G_CALLBACK (apply_profile), NULL);
  apply_profile (self->settings, "profile", NULL);
}

CpApplication *
cp_application_new (void)
{
  return g_object_new (CP_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/cutpaste/Inspector",
                       NULL);
}

GSettings *
cp_application_get_settings (CpApplication *self)
{
  return self->settings;
}

CpWorker *
cp_application_get_worker (CpApplication *self)
{
  return self->worker;
}

CpWeightsState *
cp_application_get_weights_state (CpApplication *self)
{
  return self->weights;
}
