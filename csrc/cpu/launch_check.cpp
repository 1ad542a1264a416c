// CPU simulation of a CUDA launch's thread-to-data mapping (ads_bench/launch.h).
//
// _launch_visits(items, threads) runs the grid-stride loop of every (block, thread) pair that the host
// code would launch for `items` items and counts how often each item is visited. The test suite asserts
// every count is exactly one: no item skipped, none handled twice, for any item count.
// _segment_launch_visits does the same for the segmented mapping (a block per segment).
// _simulate_launch runs, for one op call's sizes, every (block, thread) of the launch a kernel's host
// code makes (the *_plan functions) through the kernel's own loop (the for_each_* functions), with
// item e of the kernel's item space worth e + 1: it counts each item's visits, sums each block's
// partial sums (threads' partials added per segment, as the kernels' block reductions do) and
// records what the kernel would write. The tests compare these with torch reductions of the same
// values: visits all exactly one, block sums adding up to the total, outputs equal to the reference.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>

#include "ads_bench/launch.h"

namespace ads_bench {
namespace {

std::tuple<at::Tensor, int64_t> launch_visits(int64_t items, int64_t threads) {
  TORCH_CHECK(items >= 0, "_launch_visits: items must be >= 0, got ", items);
  TORCH_CHECK(threads > 0 && threads <= 1024, "_launch_visits: threads must be in [1, 1024], got ",
              threads);
  auto counts = at::zeros({items}, at::kInt);
  int32_t* c = counts.mutable_data_ptr<int32_t>();
  const int64_t blocks = launch_blocks(items, static_cast<int>(threads));
  const int64_t stride = item_stride(blocks, threads);
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t t = 0; t < threads; ++t) {
      for (int64_t i = first_item(b, t, threads); i < items; i += stride) ++c[i];
    }
  }
  return {counts, blocks};
}

// The segmented launch of the trajectory_balance kernels: `segments` segments (trajectories) of `items`
// items each, with segment_threads(items) threads per block (or `threads`, when positive, as for the
// single-block batch reduction). Returns (counts [segments, items], blocks, threads).
std::tuple<at::Tensor, int64_t, int64_t> segment_launch_visits(int64_t segments, int64_t items,
                                                               int64_t threads) {
  TORCH_CHECK(segments >= 0 && items >= 0,
              "_segment_launch_visits: segments and items must be >= 0, got ", segments, " and ",
              items);
  TORCH_CHECK(threads >= 0 && threads <= 1024,
              "_segment_launch_visits: threads must be in [0, 1024] (0: segment_threads), got ",
              threads);
  if (threads == 0) threads = segment_threads(items);
  auto counts = at::zeros({segments, items}, at::kInt);
  int32_t* c = counts.mutable_data_ptr<int32_t>();
  const int64_t blocks = launch_segment_blocks(segments);
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t s = first_segment(b); s < segments; s += segment_stride(blocks)) {
      for (int64_t t = 0; t < threads; ++t) {
        for (int64_t i = first_segment_item(t); i < items; i += segment_item_stride(threads)) {
          ++c[s * items + i];
        }
      }
    }
  }
  return {counts, blocks, threads};
}


// The item space of each simulated kernel, for an op call on (batch, steps, dim):
//   gaussian_logprob_fwd  the batch * steps * dim input elements; a thread takes a row of dim of them
//                         and writes the row's sum (out [batch * steps]);
//   gaussian_logprob_bwd  the batch * steps * dim elements; a thread writes its element (out [items]);
//   tb_log_w              the batch * steps * dim parameter elements; a block reduces a trajectory's
//                         and writes its log_w (out [batch]);
//   tb_batch              the batch's log_w entries, reduced by one block (the loss of the forward;
//                         the coefficients, written per entry, and grad_log_z of the backward)
//                         (out [batch]);
//   tb_state_grad         the batch * (steps + 1) * dim states, then the fwd and then the bwd
//                         parameter elements ([B, T, D] each); a thread takes a state and the
//                         parameter terms it owns and writes the state's gradient (out [states]).
struct Simulation {
  at::Tensor visits;      // uint8 [items], saturating at 255
  at::Tensor block_sums;  // float64 [blocks]
  at::Tensor out;         // float64
  LaunchPlan plan;
  uint8_t* v = nullptr;
  double* sums = nullptr;
  double* o = nullptr;

  Simulation(int64_t items, int64_t outputs, LaunchPlan p) : plan(p) {
    visits = at::zeros({items}, at::kByte);
    block_sums = at::zeros({plan.blocks}, at::kDouble);
    out = at::zeros({outputs}, at::kDouble);
    v = visits.mutable_data_ptr<uint8_t>();
    sums = block_sums.mutable_data_ptr<double>();
    o = out.mutable_data_ptr<double>();
  }

