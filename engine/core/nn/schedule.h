/* schedule.h: the learning-rate schedule of SPEC section 4. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Cosine annealing from @base_lr to 0 over @total_steps, as PyTorch's
 * CosineAnnealingLR with T_max = total_steps and eta_min = 0:
 * 0.5 * base_lr * (1 + cos (pi * step / total_steps)).  Step 0 gives
 * base_lr, step total_steps gives 0; steps outside [0, total_steps] are
 * clamped, and total_steps <= 0 gives base_lr. */
double cp_lr_cosine (double base_lr, long step, long total_steps);

#ifdef __cplusplus
}
#endif
