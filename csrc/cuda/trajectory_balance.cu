// CUDA kernels of ads_bench::trajectory_balance (formulas TB1-TB4 of ads_bench/trajectory_balance.h).
//
// Raw pointers and the CUDA runtime (plus CUB, shipped with the toolkit) only: this file compiles with
// plain nvcc; trajectory_balance_binding.cpp owns every at::Tensor. Layout: contiguous states
// [B, T+1, D], parameters [B, T, D], step_mask [T] (bool), per-trajectory vectors [B].
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
__global__ void __launch_bounds__(kThreads)
    tb_log_w_kernel(const T* __restrict__ states, const T* __restrict__ fwd_mean,
                    const T* __restrict__ fwd_log_var, const T* __restrict__ bwd_mean,
                    const T* __restrict__ bwd_log_var, const T* __restrict__ log_reward,
                    const bool* __restrict__ step_mask, T* __restrict__ log_w, int64_t batch,
                    int64_t steps, int64_t dim) {
  using Reduce = cub::BlockReduce<Acc<T>, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const int64_t elements = steps * dim;
  for_each_block_segment(blockIdx.x, gridDim.x, batch, [&](int64_t b) {
    const T* x = states + b * (elements + dim);
    const int64_t p = b * elements;
    Acc<T> acc = 0;
    for_each_segment_item(threadIdx.x, kThreads, elements, [&](int64_t e) {
      acc += tb_log_w_term(x[e], x[e + dim], fwd_mean[p + e], fwd_log_var[p + e], bwd_mean[p + e],
                           bwd_log_var[p + e], step_mask[e / dim]);
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
__global__ void __launch_bounds__(kThreadsPerBlock)
    tb_loss_kernel(const T* __restrict__ log_w, const T* __restrict__ log_z, T* __restrict__ loss,
                   int64_t batch) {
  using Reduce = cub::BlockReduce<Acc<T>, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage temp;
  __shared__ T mean;
  const T c = block_baseline<T, Reduce>(log_w, log_z, batch, temp, mean);
  Acc<T> acc = 0;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch,
                        [&](int64_t b) { acc += tb_loss_term(log_w[b], c); });
  const Acc<T> total = Reduce(temp).Sum(acc);
  // NaN (0/0) for an empty batch
  if (threadIdx.x == 0) *loss = static_cast<T>(total / static_cast<Acc<T>>(batch));
}

template <typename T>
__global__ void __launch_bounds__(kThreadsPerBlock)
    tb_coefficient_kernel(const T* __restrict__ grad_loss, const T* __restrict__ grad_log_w,
                          const T* __restrict__ log_w, const T* __restrict__ log_z,
                          T* __restrict__ coefficient, T* __restrict__ grad_log_z, int64_t batch) {
  using Reduce = cub::BlockReduce<Acc<T>, kThreadsPerBlock>;
  __shared__ typename Reduce::TempStorage temp;
  __shared__ T mean;
  const T c = block_baseline<T, Reduce>(log_w, log_z, batch, temp, mean);
  __shared__ T dc;  // d loss / d c (TB3)
  const T gl = *grad_loss;
  const T inv_batch = T(1) / T(batch);
  Acc<T> acc = 0;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch,
                        [&](int64_t b) { acc += tb_loss_grad(gl, log_w[b], c, inv_batch); });
  const Acc<T> total = Reduce(temp).Sum(acc);
  if (threadIdx.x == 0) {
    dc = static_cast<T>(Acc<T>(0) - total);
    *grad_log_z = log_z != nullptr ? dc : T(0);
  }
  __syncthreads();
  const T through_baseline = log_z != nullptr ? T(0) : dc * inv_batch;
  for_each_segment_item(threadIdx.x, kThreadsPerBlock, batch, [&](int64_t b) {
    coefficient[b] = tb_coefficient(gl, grad_log_w[b], log_w[b], c, inv_batch, through_baseline);
  });
}

template <typename T>
__global__ void tb_state_grad_kernel(
    const T* __restrict__ coefficient, const T* __restrict__ states, const T* __restrict__ fwd_mean,
    const T* __restrict__ fwd_log_var, const T* __restrict__ bwd_mean,
    const T* __restrict__ bwd_log_var, const bool* __restrict__ step_mask,
    T* __restrict__ grad_states, T* __restrict__ grad_fwd_mean, T* __restrict__ grad_fwd_log_var,
    T* __restrict__ grad_bwd_mean, T* __restrict__ grad_bwd_log_var, int64_t items, int64_t steps,
    int64_t dim) {
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
cudaError_t launch_log_w(const T* states, const T* fwd_mean, const T* fwd_log_var,
                         const T* bwd_mean, const T* bwd_log_var, const T* log_reward,
                         const bool* step_mask, T* log_w, int64_t blocks, int64_t batch,
                         int64_t steps, int64_t dim, cudaStream_t stream) {
  tb_log_w_kernel<T, kThreads><<<static_cast<unsigned int>(blocks), kThreads, 0, stream>>>(
      states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_reward, step_mask, log_w, batch,
      steps, dim);
  return cudaGetLastError();
}

}  // namespace

template <typename T>
cudaError_t launch_trajectory_balance_fwd(const T* states, const T* fwd_mean, const T* fwd_log_var,
                                          const T* bwd_mean, const T* bwd_log_var,
                                          const T* log_reward, const T* log_z,
                                          const bool* step_mask, T* loss, T* log_w, int64_t batch,
                                          int64_t steps, int64_t dim, cudaStream_t stream) {
  const LaunchPlan plan = tb_log_w_plan(batch, steps, dim);
  const int64_t blocks = plan.blocks;
  if (blocks > 0) {
    cudaError_t err = cudaSuccess;
    switch (plan.threads) {
      case 32:
        err = launch_log_w<T, 32>(states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_reward,
                                  step_mask, log_w, blocks, batch, steps, dim, stream);
        break;
      case 64:
        err = launch_log_w<T, 64>(states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, log_reward,
                                  step_mask, log_w, blocks, batch, steps, dim, stream);
        break;
      case 128:
        err = launch_log_w<T, 128>(states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var,
                                   log_reward, step_mask, log_w, blocks, batch, steps, dim, stream);
        break;
      default:
        static_assert(kThreadsPerBlock == 256, "segment_threads() returns 32, 64, 128 or 256");
        err = launch_log_w<T, kThreadsPerBlock>(states, fwd_mean, fwd_log_var, bwd_mean,
                                                bwd_log_var, log_reward, step_mask, log_w, blocks,
                                                batch, steps, dim, stream);
        break;
    }
    if (err != cudaSuccess) return err;
  }
  // Always launched, also for an empty batch: it writes the loss (NaN).
  const LaunchPlan reduce = tb_batch_plan();
  tb_loss_kernel<T><<<static_cast<unsigned int>(reduce.blocks), reduce.threads, 0, stream>>>(
      log_w, log_z, loss, batch);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_trajectory_balance_bwd(const T* grad_loss, const T* grad_log_w, const T* states,
                                          const T* fwd_mean, const T* fwd_log_var,
                                          const T* bwd_mean, const T* bwd_log_var, const T* log_w,
                                          const T* log_z, const bool* step_mask, T* grad_states,
                                          T* grad_fwd_mean, T* grad_fwd_log_var, T* grad_bwd_mean,
                                          T* grad_bwd_log_var, T* grad_log_reward, T* grad_log_z,
                                          int64_t batch, int64_t steps, int64_t dim,
                                          cudaStream_t stream) {
  // Always launched: it writes grad_log_z (zero for an empty batch or for VarGrad).
  const LaunchPlan reduce = tb_batch_plan();
  tb_coefficient_kernel<T><<<static_cast<unsigned int>(reduce.blocks), reduce.threads, 0, stream>>>(
      grad_loss, grad_log_w, log_w, log_z, grad_log_reward, grad_log_z, batch);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  const int64_t items = batch * (steps + 1) * dim;
  const LaunchPlan plan = tb_state_grad_plan(batch, steps, dim);
  if (plan.blocks == 0) return cudaSuccess;
  tb_state_grad_kernel<T><<<static_cast<unsigned int>(plan.blocks), plan.threads, 0, stream>>>(
      grad_log_reward, states, fwd_mean, fwd_log_var, bwd_mean, bwd_log_var, step_mask,
      grad_states, grad_fwd_mean, grad_fwd_log_var, grad_bwd_mean, grad_bwd_log_var, items, steps,
      dim);
  return cudaGetLastError();
}

#define ADS_INSTANTIATE(T)                                                                        \
  template cudaError_t launch_trajectory_balance_fwd<T>(                                          \
      const T*, const T*, const T*, const T*, const T*, const T*, const T*, const bool*, T*, T*,  \
      int64_t, int64_t, int64_t, cudaStream_t);                                                   \
  template cudaError_t launch_trajectory_balance_bwd<T>(                                          \
      const T*, const T*, const T*, const T*, const T*, const T*, const T*, const T*, const T*,   \
      const bool*, T*, T*, T*, T*, T*, T*, T*, int64_t, int64_t, int64_t, cudaStream_t);
ADS_INSTANTIATE(float)
ADS_INSTANTIATE(double)
#undef ADS_INSTANTIATE

}  // namespace ads_bench
