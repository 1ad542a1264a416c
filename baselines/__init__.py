"""Comparison methods of SPEC Table 1 that are not the paper's own (PIS, DIS, DDS: issue 5).

They join the method registry through the entry-point group ``ads_bench.methods`` declared in
``setup.py``, so ``python -m ads_bench.train --method pis`` finds them while the library itself never
imports this package.
"""
