"""ads_bench: a benchmark reproduction of *Adaptive Destruction Processes for Diffusion Samplers*.

Gritsaev, Morozov, Tamogashev, Tiapkin, Samsonov, Naumov, Vetrov, Malkin — arXiv:2506.01541.

Sub-packages, one concept each:

- :mod:`ads_bench.ops`      fused C++/CUDA kernels and their pure-PyTorch references;
- :mod:`ads_bench.targets`  unnormalised target densities with exact samples and log Z;
- :mod:`ads_bench.metrics`  log Z estimators, ESS and sample-based distances;
- :mod:`ads_bench.schemes`, :mod:`ads_bench.transition`, :mod:`ads_bench.sampler`,
  :mod:`ads_bench.rollout`, :mod:`ads_bench.objectives`  the samplers;
- :mod:`ads_bench.training`  the training loop, ``ads_bench.train(config)``; CLI ``python -m ads_bench``.
"""

__version__ = "0.1.0"


def train(config, target=None, **kwargs):
    """Train and evaluate a sampler: see :func:`ads_bench.training.train`."""
    from ads_bench.training import train as _train

    return _train(config, target, **kwargs)
