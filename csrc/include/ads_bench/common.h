// Portability layer shared by the CPU (g++) and CUDA (nvcc) kernels.
//
// ADS_HD marks a function as callable from host and device code. Every formula of the package is
// written once, as an ADS_HD inline function over a scalar type T, and both backends call it: the CPU
// tests therefore exercise exactly the arithmetic that the GPU kernels run.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define ADS_HD __host__ __device__ __forceinline__
#else
#define ADS_HD inline
#endif

namespace ads_bench {

// log(2*pi), to double precision.
constexpr double kLog2Pi = 1.8378770664093454835606594728112;

// exp for float as straight-line arithmetic (no calls, no branches), so that host compilers vectorise
// loops over it and host and device compute bit-identical results. Cody-Waite range reduction
// x = n ln2 + r, |r| <= ln2/2, then the degree-6 minimax polynomial of Cephes' expf (S. Moshier) and
// 2^n assembled in the exponent bits. About 2 ulp wherever the result is a normal float. At the ends
// it rounds as float exp does (as torch.exp does), because a fused op must give the reference's value
// there too (e.g. -inf, not a finite number, for the log-density at log_var = -100): above
// ln(FLT_MAX) ~ 88.72 the product 2^n * p overflows to +inf; below ~ -87.34 the result is subnormal,
// with the one rounding of the last multiplication, and 0 below ~ -103.97. The argument is clamped to
// [-104, 89] first (a clamped value rounds to the same 0 or inf), which keeps n in [-150, 128].
// NaN propagates through r; n is made finite first, so the float-to-int conversion is defined.
ADS_HD float exp_float(float x) {
  const float hi = 89.0f;
  const float lo = -104.0f;
  const float xc = x > hi ? hi : (x < lo ? lo : x);
  // Round x / ln2 to the nearest integer with the 1.5 * 2^23 trick (exact for |v| < 2^22).
  const float shifter = 12582912.0f;
  float n = (xc * 1.44269504088896341f + shifter) - shifter;
  n = n == n ? n : 0.0f;  // NaN x: any finite n will do, r is NaN
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as 2^half * 2^(n - half), both normal floats for n in [-150, 128] (biased exponents 52 ..
  // 191); p * 2^half is exact, so a subnormal result is rounded once, by the last multiplication.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni >> 1;
  const int32_t bits_a = (half + 127) << 23;
  const int32_t bits_b = (ni - half + 127) << 23;
  float scale_a;
  float scale_b;
  memcpy(&scale_a, &bits_a, sizeof(float));
  memcpy(&scale_b, &bits_b, sizeof(float));
  return p * scale_a * scale_b;
}

// Accumulator of every sum the kernels form (over a row's D terms, a trajectory's T * D terms, the
// batch): double, for float inputs too. A float running sum of 2^23 terms drifts by thousands of nats
// (each addition rounds to the ulp of the growing partial sum); a double one stays within float
// rounding of the terms, as the reference's pairwise float sum does. Only the final value is rounded
// back to the input type.
template <typename T>
using Acc = double;

// Elementary functions with one name for float and double, on host and device.
template <typename T>
struct Math;

template <>
struct Math<float> {
  static ADS_HD float exp(float x) { return exp_float(x); }
  static ADS_HD float log(float x) { return logf(x); }
};

template <>
struct Math<double> {
  static ADS_HD double exp(double x) { return ::exp(x); }
  static ADS_HD double log(double x) { return ::log(x); }
};

}  // namespace ads_bench
