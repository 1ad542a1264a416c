"""ads_bench: a benchmark reproduction of *Adaptive Destruction Processes for Diffusion Samplers*.

Gritsaev, Morozov, Tamogashev, Tiapkin, Samsonov, Naumov, Vetrov, Malkin — arXiv:2506.01541.

Sub-packages, one concept each:

- :mod:`ads_bench.ops`      fused C++/CUDA kernels and their pure-PyTorch references;
- :mod:`ads_bench.targets`  unnormalised target densities with exact samples and log Z;
- :mod:`ads_bench.metrics`  log Z estimators, ESS and sample-based distances.
"""

__version__ = "0.1.0"
