// Schemas of every ads_bench custom op, declared once. Backends register kernels in csrc/cpu/ and
// csrc/cuda/ (TORCH_LIBRARY_IMPL); fake (meta) kernels and autograd are registered from Python in
// ads_bench/ops/_registry.py, so every op composes with torch.compile.
#include <Python.h>
#include <torch/library.h>

namespace ads_bench {

// CUDA version the extension was compiled against as major*1000 + minor*10 (e.g. 12040), or -1 when
// the extension was built without CUDA kernels. Python reads it through build_info().
int64_t cuda_version() {
#ifdef ADS_BENCH_WITH_CUDA
  return static_cast<int64_t>(ADS_BENCH_CUDA_VERSION);
#else
  return -1;
#endif
}

TORCH_LIBRARY(ads_bench, m) {
  // Diagonal Gaussian log-density summed over the last dimension: [..., D] x3 -> [...].
  m.def("gaussian_logprob(Tensor x, Tensor mean, Tensor log_var) -> Tensor");
  // Its vector-Jacobian product: (grad [...], x, mean, log_var [..., D]) -> grads of x, mean, log_var.
  m.def(
      "gaussian_logprob_backward(Tensor grad, Tensor x, Tensor mean, Tensor log_var)"
      " -> (Tensor, Tensor, Tensor)");
  m.def("cuda_version() -> int", &cuda_version);
  // Test hook: simulate every (block, thread) of a launch over `items` items on the CPU and count the
  // visits of each item (see ads_bench/launch.h). Returns (counts [items] int32, blocks launched).
  m.def("_launch_visits(int items, int threads) -> (Tensor, int)");
}

}  // namespace ads_bench

// The extension is loaded as the Python module ads_bench._C; importing it runs the registrations
// above. It defines no Python functions of its own: all ops are reached through torch.ops.ads_bench.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr,
                                          nullptr,             nullptr, nullptr, nullptr};
  return PyModule_Create(&module_def);
}
