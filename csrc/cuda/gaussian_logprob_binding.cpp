// CUDA binding of ads_bench::gaussian_logprob: owns the at::Tensor arguments, checks them, and hands
// raw pointers to the kernels of gaussian_logprob.cu on the current stream.
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include "../tensor_checks.h"
#include "binding.h"
#include "gaussian_logprob_cuda.h"

namespace ads_bench {
namespace {

at::Tensor gaussian_logprob_cuda(const at::Tensor& x, const at::Tensor& mean,
                                 const at::Tensor& log_var) {
  check_gaussian_inputs("gaussian_logprob", x, mean, log_var);
  check_on_cuda("gaussian_logprob", x);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto xc = x.contiguous();
  const auto mc = mean.contiguous();
  const auto vc = log_var.contiguous();
  auto out = at::empty(leading_shape(x), x.options());
  const auto stream = current_stream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_cuda", [&] {
    check_launch(launch_gaussian_logprob_fwd<scalar_t>(
                     xc.const_data_ptr<scalar_t>(), mc.const_data_ptr<scalar_t>(),
                     vc.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), out.numel(),
                     x.size(-1), stream),
                 "gaussian_logprob");
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gaussian_logprob_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& mean, const at::Tensor& log_var) {
  check_gaussian_inputs("gaussian_logprob_backward", x, mean, log_var);
  check_gaussian_grad("gaussian_logprob_backward", grad, x);
  check_on_cuda("gaussian_logprob_backward", x);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto gc = grad.contiguous();
  const auto xc = x.contiguous();
  const auto mc = mean.contiguous();
  const auto vc = log_var.contiguous();
  auto grad_x = at::empty_like(xc);
  auto grad_mean = at::empty_like(xc);
  auto grad_log_var = at::empty_like(xc);
  const auto stream = current_stream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_backward_cuda", [&] {
    check_launch(launch_gaussian_logprob_bwd<scalar_t>(
                     gc.const_data_ptr<scalar_t>(), xc.const_data_ptr<scalar_t>(),
                     mc.const_data_ptr<scalar_t>(), vc.const_data_ptr<scalar_t>(),
                     grad_x.mutable_data_ptr<scalar_t>(), grad_mean.mutable_data_ptr<scalar_t>(),
                     grad_log_var.mutable_data_ptr<scalar_t>(), gc.numel(), x.size(-1), stream),
                 "gaussian_logprob_backward");
  });
  return {grad_x, grad_mean, grad_log_var};
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CUDA, m) {
  m.impl("gaussian_logprob", &gaussian_logprob_cuda);
  m.impl("gaussian_logprob_backward", &gaussian_logprob_backward_cuda);
}

}  // namespace ads_bench
