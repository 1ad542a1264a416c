// CPU kernels of ads_bench::trajectory_balance (formulas TB1-TB4 of
// ads_bench/trajectory_balance.h).
//
// Inputs arrive prepared (csrc/prepare/trajectory_balance.h) in a params struct of raw pointers
// (ads_bench/trajectory_balance_params.h), contiguous: states [B, T+1, D], parameters [B, T, D].
// Trajectory b's step terms are then the T*D contiguous elements e of its parameters, with x_prev =
// states_b[e] and x_next = states_b[e + D] two contiguous views of its states. at::parallel_for
// splits the trajectories across threads.
//
// Forward: a task evaluates TB1 over a trajectory's elements in chunks of at most kChunk, in an
// element-wise loop the compiler vectorises (exp is inlined arithmetic, the mask a select), into a
// stack buffer that is then summed in double (sum.h); log_w_b = log_reward_b + the trajectory's
// sum, rounded once to the input type (float trajectories of millions of terms keep float
// accuracy). The batch loss (TB2) is then reduced on the calling thread in double and a fixed order
// (blocks of kReduceBlock trajectories, sequentially), so the result does not depend on the number
// of threads.
//
// Backward: d loss / d baseline (the log_z gradient) and then the coefficients g_b (TB3) are
// computed the same fixed way; then each task walks a trajectory's states element by element: state
// j receives the generation term of step j - D (j >= D) and the destruction term of step j (j <
// T*D), so each parameter gradient is written once and each state gradient is the sum of its two
// contributions, with no scatter. Element loops are multiversioned (multiversion.h), as in
// gaussian_logprob.cpp.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "../prepare/trajectory_balance.h"
#include "ads_bench/trajectory_balance.h"

#include "multiversion.h"
#include "sum.h"

namespace ads_bench {
namespace {

constexpr int64_t kChunk = 512;          // elements per stack buffer
constexpr int64_t kGrainElements = 16384;  // elements per parallel task, at least
constexpr int64_t kReduceBlock = 256;    // trajectories per partial sum of the batch reduction

int64_t grain_trajectories(int64_t elements_per_trajectory) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(elements_per_trajectory, 1));
}

// sum_{b < n} value(b) in Acc<T> and a fixed order: partial sums over consecutive blocks of
// kReduceBlock, added in sequence (a two-level sum, independent of threads).
template <typename T, typename Fn>
Acc<T> ordered_sum(int64_t n, Fn value) {
  Acc<T> total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kReduceBlock) {
    const int64_t b1 = std::min(n, b0 + kReduceBlock);
    Acc<T> part = 0;
    for (int64_t b = b0; b < b1; ++b) part += static_cast<Acc<T>>(value(b));
    total += part;
  }
  return total;
}

// TB1 on n elements of one trajectory: out[i] = term(x_prev[i], x_next[i], ...). keep[i] is 1 or 0.
template <typename T>
ADS_MULTIVERSION void log_w_terms(const T* __restrict__ x_prev, const T* __restrict__ x_next,
                                  const T* __restrict__ fwd_mean, const T* __restrict__ fwd_log_var,
                                  const T* __restrict__ bwd_mean, const T* __restrict__ bwd_log_var,
                                  const T* __restrict__ keep, T* __restrict__ out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = tb_log_w_term(x_prev[i], x_next[i], fwd_mean[i], fwd_log_var[i], bwd_mean[i],
                           bwd_log_var[i], keep[i] != T(0));
  }
}

