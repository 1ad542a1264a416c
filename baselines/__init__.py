"""Continuous-time comparison methods of the paper's Table 1 (README "Reproducing the paper"): PIS,
DIS and DDS.

One module per method (:mod:`baselines.pis`, :mod:`baselines.dis`, :mod:`baselines.dds`). Each
defines its method presets (dicts of :class:`ads_bench.config.Config` overrides, like the built-in
methods of :mod:`ads_bench.methods`) and, where its integrator differs from the package's Euler step,
a discretisation *scheme* (:class:`ads_bench.schemes.Scheme`) named in the preset by import path
(``sampler.scheme = "baselines.dds:scheme"``). The presets join the method registry through the
entry-point group ``ads_bench.methods`` declared in ``setup.py``, so ``python -m ads_bench
--method pis`` finds them while the library never imports this package.

What every baseline shares, and what makes its log-weights comparable with the package's methods:

* the destruction process is the *fixed* time reversal of the method's reference (noising) process,
  with no parameters and no variance of its own: both directions take their variance from the same
  diffusion coefficient (``sampler.destruction = "fixed"``, ``sampler.learn_var = False``);
* the log-weight ``log w = log R(x_T) + sum log p_ref(x_i | x_{i+1}) - sum log p_theta(x_{i+1} | x_i)
  - log p_0(x_0)`` uses the exact Gaussian transition densities of the discrete chains the method
  simulates (its own integrator on both sides), so ELBO, IS log Z, EUBO and ESS mean the same thing in
  every row of Table 1;
* the networks are the package's (:mod:`ads_bench.networks`), trained on on-policy trajectories only (no replay
  buffer, no target network).

Equation references: PIS = Zhang & Chen, "Path Integral Sampler" (ICLR 2022); DIS = Berner, Richter &
Ullrich, "An optimal control perspective on diffusion-based generative modeling" (TMLR 2024) with
the log-variance loss of Richter & Berner, "Improved sampling via learned diffusions" (ICLR 2024);
DDS = Vargas, Grathwohl & Doucet, "Denoising Diffusion Samplers" (ICLR 2023). Each module's docstring
states the equations in its own notation; section names are given where equation numbers could not be
checked offline.
"""

from baselines.dds import DDS
from baselines.dis import DIS, DIS_KL
from baselines.pis import PIS, PIS_LP

#: name -> preset, as registered under the ``ads_bench.methods`` entry-point group
BASELINES = {"pis": PIS, "pis-lp": PIS_LP, "dis": DIS, "dis-kl": DIS_KL, "dds": DDS}

__all__ = ["BASELINES", "DDS", "DIS", "DIS_KL", "PIS", "PIS_LP"]
