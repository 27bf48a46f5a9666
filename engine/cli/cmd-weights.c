/* cmd-weights.c: `cutpaste weights fetch|import|status`: ImageNet weights
 * for training to start from (engine/pipeline/weights.h). */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cli-common.h"
#include "commands.h"
#include "pipeline/weights.h"

static void
print_usage (FILE *out)
{
  fprintf (out,
           "Usage: cutpaste weights status\n"
           "       cutpaste weights import FILE\n"
           "       cutpaste weights fetch [--url URL] [--force]\n"
           "\n"
           "ImageNet ResNet-18 weights for training to start from (train --weights auto,\n"
           "the default).  'status' shows the weights found on this machine and which one\n"
           "training uses; 'import' checks a torchvision .pth or timm model.safetensors and\n"
           "copies it into the cache; 'fetch' downloads torchvision's file (45 MB; the URL\n"
           "can be changed with --url or CUTPASTE_WEIGHTS_URL).\n"
           "Exit status: 0 ok, 1 failed, 2 usage.\n");
}

static int
cmd_status (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("- the ImageNet weights found");
  g_autoptr (GPtrArray) status = NULL;
  g_auto (GStrv) searched = NULL;
  const CpWeightsInfo *used = NULL;

  if (!cp_cli_parse (context, "weights status", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc > 1)
    {
      cp_cli_error ("weights status", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  searched = cp_weights_search_paths ();
  status = cp_weights_status (NULL);
  printf ("Searched:\n");
  for (int i = 0; searched[i]; i++)
    printf ("  %s\n", searched[i]);
  printf ("Found: %u file%s\n", status->len, status->len == 1 ? "" : "s");
  for (guint i = 0; i < status->len; i++)
    {
      const CpWeightsInfo *info = status->pdata[i];

      printf ("  %s %s (%s)\n", info == cp_weights_status_in_use (status) ? "*" : " ", info->path,
              cp_weights_source_to_string (info->source));
      if (info->valid)
        printf ("      valid: %" G_GUINT64_FORMAT " bytes, sha256 %s\n", info->size, info->sha256);
      else
        {
          /* The problem names the file first; the line above already does. */
          const char *why = info->problem;
          if (g_str_has_prefix (why, info->path) && strncmp (why + strlen (info->path), ": ", 2) == 0)
            why += strlen (info->path) + 2;
          printf ("      not valid: %s\n", why);
        }
    }
  used = cp_weights_status_in_use (status);
  if (used != NULL)
    printf ("Training starts from: %s (* above)\n", used->path);
  else
    printf ("Training starts from scratch: no valid ImageNet weights were found.\n"
            "'cutpaste weights fetch' downloads torchvision's (45 MB); 'cutpaste weights import "
            "FILE' copies a file you have.\n");
  return CP_EXIT_OK;
}

static int
cmd_import (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new ("FILE - copy weights into the cache");
  g_autoptr (GError) error = NULL;
  g_autofree char *dest = NULL;

  if (!cp_cli_parse (context, "weights import", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc != 2)
    {
      cp_cli_error ("weights import", "give exactly one FILE (see 'cutpaste weights --help')");
      return CP_EXIT_USAGE;
    }
  dest = cp_weights_import (argv[1], NULL, &error);
  if (dest == NULL)
    {
      cp_cli_error ("weights import", "%s", error->message);
      return CP_EXIT_FAILED;
    }
  printf ("imported %s as %s\n", argv[1], dest);
  return CP_EXIT_OK;
}

typedef struct
{
  GMainLoop    *loop;
  GCancellable *cancellable;
  gboolean      tty;
  gint64        last_line_us;
  int           last_len;
  const char   *url;
  char         *dest;
  GError       *error;
} Fetch;

static void
on_progress (guint64 received, guint64 total, gpointer user_data)
{
  Fetch *f = user_data;
  gint64 now = g_get_monotonic_time ();
  gboolean done = total > 0 && received == total;
  g_autofree char *line = NULL;

  if (total > 0)
    line = g_strdup_printf ("downloading %s: %.1f of %.1f MB (%.0f%%)", f->url, received / 1e6,
                            total / 1e6, 100.0 * received / total);
  else
    line = g_strdup_printf ("downloading %s: %.1f MB", f->url, received / 1e6);
  if (f->tty)
    {
      printf ("\r%s%*s", line, MAX (0, f->last_len - (int) strlen (line)), "");
      f->last_len = (int) strlen (line);
    }
  else
    {
      /* Logs: a line every 5 seconds and at the end. */
      if (!done && f->last_line_us != 0 && now - f->last_line_us < 5 * G_USEC_PER_SEC)
        return;
      printf ("%s\n", line);
    }
  fflush (stdout);
  f->last_line_us = now;
}

static void
on_fetched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fetch *f = user_data;

  f->dest = cp_weights_fetch_finish (result, &f->error);
  g_main_loop_quit (f->loop);
}

static gboolean
on_sigint (gpointer user_data)
{
  Fetch *f = user_data;

  g_cancellable_cancel (f->cancellable);
  return G_SOURCE_CONTINUE;
}

static int
cmd_fetch (int argc, char **argv)
{
  g_autofree char *url = NULL;
  gboolean force = FALSE;
  GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "Download from URL (default: $CUTPASTE_WEIGHTS_URL, "
      "else torchvision's resnet18-f37072fd.pth)", "URL" },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Download even when valid weights are found", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- download ImageNet weights");
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GCancellable) cancellable = NULL;
  Fetch f = { 0 };
  guint sigint;
  int status;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!cp_cli_parse (context, "weights fetch", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc > 1)
    {
      cp_cli_error ("weights fetch", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  if (!force)
    {
      g_autoptr (CpWeightsInfo) usable = cp_weights_find_usable (NULL);
      if (usable != NULL)
        {
          printf ("ImageNet weights are already here: %s (%s); --force downloads again\n",
                  usable->path, cp_weights_source_to_string (usable->source));
          return CP_EXIT_OK;
        }
    }

  /* The download runs on a worker thread; this one prints progress and
   * turns Ctrl-C into a cancel, which removes the partial file. */
  loop = g_main_loop_new (NULL, FALSE);
  cancellable = g_cancellable_new ();
  f.loop = loop;
  f.cancellable = cancellable;
  f.tty = isatty (STDOUT_FILENO);
  f.url = url != NULL ? url : cp_weights_default_url ();
  sigint = g_unix_signal_add (SIGINT, on_sigint, &f);
  cp_weights_fetch_async (f.url, on_progress, &f, NULL, cancellable, on_fetched, &f);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  if (f.tty && f.last_len)
    printf ("\n");

  if (f.dest != NULL)
    {
      g_autoptr (CpWeightsInfo) info = cp_weights_check (f.dest, CP_WEIGHTS_SOURCE_CUTPASTE, NULL);
      printf ("saved %s (sha256 %s)\n", f.dest, info->sha256 ? info->sha256 : "?");
      status = CP_EXIT_OK;
    }
  else if (g_error_matches (f.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      cp_cli_error ("weights fetch", "interrupted; nothing was written to the cache");
      status = CP_EXIT_FAILED;
    }
  else
    {
      cp_cli_error ("weights fetch", "%s", f.error->message);
      status = CP_EXIT_FAILED;
    }
  g_free (f.dest);
  g_clear_error (&f.error);
  return status;
}

int
cp_cmd_weights (int argc, char **argv)
{
  if (argc < 2)
    {
      print_usage (stderr);
      return CP_EXIT_USAGE;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return CP_EXIT_OK;
    }
  if (strcmp (argv[1], "status") == 0)
    return cmd_status (argc - 1, argv + 1);
  if (strcmp (argv[1], "import") == 0)
    return cmd_import (argc - 1, argv + 1);
  if (strcmp (argv[1], "fetch") == 0)
    return cmd_fetch (argc - 1, argv + 1);
  cp_cli_error ("weights", "unknown subcommand '%s' (expected status, import or fetch)", argv[1]);
  return CP_EXIT_USAGE;
}
