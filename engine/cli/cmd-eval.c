/* cmd-eval.c: placeholder until the 'eval' command lands (owner replaces it). */
#include <stdio.h>

#include "commands.h"

int
cp_cmd_eval (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "cutpaste eval: not implemented yet\n");
  return 1;
}
