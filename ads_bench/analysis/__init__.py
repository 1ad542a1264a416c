"""Analysis of recorded runs, shared by the ``reproduce/`` scripts (README, *Reproducing the
paper*).

- :mod:`ads_bench.analysis.runs`: reading a run's history, a record's metrics, divergence.
- :mod:`ads_bench.analysis.paired`: means, standard deviations and paired-seed differences with
  two-sided 95 % Student-t intervals (the claims check and the adaptive-destruction study).
- :mod:`ads_bench.analysis.halving`: the mean-rank score of successive halving.
- :mod:`ads_bench.analysis.tables`: number formatting, Markdown and LaTeX table helpers.
- :mod:`ads_bench.analysis.destruction`: how far a learned destruction kernel is from its base.

Nothing here plots (plotting lives in ``reproduce/``) or imports ``reproduce``.
"""
