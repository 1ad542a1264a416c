// CUDA kernels of ads_bench::gaussian_logprob (formulas G1/G2 of ads_bench/gaussian.h).
//
// Raw pointers and the CUDA runtime only: this file compiles with plain nvcc on a machine without
// PyTorch's CUDA headers; the kernels take the params structs of ads_bench/gaussian_params.h (which
// state the layout), filled by csrc/prepare/gaussian_logprob.cpp, which owns every at::Tensor.
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
__global__ void gaussian_logprob_fwd_kernel(const GaussianFwdParams<T> p) {
  const T* __restrict__ x = p.x;
  const T* __restrict__ mean = p.mean;
  const T* __restrict__ log_var = p.log_var;
  T* __restrict__ out = p.out;
  const int64_t dim = p.dim;
  for_each_grid_item(blockIdx.x, threadIdx.x, gridDim.x, blockDim.x, p.rows, [&](int64_t r) {
    const int64_t base = r * dim;
    Acc<T> acc = 0;  // double, for float rows too (see ads_bench/common.h)
    for (int64_t d = 0; d < dim; ++d) {
      acc += gaussian_logprob_term(x[base + d], mean[base + d], log_var[base + d]);
    }
    out[r] = gaussian_logprob_total<T>(acc);
  });
}

template <typename T>
__global__ void gaussian_logprob_bwd_kernel(const GaussianBwdParams<T> p) {
  const T* __restrict__ grad = p.grad;
  const T* __restrict__ x = p.x;
  const T* __restrict__ mean = p.mean;
  const T* __restrict__ log_var = p.log_var;
  T* __restrict__ grad_x = p.grad_x;
  T* __restrict__ grad_mean = p.grad_mean;
  T* __restrict__ grad_log_var = p.grad_log_var;
  const int64_t dim = p.dim;
  for_each_grid_item(blockIdx.x, threadIdx.x, gridDim.x, blockDim.x, p.rows * dim, [&](int64_t i) {
    const GaussianTermGrad<T> g =
        gaussian_logprob_term_grad(grad[i / dim], x[i], mean[i], log_var[i]);
    grad_x[i] = g.dx;
    grad_mean[i] = -g.dx;
    grad_log_var[i] = g.dlog_var;
  });
}

}  // namespace

template <typename T>
cudaError_t launch_gaussian_logprob_fwd(const GaussianFwdParams<T>& p, cudaStream_t stream) {
  const LaunchPlan plan = gaussian_fwd_plan(p.rows);
  if (plan.blocks == 0) return cudaSuccess;
  gaussian_logprob_fwd_kernel<T>
      <<<static_cast<unsigned int>(plan.blocks), plan.threads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_gaussian_logprob_bwd(const GaussianBwdParams<T>& p, cudaStream_t stream) {
  const LaunchPlan plan = gaussian_bwd_plan(p.rows, p.dim);
  if (plan.blocks == 0) return cudaSuccess;
  gaussian_logprob_bwd_kernel<T>
      <<<static_cast<unsigned int>(plan.blocks), plan.threads, 0, stream>>>(p);
  return cudaGetLastError();
}

#define ADS_INSTANTIATE(T)                                                                       \
  template cudaError_t launch_gaussian_logprob_fwd<T>(const GaussianFwdParams<T>&, cudaStream_t); \
  template cudaError_t launch_gaussian_logprob_bwd<T>(const GaussianBwdParams<T>&, cudaStream_t);
ADS_INSTANTIATE(float)
ADS_INSTANTIATE(double)
#undef ADS_INSTANTIATE

}  // namespace ads_bench
