"""Shared benchmark plumbing: timing, and a line per measurement.

Each ``bench_<stage>.py`` defines ``run(report)``; ``report(name, value, unit, target=None)``
prints one aligned line. ``benchmarks/run.py`` runs them all after printing the machine.
"""
from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], *, repeat: int = 3) -> tuple[float, object]:
    """Run ``fn`` ``repeat`` times; return (fastest wall time in s, last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def print_report(name: str, value: float, unit: str, target: str | None = None) -> None:
    tgt = f"   (target {target})" if target else ""
    print(f"  {name:<58s} {value:>10.4g} {unit:<6s}{tgt}", flush=True)
