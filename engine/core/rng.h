/* rng.h: the one seeded random generator every random draw comes from.
 *
 * xoshiro256** seeded through splitmix64: fast, good statistics, and the
 * same sequence on every platform, so a seed reproduces a CPU run exactly.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  uint64_t s[4];
} CpRng;

void     cp_rng_seed        (CpRng *rng, uint64_t seed);
uint64_t cp_rng_next_u64    (CpRng *rng);
uint32_t cp_rng_next_u32    (CpRng *rng);
/* Uniform double in [0, 1). */
double   cp_rng_uniform     (CpRng *rng);
/* Uniform double in [low, high). */
double   cp_rng_uniform_range (CpRng *rng, double low, double high);
/* Uniform integer in [low, high] (both inclusive); low <= high. */
int64_t  cp_rng_int_range   (CpRng *rng, int64_t low, int64_t high);
/* Standard normal (Box-Muller, no cached second value, so the stream
 * position depends only on the number of calls). */
double   cp_rng_normal      (CpRng *rng);
/* Derives an independent generator (for worker threads) from @rng. */
void     cp_rng_split       (CpRng *rng, CpRng *child);

#ifdef __cplusplus
}
#endif
