"""Tiled prediction speed of the default model against the machine's peak, seed 000's path and MONAI's (issue 10).

The model is the architecture of ``configs/boundaries.yaml`` (smp U-Net, resnet18
encoder, decoder 128-64-32-16-16), built as ``bench_onnx.py`` builds it, with fixed-seed
random weights: speed does not depend on the weights, and training it takes 10 CPU
minutes, more than this benchmark may take. So that the output agreement means
something, the random network is made to behave like a trained one on this image: its
batch norms' running statistics are measured on crops of the image (every layer's
activations are normalised, as in a trained network, and the output follows the image's
structure) and the head's bias puts 15 % of the pixels above 0.5, the share of a boundary
map; batch norms are in eval mode everywhere. Tiled outputs differ from the whole-image
pass by what the network misses beyond a tile's cut, which depends on the receptive field
and on where the cuts and blends lie, not on what was learned. The random network draws
on a wider context than a trained boundary detector (whose tiled masks differ from its
whole-image ones on ~0.02 % of pixels, tests/infer), so the agreement figures compare
tiling schemes under a demanding model; they are not the accuracy a user sees.

Printed, on one synthetic SE micrograph (``SIZE`` px square, 16 bit), with torch's
thread count as used for prediction:

- the fp32 matmul peak (``torch.matmul`` of 4096² fp32 matrices, the fastest of 2) measured
  before every round; each microseg run is set against its round's peak;
- the model's GFLOP per megapixel (``torch.utils.flop_counter.FlopCounterMode`` on 512²);
- microseg's path (``predict_probs`` with ``tile_size=512``, overlap 0.25 and batch 4, the
  defaults of ``microseg predict``; on the CPU its runner takes one 512² tile per forward
  pass, channels-last, batch norms folded, under inference mode): MP/s and GFLOP/s as a
  fraction of the peak, counting the FLOPs its tiles execute and the FLOPs of the image alone;
- side by side, in the same run and interleaved (each round runs every path once, so that
  a busy machine slows them alike): (a) seed 000's path: eager PyTorch, default memory
  format, ``torch.no_grad``, 512² tiles at a stride of 256 keeping each tile's central
  256² (the outer parts at the image's edges), one tile per forward pass; (b) MONAI's
  ``sliding_window_inference(roi_size=512, overlap=0.25, mode="gaussian",
  sw_batch_size=4)`` on the sigmoid of the model (probabilities blended, as microseg
  blends them), the model as a user has it; and for reference, not as a target, MONAI with
  the model in channels-last memory format; and once, microseg with 1024² tiles;
- each path's agreement with the whole-image prediction (eager, one pass): the fraction of
  pixels whose mask (prob >= 0.5) differs, over the image and away from its 32-px border,
  and the largest |prob difference|;
- bf16 (where the CPU has AVX512-BF16 or AMX): speed and agreement; else why it is skipped.

Every path first runs once on the image's top 512 rows (oneDNN creates its kernels for
each shape on first use); times are then medians of up to ``REPEAT`` rounds, as many as
fit in ``BUDGET_S`` seconds.

Usage: python benchmarks/bench_predict.py [--size PX] [--repeat N]   (or python benchmarks/run.py predict)
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = 2048
TILE, OVERLAP, BATCH = 512, 0.25, 4          # microseg predict's defaults
REPEAT = 3
BUDGET_S = 150.0                             # for the timed rounds; setup and warm-up take ~40 s more
PER_IMAGE = {"normalize": {"mode": "per_image"}, "median": 0}
BOUNDARY_SHARE = 0.15


def _matmul_gflops(n: int = 4096, repeat: int = 2) -> float:
    """GFLOP/s of the fastest of ``repeat`` fp32 ``n``² matmuls (torch's threads)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9


def _load() -> str:
    """The load average: other processes on the machine slow every path (and the peak)."""
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def _image(size: int) -> np.ndarray:
    from microseg.train.pretrain import synthetic_samples

    sample = synthetic_samples("se", n_images=1, size=size, seed=9, mean_diameter_px=24)[0]
    return np.round(sample.image[0] * 65535).astype(np.uint16)


def _model(image: np.ndarray):
    """The default architecture, seeded random weights, batch norms calibrated on ``image``, eval mode."""
    import torch

    from microseg.config import load_config
    from microseg.data import apply_preprocessing
    from microseg.train.build import build_model

    config = load_config(ROOT / "configs" / "boundaries.yaml")
    torch.manual_seed(0)
    net = build_model(config)
    x = torch.from_numpy(apply_preprocessing(image[None].astype(np.float32) / 65535, PER_IMAGE))
    rng = np.random.default_rng(0)
    crops = [(int(r), int(c)) for r, c in rng.integers(0, max(1, x.shape[1] - 256), (8, 2))]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                    # cumulative average over the calibration batches
    net.train()
    with torch.no_grad():
        for i in range(0, len(crops), 4):
            net(torch.stack([x[:, r:r + 256, c:c + 256] for r, c in crops[i:i + 4]]))
        net.eval()
        logits = net(x[None, :, :512, :512])
        head = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        head.bias -= float(torch.quantile(logits.flatten()[::7], 1 - BOUNDARY_SHARE))
    return config, net


def _gflop_per_mp(net) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.zeros(1, net.in_channels, 512, 512))
    return counter.get_total_flops() / 1e9 / (512 * 512 / 1e6)


