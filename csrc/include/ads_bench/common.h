// Portability layer shared by the CPU (g++) and CUDA (nvcc) kernels.
//
// ADS_HD marks a function as callable from host and device code. Every formula of the package is
// written once, as an ADS_HD inline function over a scalar type T, and both backends call it: the CPU
// tests therefore exercise exactly the arithmetic that the GPU kernels run.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define ADS_HD __host__ __device__ __forceinline__
#else
#define ADS_HD inline
#endif

namespace ads_bench {

// log(2*pi), to double precision.
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// Elementary functions with one name for float and double, on host and device.
template <typename T>
struct Math;

template <>
struct Math<float> {
  static ADS_HD float exp(float x) { return expf(x); }
  static ADS_HD float log(float x) { return logf(x); }
};

template <>
struct Math<double> {
  static ADS_HD double exp(double x) { return ::exp(x); }
  static ADS_HD double log(double x) { return ::log(x); }
};

}  // namespace ads_bench
