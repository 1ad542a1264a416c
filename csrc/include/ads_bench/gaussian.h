// Diagonal Gaussian log-density: the one formula behind every transition kernel of a diffusion sampler.
//
// SPEC section 2: generation and destruction kernels are diagonal Gaussians
//     p(y | x) = N(y; mean(x), diag(exp(log_var(x)))),
// so a transition's log-probability is a sum over the D coordinates of
//     term(y, m, v) = -1/2 * ((y - m)^2 * exp(-v) + v + log(2*pi)).                 (G1)
// Its partial derivatives, scaled by an upstream gradient g, are
//     d term / d y = -(y - m) * exp(-v),  d term / d m = -(d term / d y),
//     d term / d v = -1/2 * (1 - (y - m)^2 * exp(-v)).                               (G2)
// These functions are the single source of truth for (G1) and (G2); CPU and CUDA kernels both call them.
//
// Where exp(-v) overflows or underflows (float: v below ~ -88.7 or above ~ 104) the results are
// +-inf or NaN, and they are the same +-inf or NaN as those of the pure-PyTorch reference
// (ads_bench/ops/reference.py), which evaluates -1/2 * sum_d(...) and differentiates it with autograd:
// exp rounds as torch.exp does (exp_float), a row's total is rounded as the reference's sum is
// (gaussian_logprob_total), and G2 multiplies the same factors in the same order as the reference's
// autograd (so, e.g., a gradient is NaN exactly where the reference's has 0 * inf).
#pragma once

#include "ads_bench/common.h"

namespace ads_bench {

// (G1) for one coordinate.
template <typename T>
ADS_HD T gaussian_logprob_term(T x, T mean, T log_var) {
  const T diff = x - mean;
  return T(-0.5) * (diff * diff * Math<T>::exp(-log_var) + log_var + T(kLog2Pi));
}

// A row's value from the sum, in the accumulator type, of its D terms (G1). The reference computes
// -1/2 * (sum of the un-halved terms) in T, so its value is +-inf when that un-halved sum exceeds T's
// range even if half of it would not; rounding -2 * sum (exact in Acc) to T before halving does the
// same.
template <typename T>
ADS_HD T gaussian_logprob_total(Acc<T> sum) {
  return T(-0.5) * static_cast<T>(Acc<T>(-2) * sum);
}

// (G2) for one coordinate, times the upstream gradient `grad` of the row's sum.
// The gradient with respect to the mean is the negative of `dx`. With h = -grad / 2 (the gradient of
// the un-halved term) and p = exp(-v), the order of the reference's autograd:
//     dx = (h * p) * (2 * (y - m)),   dlog_var = h - (h * (y - m)^2) * p.
template <typename T>
struct GaussianTermGrad {
  T dx;
  T dlog_var;
};

template <typename T>
ADS_HD GaussianTermGrad<T> gaussian_logprob_term_grad(T grad, T x, T mean, T log_var) {
  const T diff = x - mean;
  const T precision = Math<T>::exp(-log_var);
  const T half_grad = grad * T(-0.5);
  GaussianTermGrad<T> out;
  out.dx = (half_grad * precision) * (T(2) * diff);
  out.dlog_var = half_grad - (half_grad * (diff * diff)) * precision;
  return out;
}

}  // namespace ads_bench
