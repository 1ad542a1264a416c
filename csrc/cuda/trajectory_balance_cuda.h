// Host-side entry points of the CUDA kernels in trajectory_balance.cu: a params struct of raw
// pointers to contiguous device data (ads_bench/trajectory_balance_params.h, which states the
// shapes) and the stream to launch on.
#pragma once

#include <cuda_runtime.h>

#include "ads_bench/trajectory_balance_params.h"

namespace ads_bench {

template <typename T>
cudaError_t launch_trajectory_balance_fwd(const TbFwdParams<T>& p, cudaStream_t stream);

template <typename T>
cudaError_t launch_trajectory_balance_bwd(const TbBwdParams<T>& p, cudaStream_t stream);

}  // namespace ads_bench