def _prepared(image: np.ndarray):
    import torch

    from microseg.data import apply_preprocessing
    from microseg.infer import as_image_array

    return torch.from_numpy(apply_preprocessing(as_image_array(image), PER_IMAGE))[None]


def _whole(net, image):
    import torch

    with torch.no_grad():
        return torch.sigmoid(net(_prepared(image)))[0, 0].numpy()


def _microseg(net, image, precision="fp32", tile_size=TILE):
    from microseg.infer import predict_probs

    return predict_probs((net, {"preprocessing": PER_IMAGE}), image, device="cpu", tile_size=tile_size,
                         overlap=OVERLAP, batch_size=BATCH, precision=precision)[0]


def _seed000_starts(n: int, tile: int = 512, stride: int = 256) -> list[int]:
    if n <= tile:
        return [0]
    starts = list(range(0, n - tile + 1, stride))
    return starts if starts[-1] == n - tile else starts + [n - tile]


def _seed000(net, image):
    """Eager, default format, no_grad, one 512² tile per pass at a stride of 256, centres kept."""
    import torch

    x = _prepared(image)
    h, w = x.shape[-2:]
    out = np.empty((h, w), np.float32)
    rows, cols = _seed000_starts(h), _seed000_starts(w)

    def keep(starts, i, n):   # [from, to) that tile i keeps: from the middle of one overlap to the next
        lo = 0 if i == 0 else (starts[i] + min(n, starts[i - 1] + 512)) // 2
        hi = n if i == len(starts) - 1 else (starts[i + 1] + min(n, starts[i] + 512)) // 2
        return lo, hi

    with torch.no_grad():
        for i, r in enumerate(rows):
            r0, r1 = keep(rows, i, h)
            for j, c in enumerate(cols):
                c0, c1 = keep(cols, j, w)
                p = torch.sigmoid(net(x[:, :, r:r + 512, c:c + 512]))[0, 0].numpy()
                out[r0:r1, c0:c1] = p[r0 - r:r1 - r, c0 - c:c1 - c]
    return out


def _monai(net, image):
    import torch
    from monai.inferers import sliding_window_inference

    x = _prepared(image)
    if next(net.parameters()).is_contiguous(memory_format=torch.channels_last):
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = sliding_window_inference(x, roi_size=TILE, sw_batch_size=BATCH, overlap=OVERLAP, mode="gaussian",
                                       predictor=lambda t: torch.sigmoid(net(t)))
    return np.asarray(out[0, 0], np.float32)


def _agreement(prob: np.ndarray, ref: np.ndarray, border: int = 32) -> tuple[float, float, float]:
    """(fraction of mask pixels that differ, the same away from the border, max |prob diff|)."""
    a, b = prob >= 0.5, ref >= 0.5
    inner = (slice(border, -border), slice(border, -border))
    return float((a != b).mean()), float((a != b)[inner].mean()), float(np.abs(prob - ref).max())


def _rounds(paths: dict, repeat: int, budget: float) -> tuple[dict, dict, list[float], int]:
    """Every path once per round (a matmul peak just before), up to ``repeat`` rounds within ``budget`` s.

    Returns the times per path, each path's first output, the peaks and the number of rounds.
    """
    times: dict[str, list[float]] = {k: [] for k in paths}
    outputs: dict[str, np.ndarray] = {}
    peaks: list[float] = []
    t_start = time.perf_counter()
    for k in range(repeat):
        peaks.append(_matmul_gflops())
        for name, fn in paths.items():
            if name.endswith("(one run)") and k:
                continue
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            outputs.setdefault(name, out)
        spent = time.perf_counter() - t_start
        if spent / (k + 1) * (k + 2) > budget:
            return times, outputs, peaks, k + 1
    return times, outputs, peaks, repeat


def _paths(net, image, bf16: bool, *, reference: bool = True) -> dict:
    import torch

    paths = {"microseg": lambda: _microseg(net, image), "seed 000": lambda: _seed000(net, image)}
    try:
        import monai  # noqa: F401
    except ImportError:
        print("  MONAI: skipped, monai is not installed (pip install 'microseg[bench]')")
    else:
        net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
        paths["MONAI"] = lambda: _monai(net, image)
        paths["MONAI, channels-last model"] = lambda: _monai(net_cl, image)
    if bf16:
        paths["microseg bf16"] = lambda: _microseg(net, image, "bf16")
    if reference:
        paths["microseg, 1024² tiles (one run)"] = lambda: _microseg(net, image, tile_size=1024)
    return paths


