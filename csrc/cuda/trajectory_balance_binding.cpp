// CUDA binding of ads_bench::trajectory_balance: owns the at::Tensor arguments, checks them, and hands
// raw pointers to the kernels of trajectory_balance.cu on the current stream. Scalars (log_z, grad_loss)
// stay on the device and are read by the kernels: no host synchronisation.
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <optional>

#include "../trajectory_balance_checks.h"
#include "binding.h"
#include "trajectory_balance_cuda.h"

namespace ads_bench {
namespace {

std::tuple<at::Tensor, at::Tensor> trajectory_balance_cuda(
    const at::Tensor& states, const at::Tensor& fwd_mean, const at::Tensor& fwd_log_var,
    const at::Tensor& bwd_mean, const at::Tensor& bwd_log_var, const at::Tensor& log_reward,
    const std::optional<at::Tensor>& log_z, const at::Tensor& step_mask) {
  const char* op = "trajectory_balance";
  const TbSizes sz =
      check_tb_inputs(op, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_z, step_mask);
  check_tb_batch_vector(op, states, log_reward, "log_reward");
  check_on_cuda(op, states);
  const c10::cuda::CUDAGuard guard(states.device());
  const auto xc = states.contiguous();
  const auto fmc = fwd_mean.contiguous();
  const auto fvc = fwd_log_var.contiguous();
  const auto bmc = bwd_mean.contiguous();
  const auto bvc = bwd_log_var.contiguous();
  const auto rc = log_reward.contiguous();
  const auto mc = step_mask.contiguous();
  auto loss = at::empty({}, states.options());
  auto log_w = at::empty({sz.batch}, states.options());
  const auto stream = current_stream();
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "trajectory_balance_cuda", [&] {
    using T = scalar_t;
    check_launch(
               launch_trajectory_balance_fwd<T>(
                   xc.const_data_ptr<T>(), fmc.const_data_ptr<T>(), fvc.const_data_ptr<T>(),
                   bmc.const_data_ptr<T>(), bvc.const_data_ptr<T>(), rc.const_data_ptr<T>(),
                   log_z.has_value() ? log_z->const_data_ptr<T>() : nullptr,
                   mc.const_data_ptr<bool>(), loss.mutable_data_ptr<T>(),
                   log_w.mutable_data_ptr<T>(), sz.batch, sz.steps, sz.dim, stream),
        op);
  });
  return {loss, log_w};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
trajectory_balance_backward_cuda(const at::Tensor& grad_loss, const at::Tensor& grad_log_w,
                                 const at::Tensor& states, const at::Tensor& fwd_mean,
                                 const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                                 const at::Tensor& bwd_log_var, const at::Tensor& log_w,
                                 const std::optional<at::Tensor>& log_z,
                                 const at::Tensor& step_mask) {
  const char* op = "trajectory_balance_backward";
  const TbSizes sz =
      check_tb_inputs(op, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_z, step_mask);
  check_tb_scalar(op, states, grad_loss, "grad_loss");
  check_tb_batch_vector(op, states, grad_log_w, "grad_log_w");
  check_tb_batch_vector(op, states, log_w, "log_w");
  check_on_cuda(op, states);
  const c10::cuda::CUDAGuard guard(states.device());
  const auto xc = states.contiguous();
  const auto fmc = fwd_mean.contiguous();
  const auto fvc = fwd_log_var.contiguous();
  const auto bmc = bwd_mean.contiguous();
  const auto bvc = bwd_log_var.contiguous();
  const auto gwc = grad_log_w.contiguous();
  const auto wc = log_w.contiguous();
  const auto mc = step_mask.contiguous();
  auto grad_states = at::empty_like(xc);
  auto grad_fwd_mean = at::empty_like(fmc);
  auto grad_fwd_log_var = at::empty_like(fmc);
  auto grad_bwd_mean = at::empty_like(fmc);
  auto grad_bwd_log_var = at::empty_like(fmc);
  auto grad_log_reward = at::empty({sz.batch}, states.options());
  auto grad_log_z = at::empty({}, states.options());
  const auto stream = current_stream();
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "trajectory_balance_backward_cuda", [&] {
    using T = scalar_t;
    check_launch(
               launch_trajectory_balance_bwd<T>(
                   grad_loss.const_data_ptr<T>(), gwc.const_data_ptr<T>(), xc.const_data_ptr<T>(),
                   fmc.const_data_ptr<T>(), fvc.const_data_ptr<T>(), bmc.const_data_ptr<T>(),
                   bvc.const_data_ptr<T>(), wc.const_data_ptr<T>(),
                   log_z.has_value() ? log_z->const_data_ptr<T>() : nullptr,
                   mc.const_data_ptr<bool>(), grad_states.mutable_data_ptr<T>(),
                   grad_fwd_mean.mutable_data_ptr<T>(), grad_fwd_log_var.mutable_data_ptr<T>(),
                   grad_bwd_mean.mutable_data_ptr<T>(), grad_bwd_log_var.mutable_data_ptr<T>(),
                   grad_log_reward.mutable_data_ptr<T>(), grad_log_z.mutable_data_ptr<T>(),
                   sz.batch, sz.steps, sz.dim, stream),
        op);
  });
  return {grad_states,      grad_fwd_mean,   grad_fwd_log_var, grad_bwd_mean,
          grad_bwd_log_var, grad_log_reward, grad_log_z};
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CUDA, m) {
  m.impl("trajectory_balance", &trajectory_balance_cuda);
  m.impl("trajectory_balance_backward", &trajectory_balance_backward_cuda);
}

}  // namespace ads_bench
