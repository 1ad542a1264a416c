// Argument checks shared by the CPU and CUDA bindings: they own the torch types, the kernels do not.
// Messages name the argument and what was wrong, so a bad call fails here, not inside a kernel.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace ads_bench {

inline void check_same_shape_dtype_device(const char* op, const at::Tensor& ref, const char* ref_name,
                                          const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.sizes() == ref.sizes(), op, ": ", name, " has shape ", t.sizes(), " but ", ref_name,
              " has shape ", ref.sizes(), "; they must match");
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": ", name, " has dtype ", t.scalar_type(),
              " but ", ref_name, " has dtype ", ref.scalar_type(), "; they must match");
  TORCH_CHECK(t.device() == ref.device(), op, ": ", name, " is on ", t.device(), " but ", ref_name,
              " is on ", ref.device(), "; they must be on one device");
}

inline void check_gaussian_inputs(const char* op, const at::Tensor& x, const at::Tensor& mean,
                                  const at::Tensor& log_var) {
  TORCH_CHECK(x.dim() >= 1, op, ": x must have at least one dimension [..., D], got a scalar");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, op,
              ": the fused kernel supports float32 and float64, got ", x.scalar_type());
  check_same_shape_dtype_device(op, x, "x", mean, "mean");
  check_same_shape_dtype_device(op, x, "x", log_var, "log_var");
}

inline std::vector<int64_t> leading_shape(const at::Tensor& x) {
  auto sizes = x.sizes().vec();
  sizes.pop_back();
  return sizes;
}

inline void check_gaussian_grad(const char* op, const at::Tensor& grad, const at::Tensor& x) {
  TORCH_CHECK(grad.sizes() == at::IntArrayRef(leading_shape(x)), op, ": grad has shape ",
              grad.sizes(), " but x has shape ", x.sizes(), "; expected x.shape[:-1]");
  TORCH_CHECK(grad.scalar_type() == x.scalar_type(), op, ": grad has dtype ", grad.scalar_type(),
              " but x has dtype ", x.scalar_type());
  TORCH_CHECK(grad.device() == x.device(), op, ": grad is on ", grad.device(), " but x is on ",
              x.device());
}

}  // namespace ads_bench
