// Thread-to-data mapping of the CUDA kernels, as plain functions so the CPU can check it.
//
// Every element-wise and row-wise kernel of the package uses a 1-D grid-stride loop: thread `t` of
// block `b` handles items first_item(b, t, threads), + item_stride(blocks, threads), ... < items.
// launch_blocks() is the grid the host code launches; it is capped so that any item count (also one
// beyond a grid dimension's limit) is covered by the stride loop. The test suite simulates every
// (block, thread) pair of a launch on the CPU and checks that each item is visited exactly once.
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
// trajectory's T * D terms) with a block-wide reduction: block `b` handles segments
// first_segment(b), + segment_stride(blocks), ... < segments, and within a segment thread `t` handles
// items first_segment_item(t), + segment_item_stride(threads), ... < items. segment_threads() is the
// block size: the smallest power of two >= items within [kMinSegmentThreads, kThreadsPerBlock], so short
// segments do not leave most of a block idle. The kernels instantiate one block size per power of two.
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

}  // namespace ads_bench
