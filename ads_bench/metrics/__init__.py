"""Evaluation metrics for diffusion samplers: log Z estimators, ESS and sample distances.

Modules (one concept each):

- :mod:`.logz`       ELBO, importance-sampling log Z, EUBO, ESS, log-weight variance from
                     log-weights ``[N]``.
- :mod:`.transport`  exact 2-Wasserstein distance W2 (POT network simplex).
- :mod:`.entropic`   entropic OT and the debiased Sinkhorn divergence S_eps.
- :mod:`.sparse_scaling`  their solver: eps-scaled, log-stabilised sparse Sinkhorn scaling.
- :mod:`.mmd`        RBF-mixture MMD (V-/U-statistics).
- :mod:`.modes`      entropic mode coverage (EMC) for mixture targets.
- :mod:`.summary`    one-call dictionaries of the above (what a sampler's evaluation reports).

Conventions: inputs are torch tensors (numpy arrays are accepted), validated and
converted to float64; log-weights are ``[N]``, sample sets ``[N, d]``. Scalar metrics
return Python floats; :func:`sinkhorn` returns a :class:`SinkhornResult` dataclass
(``.value``, ``.eps``, diagnostics, ``.as_dict()``). ``w2`` is W2 (not squared),
``sinkhorn(...).value`` is in squared-distance units (-> W2^2 as eps -> 0), ``mmd`` is
MMD (not squared).
"""

from .entropic import SinkhornResult, entropic_ot, sinkhorn
from .logz import delta_logz, elbo, ess, eubo, logw_var, logz_is
from .mmd import DEFAULT_BANDWIDTHS, mmd, mmd2
from .modes import emc, mode_histogram, modes_covered
from .sparse_scaling import EntropicOTResult
from .summary import evaluate_log_weights, evaluate_samples
from .transport import exact_ot, w2

__all__ = [
    "DEFAULT_BANDWIDTHS",
    "EntropicOTResult",
    "SinkhornResult",
    "delta_logz",
    "elbo",
    "emc",
    "entropic_ot",
    "ess",
    "eubo",
    "evaluate_log_weights",
    "evaluate_samples",
    "exact_ot",
    "logw_var",
    "logz_is",
    "mmd",
    "mmd2",
    "mode_histogram",
    "modes_covered",
    "sinkhorn",
    "w2",
]
