// CUDA binding of ads_bench::gaussian_logprob: the op's preparation
// (csrc/prepare/gaussian_logprob.h) checks the at::Tensor arguments and fills the params struct;
// this file launches the kernels of gaussian_logprob.cu with it on the current stream.
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include "../prepare/gaussian_logprob.h"
#include "binding.h"
#include "gaussian_logprob_cuda.h"

namespace ads_bench {
namespace {

at::Tensor gaussian_logprob_cuda(const at::Tensor& x, const at::Tensor& mean,
                                 const at::Tensor& log_var) {
  const auto args = prepare_gaussian_logprob(x, mean, log_var, at::kCUDA);
  const c10::cuda::CUDAGuard guard(x.device());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_cuda", [&] {
    check_launch(launch_gaussian_logprob_fwd(args.params<scalar_t>(), current_stream()),
                 "gaussian_logprob");
  });
  return args.out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gaussian_logprob_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& mean,
    const at::Tensor& log_var) {
  const auto args = prepare_gaussian_logprob_backward(grad, x, mean, log_var, at::kCUDA);
  const c10::cuda::CUDAGuard guard(x.device());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_backward_cuda", [&] {
    check_launch(launch_gaussian_logprob_bwd(args.params<scalar_t>(), current_stream()),
                 "gaussian_logprob_backward");
  });
  return args.outputs();
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CUDA, m) {
  m.impl("gaussian_logprob", &gaussian_logprob_cuda);
  m.impl("gaussian_logprob_backward", &gaussian_logprob_backward_cuda);
}

}  // namespace ads_bench