def _setup(size: int):
    """The image, the model and its GFLOP per MP, with what they are."""
    import torch

    t0 = time.perf_counter()
    image = _image(size)
    config, net = _model(image)
    gf_mp = _gflop_per_mp(net)
    m = config.model
    print(f"  model: {m.arch} / {m.encoder} {m.options} (configs/boundaries.yaml), seeded random weights, "
          f"batch norms calibrated on the image, eval mode; {size} x {size} px 16-bit synthetic SE image")
    print(f"  torch {torch.__version__}, {torch.get_num_threads()} threads (interop "
          f"{torch.get_num_interop_threads()}); setup {time.perf_counter() - t0:.0f} s; {_load()}")
    return image, net, gf_mp


def run(report, *, size: int = SIZE, repeat: int = REPEAT, budget: float = BUDGET_S) -> None:
    import torch

    from microseg.infer.precision import fast_reduced_dtype
    from microseg.infer.tiling import tile_starts

    bf16 = fast_reduced_dtype(torch.device("cpu")) is not None   # AVX512-BF16 or AMX in the CPU flags
    image, net, gf_mp = _setup(size)
    t0 = time.perf_counter()
    ref = _whole(net, image)
    print(f"  reference: the whole image in one eager pass, {time.perf_counter() - t0:.1f} s; "
          f"{100 * (ref >= 0.5).mean():.1f} % of its pixels >= 0.5")
    t0 = time.perf_counter()
    _rounds(_paths(net, image[:TILE], bf16, reference=False), 1, budget)   # oneDNN's kernels for each shape
    print(f"  warm-up on the top {min(TILE, size)} rows: {time.perf_counter() - t0:.0f} s")
    times, outs, peaks, rounds = _rounds(_paths(net, image, bf16), repeat, budget)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  {rounds} round(s), {_load()}; median (best) s per image: "
          + ", ".join(f"{k} {med[k]:.1f} ({min(v):.1f})" for k, v in times.items()))
    mp = size * size / 1e6
    n_tiles = len(tile_starts(size, TILE, int(TILE * OVERLAP), align=net.pad_multiple)) ** 2
    executed = n_tiles * gf_mp * TILE * TILE / 1e6                      # GFLOP the tiles run
    fraction = statistics.median(executed / t / p for t, p in zip(times["microseg"], peaks))
    threads = torch.get_num_threads()
    report(f"fp32 matmul peak, 4096², {threads} threads (median over rounds)", statistics.median(peaks), "GFLOP/s")
    report("model: GFLOP per megapixel (FlopCounterMode, 512²)", gf_mp, "GF/MP")
    report(f"microseg ({TILE}² tiles, overlap {OVERLAP}, batch {BATCH}), {size}²", mp / med["microseg"], "MP/s")
    report(f"microseg executed GFLOP/s ({n_tiles} tiles) / the round's peak", fraction, "", ">= 0.6")
    report("microseg GFLOP/s of the image alone / peak", fraction * mp * TILE ** -2 * 1e6 / n_tiles, "")
    report("seed 000 path (eager, stride 256, centres)", mp / med["seed 000"], "MP/s")
    report("microseg / seed 000 speed", med["seed 000"] / med["microseg"], "x", ">= 3")
    if "MONAI" in med:
        report("MONAI sliding_window_inference (gaussian, 0.25)", mp / med["MONAI"], "MP/s")
        report("microseg / MONAI speed", med["MONAI"] / med["microseg"], "x", ">= 1.5")
        report("MONAI, channels-last model (reference)", mp / med["MONAI, channels-last model"], "MP/s")
    report("microseg, 1024² tiles (reference, one run)", mp / med["microseg, 1024² tiles (one run)"], "MP/s")
    _report_agreement(report, outs, ref)
    if bf16:
        report("bf16 / fp32 speed (microseg)", med["microseg"] / med["microseg bf16"], "x", ">= 2")
    else:
        print("  bf16: skipped, this CPU has neither AVX512-BF16 nor AMX (no avx512_bf16 / amx_bf16 in "
              "/proc/cpuinfo): bf16 would be emulated, slower than fp32")


def _report_agreement(report, outs: dict, ref: np.ndarray) -> None:
    agree = {k: _agreement(v, ref) for k, v in outs.items()}
    for name, (mask, inner, diff) in agree.items():
        target = None
        if name == "microseg":
            others = [f"{agree[k][0]:.3g} ({k})" for k in ("seed 000", "MONAI") if k in agree]
            target = "<= " + ", ".join(others)
        label = name.replace(" (one run)", "")
        report(f"{label}: mask pixels differing from the whole image", mask, "", target)
        report(f"{label}: the same, 32 px from the border", inner, "")
        report(f"{label}: max |prob diff| from the whole image", diff, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SIZE, help=f"image side in px (default {SIZE})")
    parser.add_argument("--repeat", type=int, default=REPEAT, help=f"rounds at most (default {REPEAT})")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for the timed rounds")
    args = parser.parse_args(argv)
    from run import machine

    print(f"machine: {machine()}")
    run(print_report, size=args.size, repeat=args.repeat, budget=args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
