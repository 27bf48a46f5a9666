/* rng.c: xoshiro256** with splitmix64 seeding. */
#include "rng.h"

#include <math.h>

static uint64_t
splitmix64 (uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline uint64_t
rotl (uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

void
cp_rng_seed (CpRng *rng, uint64_t seed)
{
  uint64_t state = seed;

  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&state);
}

uint64_t
cp_rng_next_u64 (CpRng *rng)
{
  uint64_t *s = rng->s;
  uint64_t result = rotl (s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

uint32_t
cp_rng_next_u32 (CpRng *rng)
{
  return (uint32_t) (cp_rng_next_u64 (rng) >> 32);
}

double
cp_rng_uniform (CpRng *rng)
{
  return (double) (cp_rng_next_u64 (rng) >> 11) * 0x1.0p-53;
}

double
cp_rng_uniform_range (CpRng *rng, double low, double high)
{
  return low + (high - low) * cp_rng_uniform (rng);
}

int64_t
cp_rng_int_range (CpRng *rng, int64_t low, int64_t high)
{
  uint64_t span = (uint64_t) (high - low) + 1;
  uint64_t limit, x;

  if (span == 0)               /* the full 64-bit range */
    return (int64_t) cp_rng_next_u64 (rng);
  /* Rejection sampling: no modulo bias. */
  limit = UINT64_MAX - UINT64_MAX % span;
  do
    x = cp_rng_next_u64 (rng);
  while (x >= limit);
  return low + (int64_t) (x % span);
}

double
cp_rng_normal (CpRng *rng)
{
  double u1 = 1.0 - cp_rng_uniform (rng);   /* (0, 1]: log is finite */
  double u2 = cp_rng_uniform (rng);

  return sqrt (-2.0 * log (u1)) * cos (2.0 * M_PI * u2);
}

void
cp_rng_split (CpRng *rng, CpRng *child)
{
  cp_rng_seed (child, cp_rng_next_u64 (rng));
}
