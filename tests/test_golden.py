"""Refactors keep every method's numbers: a fixed-seed short run of each Table 1 method gives the
metrics recorded before issue 19's restructuring (``tests/data/golden_metrics.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ads_bench.methods import make_config
from ads_bench.training import train

RECORD = json.loads((Path(__file__).parent / "data" / "golden_metrics.json").read_text())
OVERRIDES = {"sampler.hidden": 16, "sampler.n_freq": 8, "train.batch_size": 32, "eval.n": 64,
             "eval.every": 0, "train.iterations": 20, "sampler.steps": 4}  # fmt: skip


@pytest.mark.parametrize("method", sorted(RECORD["metrics"]))
def test_a_fixed_seed_run_gives_the_recorded_metrics(method):
    result = train(make_config(method, "gmm9", seed=3, overrides=OVERRIDES), progress=False)
    for key, want in RECORD["metrics"][method].items():
        got = result.metrics.get(key)
        if want is None:
            assert got is None, key
        else:  # bit-identical here; the tolerance only allows another CPU's rounding
            assert got == pytest.approx(want, rel=1e-4, abs=1e-5), (method, key)
