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
#pragma once

#include "ads_bench/common.h"

namespace ads_bench {

// (G1) for one coordinate.
template <typename T>
ADS_HD T gaussian_logprob_term(T x, T mean, T log_var) {
  const T diff = x - mean;
  return T(-0.5) * (diff * diff * Math<T>::exp(-log_var) + log_var + T(kLog2Pi));
}

// (G2) for one coordinate, times the upstream gradient `grad` of the row's sum.
// The gradient with respect to the mean is the negative of `dx`.
template <typename T>
struct GaussianTermGrad {
  T dx;
  T dlog_var;
};

template <typename T>
ADS_HD GaussianTermGrad<T> gaussian_logprob_term_grad(T grad, T x, T mean, T log_var) {
  const T diff = x - mean;
  const T precision = Math<T>::exp(-log_var);
  GaussianTermGrad<T> out;
  out.dx = -grad * diff * precision;
  out.dlog_var = T(-0.5) * grad * (T(1) - diff * diff * precision);
  return out;
}

}  // namespace ads_bench
