// CPU kernels of ads_bench::gaussian_logprob (formulas G1/G2 of ads_bench/gaussian.h).
//
// Inputs are made contiguous and viewed as [rows, D]; at::parallel_for splits the rows (trajectory
// steps) across threads, and each row is one fused pass: no temporaries, one read of each input.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "ads_bench/gaussian.h"
#include "../tensor_checks.h"

namespace ads_bench {
namespace {

// Rows per task: enough work to amortise a task, small enough to balance two to many cores.
constexpr int64_t kGrainElements = 16384;

int64_t grain_rows(int64_t dim) { return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(dim, 1)); }

at::Tensor gaussian_logprob_cpu(const at::Tensor& x, const at::Tensor& mean,
                                const at::Tensor& log_var) {
  check_gaussian_inputs("gaussian_logprob", x, mean, log_var);
  TORCH_CHECK(x.device().is_cpu(), "gaussian_logprob: CPU kernel called with a ", x.device(),
              " tensor");
  const auto xc = x.contiguous();
  const auto mc = mean.contiguous();
  const auto vc = log_var.contiguous();
  auto out = at::empty(leading_shape(x), x.options());
  const int64_t rows = out.numel();
  const int64_t dim = x.size(-1);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_cpu", [&] {
    const scalar_t* xp = xc.const_data_ptr<scalar_t>();
    const scalar_t* mp = mc.const_data_ptr<scalar_t>();
    const scalar_t* vp = vc.const_data_ptr<scalar_t>();
    scalar_t* op = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, rows, grain_rows(dim), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = r * dim;
        scalar_t acc = scalar_t(0);
        for (int64_t d = 0; d < dim; ++d) {
          acc += gaussian_logprob_term(xp[base + d], mp[base + d], vp[base + d]);
        }
        op[r] = acc;
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gaussian_logprob_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& mean, const at::Tensor& log_var) {
  check_gaussian_inputs("gaussian_logprob_backward", x, mean, log_var);
  check_gaussian_grad("gaussian_logprob_backward", grad, x);
  TORCH_CHECK(x.device().is_cpu(), "gaussian_logprob_backward: CPU kernel called with a ",
              x.device(), " tensor");
  const auto gc = grad.contiguous();
  const auto xc = x.contiguous();
  const auto mc = mean.contiguous();
  const auto vc = log_var.contiguous();
  auto grad_x = at::empty_like(xc);
  auto grad_mean = at::empty_like(xc);
  auto grad_log_var = at::empty_like(xc);
  const int64_t rows = gc.numel();
  const int64_t dim = x.size(-1);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_backward_cpu", [&] {
    const scalar_t* gp = gc.const_data_ptr<scalar_t>();
    const scalar_t* xp = xc.const_data_ptr<scalar_t>();
    const scalar_t* mp = mc.const_data_ptr<scalar_t>();
    const scalar_t* vp = vc.const_data_ptr<scalar_t>();
    scalar_t* gxp = grad_x.mutable_data_ptr<scalar_t>();
    scalar_t* gmp = grad_mean.mutable_data_ptr<scalar_t>();
    scalar_t* gvp = grad_log_var.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, rows, grain_rows(dim), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const scalar_t g = gp[r];
        for (int64_t i = r * dim; i < (r + 1) * dim; ++i) {
          const auto t = gaussian_logprob_term_grad(g, xp[i], mp[i], vp[i]);
          gxp[i] = t.dx;
          gmp[i] = -t.dx;
          gvp[i] = t.dlog_var;
        }
      }
    });
  });
  return {grad_x, grad_mean, grad_log_var};
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CPU, m) {
  m.impl("gaussian_logprob", &gaussian_logprob_cpu);
  m.impl("gaussian_logprob_backward", &gaussian_logprob_backward_cpu);
}

}  // namespace ads_bench
