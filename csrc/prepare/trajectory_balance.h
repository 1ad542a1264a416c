// The one preparation of a trajectory_balance(_backward) call, shared by the CPU kernel
// (csrc/cpu/trajectory_balance.cpp) and the CUDA binding
// (csrc/cuda/trajectory_balance_binding.cpp): check the arguments, make the inputs contiguous,
// allocate the outputs, and hand the kernels a params struct of raw pointers
// (ads_bench/trajectory_balance_params.h). The *Args structs own the tensors the pointers point
// into, so they must outlive the kernel call.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

#include "ads_bench/trajectory_balance_params.h"

namespace ads_bench {

// The contiguous inputs both directions read: B trajectories of T steps in D dimensions.
struct TbInputs {
  at::Tensor states;  // [B, T+1, D]
  at::Tensor fwd_mean, fwd_log_var, bwd_mean, bwd_log_var;  // [B, T, D]
  std::optional<at::Tensor> log_z;  // 0-dim; None for VarGrad
  at::Tensor step_mask;             // [T] bool
  int64_t batch;
  int64_t steps;
  int64_t dim;

  template <typename T>
  void fill(TbParams<T>& p) const {
    p.states = states.const_data_ptr<T>();
    p.fwd_mean = fwd_mean.const_data_ptr<T>();
    p.fwd_log_var = fwd_log_var.const_data_ptr<T>();
    p.bwd_mean = bwd_mean.const_data_ptr<T>();
    p.bwd_log_var = bwd_log_var.const_data_ptr<T>();
    p.log_z = log_z.has_value() ? log_z->const_data_ptr<T>() : nullptr;
    p.step_mask = step_mask.const_data_ptr<bool>();
    p.batch = batch;
    p.steps = steps;
    p.dim = dim;
  }
};

struct TbFwdArgs {
  TbInputs in;
  at::Tensor log_reward;  // [B], contiguous
  at::Tensor loss;        // 0-dim
  at::Tensor log_w;       // [B]

  template <typename T>
  TbFwdParams<T> params() const {
    TbFwdParams<T> p;
    in.fill(p);
    p.log_reward = log_reward.const_data_ptr<T>();
    p.loss = loss.mutable_data_ptr<T>();
    p.log_w = log_w.mutable_data_ptr<T>();
    return p;
  }

  std::tuple<at::Tensor, at::Tensor> outputs() const { return {loss, log_w}; }
};

struct TbBwdArgs {
  TbInputs in;
  at::Tensor grad_loss;   // 0-dim
  at::Tensor grad_log_w;  // [B], contiguous
  at::Tensor log_w;       // [B], contiguous
  at::Tensor grad_states, grad_fwd_mean, grad_fwd_log_var, grad_bwd_mean, grad_bwd_log_var;
  at::Tensor grad_log_reward;  // [B]
  at::Tensor grad_log_z;       // 0-dim

  template <typename T>
  TbBwdParams<T> params() const {
    TbBwdParams<T> p;
    in.fill(p);
    p.grad_loss = grad_loss.const_data_ptr<T>();
    p.grad_log_w = grad_log_w.const_data_ptr<T>();
    p.log_w = log_w.const_data_ptr<T>();
    p.grad_states = grad_states.mutable_data_ptr<T>();
    p.grad_fwd_mean = grad_fwd_mean.mutable_data_ptr<T>();
    p.grad_fwd_log_var = grad_fwd_log_var.mutable_data_ptr<T>();
    p.grad_bwd_mean = grad_bwd_mean.mutable_data_ptr<T>();
    p.grad_bwd_log_var = grad_bwd_log_var.mutable_data_ptr<T>();
    p.grad_log_reward = grad_log_reward.mutable_data_ptr<T>();
    p.grad_log_z = grad_log_z.mutable_data_ptr<T>();
    return p;
  }

  std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
  outputs() const {
    return {grad_states,      grad_fwd_mean,   grad_fwd_log_var, grad_bwd_mean,
            grad_bwd_log_var, grad_log_reward, grad_log_z};
  }
};

// trajectory_balance(states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_reward, log_z,
// step_mask) for the `kernel` backend (CPU or CUDA).
TbFwdArgs prepare_trajectory_balance(const at::Tensor& states, const at::Tensor& fwd_mean,
                                     const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                                     const at::Tensor& bwd_log_var, const at::Tensor& log_reward,
                                     const std::optional<at::Tensor>& log_z,
                                     const at::Tensor& step_mask, c10::DeviceType kernel);

// trajectory_balance_backward(grad_loss, grad_log_w, states, fwd_mean, fwd_log_var, bwd_mean,
// bwd_log_var, log_w, log_z, step_mask) for the `kernel` backend.
TbBwdArgs prepare_trajectory_balance_backward(
    const at::Tensor& grad_loss, const at::Tensor& grad_log_w, const at::Tensor& states,
    const at::Tensor& fwd_mean, const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
    const at::Tensor& bwd_log_var, const at::Tensor& log_w, const std::optional<at::Tensor>& log_z,
    const at::Tensor& step_mask, c10::DeviceType kernel);

}  // namespace ads_bench