  // Visit item e; returns its value.
  double visit(int64_t e) {
    if (v[e] < 255) ++v[e];
    return static_cast<double>(e + 1);
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, int64_t, int64_t> simulate_launch(
    std::string kernel, int64_t batch, int64_t steps, int64_t dim) {
  TORCH_CHECK(kernel == "gaussian_logprob_fwd" || kernel == "gaussian_logprob_bwd" ||
                  kernel == "tb_log_w" || kernel == "tb_batch" || kernel == "tb_state_grad",
              "_simulate_launch: unknown kernel '", kernel,
              "'; expected gaussian_logprob_fwd, gaussian_logprob_bwd, tb_log_w, tb_batch or "
              "tb_state_grad");
  TORCH_CHECK(batch >= 0 && steps >= 0 && dim >= 0,
              "_simulate_launch: batch, steps and dim must be >= 0, got ", batch, ", ", steps, ", ",
              dim);
  const int64_t rows = batch * steps;
  const int64_t params = batch * steps * dim;
  if (kernel == "gaussian_logprob_fwd") {
    Simulation sim(rows * dim, rows, gaussian_fwd_plan(rows));
    const int64_t blocks = sim.plan.blocks, threads = sim.plan.threads;
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t t = 0; t < threads; ++t) {
        for_each_grid_item(b, t, blocks, threads, rows, [&](int64_t r) {
          double acc = 0;
          for (int64_t d = 0; d < dim; ++d) acc += sim.visit(r * dim + d);
          sim.o[r] += acc;
          sim.sums[b] += acc;
        });
      }
    }
    return {sim.visits, sim.block_sums, sim.out, blocks, threads};
  }
  if (kernel == "gaussian_logprob_bwd") {
    Simulation sim(rows * dim, rows * dim, gaussian_bwd_plan(rows, dim));
    const int64_t blocks = sim.plan.blocks, threads = sim.plan.threads;
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t t = 0; t < threads; ++t) {
        for_each_grid_item(b, t, blocks, threads, rows * dim, [&](int64_t i) {
          const double value = sim.visit(i);
          sim.o[i] += value;
          sim.sums[b] += value;
        });
      }
    }
    return {sim.visits, sim.block_sums, sim.out, blocks, threads};
  }
  if (kernel == "tb_log_w" || kernel == "tb_batch") {
    const bool per_trajectory = kernel == "tb_log_w";
    // tb_log_w: segments are trajectories of steps * dim terms; tb_batch: one segment, the batch.
    const int64_t segments = per_trajectory ? batch : 1;
    const int64_t items = per_trajectory ? steps * dim : batch;
    const LaunchPlan plan = per_trajectory ? tb_log_w_plan(batch, steps, dim) : tb_batch_plan();
    Simulation sim(segments * items, batch, plan);
    const int64_t blocks = plan.blocks, threads = plan.threads;
    for (int64_t b = 0; b < blocks; ++b) {
      for_each_block_segment(b, blocks, segments, [&](int64_t s) {
        double total = 0;  // the block reduction of the threads' partial sums
        for (int64_t t = 0; t < threads; ++t) {
          double partial = 0;
          for_each_segment_item(t, threads, items, [&](int64_t e) {
            const double value = sim.visit(s * items + e);
            partial += value;
            if (!per_trajectory) sim.o[e] += value;  // the coefficient of trajectory e
          });
          total += partial;
        }
        if (per_trajectory) sim.o[s] += total;  // log_w of trajectory s
        sim.sums[b] += total;
      });
    }
    return {sim.visits, sim.block_sums, sim.out, blocks, threads};
  }
  {  // tb_state_grad
    const int64_t states = batch * (steps + 1) * dim;
    Simulation sim(states + 2 * params, states, tb_state_grad_plan(batch, steps, dim));
    const int64_t blocks = sim.plan.blocks, threads = sim.plan.threads;
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t t = 0; t < threads; ++t) {
        for_each_grid_item(b, t, blocks, threads, states, [&](int64_t j) {
          const StateTerms terms = tb_state_terms(j, steps, dim);
          double acc = sim.visit(j);
          if (terms.fwd >= 0) acc += sim.visit(states + terms.fwd);
          if (terms.bwd >= 0) acc += sim.visit(states + params + terms.bwd);
          sim.o[j] += acc;
          sim.sums[b] += acc;
        });
      }
    }
    return {sim.visits, sim.block_sums, sim.out, blocks, threads};
  }
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CompositeExplicitAutograd, m) {
  m.impl("_launch_visits", &launch_visits);
  m.impl("_segment_launch_visits", &segment_launch_visits);
  m.impl("_simulate_launch", &simulate_launch);
}

}  // namespace ads_bench
