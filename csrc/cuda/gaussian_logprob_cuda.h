// Host-side entry points of the CUDA kernels in gaussian_logprob.cu: a params struct of raw
// pointers to contiguous device data (ads_bench/gaussian_params.h) and the stream to launch on.
#pragma once

#include <cuda_runtime.h>

#include "ads_bench/gaussian_params.h"

namespace ads_bench {

template <typename T>
cudaError_t launch_gaussian_logprob_fwd(const GaussianFwdParams<T>& p, cudaStream_t stream);

template <typename T>
cudaError_t launch_gaussian_logprob_bwd(const GaussianBwdParams<T>& p, cudaStream_t stream);

}  // namespace ads_bench
