// Checks and preparation of trajectory_balance(_backward) calls (see trajectory_balance.h).
// Messages name the argument, what was expected and what was given.
#include "trajectory_balance.h"

#include <c10/util/Exception.h>

#include <utility>
#include <vector>

#include "tensor_checks.h"

namespace ads_bench {
namespace {

// Sizes of a trajectory batch: B trajectories of T steps in D dimensions.
struct TbSizes {
  int64_t batch;
  int64_t steps;
  int64_t dim;
};

void check_tb_same_dtype_device(const char* op, const at::Tensor& states, const at::Tensor& t,
                                const char* name) {
  TORCH_CHECK(t.scalar_type() == states.scalar_type(), op, ": ", name, " has dtype ",
              t.scalar_type(), " but states has dtype ", states.scalar_type(), "; they must match");
  TORCH_CHECK(t.device() == states.device(), op, ": ", name, " is on ", t.device(),
              " but states is on ", states.device(), "; they must be on one device");
}

TbSizes check_tb_inputs(const char* op, const at::Tensor& states, const at::Tensor& fwd_mean,
                        const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                        const at::Tensor& bwd_log_var, const std::optional<at::Tensor>& log_z,
                        const at::Tensor& step_mask) {
  TORCH_CHECK(states.dim() == 3 && states.size(1) >= 1, op,
              ": states must have shape [B, T+1, D] with T+1 >= 1, got ", states.sizes());
  TORCH_CHECK(states.scalar_type() == at::kFloat || states.scalar_type() == at::kDouble, op,
              ": the fused kernel supports float32 and float64, got ", states.scalar_type());
  const TbSizes sz{states.size(0), states.size(1) - 1, states.size(2)};
  const std::vector<int64_t> params{sz.batch, sz.steps, sz.dim};
  const std::pair<const at::Tensor*, const char*> param_args[] = {
      {&fwd_mean, "fwd_mean"},
      {&fwd_log_var, "fwd_log_var"},
      {&bwd_mean, "bwd_mean"},
      {&bwd_log_var, "bwd_log_var"}};
  for (const auto& [t, name] : param_args) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef(params), op, ": ", name, " has shape ", t->sizes(),
                " but expected [B, T, D] = ", at::IntArrayRef(params), " from states of shape ",
                states.sizes());
    check_tb_same_dtype_device(op, states, *t, name);
  }
  if (log_z.has_value()) {
    TORCH_CHECK(log_z->dim() == 0, op, ": log_z must be a 0-dim tensor, got shape ",
                log_z->sizes());
    check_tb_same_dtype_device(op, states, *log_z, "log_z");
  }
  TORCH_CHECK(step_mask.scalar_type() == at::kBool, op, ": step_mask must be a bool tensor, got ",
              step_mask.scalar_type());
  TORCH_CHECK(step_mask.dim() == 1 && step_mask.size(0) == sz.steps, op,
              ": step_mask has shape ", step_mask.sizes(), " but expected [T] = [", sz.steps, "]");
  TORCH_CHECK(step_mask.device() == states.device(), op, ": step_mask is on ", step_mask.device(),
              " but states is on ", states.device(), "; they must be on one device");
  return sz;
}

void check_tb_batch_vector(const char* op, const at::Tensor& states, const at::Tensor& t,
                           const char* name) {
  TORCH_CHECK(t.dim() == 1 && t.size(0) == states.size(0), op, ": ", name, " has shape ", t.sizes(),
              " but expected [B] = [", states.size(0), "]");
  check_tb_same_dtype_device(op, states, t, name);
}

void check_tb_scalar(const char* op, const at::Tensor& states, const at::Tensor& t,
                     const char* name) {
  TORCH_CHECK(t.dim() == 0, op, ": ", name, " must be a 0-dim tensor, got shape ", t.sizes());
  check_tb_same_dtype_device(op, states, t, name);
}

// Called once every argument is checked.
TbInputs contiguous_inputs(const TbSizes& sz, const at::Tensor& states, const at::Tensor& fwd_mean,
                           const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                           const at::Tensor& bwd_log_var, const std::optional<at::Tensor>& log_z,
                           const at::Tensor& step_mask) {
  return {states.contiguous(),   fwd_mean.contiguous(),    fwd_log_var.contiguous(),
          bwd_mean.contiguous(), bwd_log_var.contiguous(), log_z,
          step_mask.contiguous(), sz.batch,                 sz.steps,
          sz.dim};
}

}  // namespace

TbFwdArgs prepare_trajectory_balance(const at::Tensor& states, const at::Tensor& fwd_mean,
                                     const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                                     const at::Tensor& bwd_log_var, const at::Tensor& log_reward,
                                     const std::optional<at::Tensor>& log_z,
                                     const at::Tensor& step_mask, c10::DeviceType kernel) {
  const char* op = "trajectory_balance";
  const TbSizes sz =
      check_tb_inputs(op, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_z, step_mask);
  check_tb_batch_vector(op, states, log_reward, "log_reward");
  check_kernel_device(op, states, kernel);
  return {contiguous_inputs(sz, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_z,
                            step_mask),
          log_reward.contiguous(), at::empty({}, states.options()),
          at::empty({sz.batch}, states.options())};
}

TbBwdArgs prepare_trajectory_balance_backward(
    const at::Tensor& grad_loss, const at::Tensor& grad_log_w, const at::Tensor& states,
    const at::Tensor& fwd_mean, const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
    const at::Tensor& bwd_log_var, const at::Tensor& log_w, const std::optional<at::Tensor>& log_z,
    const at::Tensor& step_mask, c10::DeviceType kernel) {
  const char* op = "trajectory_balance_backward";
  const TbSizes sz =
      check_tb_inputs(op, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_z, step_mask);
  check_tb_scalar(op, states, grad_loss, "grad_loss");
  check_tb_batch_vector(op, states, grad_log_w, "grad_log_w");
  check_tb_batch_vector(op, states, log_w, "log_w");
  check_kernel_device(op, states, kernel);
  TbInputs in = contiguous_inputs(sz, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_z,
                                  step_mask);
  const auto params = [&] { return at::empty_like(in.fwd_mean); };
  auto grad_states = at::empty_like(in.states);
  auto grad_fwd_mean = params();
  auto grad_fwd_log_var = params();
  auto grad_bwd_mean = params();
  auto grad_bwd_log_var = params();
  return {std::move(in),
          grad_loss,
          grad_log_w.contiguous(),
          log_w.contiguous(),
          grad_states,
          grad_fwd_mean,
          grad_fwd_log_var,
          grad_bwd_mean,
          grad_bwd_log_var,
          at::empty({sz.batch}, states.options()),
          at::empty({}, states.options())};
}

}  // namespace ads_bench
