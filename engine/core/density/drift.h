/* drift.h: has the score distribution of recent good parts moved away from
 * the reference scores of good images?
 *
 * The rule (README "On the line"): the scores of the last W parts that
 * passed (W = 50 by default) are compared with the reference scores (the
 * held-out good scores a model stores, or cross-validated train/good
 * scores) by a two-sided Mann-Whitney rank-sum test.  Passed parts are
 * those at or below the threshold, so the reference is cut at the same
 * threshold first: both samples then come from the same distribution as
 * long as nothing drifts, whatever the threshold.  Ranks use mid-ranks for
 * ties; the p-value uses the normal approximation of U with the tie
 * correction and a continuity correction of 1/2.
 *
 * A warning starts when p < alpha (0.0001) and, to keep one borderline
 * window from switching it on and off part after part, ends only when
 * p >= alpha_clear (0.01).  No verdict (CP_DRIFT_UNKNOWN) is given with
 * fewer than min_recent (20) recent scores or fewer than 5 reference
 * scores under the threshold.
 *
 * The medians and 90th percentiles (numpy "linear" quantiles) of both
 * samples and the fraction of recent scores above the reference's 90th
 * percentile (0.1 expected) are reported for people to read; the decision
 * is the test's.
 */
#pragma once

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_DRIFT_DEFAULT_WINDOW      50
#define CP_DRIFT_DEFAULT_MIN_RECENT  20
#define CP_DRIFT_DEFAULT_ALPHA       0.0001
#define CP_DRIFT_DEFAULT_ALPHA_CLEAR 0.01
#define CP_DRIFT_MIN_REFERENCE       5

typedef enum
{
  CP_DRIFT_UNKNOWN,   /* too few scores to tell */
  CP_DRIFT_STEADY,    /* no evidence of a shift */
  CP_DRIFT_HIGHER,    /* recent good parts score higher than the reference */
  CP_DRIFT_LOWER,     /* recent good parts score lower than the reference */
} CpDriftState;

typedef struct
{
  int    window;        /* the last @window recent scores are tested */
  int    min_recent;    /* fewer recent scores give CP_DRIFT_UNKNOWN */
  double alpha;         /* a warning starts below this p-value */
  double alpha_clear;   /* an ongoing warning ends at or above this p-value */
} CpDriftOptions;

typedef struct
{
  CpDriftState state;
  int          n_recent;            /* recent scores tested (<= window) */
  int          n_reference;         /* reference scores at or below the threshold */
  double       recent_median;
  double       reference_median;
  double       recent_upper;        /* 90th percentiles */
  double       reference_upper;
  double       above_reference_upper; /* fraction of recent scores > reference_upper */
  double       z;                   /* > 0: recent scores rank higher */
  double       p_value;             /* two-sided; NaN when state is UNKNOWN */
} CpDriftResult;

void        cp_drift_options_init (CpDriftOptions *options);

/* "unknown", "steady", "higher", "lower". */
const char *cp_drift_state_to_string (CpDriftState state);

/* Tests the last options->window of the @n_recent scores in @recent
 * (oldest first; scores above @threshold are ignored, they did not pass)
 * against the @n_reference scores in @reference at or below @threshold
 * (NaN: no cut).  @previous is the state the last call returned (it
 * decides between alpha and alpha_clear); CP_DRIFT_UNKNOWN at the start.
 * @options may be NULL (defaults).  Non-finite scores are an error. */
CpStatus    cp_drift_test (const double         *reference,
                           int                   n_reference,
                           const double         *recent,
                           int                   n_recent,
                           double                threshold,
                           CpDriftState          previous,
                           const CpDriftOptions *options,
                           CpDriftResult        *result,
                           CpError              *error);

#ifdef __cplusplus
}
#endif
