/* bench-clock.h: the clocks the benchmarks under tests/ read (not tests:
 * they print figures, never assert on time). */
#pragma once

#include <time.h>

/* Wall-clock seconds from an arbitrary origin. */
static inline double
bench_wall_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (all threads): on a shared machine,
 * work per CPU-second is steadier than work per wall-second. */
static inline double
bench_cpu_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
