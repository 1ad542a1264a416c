// Kernel parameters of ads_bench::trajectory_balance(_backward): raw pointers and sizes, no torch
// types, so the CUDA kernels (csrc/cuda/trajectory_balance.cu) compile with plain nvcc. One struct
// per direction, filled once by csrc/prepare/trajectory_balance.cpp for the CPU kernel and the CUDA
// binding.
//
// Layout: every tensor contiguous; states [batch, steps + 1, dim]; fwd_* and bwd_* [batch, steps,
// dim]; step_mask [steps]; log_reward, log_w, grad_log_w, grad_log_reward [batch]; log_z, loss,
// grad_loss, grad_log_z one value each. On CUDA every pointer is a device pointer (scalars too: the
// kernels read them, the host never synchronises).
#pragma once

#include <stdint.h>

namespace ads_bench {

// The inputs both directions read. log_z is nullptr for VarGrad (the baseline is the batch mean).
template <typename T>
struct TbParams {
  const T* states;
  const T* fwd_mean;
  const T* fwd_log_var;
  const T* bwd_mean;
  const T* bwd_log_var;
  const T* log_z;
  const bool* step_mask;
  int64_t batch;
  int64_t steps;
  int64_t dim;
};

// Forward (TB1, TB2): reads log_reward, writes loss and log_w.
template <typename T>
struct TbFwdParams : TbParams<T> {
  const T* log_reward;
  T* loss;
  T* log_w;
};

// Backward (TB3, TB4): reads the upstream gradients and the forward's log_w, writes the gradient of
// every input (grad_log_z is zero for VarGrad).
template <typename T>
struct TbBwdParams : TbParams<T> {
  const T* grad_loss;
  const T* grad_log_w;
  const T* log_w;
  T* grad_states;
  T* grad_fwd_mean;
  T* grad_fwd_log_var;
  T* grad_bwd_mean;
  T* grad_bwd_log_var;
  T* grad_log_reward;
  T* grad_log_z;
};

}  // namespace ads_bench
