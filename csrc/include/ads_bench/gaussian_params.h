// Kernel parameters of ads_bench::gaussian_logprob(_backward): raw pointers and sizes, no torch
// types, so the CUDA kernels (csrc/cuda/gaussian_logprob.cu) compile with plain nvcc. One struct
// per direction, filled once by csrc/prepare/gaussian_logprob.cpp for the CPU kernel and the CUDA
// binding.
//
// Layout: every tensor contiguous; x, mean, log_var and the three input gradients [rows, dim] (rows
// is the product of the call's leading dimensions), out and grad [rows].
#pragma once

#include <stdint.h>

namespace ads_bench {

// The inputs both directions read.
template <typename T>
struct GaussianParams {
  const T* x;
  const T* mean;
  const T* log_var;
  int64_t rows;
  int64_t dim;
};

// Forward (G1 summed over each row): writes out[rows].
template <typename T>
struct GaussianFwdParams : GaussianParams<T> {
  T* out;
};

// Backward (G2 times the row's upstream gradient grad[rows]): writes grad_x, grad_mean and
// grad_log_var [rows, dim].
template <typename T>
struct GaussianBwdParams : GaussianParams<T> {
  const T* grad;
  T* grad_x;
  T* grad_mean;
  T* grad_log_var;
};

}  // namespace ads_bench
