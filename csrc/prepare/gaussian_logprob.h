// The one preparation of a gaussian_logprob(_backward) call, shared by the CPU kernel
// (csrc/cpu/gaussian_logprob.cpp) and the CUDA binding (csrc/cuda/gaussian_logprob_binding.cpp):
// check the arguments, make the inputs contiguous, allocate the outputs, and hand the kernels a
// params struct of raw pointers (ads_bench/gaussian_params.h). The *Args structs own the tensors
// the pointers point into, so they must outlive the kernel call.
#pragma once

#include <ATen/ATen.h>

#include <tuple>

#include "ads_bench/gaussian_params.h"

namespace ads_bench {

// The contiguous inputs x, mean, log_var [..., D], viewed as [rows, dim].
struct GaussianInputs {
  at::Tensor x;
  at::Tensor mean;
  at::Tensor log_var;
  int64_t rows;
  int64_t dim;

  template <typename T>
  void fill(GaussianParams<T>& p) const {
    p.x = x.const_data_ptr<T>();
    p.mean = mean.const_data_ptr<T>();
    p.log_var = log_var.const_data_ptr<T>();
    p.rows = rows;
    p.dim = dim;
  }
};

struct GaussianFwdArgs {
  GaussianInputs in;
  at::Tensor out;  // [...]

  template <typename T>
  GaussianFwdParams<T> params() const {
    GaussianFwdParams<T> p;
    in.fill(p);
    p.out = out.mutable_data_ptr<T>();
    return p;
  }
};

struct GaussianBwdArgs {
  GaussianInputs in;
  at::Tensor grad;  // [...], contiguous
  at::Tensor grad_x, grad_mean, grad_log_var;

  template <typename T>
  GaussianBwdParams<T> params() const {
    GaussianBwdParams<T> p;
    in.fill(p);
    p.grad = grad.const_data_ptr<T>();
    p.grad_x = grad_x.mutable_data_ptr<T>();
    p.grad_mean = grad_mean.mutable_data_ptr<T>();
    p.grad_log_var = grad_log_var.mutable_data_ptr<T>();
    return p;
  }

  std::tuple<at::Tensor, at::Tensor, at::Tensor> outputs() const {
    return {grad_x, grad_mean, grad_log_var};
  }
};

// gaussian_logprob(x, mean, log_var) for the `kernel` backend (CPU or CUDA).
GaussianFwdArgs prepare_gaussian_logprob(const at::Tensor& x, const at::Tensor& mean,
                                         const at::Tensor& log_var, c10::DeviceType kernel);

// gaussian_logprob_backward(grad, x, mean, log_var) for the `kernel` backend.
GaussianBwdArgs prepare_gaussian_logprob_backward(const at::Tensor& grad, const at::Tensor& x,
                                                  const at::Tensor& mean,
                                                  const at::Tensor& log_var,
                                                  c10::DeviceType kernel);

}  // namespace ads_bench
