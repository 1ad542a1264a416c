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
  // Trajectory balance (log_z given) or VarGrad (log_z None) loss of a trajectory batch, fused from
  // the kernels' parameters (ads_bench/trajectory_balance.h): states [B, T+1, D]; fwd_mean,
  // fwd_log_var, bwd_mean, bwd_log_var [B, T, D]; log_reward [B]; log_z 0-dim; step_mask [T] bool.
  // Returns (loss 0-dim, log_w [B]).
  m.def(
      "trajectory_balance(Tensor states, Tensor fwd_mean, Tensor fwd_log_var, Tensor bwd_mean,"
      " Tensor bwd_log_var, Tensor log_reward, Tensor? log_z, Tensor step_mask) -> (Tensor, Tensor)");
  // Its vector-Jacobian product from the upstream gradients of both outputs (grad_loss 0-dim,
  // grad_log_w [B]) and the forward's log_w. Returns the gradients of states, fwd_mean, fwd_log_var,
  // bwd_mean, bwd_log_var, log_reward and log_z (0-dim; zero when log_z is None).
  m.def(
      "trajectory_balance_backward(Tensor grad_loss, Tensor grad_log_w, Tensor states,"
      " Tensor fwd_mean, Tensor fwd_log_var, Tensor bwd_mean, Tensor bwd_log_var, Tensor log_w,"
      " Tensor? log_z, Tensor step_mask)"
      " -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def("cuda_version() -> int", &cuda_version);
  // Test hook: simulate every (block, thread) of a launch over `items` items on the CPU and count the
  // visits of each item (see ads_bench/launch.h). Returns (counts [items] int32, blocks launched).
  m.def("_launch_visits(int items, int threads) -> (Tensor, int)");
  // The same for the segmented mapping of the trajectory_balance kernels: `segments` segments of
  // `items` items, `threads` per block (0: segment_threads(items)). Returns (counts [segments, items]
  // int32, blocks launched, threads per block).
  m.def("_segment_launch_visits(int segments, int items, int threads=0) -> (Tensor, int, int)");
  // Every launch of a kernel, simulated on the CPU (ads_bench/launch.h): `kernel` is one of
  // gaussian_logprob_fwd, gaussian_logprob_bwd, tb_log_w, tb_batch (tb_loss, tb_coefficient),
  // tb_state_grad, for an op call on sizes (batch, steps, dim). Item e of the kernel's item space has
  // the value e + 1. Returns (visits [items] uint8, block partial sums [blocks] float64, what the
  // kernel writes float64, blocks, threads per block); see csrc/cpu/launch_check.cpp.
  m.def("_simulate_launch(str kernel, int batch, int steps, int dim)"
        " -> (Tensor, Tensor, Tensor, int, int)");
}

}  // namespace ads_bench

// The extension is loaded as the Python module ads_bench._C; importing it runs the registrations
// above. It defines no Python functions of its own: all ops are reached through torch.ops.ads_bench.
extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr,
                                          nullptr,             nullptr, nullptr, nullptr};
  return PyModule_Create(&module_def);
}
