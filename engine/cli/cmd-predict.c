/* cmd-predict.c: placeholder until the 'predict' command lands (owner replaces it). */
#include <stdio.h>

#include "commands.h"

int
cp_cmd_predict (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "cutpaste predict: not implemented yet\n");
  return 1;
}
