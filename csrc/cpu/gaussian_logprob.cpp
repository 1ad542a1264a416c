// CPU kernels of ads_bench::gaussian_logprob (formulas G1/G2 of ads_bench/gaussian.h).
//
// Inputs arrive prepared (csrc/prepare/gaussian_logprob.h): contiguous, viewed as [rows, D], in a
// params struct of raw pointers (ads_bench/gaussian_params.h). at::parallel_for splits the rows
// (trajectory steps) across threads. Within a task, rows are processed in chunks of at most kChunk
// elements: an element-wise loop evaluates G1 (or G2) into a stack buffer — a loop the compiler
// vectorises, because exp is inlined arithmetic (ads_bench::exp_float) — then each row's terms are
// summed in double (sum.h; a row longer than kChunk over several chunks), and only the row's total is
// rounded to the input type, so float rows of millions of terms keep float accuracy. The element
// loops are multiversioned (multiversion.h): the loader picks AVX-512, AVX2+FMA or baseline code for
// the running CPU, so one binary is fast and portable.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "../prepare/gaussian_logprob.h"
#include "ads_bench/gaussian.h"

#include "multiversion.h"
#include "sum.h"

namespace ads_bench {
namespace {

constexpr int64_t kChunk = 512;  // elements per stack buffer
constexpr int64_t kGrainElements = 16384;

int64_t grain_rows(int64_t dim) {
  return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(dim, 1));
}

// G1 on n contiguous elements: out[i] = term(x[i], mean[i], log_var[i]).
template <typename T>
ADS_MULTIVERSION void terms(const T* __restrict__ x, const T* __restrict__ mean,
                            const T* __restrict__ log_var, T* __restrict__ out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gaussian_logprob_term(x[i], mean[i], log_var[i]);
}

// G2 on n contiguous elements with a per-element upstream gradient.
template <typename T>
ADS_MULTIVERSION void term_grads(const T* __restrict__ grad, const T* __restrict__ x,
                                 const T* __restrict__ mean, const T* __restrict__ log_var,
                                 T* __restrict__ grad_x, T* __restrict__ grad_mean,
                                 T* __restrict__ grad_log_var, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const GaussianTermGrad<T> g = gaussian_logprob_term_grad(grad[i], x[i], mean[i], log_var[i]);
    grad_x[i] = g.dx;
    grad_mean[i] = -g.dx;
    grad_log_var[i] = g.dlog_var;
  }
}

// The values of `rows` consecutive rows from their terms (rows * dim of them): each row's sum in Acc<T>
// (sum.h), rounded as the reference rounds it (gaussian_logprob_total). One dispatched call per chunk.
template <typename T>
ADS_MULTIVERSION void row_totals(const T* __restrict__ terms, int64_t rows, int64_t dim,
                                 T* __restrict__ out) {
  for (int64_t k = 0; k < rows; ++k) out[k] = gaussian_logprob_total<T>(sum_terms(terms + k * dim, dim));
}

// Calls fn(first_row, rows_in_chunk, first_element, elements) over rows [begin, end) in chunks of at
// most kChunk elements; a row longer than kChunk is split into several chunks of that one row.
template <typename Fn>
void for_each_chunk(int64_t begin, int64_t end, int64_t dim, Fn fn) {
  if (dim <= kChunk) {
    const int64_t step = dim == 0 ? end - begin : kChunk / dim;
    for (int64_t r = begin; r < end; r += step) {
      const int64_t rows = std::min(step, end - r);
      fn(r, rows, r * dim, rows * dim);
    }
    return;
  }
  for (int64_t r = begin; r < end; ++r) {
    for (int64_t off = 0; off < dim; off += kChunk) fn(r, 1, r * dim + off, std::min(kChunk, dim - off));
  }
}

template <typename T>
void gaussian_logprob_fwd(const GaussianFwdParams<T>& p) {
  const int64_t dim = p.dim;
  at::parallel_for(0, p.rows, grain_rows(dim), [&](int64_t begin, int64_t end) {
    T buf[kChunk];
    if (dim > kChunk) {  // long rows: one row at a time, its chunks' sums accumulated in Acc
      for (int64_t r = begin; r < end; ++r) {
        Acc<T> acc = 0;
        for (int64_t off = 0; off < dim; off += kChunk) {
          const int64_t e0 = r * dim + off;
          const int64_t n = std::min(kChunk, dim - off);
          terms(p.x + e0, p.mean + e0, p.log_var + e0, buf, n);
          acc += sum_terms(buf, n);
        }
        p.out[r] = gaussian_logprob_total<T>(acc);
      }
      return;
    }
    const int64_t step = dim == 0 ? end - begin : kChunk / dim;  // whole rows per chunk
    for (int64_t r0 = begin; r0 < end; r0 += step) {
      const int64_t rows = std::min(step, end - r0);
      const int64_t e0 = r0 * dim;
      terms(p.x + e0, p.mean + e0, p.log_var + e0, buf, rows * dim);
      row_totals(buf, rows, dim, p.out + r0);
    }
  });
}

template <typename T>
void gaussian_logprob_bwd(const GaussianBwdParams<T>& p) {
  at::parallel_for(0, p.rows, grain_rows(p.dim), [&](int64_t begin, int64_t end) {
    T row_grad[kChunk];  // the row's upstream gradient, repeated over its elements
    for_each_chunk(begin, end, p.dim, [&](int64_t r0, int64_t rows, int64_t e0, int64_t n) {
      const int64_t per_row = n / rows;
      for (int64_t k = 0; k < rows; ++k) std::fill_n(row_grad + k * per_row, per_row, p.grad[r0 + k]);
      term_grads(row_grad, p.x + e0, p.mean + e0, p.log_var + e0, p.grad_x + e0, p.grad_mean + e0,
                 p.grad_log_var + e0, n);
    });
  });
}

at::Tensor gaussian_logprob_cpu(const at::Tensor& x, const at::Tensor& mean,
                                const at::Tensor& log_var) {
  const auto args = prepare_gaussian_logprob(x, mean, log_var, at::kCPU);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_cpu",
                             [&] { gaussian_logprob_fwd(args.params<scalar_t>()); });
  return args.out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gaussian_logprob_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& mean, const at::Tensor& log_var) {
  const auto args = prepare_gaussian_logprob_backward(grad, x, mean, log_var, at::kCPU);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_logprob_backward_cpu",
                             [&] { gaussian_logprob_bwd(args.params<scalar_t>()); });
  return args.outputs();
}

}  // namespace

TORCH_LIBRARY_IMPL(ads_bench, CPU, m) {
  m.impl("gaussian_logprob", &gaussian_logprob_cpu);
  m.impl("gaussian_logprob_backward", &gaussian_logprob_backward_cpu);
}

}  // namespace ads_bench
