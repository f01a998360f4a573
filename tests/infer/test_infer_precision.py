"""precision="auto": reduced precision only where the hardware is made for it and the masks stay."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg import infer
from microseg.infer import precision as P


def test_mask_disagreement_is_one_minus_the_worse_of_iou_and_f1():
    a = np.zeros(100, bool)
    a[:10] = True
    assert P.mask_disagreement(a, a) == 0.0
    assert P.mask_disagreement(np.zeros(5), np.zeros(5)) == 0.0      # two empty masks agree
    b = a.copy()
    b[10] = True                                                        # IoU 10/11, F1 20/21
    assert P.mask_disagreement(a, b) == pytest.approx(1 - 10 / 11)


def test_the_cpu_without_bf16_units_stays_fp32(monkeypatch):
    monkeypatch.setattr(P, "_cpu_flags", lambda: {"avx2", "avx512f"})
    assert P.fast_reduced_dtype(torch.device("cpu")) is None
    monkeypatch.setattr(P, "_cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert P.fast_reduced_dtype(torch.device("cpu")) is torch.bfloat16
    called = []
    monkeypatch.setattr(P, "_cpu_flags", lambda: set())
    assert P.calibrate(lambda p: called.append(p), np.zeros((1, 1, 8, 8), np.float32),
                       device=torch.device("cpu")) == "fp32"
    assert called == [], "nothing is probed where reduced precision is not fast"


class _Mean(torch.nn.Module):
    """Logits ``10 * (mean over 3 x 3 - 0.5)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        torch.nn.init.constant_(self.conv.weight, 1 / 9)
        torch.nn.init.zeros_(self.conv.bias)

    def forward(self, x):
        return 10.0 * (self.conv(x) - 0.5)


def _image(kind: str) -> np.ndarray:
    if kind == "blocks":   # 3 x 3 means are k/9: at least 0.056 from the threshold, far beyond bf16's rounding
        y, x = np.mgrid[0:96, 0:80]
        return (((y // 12) + (x // 10)) % 2).astype(np.float32)
    return np.random.default_rng(0).random((96, 80)).astype(np.float32)   # means all around 0.5


@pytest.mark.parametrize("kind, expected", [("blocks", "bf16"), ("noise", "fp32")])
def test_auto_keeps_bf16_only_where_the_masks_stay(monkeypatch, kind, expected):
    """Seen through predict, with bf16 units 'present': where every logit is far from 0 bf16 is
    kept; where many sit within bf16's rounding of 0 the masks flip and prediction stays fp32."""
    monkeypatch.setattr(P, "_cpu_flags", lambda: {"amx_bf16"})
    chosen = []
    real = P.calibrate

    def spy(*args, **kwargs):
        chosen.append(real(*args, **kwargs))
        return chosen[-1]

    monkeypatch.setattr(P, "calibrate", spy)
    image, model = _image(kind), _Mean()
    auto = infer.predict_image(model, image, device="cpu", precision="auto", tile_size=64)
    assert chosen == [expected]
    fp32 = infer.predict_image(model, image, device="cpu", precision="fp32", tile_size=64)
    if expected == "fp32":
        assert np.array_equal(auto, fp32)
    else:
        assert not np.array_equal(auto, fp32), "bf16 was used"
        assert np.array_equal(auto >= 0.5, fp32 >= 0.5)
