// Thread-to-data mapping of the CUDA kernels, as plain functions so the CPU can check it.
//
// Two mappings, each written once here and called by the kernels (csrc/cuda/*.cu) and by the CPU
// simulation of csrc/cpu/launch_check.cpp:
//  - grid-stride: thread `t` of block `b` handles items first_item(b, t, threads),
//    + item_stride(blocks, threads), ... < items (for_each_grid_item);
//  - segmented: block `b` handles segments first_segment(b), + segment_stride(blocks), ... < segments
//    (for_each_block_segment), and within a segment thread `t` handles items first_segment_item(t),
//    + segment_item_stride(threads), ... < items (for_each_segment_item); a block-wide reduction then
//    adds the threads' partial sums.
// The launch each kernel's host code makes (blocks, threads) is a function of the op's sizes too (the
// *_plan functions below), so the simulation runs exactly the launch the host code would make. Grids
// are capped at kMaxBlocks, so any item count (also one beyond a grid dimension's limit) is covered by
// the stride loops. The test suite simulates every (block, thread) pair of these launches on the CPU
// and checks that each item is visited exactly once and the blocks' partial sums add up.
#pragma once

#include "ads_bench/common.h"

namespace ads_bench {

constexpr int kThreadsPerBlock = 256;
// 65535 is the limit of gridDim.y/z; staying under it keeps the mapping valid for any dimension.
constexpr int64_t kMaxBlocks = 65535;

ADS_HD int64_t launch_blocks(int64_t items, int threads) {
  if (items <= 0) return 0;
  const int64_t needed = (items + threads - 1) / threads;
  return needed < kMaxBlocks ? needed : kMaxBlocks;
}

ADS_HD int64_t first_item(int64_t block, int64_t thread, int64_t threads) {
  return block * threads + thread;
}

ADS_HD int64_t item_stride(int64_t blocks, int64_t threads) { return blocks * threads; }

// Segmented mapping, for kernels that reduce each of `segments` segments of `items` items (e.g. one
// trajectory's T * D terms) with a block-wide reduction. segment_threads() is the block size: the
// smallest power of two >= items within [kMinSegmentThreads, kThreadsPerBlock], so short segments do
// not leave most of a block idle. The kernels instantiate one block size per power of two.
constexpr int kMinSegmentThreads = 32;

ADS_HD int segment_threads(int64_t items) {
  int threads = kMinSegmentThreads;
  while (threads < kThreadsPerBlock && threads < items) threads *= 2;
  return threads;
}

ADS_HD int64_t launch_segment_blocks(int64_t segments) {
  if (segments <= 0) return 0;
  return segments < kMaxBlocks ? segments : kMaxBlocks;
}

ADS_HD int64_t first_segment(int64_t block) { return block; }

ADS_HD int64_t segment_stride(int64_t blocks) { return blocks; }

ADS_HD int64_t first_segment_item(int64_t thread) { return thread; }

ADS_HD int64_t segment_item_stride(int64_t threads) { return threads; }

// The loops themselves, taking the per-item work as a callable, so that a kernel and the CPU
// simulation run the very same iteration. (nvcc: the callables are device lambdas in the kernels and
// host lambdas in the simulation; the check below would otherwise flag the cross-space call.)
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <typename F>
ADS_HD void for_each_grid_item(int64_t block, int64_t thread, int64_t blocks, int64_t threads,
                               int64_t items, F&& f) {
  const int64_t stride = item_stride(blocks, threads);
  for (int64_t i = first_item(block, thread, threads); i < items; i += stride) f(i);
}

#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <typename F>
ADS_HD void for_each_block_segment(int64_t block, int64_t blocks, int64_t segments, F&& f) {
  const int64_t stride = segment_stride(blocks);
  for (int64_t s = first_segment(block); s < segments; s += stride) f(s);
}

#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <typename F>
ADS_HD void for_each_segment_item(int64_t thread, int64_t threads, int64_t items, F&& f) {
  const int64_t stride = segment_item_stride(threads);
  for (int64_t i = first_segment_item(thread); i < items; i += stride) f(i);
}

// ---------------------------------------------------------------------------------------------------
// The launches of the kernels, as their host code makes them (blocks == 0: nothing is launched).

struct LaunchPlan {
  int64_t blocks;
  int threads;
};

// gaussian_logprob forward: grid-stride over the rows, one thread per row (its D terms in sequence).
ADS_HD LaunchPlan gaussian_fwd_plan(int64_t rows) {
  return {launch_blocks(rows, kThreadsPerBlock), kThreadsPerBlock};
}

// gaussian_logprob backward: grid-stride over the rows * D elements.
ADS_HD LaunchPlan gaussian_bwd_plan(int64_t rows, int64_t dim) {
  return {launch_blocks(rows * dim, kThreadsPerBlock), kThreadsPerBlock};
}

// trajectory_balance log_w: segmented, one segment (block) per trajectory of steps * dim terms.
ADS_HD LaunchPlan tb_log_w_plan(int64_t batch, int64_t steps, int64_t dim) {
  return {launch_segment_blocks(batch), segment_threads(steps * dim)};
}

// trajectory_balance loss (forward) and coefficients (backward): one block reduces the batch, always
// launched (it writes the loss or grad_log_z also for an empty batch). Those kernels instantiate their
// BlockReduce for exactly kThreadsPerBlock threads.
ADS_HD LaunchPlan tb_batch_plan() { return {1, kThreadsPerBlock}; }

// trajectory_balance state gradients: grid-stride over the batch * (steps + 1) * dim state elements.
ADS_HD LaunchPlan tb_state_grad_plan(int64_t batch, int64_t steps, int64_t dim) {
  return {launch_blocks(batch * (steps + 1) * dim, kThreadsPerBlock), kThreadsPerBlock};
}

// What state element j of a [batch, steps + 1, dim] batch touches in the state-gradient kernel: its
// trajectory, the generation term of step s - 1 (fwd, a [batch, steps, dim] index; -1 for s = 0) and
// the destruction term of step s (bwd, an index likewise; -1 for s = steps), where s = (j mod
// (steps + 1) * dim) / dim. Every parameter element is touched exactly once as fwd and once as bwd.
struct StateTerms {
  int64_t traj;
  int64_t fwd;
  int64_t bwd;
  int64_t step;  // s: the step whose destruction term (and step_mask entry) bwd refers to
};

ADS_HD StateTerms tb_state_terms(int64_t j, int64_t steps, int64_t dim) {
  const int64_t elements = steps * dim;     // parameters per trajectory
  const int64_t per_traj = elements + dim;  // states per trajectory
  const int64_t b = j / per_traj;
  const int64_t r = j - b * per_traj;  // (s, d) within the trajectory
  StateTerms out;
  out.traj = b;
  out.fwd = r >= dim ? b * elements + r - dim : -1;  // state s >= 1 ends step s - 1
  out.bwd = r < elements ? b * elements + r : -1;    // state s < T starts step s
  out.step = r / dim;
  return out;
}

}  // namespace ads_bench
