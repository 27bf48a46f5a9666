/* main.c: entry point of CutPaste Inspector. */
#include "config.h"

#include <locale.h>

#include <glib/gi18n.h>

#include "cp-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(CpApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = cp_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
