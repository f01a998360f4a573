"""Synthetic pretraining samples: boundary and phase modes, per-image option ranges, configs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microseg._util import InputError
from microseg.config import load_config
from microseg.train import synthetic_samples
from microseg.train.build import load_training_samples
from microseg.train.pretrain import MODES, PHASE_MODES

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SMALL = {"precipitates": {"size_px": 16}, "porous": {"pore_size_px": 10},
         "coating": {"thickness_px": [20, 20], "substrate_px": 16}}


@pytest.mark.parametrize("mode", sorted(PHASE_MODES))
def test_phase_modes_give_samples_with_exact_masks(mode):
    samples = synthetic_samples(mode, n_images=2, size=(64, 72), seed=2, **SMALL[mode])
    assert [s.name for s in samples] == [f"synthetic_{mode}_0", f"synthetic_{mode}_1"]
    for s in samples:
        assert s.image.shape == (1, 64, 72) and s.image.dtype == np.float32
        assert 0.0 <= s.image.min() and s.image.max() <= 1.0 and s.image.max() > 0.3
        assert s.mask.shape == (64, 72) and s.mask.dtype == np.uint8 and set(np.unique(s.mask)) == {0, 1}
        assert s.pixel_size > 0 and s.source.startswith(f"synthetic:{mode}:2:")
    assert not np.array_equal(samples[0].mask, samples[1].mask)
    again = synthetic_samples(mode, n_images=2, size=(64, 72), seed=2, **SMALL[mode])
    np.testing.assert_array_equal(samples[1].image, again[1].image)


def test_phase_sample_is_the_generator_output():
    from microseg.synth import make_precipitates

    s = synthetic_samples("precipitates", n_images=1, size=64, seed=3, size_px=16)[0]
    m = make_precipitates((64, 64), size_px=16, seed=3000)
    np.testing.assert_array_equal(s.mask, m.mask)
    np.testing.assert_allclose(s.image[0], m.image.data / 255.0, atol=1e-7)


def test_ranges_and_choices_are_drawn_per_image():
    samples = synthetic_samples("precipitates", n_images=6, size=64, seed=0, size_px=14,
                                fraction=[0.15, 0.6], polarity=["dark", "bright"], noise=0.0)
    fractions = [float(s.mask.mean()) for s in samples]
    assert all(0.1 < f < 0.65 for f in fractions) and np.ptp(fractions) > 0.1
    darker = [s.image[0][s.mask == 1].mean() < s.image[0][s.mask == 0].mean() for s in samples]
    assert any(darker) and not all(darker)
    fixed = synthetic_samples("precipitates", n_images=2, size=64, seed=0, size_px=14, fraction=0.3)
    assert all(abs(float(s.mask.mean()) - 0.3) < 0.08 for s in fixed)


@pytest.mark.parametrize("mode, options, match", [
    ("precipitate", {}, "unknown synthetic mode 'precipitate'.*did you mean 'precipitates'"),
    ("precipitates", {"sizepx": 10}, "unknown option of synthetic:precipitates 'sizepx'.*'size_px'"),
    ("precipitates", {"size_px": [30, 10]}, "size_px: a range must be .low, high. with low <= high"),
    ("precipitates", {"size_px": [10, 20, 30]}, "size_px: a range must be .low, high. numbers"),
    ("porous", {"positive": []}, "positive: an empty list"),
    ("coating", {"n_images": 0}, "n_images must be a positive integer"),
])
def test_bad_options_raise_one_line_errors(mode, options, match):
    kw = {"n_images": 1, "size": 32, **options}
    with pytest.raises(InputError, match=match) as info:
        synthetic_samples(mode, **kw)
    assert "\n" not in str(info.value)


def test_modes_cover_boundaries_and_phases():
    assert set(MODES) == {"se", "bse", "precipitates", "porous", "coating"}
    s = synthetic_samples("se", n_images=1, size=48, mean_diameter_px=14, seed=1)[0]
    assert s.mask.dtype == np.uint8 and s.mask.mean() < 0.3  # 1-px boundaries


def test_config_pairs_name_the_phase_modes():
    cfg = load_config(CONFIGS / "pretrain_phases.yaml", overrides=["data.synthetic.n_images=1",
                                                                   "data.synthetic.size=64"])
    assert cfg.data.pairs == "synthetic:precipitates" and cfg.data.target == "phase"
    samples = load_training_samples(cfg.data, seed=4)
    assert len(samples) == 1 and samples[0].image.shape == (1, 64, 64)
    assert samples[0].name == "synthetic_precipitates_0"


def test_tiny_phase_pretraining_run(tmp_path):
    from microseg.train import train

    cfg = load_config(None, overrides=[
        "data.pairs=synthetic:porous", "data.synthetic={n_images: 2, size: 64, pore_size_px: 10}",
        "data.target=phase", "data.split=random", "data.patch=32", "model.arch=unet_plain",
        "model.options={base_channels: 4, depth: 2}", "train.epochs=1", "train.batch=4",
        "train.lr=1e-2", "loss.name=bce", "train.device=cpu"])
    result = train(cfg, out_dir=tmp_path / "run")
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file() and result.steps > 0


def test_a_phase_mode_needs_the_phase_target():
    from microseg.config import load_config
    from microseg.train.build import load_training_samples

    cfg = load_config(None, overrides=["data.pairs=synthetic:precipitates", "data.target=boundaries"])
    with pytest.raises(InputError, match="set data.target: phase"):
        load_training_samples(cfg.data)
