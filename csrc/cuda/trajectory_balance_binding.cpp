// CUDA binding of ads_bench::trajectory_balance: the op's preparation
// (csrc/prepare/trajectory_balance.h) checks the at::Tensor arguments and fills the params struct;
// this file launches the kernels of trajectory_balance.cu with it on the current stream. Scalars
// (log_z, grad_loss) stay on the device and are read by the kernels: no host synchronisation.
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <optional>

#include "../prepare/trajectory_balance.h"
#include "binding.h"
#include "trajectory_balance_cuda.h"

namespace ads_bench {
namespace {

std::tuple<at::Tensor, at::Tensor> trajectory_balance_cuda(
    const at::Tensor& states, const at::Tensor& fwd_mean, const at::Tensor& fwd_log_var,
    const at::Tensor& bwd_mean, const at::Tensor& bwd_log_var, const at::Tensor& log_reward,
    const std::optional<at::Tensor>& log_z, const at::Tensor& step_mask) {
  const auto args = prepare_trajectory_balance(states, fwd_mean, fwd_log_var, bwd_mean,
                                               bwd_log_var, log_reward, log_z, step_mask,
                                               at::kCUDA);
  const c10::cuda::CUDAGuard guard(states.device());
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "trajectory_balance_cuda", [&] {
    check_launch(launch_trajectory_balance_fwd(args.params<scalar_t>(), current_stream()),
                 "trajectory_balance");
  });
  return args.outputs();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
trajectory_balance_backward_cuda(const at::Tensor& grad_loss, const at::Tensor& grad_log_w,
                                 const at::Tensor& states, const at::Tensor& fwd_mean,
                                 const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                                 const at::Tensor& bwd_log_var, const at::Tensor& log_w,
                                 const std::optional<at::Tensor>& log_z,
                                 const at::Tensor& step_mask) {
  const auto args = prepare_trajectory_balance_backward(grad_loss, grad_log_w, states, fwd_mean,
                                                        fwd_log_var, bwd_mean, bwd_log_var, log_w,
                                                        log_z, step_mask, at::kCUDA);
  const c10::cuda::CUDAGuard guard(states.device());
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "trajectory_balance_backward_cuda", [&] {
    check_launch(launch_trajectory_balance_bwd(args.params<scalar_t>(), current_stream()),
                 "trajectory_balance_backward");
  });
  return args.outputs();
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CUDA, m) {
  m.impl("trajectory_balance", &trajectory_balance_cuda);
  m.impl("trajectory_balance_backward", &trajectory_balance_backward_cuda);
}

}  // namespace ads_bench
