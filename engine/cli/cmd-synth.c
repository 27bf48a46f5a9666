/* cmd-synth.c: placeholder until the 'synth' command lands (owner replaces it). */
#include <stdio.h>

#include "commands.h"

int
cp_cmd_synth (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "cutpaste synth: not implemented yet\n");
  return 1;
}
