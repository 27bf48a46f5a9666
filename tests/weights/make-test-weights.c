/* make-test-weights.c: writes a valid ResNet-18 weights file (torchvision's
 * names, safetensors) for the command-line tests.
 *   make-test-weights OUT [SEED] */
#include <stdio.h>
#include <stdlib.h>

#include "weights-file.h"

int
main (int argc, char **argv)
{
  CpError error = { 0 };

  if (argc < 2)
    {
      fprintf (stderr, "usage: make-test-weights OUT [SEED]\n");
      return 2;
    }
  if (cp_test_write_resnet18_weights (argv[1], argc > 2 ? strtoull (argv[2], NULL, 10) : 1,
                                      &error) != CP_OK)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  return 0;
}
