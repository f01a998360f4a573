"""PyTorch and onnxruntime side by side on the default boundary model (issue 10, item 4).

The architecture of ``configs/boundaries.yaml`` (smp U-Net, resnet18 encoder, decoder
128-64-32-16-16; untrained weights: the speed does not depend on them) is exported with
:func:`microseg.infer.onnx.export_onnx` (checked on a small input) and run on one
1024 x 1024 image: the median of 5 forward passes each, in fp32 on the CPU, PyTorch eager
(default memory format and channels-last, as microseg's runner uses) and onnxruntime's CPU
provider; then their throughput and the largest absolute difference of the logits (and of
the probabilities) on that image.

Usage: python benchmarks/bench_onnx.py   (or python benchmarks/run.py onnx)
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = 1024
REPEAT = 5


def _median_seconds(fn, repeat: int = REPEAT) -> tuple[float, object]:
    fn()                                    # warm-up: allocations, oneDNN/onnxruntime plans
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(report) -> None:
    import torch

    from microseg._util import InputError
    from microseg.config import load_config
    from microseg.infer.onnx import export_onnx, load_onnx
    from microseg.infer.predict import LoadedModel
    from microseg.train.build import build_model

    config = load_config(ROOT / "configs" / "boundaries.yaml")
    torch.manual_seed(0)
    net = build_model(config).eval()
    m = config.model
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "boundaries.onnx"
        t0 = time.perf_counter()
        try:
            check = export_onnx(LoadedModel(net, {}, "boundaries"), path)
        except InputError as exc:           # onnx / onnxruntime / onnxscript not installed
            print(f"  skipped: {exc}")
            return
        export_s = time.perf_counter() - t0
        onnx_model = load_onnx(path).model
        size_mb = path.stat().st_size / 1e6
    import onnxruntime

    print(f"  model: {m.arch} / {m.encoder} {m.options} (configs/boundaries.yaml), untrained; "
          f"{SIZE} x {SIZE} px, fp32")
    print(f"  torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__} "
          f"({onnx_model.session.get_providers()[0]}); export {export_s:.0f} s, {size_mb:.0f} MB, "
          f"check on a small input: max |diff| {check:.2g}")
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, m.in_channels, SIZE, SIZE)).astype(np.float32))
    mp = SIZE * SIZE / 1e6

    def torch_forward(model, inp):
        with torch.inference_mode():
            return model(inp)

    t_eager, ref = _median_seconds(lambda: torch_forward(net, x))
    net_cl = net.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    t_cl, out_cl = _median_seconds(lambda: torch_forward(net_cl, x_cl))
    net.to(memory_format=torch.contiguous_format)
    t_ort, got = _median_seconds(lambda: onnx_model(x))
    print(f"  {'backend':<34}{'ms':>10}{'MP/s':>9}")
    for name, t in (("PyTorch eager (NCHW)", t_eager), ("PyTorch eager (channels-last)", t_cl),
                    ("onnxruntime CPU", t_ort)):
        print(f"  {name:<34}{t * 1e3:>10.0f}{mp / t:>9.3f}")
    diff = float((got - ref).abs().max())
    diff_cl = float((out_cl - ref).abs().max())
    prob_diff = float((torch.sigmoid(got) - torch.sigmoid(ref)).abs().max())
    report(f"PyTorch fp32 NCHW, median of {REPEAT} ({SIZE}²)", t_eager * 1e3, "ms")
    report(f"PyTorch fp32 channels-last, median of {REPEAT}", t_cl * 1e3, "ms")
    report(f"onnxruntime fp32 CPU, median of {REPEAT}", t_ort * 1e3, "ms")
    report("PyTorch NCHW throughput", mp / t_eager, "MP/s")
    report("PyTorch channels-last throughput", mp / t_cl, "MP/s")
    report("onnxruntime throughput", mp / t_ort, "MP/s")
    report("onnxruntime / best PyTorch speed", min(t_eager, t_cl) / t_ort, "x")
    report(f"max |logit diff| onnxruntime vs PyTorch ({SIZE}²)", diff, "", "<= 1e-4")
    report("max |prob diff| onnxruntime vs PyTorch", prob_diff, "", "<= 1e-4")
    report("max |logit diff| channels-last vs NCHW (PyTorch)", diff_cl, "")


if __name__ == "__main__":
    from run import machine

    print(f"machine: {machine()}")
    run(print_report)
