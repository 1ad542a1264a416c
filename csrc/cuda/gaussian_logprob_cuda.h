// Host-side entry points of the CUDA kernels in gaussian_logprob.cu (raw pointers, contiguous data).
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

namespace ads_bench {

template <typename T>
cudaError_t launch_gaussian_logprob_fwd(const T* x, const T* mean, const T* log_var, T* out,
                                        int64_t rows, int64_t dim, cudaStream_t stream);

template <typename T>
cudaError_t launch_gaussian_logprob_bwd(const T* grad, const T* x, const T* mean, const T* log_var,
                                        T* grad_x, T* grad_mean, T* grad_log_var, int64_t rows,
                                        int64_t dim, cudaStream_t stream);

}  // namespace ads_bench
