"""The replenishment backtest for ``make bench`` (issue 15): the forecast policy against a naive
fixed reorder point over a generated year, stock-out days and average stock side by side
(``catalog.replenishment_backtest``; no database). Exits non-zero on an error only: a missed
claim is printed as MISSED, like the other benches' goals.

    DEBUG=1 .venv/bin/python bench/bench_replenishment.py --seed 15
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, action="append",
                        help="seeds to replay (repeatable; default 15, 1, 2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mall.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from catalog.replenishment_backtest import backtest, report

    for seed in args.seed or [15, 1, 2]:
        started = time.perf_counter()
        result = backtest(seed)
        print(f"replenish seed {seed} ({time.perf_counter() - started:.1f}s):", flush=True)
        for row in report(result):
            print(f"  {row}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
