/* fuzz-common.h: what every fuzz target shares.
 *
 * Each target defines LLVMFuzzerTestOneInput().  Built with
 * -fsanitize=fuzzer (build-aux/fuzz.sh) libFuzzer supplies main(); built
 * for `meson test`, replay-main.c supplies one that feeds every file of a
 * corpus folder to it, so CI replays the interesting inputs without
 * libFuzzer.  A target must not leak, must not keep state that changes how
 * the next input is handled, and calls abort() when an invariant of the
 * code under test is broken (a crash is how a fuzzer reports a finding).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                  \
  do {                                                                     \
    if (!(cond))                                                           \
      {                                                                    \
        fprintf (stderr, "%s:%d: invariant broken: %s\n", __FILE__,        \
                 __LINE__, #cond);                                         \
        abort ();                                                          \
      }                                                                    \
  } while (0)
