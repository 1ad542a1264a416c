// Checks and preparation of gaussian_logprob(_backward) calls (see gaussian_logprob.h).
#include "gaussian_logprob.h"

#include <c10/util/Exception.h>
#include <c10/util/accumulate.h>

#include <vector>

#include "tensor_checks.h"

namespace ads_bench {
namespace {

void check_inputs(const char* op, const at::Tensor& x, const at::Tensor& mean,
                  const at::Tensor& log_var) {
  TORCH_CHECK(x.dim() >= 1, op, ": x must have at least one dimension [..., D], got a scalar");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": the fused kernel supports float32 and float64, got ", x.scalar_type());
  check_same_shape_dtype_device(op, x, "x", mean, "mean");
  check_same_shape_dtype_device(op, x, "x", log_var, "log_var");
}

std::vector<int64_t> leading_shape(const at::Tensor& x) {
  auto sizes = x.sizes().vec();
  sizes.pop_back();
  return sizes;
}

void check_grad(const char* op, const at::Tensor& grad, const at::Tensor& x) {
  TORCH_CHECK(grad.sizes() == at::IntArrayRef(leading_shape(x)), op, ": grad has shape ",
              grad.sizes(), " but x has shape ", x.sizes(), "; expected x.shape[:-1]");
  TORCH_CHECK(grad.scalar_type() == x.scalar_type(), op, ": grad has dtype ", grad.scalar_type(),
              " but x has dtype ", x.scalar_type());
  TORCH_CHECK(grad.device() == x.device(), op, ": grad is on ", grad.device(), " but x is on ",
              x.device());
}

// Called once every argument is checked.
GaussianInputs contiguous_inputs(const at::Tensor& x, const at::Tensor& mean,
                                 const at::Tensor& log_var) {
  const int64_t dim = x.size(-1);
  const int64_t rows = c10::multiply_integers(leading_shape(x));
  return {x.contiguous(), mean.contiguous(), log_var.contiguous(), rows, dim};
}

}  // namespace

GaussianFwdArgs prepare_gaussian_logprob(const at::Tensor& x, const at::Tensor& mean,
                                         const at::Tensor& log_var, c10::DeviceType kernel) {
  const char* op = "gaussian_logprob";
  check_inputs(op, x, mean, log_var);
  check_kernel_device(op, x, kernel);
  return {contiguous_inputs(x, mean, log_var), at::empty(leading_shape(x), x.options())};
}

GaussianBwdArgs prepare_gaussian_logprob_backward(const at::Tensor& grad, const at::Tensor& x,
                                                  const at::Tensor& mean,
                                                  const at::Tensor& log_var,
                                                  c10::DeviceType kernel) {
  const char* op = "gaussian_logprob_backward";
  check_inputs(op, x, mean, log_var);
  check_grad(op, grad, x);
  check_kernel_device(op, x, kernel);
  GaussianInputs in = contiguous_inputs(x, mean, log_var);
  auto grad_x = at::empty_like(in.x);
  auto grad_mean = at::empty_like(in.x);
  auto grad_log_var = at::empty_like(in.x);
  return {std::move(in), grad.contiguous(), grad_x, grad_mean, grad_log_var};
}

}  // namespace ads_bench
