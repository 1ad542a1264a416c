// Function multiversioning of the CPU element loops.
//
// ADS_MULTIVERSION compiles a function once per x86-64 micro-architecture level (v4: AVX-512, v3: AVX2
// and FMA, and the baseline) and lets the dynamic loader pick the best for the running CPU, so one
// portable binary gets wide vectors. Only the element loops carry it: the formulas they inline come
// from csrc/include/ads_bench/, shared with the CUDA kernels.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ADS_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ADS_MULTIVERSION
#endif
