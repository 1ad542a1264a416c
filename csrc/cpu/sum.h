// Sums of a buffer of terms, as the CPU kernels form them: in the accumulator type Acc<T> (double, see
// ads_bench/common.h) and in a fixed order that does not depend on the instruction set.
//
// Eight running sums take every eighth term (lane j the terms i = j mod 8), then the lanes are added
// pairwise and the remainder in order. The lanes are independent, so the compiler turns them into
// vector registers (float-to-double conversions and adds, eight terms at a time) instead of a chain of
// dependent scalar adds. It is inlined (into multiversioned loops over many rows, so it gets their wide
// vectors without a dispatched call per short row), and its order is fixed by the source, so results
// are bit-identical on every CPU.
#pragma once

#include <stdint.h>

#include "ads_bench/common.h"

namespace ads_bench {

template <typename T>
inline Acc<T> sum_terms(const T* __restrict__ terms, int64_t n) {
  constexpr int kLanes = 8;
  if (n < kLanes) {  // the same sum as below (whose lanes would all be zero), without the lanes
    Acc<T> acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<Acc<T>>(terms[i]);
    return acc;
  }
  Acc<T> lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<Acc<T>>(terms[i + j]);
  }
  Acc<T> acc =
      ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  for (; i < n; ++i) acc += static_cast<Acc<T>>(terms[i]);
  return acc;
}

}  // namespace ads_bench
