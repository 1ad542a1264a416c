// What every CUDA binding (csrc/cuda/*_binding.cpp) does around its kernels, once the op's
// preparation (csrc/prepare/) has checked the inputs (on a CUDA device among them): make that
// device current, launch on PyTorch's current stream, and turn a failed launch into a
// Python-visible error that names the op. Only the bindings include this file: it needs PyTorch's
// CUDA headers, which the .cu files must not.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Exception.h>
#include <cuda_runtime.h>

namespace ads_bench {

inline void check_launch(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

// The stream the kernels launch on: PyTorch's current stream of the current device.
inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

}  // namespace ads_bench
