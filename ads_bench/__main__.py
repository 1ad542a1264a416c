"""``python -m ads_bench``: the command line (:mod:`ads_bench.cli`)."""

from ads_bench.cli import main

raise SystemExit(main())
