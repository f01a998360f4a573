"""Run every benchmark and print numbers with the machine they ran on.

Usage: python benchmarks/run.py [stage ...]   (default: grains astm metrics classic ebsd register
sem_classic onnx memory; training runs: train archs sem_learned correlated ood; closing; rss (peak
RSS of whole commands on images up to 20 000², tens of minutes); predict (tiled prediction speed
against the matmul peak, seed 000's path and MONAI's, ~4 minutes); volume (a 768 x 768 x 620
FIB-SEM stack through microseg volume at Z and 2 Z, dask 1 vs 2 workers, ~15 minutes); or "all")
"""
from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_report  # noqa: E402

STAGES = ["grains", "astm", "metrics", "classic", "ebsd", "register", "sem_classic", "onnx", "memory"]
#: Training runs (minutes each on a CPU): only when named, or with "all".
LONG = ["train", "archs", "sem_learned", "correlated", "ood", "closing", "rss", "predict", "volume"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    import numpy
    return (f"{platform.node()} | {cpu} | {os.cpu_count()} cores | {mem:.0f} GiB | "
            f"Python {platform.python_version()} | numpy {numpy.__version__}")


def main(argv: list[str]) -> int:
    stages = STAGES + LONG if argv == ["all"] else (argv or STAGES)
    print(f"machine: {machine()}")
    for stage in stages:
        try:
            mod = importlib.import_module(f"bench_{stage}")
        except ModuleNotFoundError:
            print(f"[{stage}] no benchmark module bench_{stage}.py")
            continue
        print(f"[{stage}]")
        mod.run(print_report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
