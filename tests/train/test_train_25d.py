"""Training 2.5D models (``data.context``): the model records its context, ``microseg volume`` runs
it with that context, and the split keeps a stack's neighbouring slices apart."""
from __future__ import annotations

import json

import numpy as np
import pytest

from microseg import synth, tasks
from microseg._util import InputError
from microseg.config import load_config
from microseg.data import DataConfig
from microseg.infer import load_models, predict_ensemble
from microseg.infer.volume import as_float_slices, slice_channels
from microseg.train.build import check_input_channels, model_metadata, training_regions
from microseg.train.pretrain import synthetic_samples

TINY_25D = {"data": {"pairs": "synthetic:porous", "target": "phase", "context": 1, "split": "random", "patch": 32,
                     "val_fraction": 0.2, "synthetic": {"n_images": 1, "size": 64, "depth": 10, "pore_size_px": 8}},
            "model": {"arch": "unet_plain", "in_channels": 3, "options": {"base_channels": 2, "depth": 2}},
            "loss": {"name": "bce"}, "train": {"epochs": 2, "batch": 4, "device": "cpu", "lr": 1e-2}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tasks.train(TINY_25D, output=tmp_path_factory.mktemp("train25d") / "run")


@pytest.fixture(scope="module")
def stack():
    phases = synth.make_porous_volume((5, 40, 44), porosity=0.3, pore_size_px=8, seed=7)
    return synth.render_fib_sem(phases, seed=7).data


def test_model_json_records_the_context():
    for k in (0, 2):
        cfg = load_config(None, overrides=[f"data.context={k}", f"model.in_channels={2 * k + 1}"])
        assert model_metadata(cfg)["input"] == {"context": k}


def test_a_trained_25d_model_runs_on_a_stack_with_its_own_context(run, stack):
    best = run.folder / "best"
    meta = json.loads((best / "model.json").read_text())
    assert meta["metadata"]["input"] == {"context": 1} and meta["in_channels"] == 3
    result = tasks.volume(stack, models=str(best), pixel_size=0.02)   # no context given: the model's
    assert result.settings["context"] == 1 and result.prob.shape == stack.shape
    # slice z is predicted from slices z-1..z+1 (edges repeated), as an explicit 3-channel 2D prediction
    models = load_models([str(best)])
    for z in (0, 2, 4):
        prob, _ = predict_ensemble(models, as_float_slices(slice_channels(stack, z, 1)), pixel_size=0.02,
                                   device="cpu")
        np.testing.assert_allclose(result.prob[z], prob, atol=1e-6)
    with pytest.raises(InputError, match="trained on 3 slices .*context 1.* but context 0"):
        tasks.volume(stack, models=str(best), context=0, pixel_size=0.02)


def test_in_channels_that_do_not_match_the_context_are_refused_before_training(tmp_path):
    bad = {**TINY_25D, "model": {**TINY_25D["model"], "in_channels": 1}}
    with pytest.raises(InputError, match=r"model.in_channels is 1 but data.context: 1 gives each sample 3 "
                                         r"channels .*; set model.in_channels: 3 for data.context: 1"):
        tasks.train(bad, output=tmp_path / "run")
    assert not any((tmp_path / "run" / name).exists() for name in ("best", "last", "metrics.csv"))
    cfg = load_config(None, overrides=["model.in_channels=3"])
    with pytest.raises(InputError, match="set model.in_channels: 1 for data.context: 0"):
        check_input_channels(cfg)


def test_fine_tuning_a_25d_model_without_its_context_is_refused(run, tmp_path):
    cfg = {**TINY_25D, "data": {**TINY_25D["data"], "context": 0}}
    with pytest.raises(InputError, match=r"train.init_from=.*best is 3 but data.context: 0 gives each sample "
                                         r"1 channel .*fine-tune it with data.context: 1"):
        tasks.train(cfg, output=tmp_path / "ft", overrides=[f"train.init_from={run.folder / 'best'}"])


@pytest.mark.parametrize("split,k", [("random", 1), ("crops", 2), ("columns", 1)])
def test_no_training_patch_is_within_2k_of_a_validation_slice(split, k):
    samples = synthetic_samples("porous", n_images=2, size=32, depth=14, context=k, pore_size_px=6)
    data = DataConfig(pairs="synthetic:porous", target="phase", split=split, patch=16, chip=16, context=k,
                      val_fraction=0.2, folds=("B",), fold=1 if split == "columns" else None)
    train, val = training_regions(samples, data, seed=3)
    assert train and val
    for region in val:
        z, source = samples[region.sample].z, samples[region.sample].source
        near = [r for r in train if samples[r.sample].source == source and abs(samples[r.sample].z - z) <= 2 * k]
        assert not near
    by_slice = {}
    for side, regions in (("train", train), ("val", val)):
        for r in regions:
            by_slice.setdefault(r.sample, set()).add(side)
    assert all(len(sides) == 1 for sides in by_slice.values())   # a slice's patches stay on one side
    for source in {s.source for s in samples}:   # one contiguous validation block per stack
        zs = sorted({samples[r.sample].z for r in val if samples[r.sample].source == source})
        assert zs == list(range(zs[0], zs[0] + 2))
    if split == "columns":   # the held-out column B (x 16..32) neither trains nor validates
        assert all(r.slices[1].start == 0 for r in train + val)