// TB4 on n consecutive states of one trajectory with coefficient g. kNext: each state ends a step,
// whose generation term's parameters are fwd_*[i]; kPrev: each state starts a step, whose
// destruction term's parameters are bwd_*[i]. Writes the states' gradients and those parameters'
// gradients.
template <typename T, bool kNext, bool kPrev>
ADS_MULTIVERSION void state_grads(T g, const T* __restrict__ x, const T* __restrict__ fwd_mean,
                                  const T* __restrict__ fwd_log_var, const T* __restrict__ bwd_mean,
                                  const T* __restrict__ bwd_log_var, const T* __restrict__ keep,
                                  T* __restrict__ grad_x, T* __restrict__ grad_fwd_mean,
                                  T* __restrict__ grad_fwd_log_var, T* __restrict__ grad_bwd_mean,
                                  T* __restrict__ grad_bwd_log_var, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T dx = T(0);
    if constexpr (kNext) {
      const GaussianTermGrad<T> f = tb_fwd_term_grad(g, x[i], fwd_mean[i], fwd_log_var[i]);
      grad_fwd_mean[i] = -f.dx;
      grad_fwd_log_var[i] = f.dlog_var;
      dx += f.dx;
    }
    if constexpr (kPrev) {
      const GaussianTermGrad<T> b =
          tb_bwd_term_grad(g, x[i], bwd_mean[i], bwd_log_var[i], keep[i] != T(0));
      grad_bwd_mean[i] = -b.dx;
      grad_bwd_log_var[i] = b.dlog_var;
      dx += b.dx;
    }
    grad_x[i] = dx;
  }
}

// The step mask repeated over the coordinates, as 1/0 of the kernel's type: keep[t * D + d] =
// mask[t].
template <typename T>
std::vector<T> keep_per_element(const bool* step_mask, int64_t steps, int64_t dim) {
  std::vector<T> keep(static_cast<size_t>(steps * dim));
  for (int64_t t = 0; t < steps; ++t) {
    std::fill_n(keep.begin() + t * dim, dim, step_mask[t] ? T(1) : T(0));
  }
  return keep;
}

// The loss's baseline c: *log_z (TB) or the batch mean of log_w (VarGrad, log_z nullptr; NaN for
// B = 0), summed in Acc<T> and rounded once to T.
template <typename T>
T baseline(const T* log_w, int64_t batch, const T* log_z) {
  if (log_z != nullptr) return *log_z;
  const Acc<T> sum = ordered_sum<T>(batch, [&](int64_t b) { return log_w[b]; });
  return static_cast<T>(sum / static_cast<Acc<T>>(batch));
}

template <typename T>
void trajectory_balance_fwd(const TbFwdParams<T>& p) {
  const int64_t dim = p.dim;
  const int64_t elements = p.steps * dim;  // per trajectory
  const std::vector<T> keep = keep_per_element<T>(p.step_mask, p.steps, dim);
  const T* kp = keep.data();
  at::parallel_for(0, p.batch, grain_trajectories(elements), [&](int64_t begin, int64_t end) {
    T buf[kChunk];
    for (int64_t b = begin; b < end; ++b) {
      const T* xb = p.states + b * (elements + dim);
      const int64_t pb = b * elements;
      Acc<T> acc = 0;
      for (int64_t e0 = 0; e0 < elements; e0 += kChunk) {
        const int64_t n = std::min(kChunk, elements - e0);
        const int64_t i = pb + e0;
        log_w_terms(xb + e0, xb + e0 + dim, p.fwd_mean + i, p.fwd_log_var + i, p.bwd_mean + i,
                    p.bwd_log_var + i, kp + e0, buf, n);
        acc += sum_terms(buf, n);
      }
      p.log_w[b] = static_cast<T>(static_cast<Acc<T>>(p.log_reward[b]) + acc);
    }
  });
  const T c = baseline(p.log_w, p.batch, p.log_z);
  const Acc<T> sum = ordered_sum<T>(p.batch, [&](int64_t b) { return tb_loss_term(p.log_w[b], c); });
  // NaN (0/0) for an empty batch
  *p.loss = static_cast<T>(sum / static_cast<Acc<T>>(p.batch));
}

// TB3: the coefficients g_b (written as the log_reward gradient) and the log_z gradient.
template <typename T>
void coefficients(const TbBwdParams<T>& p) {
  const T gl = *p.grad_loss;
  const T c = baseline(p.log_w, p.batch, p.log_z);
  const T inv_batch = T(1) / T(p.batch);
  // dc = d loss / d c (TB3): the log_z gradient (TB), or spread over log_w by the mean (VarGrad).
  const T dc = static_cast<T>(Acc<T>(0) - ordered_sum<T>(p.batch, [&](int64_t b) {
                                 return tb_loss_grad(gl, p.log_w[b], c, inv_batch);
                               }));
  const T through_baseline = p.log_z != nullptr ? T(0) : dc * inv_batch;
  for (int64_t b = 0; b < p.batch; ++b) {
    p.grad_log_reward[b] =
        tb_coefficient(gl, p.grad_log_w[b], p.log_w[b], c, inv_batch, through_baseline);
  }
  *p.grad_log_z = p.log_z != nullptr ? dc : T(0);
}

