/* schedule.c: cosine learning-rate decay. */
#include "schedule.h"

#include <math.h>

double
cp_lr_cosine (double base_lr, long step, long total_steps)
{
  if (total_steps <= 0)
    return base_lr;
  /* PyTorch's recursive form would swing back up past T_max; a training
   * run never goes there, so clamping is the useful meaning. */
  if (step < 0)
    step = 0;
  if (step > total_steps)
    step = total_steps;
  return 0.5 * base_lr * (1.0 + cos (M_PI * (double) step / (double) total_steps));
}
