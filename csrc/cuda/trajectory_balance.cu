// CUDA kernels of ads_bench::trajectory_balance (formulas TB1-TB4 of ads_bench/trajectory_balance.h).
//
// Raw pointers and the CUDA runtime (plus CUB, shipped with the toolkit) only: this file compiles with
// plain nvcc. The kernels take the params structs of ads_bench/trajectory_balance_params.h (which
// state the layout: contiguous states [B, T+1, D], parameters [B, T, D], step_mask [T] (bool),
// per-trajectory vectors [B]), filled by csrc/prepare/trajectory_balance.cpp, which owns every
// at::Tensor.
//
// Every sum accumulates in Acc<T> (double, for float inputs too; ads_bench/common.h), as on the CPU,
// and is rounded once to the input type.
// Forward, two launches, no atomics, deterministic:
//  1. log_w: the segmented mapping of ads_bench/launch.h, one block per trajectory (grid-striding over
//     the batch). Each thread sums TB1 over a strided subset of the trajectory's T*D terms, then
//     cub::BlockReduce adds the block's partial sums. The block size is the smallest power of two
//     >= T*D in [32, 256] (a template parameter of BlockReduce), so short trajectories use one warp.
//  2. loss: one block reduces log_w (its mean first, for VarGrad) with cub::BlockReduce (TB2).
// Backward, two launches:
//  1. one block computes the baseline, d loss / d baseline (a BlockReduce; the log_z gradient) and
//     then the coefficients g_b (TB3, written as the log_reward gradient);
//  2. one thread per state element (1-D grid-stride): state (b, s, d) takes the generation term of step
//     s-1 and the destruction term of step s (TB4), writes those terms' parameter gradients and the sum
//     of its two contributions; every output element is written exactly once, so no scatter.
// Every launch's size and every loop over the data are the *_plan and for_each_* functions of
// ads_bench/launch.h, which the test suite also runs on the CPU (tests/test_launch_geometry.py).
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include "ads_bench/launch.h"
#include "ads_bench/trajectory_balance.h"
#include "trajectory_balance_cuda.h"

namespace ads_bench {
namespace {

template <typename T, int kThreads>
__global__ void __launch_bounds__(kThreads) tb_log_w_kernel(const TbFwdParams<T> p) {
  using Reduce = cub::BlockReduce<Acc<T>, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const T* __restrict__ states = p.states;
  const T* __restrict__ fwd_mean = p.fwd_mean;
  const T* __restrict__ fwd_log_var = p.fwd_log_var;
  const T* __restrict__ bwd_mean = p.bwd_mean;
  const T* __restrict__ bwd_log_var = p.bwd_log_var;
  const T* __restrict__ log_reward = p.log_reward;
  const bool* __restrict__ step_mask = p.step_mask;
  T* __restrict__ log_w = p.log_w;
  const int64_t dim = p.dim;
  const int64_t elements = p.steps * dim;
  for_each_block_segment(blockIdx.x, gridDim.x, p.batch, [&](int64_t b) {
    const T* x = states + b * (elements + dim);
    const int64_t o = b * elements;
    Acc<T> acc = 0;
    for_each_segment_item(threadIdx.x, kThreads, elements, [&](int64_t e) {
      acc += tb_log_w_term(x[e], x[e + dim], fwd_mean[o + e], fwd_log_var[o + e], bwd_mean[o + e],
                           bwd_log_var[o + e], step_mask[e / dim]);
    });
    const Acc<T> total = Reduce(temp).Sum(acc);  // valid in thread 0
    if (threadIdx.x == 0) log_w[b] = static_cast<T>(static_cast<Acc<T>>(log_reward[b]) + total);
    __syncthreads();  // temp is reused for the next trajectory
  });
}

// The loss's baseline, in every thread of a one-block launch: *log_z (TB) or the mean of log_w
// (VarGrad; NaN for an empty batch), summed in Acc<T> and rounded once to T. `temp` may be reused
// afterwards (a barrier follows its use).
template <typename T, typename Reduce>
__device__ T block_baseline(const T* __restrict__ log_w, const T* __restrict__ log_z,
                            int64_t batch, typename Reduce::TempStorage& temp, T& shared) {
  if (log_z != nullptr) return *log_z;
  Acc<T> acc = 0;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch, [&](int64_t b) { acc += log_w[b]; });
  const Acc<T> total = Reduce(temp).Sum(acc);
  if (threadIdx.x == 0) shared = static_cast<T>(total / static_cast<Acc<T>>(batch));
  __syncthreads();
  return shared;
}

template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock) tb_loss_kernel(const TbFwdParams<T> p) {
  using Reduce = cub::BlockReduce<Acc<T>, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage temp;
  __shared__ T mean;
  const T* __restrict__ log_w = p.log_w;
  const int64_t batch = p.batch;
  const T c = block_baseline<T, Reduce>(log_w, p.log_z, batch, temp, mean);
  Acc<T> acc = 0;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch,
                        [&](int64_t b) { acc += tb_loss_term(log_w[b], c); });
  const Acc<T> total = Reduce(temp).Sum(acc);
  // NaN (0/0) for an empty batch
  if (threadIdx.x == 0) *p.loss = static_cast<T>(total / static_cast<Acc<T>>(batch));
}

