// CPU simulation of a CUDA launch's thread-to-data mapping (ads_bench/launch.h).
//
// _launch_visits(items, threads) runs the grid-stride loop of every (block, thread) pair that the host
// code would launch for `items` items and counts how often each item is visited. The test suite asserts
// every count is exactly one: no item skipped, none handled twice, for any item count.
// _segment_launch_visits does the same for the segmented mapping (a block per segment).
#include <ATen/ATen.h>
#include <torch/library.h>

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

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CompositeExplicitAutograd, m) {
  m.impl("_launch_visits", &launch_visits);
  m.impl("_segment_launch_visits", &segment_launch_visits);
}

}  // namespace ads_bench