template <typename T>
void trajectory_balance_bwd(const TbBwdParams<T>& p) {
  coefficients(p);
  const int64_t dim = p.dim;
  const int64_t elements = p.steps * dim;  // parameters per trajectory
  const std::vector<T> keep = keep_per_element<T>(p.step_mask, p.steps, dim);
  const T* kp = keep.data();
  at::parallel_for(0, p.batch, grain_trajectories(elements), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const T g = p.grad_log_reward[b];
      const T* x = p.states + b * (elements + dim);  // this trajectory's states
      T* gx = p.grad_states + b * (elements + dim);
      const int64_t pb = b * elements;  // and parameters
      if (p.steps == 0) {
        std::fill_n(gx, dim, T(0));
        continue;
      }
      const T* fm = p.fwd_mean + pb;
      const T* fv = p.fwd_log_var + pb;
      const T* bm = p.bwd_mean + pb;
      const T* bv = p.bwd_log_var + pb;
      T* gfm = p.grad_fwd_mean + pb;
      T* gfv = p.grad_fwd_log_var + pb;
      T* gbm = p.grad_bwd_mean + pb;
      T* gbv = p.grad_bwd_log_var + pb;
      // States 0 .. T (each D wide): state 0 starts step 0 only, states 1 .. T-1 end step t-1 and
      // start step t, state T ends step T-1 only.
      state_grads<T, false, true>(g, x, nullptr, nullptr, bm, bv, kp, gx, nullptr, nullptr, gbm,
                                  gbv, dim);
      const int64_t inner = elements - dim;
      state_grads<T, true, true>(g, x + dim, fm, fv, bm + dim, bv + dim, kp + dim, gx + dim, gfm,
                                 gfv, gbm + dim, gbv + dim, inner);
      state_grads<T, true, false>(g, x + elements, fm + inner, fv + inner, nullptr, nullptr,
                                  nullptr, gx + elements, gfm + inner, gfv + inner, nullptr,
                                  nullptr, dim);
    }
  });
}

std::tuple<at::Tensor, at::Tensor> trajectory_balance_cpu(
    const at::Tensor& states, const at::Tensor& fwd_mean, const at::Tensor& fwd_log_var,
    const at::Tensor& bwd_mean, const at::Tensor& bwd_log_var, const at::Tensor& log_reward,
    const std::optional<at::Tensor>& log_z, const at::Tensor& step_mask) {
  const auto args = prepare_trajectory_balance(states, fwd_mean, fwd_log_var, bwd_mean,
                                               bwd_log_var, log_reward, log_z, step_mask, at::kCPU);
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "trajectory_balance_cpu",
                             [&] { trajectory_balance_fwd(args.params<scalar_t>()); });
  return args.outputs();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
trajectory_balance_backward_cpu(const at::Tensor& grad_loss, const at::Tensor& grad_log_w,
                                const at::Tensor& states, const at::Tensor& fwd_mean,
                                const at::Tensor& fwd_log_var, const at::Tensor& bwd_mean,
                                const at::Tensor& bwd_log_var, const at::Tensor& log_w,
                                const std::optional<at::Tensor>& log_z,
                                const at::Tensor& step_mask) {
  const auto args =
      prepare_trajectory_balance_backward(grad_loss, grad_log_w, states, fwd_mean, fwd_log_var,
                                          bwd_mean, bwd_log_var, log_w, log_z, step_mask, at::kCPU);
  AT_DISPATCH_FLOATING_TYPES(states.scalar_type(), "trajectory_balance_backward_cpu",
                             [&] { trajectory_balance_bwd(args.params<scalar_t>()); });
  return args.outputs();
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CPU, m) {
  m.impl("trajectory_balance", &trajectory_balance_cpu);
  m.impl("trajectory_balance_backward", &trajectory_balance_backward_cpu);
}

}  // namespace ads_bench