// TB3: the coefficients g_b, written as the log_reward gradient, and the log_z gradient.
template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock) tb_coefficient_kernel(const TbBwdParams<T> p) {
  using Reduce = cub::BlockReduce<Acc<T>, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage temp;
  __shared__ T mean;
  const T* __restrict__ log_w = p.log_w;
  const T* __restrict__ log_z = p.log_z;
  const T* __restrict__ grad_log_w = p.grad_log_w;
  T* __restrict__ coefficient = p.grad_log_reward;
  const int64_t batch = p.batch;
  const T c = block_baseline<T, Reduce>(log_w, log_z, batch, temp, mean);
  __shared__ T dc;  // d loss / d c (TB3)
  const T gl = *p.grad_loss;
  const T inv_batch = T(1) / T(batch);
  Acc<T> acc = 0;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch,
                        [&](int64_t b) { acc += tb_loss_grad(gl, log_w[b], c, inv_batch); });
  const Acc<T> total = Reduce(temp).Sum(acc);
  if (threadIdx.x == 0) {
    dc = static_cast<T>(Acc<T>(0) - total);
    *p.grad_log_z = log_z != nullptr ? dc : T(0);
  }
  __syncthreads();
  const T through_baseline = log_z != nullptr ? T(0) : dc * inv_batch;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch, [&](int64_t b) {
    coefficient[b] = tb_coefficient(gl, grad_log_w[b], log_w[b], c, inv_batch, through_baseline);
  });
}

// TB4, one thread per state element; reads the coefficients tb_coefficient_kernel wrote.
template <typename T>
__global__ void tb_state_grad_kernel(const TbBwdParams<T> p) {
  const T* __restrict__ coefficient = p.grad_log_reward;
  const T* __restrict__ states = p.states;
  const T* __restrict__ fwd_mean = p.fwd_mean;
  const T* __restrict__ fwd_log_var = p.fwd_log_var;
  const T* __restrict__ bwd_mean = p.bwd_mean;
  const T* __restrict__ bwd_log_var = p.bwd_log_var;
  const bool* __restrict__ step_mask = p.step_mask;
  T* __restrict__ grad_states = p.grad_states;
  T* __restrict__ grad_fwd_mean = p.grad_fwd_mean;
  T* __restrict__ grad_fwd_log_var = p.grad_fwd_log_var;
  T* __restrict__ grad_bwd_mean = p.grad_bwd_mean;
  T* __restrict__ grad_bwd_log_var = p.grad_bwd_log_var;
  const int64_t steps = p.steps;
  const int64_t dim = p.dim;
  const int64_t items = p.batch * (steps + 1) * dim;
  for_each_grid_item(blockIdx.x, threadIdx.x, gridDim.x, blockDim.x, items, [&](int64_t j) {
    const StateTerms terms = tb_state_terms(j, steps, dim);
    const T g = coefficient[terms.traj];
    const T x = states[j];
    T dx = T(0);
    if (terms.fwd >= 0) {  // state s >= 1 ends step s - 1: the generation term
      const int64_t i = terms.fwd;
      const GaussianTermGrad<T> f = tb_fwd_term_grad(g, x, fwd_mean[i], fwd_log_var[i]);
      grad_fwd_mean[i] = -f.dx;
      grad_fwd_log_var[i] = f.dlog_var;
      dx += f.dx;
    }
    if (terms.bwd >= 0) {  // state s < T starts step s: the destruction term
      const int64_t i = terms.bwd;
      const GaussianTermGrad<T> q =
          tb_bwd_term_grad(g, x, bwd_mean[i], bwd_log_var[i], step_mask[terms.step]);
      grad_bwd_mean[i] = -q.dx;
      grad_bwd_log_var[i] = q.dlog_var;
      dx += q.dx;
    }
    grad_states[j] = dx;
  });
}

template <typename T, int kThreads>
cudaError_t launch_log_w(const TbFwdParams<T>& p, int64_t blocks, cudaStream_t stream) {
  tb_log_w_kernel<T, kThreads><<<static_cast<unsigned int>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t launch_trajectory_balance_fwd(const TbFwdParams<T>& p, cudaStream_t stream) {
  const LaunchPlan plan = tb_log_w_plan(p.batch, p.steps, p.dim);
  if (plan.blocks > 0) {
    cudaError_t err = cudaSuccess;
    switch (plan.threads) {
      case 32:
        err = launch_log_w<T, 32>(p, plan.blocks, stream);
        break;
      case 64:
        err = launch_log_w<T, 64>(p, plan.blocks, stream);
        break;
      case 128:
        err = launch_log_w<T, 128>(p, plan.blocks, stream);
        break;
      default:
        static_assert(kThreadsPerBlock == 256, "segment_threads() returns 32, 64, 128 or 256");
        err = launch_log_w<T, kThreadsPerBlock>(p, plan.blocks, stream);
        break;
    }
    if (err != cudaSuccess) return err;
  }
  // Always launched, also for an empty batch: it writes the loss (NaN).
  const LaunchPlan reduce = tb_batch_plan();
  tb_loss_kernel<T><<<static_cast<unsigned int>(reduce.blocks), reduce.threads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_trajectory_balance_bwd(const TbBwdParams<T>& p, cudaStream_t stream) {
  // Always launched: it writes grad_log_z (zero for an empty batch or for VarGrad).
  const LaunchPlan reduce = tb_batch_plan();
  tb_coefficient_kernel<T>
      <<<static_cast<unsigned int>(reduce.blocks), reduce.threads, 0, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  const LaunchPlan plan = tb_state_grad_plan(p.batch, p.steps, p.dim);
  if (plan.blocks == 0) return cudaSuccess;
  tb_state_grad_kernel<T><<<static_cast<unsigned int>(plan.blocks), plan.threads, 0, stream>>>(p);
  return cudaGetLastError();
}

#define ADS_INSTANTIATE(T)                                                                     \
  template cudaError_t launch_trajectory_balance_fwd<T>(const TbFwdParams<T>&, cudaStream_t); \
  template cudaError_t launch_trajectory_balance_bwd<T>(const TbBwdParams<T>&, cudaStream_t);
ADS_INSTANTIATE(float)
ADS_INSTANTIATE(double)
#undef ADS_INSTANTIATE

}  // namespace ads_bench
