// Trajectory balance (TB) and VarGrad losses of a diffusion sampler, from the kernels' parameters.
//
// A batch of B trajectories x_{b,0..T} in R^D carries, per step t, the generation kernel's parameters
// (fwd_mean, fwd_log_var) of p(x_{t+1} | x_t) and the destruction kernel's (bwd_mean, bwd_log_var) of
// q(x_t | x_{t+1}); steps with keep_t false (deterministic destruction steps) have no destruction
// density and contribute exactly 0, whatever their parameters hold. With G1 of ads_bench/gaussian.h,
//     log w_b = log R_b + sum_{t,d} [ keep_t * G1(x_{b,t,d}; bwd) - G1(x_{b,t+1,d}; fwd) ]      (TB1)
//     loss    = 1/B * sum_b (log w_b - c)^2,   c = log Z (TB) or 1/B sum_b log w_b (VarGrad)    (TB2)
// Gradients. With upstream gradients grad_loss (scalar) and grad_log_w_b, the direct part of the loss's
// gradient is l_b = grad_loss * 2 (log w_b - c) / B, and d loss / d c = -sum_b l_b =: dc (the log Z
// gradient, for TB). For VarGrad, c = 1/B sum_b log w_b adds dc / B to every trajectory's gradient;
// that term is zero in exact arithmetic (sum_b (log w_b - c) = 0) but is kept, as the reference's
// autograd keeps it, so that one non-finite log w makes every gradient NaN exactly as there. Each
// trajectory's coefficient is
//     g_b = l_b + grad_log_w_b + [VarGrad] dc / B,                                              (TB3)
// which is also the gradient of log R_b; the per-coordinate gradients are G2 with upstream -g_b for the
// generation term (at x_{t+1}) and keep_t * g_b for the destruction term (at x_t).               (TB4)
// Sums over terms and trajectories accumulate in Acc<T> (double; ads_bench/common.h).
// These functions are the single source of truth for (TB1)-(TB4); CPU and CUDA kernels both call them.
#pragma once

#include "ads_bench/common.h"
#include "ads_bench/gaussian.h"

namespace ads_bench {

// (TB1) for one coordinate d of one step t: keep ? G1(x_prev; bwd) - G1(x_next; fwd) : -G1(x_next; fwd).
// The destruction term is selected, not multiplied by keep, so non-finite parameters of a masked step
// never reach the sum.
template <typename T>
ADS_HD T tb_log_w_term(T x_prev, T x_next, T fwd_mean, T fwd_log_var, T bwd_mean, T bwd_log_var,
                       bool keep) {
  const T bwd = gaussian_logprob_term(x_prev, bwd_mean, bwd_log_var);
  const T fwd = gaussian_logprob_term(x_next, fwd_mean, fwd_log_var);
  return (keep ? bwd : T(0)) - fwd;
}

// (TB2) one trajectory's summand, before the 1/B normalisation.
template <typename T>
ADS_HD T tb_loss_term(T log_w, T baseline) {
  const T r = log_w - baseline;
  return r * r;
}

// grad_loss * d loss / d log w_b (the first part of TB3); inv_batch = 1/B.
template <typename T>
ADS_HD T tb_loss_grad(T grad_loss, T log_w, T baseline, T inv_batch) {
  return grad_loss * T(2) * (log_w - baseline) * inv_batch;
}

// (TB3) the trajectory's coefficient g_b; through_baseline is dc / B for VarGrad, 0 for TB.
template <typename T>
ADS_HD T tb_coefficient(T grad_loss, T grad_log_w, T log_w, T baseline, T inv_batch,
                        T through_baseline) {
  return tb_loss_grad(grad_loss, log_w, baseline, inv_batch) + grad_log_w + through_baseline;
}

// (TB4), generation term of one coordinate: gradients of -G1(x_next; fwd_mean, fwd_log_var) times g.
// .dx is the gradient of x_next, -.dx that of fwd_mean, .dlog_var that of fwd_log_var.
template <typename T>
ADS_HD GaussianTermGrad<T> tb_fwd_term_grad(T g, T x_next, T fwd_mean, T fwd_log_var) {
  return gaussian_logprob_term_grad(-g, x_next, fwd_mean, fwd_log_var);
}

// (TB4), destruction term of one coordinate: gradients of keep * G1(x_prev; bwd_mean, bwd_log_var)
// times g; exactly zero (not 0 * NaN) on a masked step.
template <typename T>
ADS_HD GaussianTermGrad<T> tb_bwd_term_grad(T g, T x_prev, T bwd_mean, T bwd_log_var, bool keep) {
  GaussianTermGrad<T> out = gaussian_logprob_term_grad(g, x_prev, bwd_mean, bwd_log_var);
  out.dx = keep ? out.dx : T(0);
  out.dlog_var = keep ? out.dlog_var : T(0);
  return out;
}

}  // namespace ads_bench
