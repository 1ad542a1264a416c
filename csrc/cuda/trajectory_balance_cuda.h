// Host-side entry points of the CUDA kernels in trajectory_balance.cu (raw pointers, contiguous data).
// Shapes: states [batch, steps + 1, dim]; fwd_* and bwd_* [batch, steps, dim]; step_mask [steps];
// log_reward, log_w, grad_log_w, grad_log_reward [batch]; log_z, loss, grad_loss, grad_log_z one value
// each (device pointers; log_z is nullptr for VarGrad).
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

namespace ads_bench {

template <typename T>
cudaError_t launch_trajectory_balance_fwd(const T* states, const T* fwd_mean, const T* fwd_log_var,
                                          const T* bwd_mean, const T* bwd_log_var,
                                          const T* log_reward, const T* log_z,
                                          const bool* step_mask, T* loss, T* log_w, int64_t batch,
                                          int64_t steps, int64_t dim, cudaStream_t stream);

template <typename T>
cudaError_t launch_trajectory_balance_bwd(const T* grad_loss, const T* grad_log_w, const T* states,
                                          const T* fwd_mean, const T* fwd_log_var,
                                          const T* bwd_mean, const T* bwd_log_var, const T* log_w,
                                          const T* log_z, const bool* step_mask, T* grad_states,
                                          T* grad_fwd_mean, T* grad_fwd_log_var, T* grad_bwd_mean,
                                          T* grad_bwd_log_var, T* grad_log_reward, T* grad_log_z,
                                          int64_t batch, int64_t steps, int64_t dim,
                                          cudaStream_t stream);

}  // namespace ads_bench
