"""Published numbers of earlier work, carried into the package as facts (README *Reproducing the paper*).

``sendera2024_table1.csv``: *Improved off-policy training of diffusion samplers* (Sendera et al.,
NeurIPS 2024), Table 1 / C.1: T = 100 steps, pinned prior with fixed Brownian-bridge destruction,
mean and std over 5 runs, for gmm25 / funnel / manywell. :func:`sendera2024` reads it;
:data:`SENDERA2024_METHODS` maps this package's method names to the paper's row names where the
methods correspond (same objective, same processes).
"""

from __future__ import annotations

import csv
from importlib.resources import files

__all__ = ["SENDERA2024_METHODS", "sendera2024"]

#: package method -> Sendera et al. (2024) row
SENDERA2024_METHODS = {
    "fixed": "TB",
    "pis": "PIS",
    "pis-lp": "PIS+LP",
    "dis": "DIS",
    "dds": "DDS",
}

_FLOATS = ("delta_logz_elbo", "delta_logz_elbo_std", "delta_logz_is", "delta_logz_is_std", "w2",
           "w2_std")  # fmt: skip


def sendera2024() -> dict[tuple[str, str], dict[str, float | None]]:
    """``{(paper_method, target): {"delta_logz_elbo": ..., ..._std, "w2": ...}}`` (None = not
    reported). Steps: T = 100."""
    text = files(__name__).joinpath("sendera2024_table1.csv").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    out = {}
    for row in csv.DictReader(rows):
        values = {k: (float(row[k]) if row[k] not in ("", None) else None) for k in _FLOATS}
        out[(row["method"], row["target"])] = values
    return out
