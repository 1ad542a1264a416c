// CUDA kernels of ads_bench::gaussian_logprob (formulas G1/G2 of ads_bench/gaussian.h).
//
// Raw pointers and the CUDA runtime only: this file compiles with plain nvcc on a machine without
// PyTorch's CUDA headers; gaussian_logprob_binding.cpp owns every at::Tensor.
// Layout: contiguous [rows, dim] inputs; forward writes [rows], backward writes three [rows, dim].
// One thread per row: the field's dimensions are small (D <= 32 in Table 1), so a row's sum is a short
// sequential loop and needs no cross-thread reduction; it accumulates in Acc<T> (double), as the CPU
// kernel does, so a long float row keeps float accuracy. Launch sizes and loops are the *_plan and
// for_each_* functions of ads_bench/launch.h, which the test suite also runs on the CPU.
#include <cuda_runtime.h>

#include "ads_bench/gaussian.h"
#include "ads_bench/launch.h"
#include "gaussian_logprob_cuda.h"

namespace ads_bench {
namespace {

template <typename T>
__global__ void gaussian_logprob_fwd_kernel(const T* __restrict__ x, const T* __restrict__ mean,
                                            const T* __restrict__ log_var, T* __restrict__ out,
                                            int64_t rows, int64_t dim) {
  for_each_grid_item(blockIdx.x, threadIdx.x, gridDim.x, blockDim.x, rows, [&](int64_t r) {
    const int64_t base = r * dim;
    Acc<T> acc = 0;  // double, for float rows too (see ads_bench/common.h)
    for (int64_t d = 0; d < dim; ++d) {
      acc += gaussian_logprob_term(x[base + d], mean[base + d], log_var[base + d]);
    }
    out[r] = gaussian_logprob_total<T>(acc);
  });
}

template <typename T>
__global__ void gaussian_logprob_bwd_kernel(const T* __restrict__ grad, const T* __restrict__ x,
                                            const T* __restrict__ mean,
                                            const T* __restrict__ log_var, T* __restrict__ grad_x,
                                            T* __restrict__ grad_mean, T* __restrict__ grad_log_var,
                                            int64_t elements, int64_t dim) {
  for_each_grid_item(blockIdx.x, threadIdx.x, gridDim.x, blockDim.x, elements, [&](int64_t i) {
    const GaussianTermGrad<T> g = gaussian_logprob_term_grad(grad[i / dim], x[i], mean[i], log_var[i]);
    grad_x[i] = g.dx;
    grad_mean[i] = -g.dx;
    grad_log_var[i] = g.dlog_var;
  });
}

}  // namespace

template <typename T>
cudaError_t launch_gaussian_logprob_fwd(const T* x, const T* mean, const T* log_var, T* out,
                                        int64_t rows, int64_t dim, cudaStream_t stream) {
  const LaunchPlan plan = gaussian_fwd_plan(rows);
  if (plan.blocks == 0) return cudaSuccess;
  gaussian_logprob_fwd_kernel<T>
      <<<static_cast<unsigned int>(plan.blocks), plan.threads, 0, stream>>>(x, mean, log_var, out,
                                                                           rows, dim);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_gaussian_logprob_bwd(const T* grad, const T* x, const T* mean, const T* log_var,
                                        T* grad_x, T* grad_mean, T* grad_log_var, int64_t rows,
                                        int64_t dim, cudaStream_t stream) {
  const LaunchPlan plan = gaussian_bwd_plan(rows, dim);
  if (plan.blocks == 0) return cudaSuccess;
  gaussian_logprob_bwd_kernel<T><<<static_cast<unsigned int>(plan.blocks), plan.threads, 0, stream>>>(
      grad, x, mean, log_var, grad_x, grad_mean, grad_log_var, rows * dim, dim);
  return cudaGetLastError();
}

#define ADS_INSTANTIATE(T)                                                                        \
  template cudaError_t launch_gaussian_logprob_fwd<T>(const T*, const T*, const T*, T*, int64_t, \
                                                      int64_t, cudaStream_t);                    \
  template cudaError_t launch_gaussian_logprob_bwd<T>(const T*, const T*, const T*, const T*, T*, \
                                                      T*, T*, int64_t, int64_t, cudaStream_t);
ADS_INSTANTIATE(float)
ADS_INSTANTIATE(double)
#undef ADS_INSTANTIATE

}  // namespace ads_bench
