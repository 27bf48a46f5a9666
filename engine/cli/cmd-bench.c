/* cmd-bench.c: placeholder until the 'bench' command lands (owner replaces it). */
#include <stdio.h>

#include "commands.h"

int
cp_cmd_bench (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "cutpaste bench: not implemented yet\n");
  return 1;
}
