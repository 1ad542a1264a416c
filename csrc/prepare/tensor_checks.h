// Argument checks shared by the preparations of every op (csrc/prepare/*.cpp): they own the torch
// types, the kernels do not. Messages name the argument and what was wrong, so a bad call fails
// here, not inside a kernel.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace ads_bench {

inline void check_same_shape_dtype_device(const char* op, const at::Tensor& ref,
                                          const char* ref_name, const at::Tensor& t,
                                          const char* name) {
  TORCH_CHECK(t.sizes() == ref.sizes(), op, ": ", name, " has shape ", t.sizes(), " but ", ref_name,
              " has shape ", ref.sizes(), "; they must match");
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": ", name, " has dtype ", t.scalar_type(),
              " but ", ref_name, " has dtype ", ref.scalar_type(), "; they must match");
  TORCH_CHECK(t.device() == ref.device(), op, ": ", name, " is on ", t.device(), " but ", ref_name,
              " is on ", ref.device(), "; they must be on one device");
}

// The inputs live where the kernel about to run them does (kernel: CPU or CUDA).
inline void check_kernel_device(const char* op, const at::Tensor& t, c10::DeviceType kernel) {
  TORCH_CHECK(t.device().type() == kernel, op, ": ", kernel, " kernel called with a ", t.device(),
              " tensor");
}

}  // namespace ads_bench
