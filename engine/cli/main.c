/* main.c: the `cutpaste` command line: dispatches to one file per command. */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct
{
  const char *name;
  int       (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "synth",   cp_cmd_synth,   "write a synthetic MVTec-layout dataset" },
  { "train",   cp_cmd_train,   "train CutPaste models, one per category" },
  { "eval",    cp_cmd_eval,    "score test images and report image AUROC" },
  { "predict", cp_cmd_predict, "score images with a trained model" },
#ifdef CP_HAVE_SERVE
  { "serve",   cp_cmd_serve,   "score images sent over HTTP (a service for line integration)" },
#endif
  { "threshold", cp_cmd_threshold, "show or set a model's pass/fail threshold" },
  { "weights", cp_cmd_weights, "find, import or download ImageNet weights" },
  { "watch",   cp_cmd_watch,   "score and record every image that arrives in a folder" },
  { "report",  cp_cmd_report,  "the shift report of a line database (PDF, CSV)" },
  { "refit",   cp_cmd_refit,   "add good images to a model and refit its Gaussian and threshold" },
  { "bench",   cp_cmd_bench,   "measure sgemm, forward and training-step speed" },
  { "export",  cp_cmd_export,  "write a trained model as an ONNX file" },
  { "bench-onnx", cp_cmd_bench_onnx, "our CPU inference against ONNX Runtime" },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: cutpaste COMMAND [OPTIONS...]\n\nCommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (out, "  %-10s  %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun 'cutpaste COMMAND --help' for the options of a command.\n");
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* Numbers in files and on the terminal always use '.' as decimal point. */
  setlocale (LC_NUMERIC, "C");

  if (argc < 2)
    {
      print_usage (stderr);
      return 2;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      print_usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("cutpaste %s\n", PACKAGE_VERSION);
      return 0;
    }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);

  fprintf (stderr, "cutpaste: unknown command '%s'\n\n", argv[1]);
  print_usage (stderr);
  return 2;
}
