/* cmd-train.c: placeholder until the 'train' command lands (owner replaces it). */
#include <stdio.h>

#include "commands.h"

int
cp_cmd_train (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "cutpaste train: not implemented yet\n");
  return 1;
}
