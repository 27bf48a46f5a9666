/* cmd-synth.c: `cutpaste synth`, a synthetic MVTec-layout dataset. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "commands.h"
#include "data/image.h"
#include "data/synth.h"

static gboolean
print_progress (const char *category,
                int         done,
                int         total,
                gpointer    user_data)
{
  gboolean *tty = user_data;

  /* A redrawn line on a terminal; one line per category in a log. */
  if (*tty)
    fprintf (stderr, "\r%s: %d/%d images", category, done, total);
  if (done == total)
    fprintf (stderr, "%s%s: %d images\n", *tty ? "\r" : "", category, total);
  return TRUE;
}

int
cp_cmd_synth (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out_dir = NULL;
  g_autofree char *categories = NULL;
  g_auto (GStrv) category_list = NULL;
  gint64 seed = 1;
  CpSynthOptions options;
  gboolean force = FALSE, tty;
  int size, n_train, n_test_good, n_test_defect;
  g_autofree char *known = g_strjoinv (", ", (char **) cp_synth_categories ());
  g_autofree char *description = NULL;

  cp_synth_options_init (&options);
  size = options.size;
  n_train = options.n_train;
  n_test_good = options.n_test_good;
  n_test_defect = options.n_test_defect;

  {
    GOptionEntry entries[] = {
      { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir, "Write the dataset into DIR (required)", "DIR" },
      { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "N" },
      { "categories", 'c', 0, G_OPTION_ARG_STRING, &categories, "Comma-separated categories (default: all)", "A,B" },
      { "size", 0, 0, G_OPTION_ARG_INT, &size, "Image side in pixels (default 256)", "S" },
      { "train", 0, 0, G_OPTION_ARG_INT, &n_train, "Training images per category (default 80)", "N" },
      { "test-good", 0, 0, G_OPTION_ARG_INT, &n_test_good, "Good test images per category (default 20)", "N" },
      { "test-defect", 0, 0, G_OPTION_ARG_INT, &n_test_defect, "Test images per defect type (default 10)", "N" },
      { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace existing non-empty category folders", NULL },
      { NULL }
    };

    /* Usage lines read "cutpaste synth", not the bare argv[0] "synth". */
    g_set_prgname ("cutpaste synth");
    context = g_option_context_new ("--out DIR - write a synthetic MVTec-layout dataset");
    g_option_context_add_main_entries (context, entries, NULL);
    description = g_strdup_printf ("Categories: %s.\n"
                                   "Each category gets train/good, test/good, test/<defect> and "
                                   "ground_truth/<defect>/<name>_mask.png.\n"
                                   "The same seed and options give byte-identical files.\n", known);
    g_option_context_set_description (context, description);
    if (!g_option_context_parse (context, &argc, &argv, &error))
      {
        fprintf (stderr, "cutpaste synth: %s\n", error->message);
        return 2;
      }
  }
  if (argc > 1)
    {
      fprintf (stderr, "cutpaste synth: unexpected argument '%s'\n", argv[1]);
      return 2;
    }
  if (out_dir == NULL)
    {
      fprintf (stderr, "cutpaste synth: --out DIR is required\n");
      return 2;
    }
  if (seed < 0)
    {
      fprintf (stderr, "cutpaste synth: --seed must be >= 0\n");
      return 2;
    }
  if (categories != NULL)
    {
      category_list = g_strsplit (categories, ",", -1);
      for (int i = 0; category_list[i] != NULL; i++)
        {
          g_strstrip (category_list[i]);
          if (category_list[i][0] == '\0'
              || !g_strv_contains (cp_synth_categories (), category_list[i]))
            {
              fprintf (stderr, "cutpaste synth: unknown category '%s' (known: %s)\n",
                       category_list[i], known);
              return 2;
            }
        }
      options.categories = (const char * const *) category_list;
    }

  options.seed = (guint64) seed;
  options.size = size;
  options.n_train = n_train;
  options.n_test_good = n_test_good;
  options.n_test_defect = n_test_defect;
  options.force = force;

  tty = isatty (fileno (stderr));
  if (!cp_synth_write (out_dir, &options, print_progress, &tty, &error))
    {
      if (tty)
        fputc ('\n', stderr);
      fprintf (stderr, "cutpaste synth: %s\n", error->message);
      /* Out-of-range sizes and counts are usage errors, not failures. */
      return g_error_matches (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID) ? 2 : 1;
    }
  printf ("wrote %s\n", out_dir);
  return 0;
}
