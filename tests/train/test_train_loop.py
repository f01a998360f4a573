"""The training loop: resume determinism, no pickle, early stopping, best checkpoint, train()."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from microseg import losses
from microseg._util import InputError
from microseg.data import PatchDataset
from microseg.config import load_config
from microseg.train import fit, train, validate
from microseg.train.config import TrainConfig
from microseg.train.pretrain import synthetic_samples


class _Kill(Exception):
    pass


@pytest.fixture(scope="module")
def datasets():
    samples = synthetic_samples("se", n_images=2, size=64, mean_diameter_px=14, seed=1)
    train_data = PatchDataset(samples, patch=32, seed=0)            # 8 items
    val_data = PatchDataset(samples, patch=32, augment=(), seed=1)
    return train_data, val_data


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout2d(0.3),
                         nn.Conv2d(6, 1, 3, padding=1))


def _save(model, folder, metadata):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "model.json").write_text(json.dumps(metadata))


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=3, batch=2, lr=1e-2, schedule="step", step_size=1, gamma=0.5, device="cpu",
                checkpoint_every_steps=2, seed=7)
    return TrainConfig(**{**base, **kw})


def _tensors(folder):
    return {**load_file(str(folder / "model.safetensors")),
            **{f"opt:{k}": v for k, v in load_file(str(folder / "optimizer.safetensors")).items()
               if k.startswith("state.")}}


def _strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.mark.parametrize("kill_at", [5, 6])  # 5: after a checkpoint at step 4; 6: right on one
def test_killed_and_resumed_equals_uninterrupted(datasets, tmp_path, kill_at):
    train_data, val_data = datasets
    full = fit(_net(), losses.build("bce"), train_data, val_data, config=_cfg(), out_dir=tmp_path / "full",
               save_model=_save)

    def kill(event, state):
        if event == "step" and state.step == kill_at:
            raise _Kill

    with pytest.raises(_Kill):
        fit(_net(), losses.build("bce"), train_data, val_data, config=_cfg(), out_dir=tmp_path / "cut",
            save_model=_save, hooks=[kill])
    torch.manual_seed(12345)  # the resumed process starts from another global RNG state
    np.random.seed(99)
    resumed = fit(_net(), losses.build("bce"), train_data, val_data, config=_cfg(), out_dir=tmp_path / "cut",
                  save_model=_save)
    a, b = _tensors(tmp_path / "full" / "last"), _tensors(tmp_path / "cut" / "last")
    assert a.keys() == b.keys() and len(a) > 10
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.steps == full.steps == 12 and resumed.epochs == 3
    assert _strip(resumed.history) == _strip(full.history)
    assert [r["lr"] for r in full.history] == [1e-2, 5e-3, 2.5e-3]


def test_checkpoints_hold_no_pickle(datasets, tmp_path):
    train_data, val_data = datasets
    fit(_net(), losses.build("bce"), train_data, val_data, config=_cfg(epochs=1), out_dir=tmp_path,
        save_model=_save)
    files = [p for p in (tmp_path / "last").rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["model.safetensors", "optimizer.safetensors", "state.json"]
    for p in files:
        assert not p.read_bytes().startswith(b"\x80")  # pickle protocol marker
    state = json.loads((tmp_path / "last" / "state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == 4 and "rng" in state
    assert not list(tmp_path.glob(".*part*"))  # no temporary folders left behind


def test_early_stopping_stops(datasets, tmp_path):
    train_data, val_data = datasets
    cfg = _cfg(epochs=10, lr=1e-12, schedule="constant", early_stop=2, monitor="val_loss",
               checkpoint_every_steps=0)
    torch.manual_seed(0)
    still = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))
    result = fit(still, losses.build("bce"), train_data, val_data, config=cfg, out_dir=tmp_path,
                 save_model=_save)
    assert result.epochs == 3 and result.stop_reason.startswith("early stop")
    assert len(json.loads((tmp_path / "metrics.json").read_text())["epochs"]) == 3


def test_best_checkpoint_is_best_val_metric(datasets, tmp_path):
    train_data, val_data = datasets
    cfg = _cfg(epochs=3, lr=5e-2, schedule="constant", monitor="f1", checkpoint_every_steps=0)
    result = fit(_net(), losses.build("bce"), train_data, val_data, config=cfg, out_dir=tmp_path,
                 save_model=_save)
    f1 = [row["f1"] for row in result.history]
    assert result.best_epoch == int(np.argmax(f1)) and result.best_metric == max(f1)
    meta = json.loads((tmp_path / "best" / "model.json").read_text())
    assert meta["epoch"] == result.best_epoch + 1 and meta["metrics"]["f1"] == max(f1)
    model = _net()
    model.load_state_dict(load_file(str(tmp_path / "best" / "model.safetensors")))
    again = validate(model, val_data, None, device=torch.device("cpu"), batch=2, thin=cfg.thin)
    assert again["f1"] == pytest.approx(max(f1))
    csv_rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv_rows[0].startswith("epoch,step,lr,train_loss,val_loss,f1,bf_f1") and len(csv_rows) == 4


def test_fit_checks_its_inputs(datasets, tmp_path):
    train_data, _ = datasets
    with pytest.raises(InputError, match="TrainConfig"):
        fit(_net(), losses.build("bce"), train_data, config={"epochs": 1}, out_dir=tmp_path)
    with pytest.raises(InputError, match="fp16.*CUDA"):
        fit(_net(), losses.build("bce"), train_data, config=_cfg(precision="fp16"), out_dir=tmp_path)


TINY = ["data.pairs=synthetic:se", "data.synthetic={n_images: 2, size: 64, mean_diameter_px: 14}",
        "data.split=random", "data.patch=32", "model.arch=unet_plain",
        "model.options={base_channels: 4, depth: 2}", "train.epochs=1", "train.batch=4",
        "train.lr=1e-2", "loss.name=bce", "train.device=cpu"]


def test_train_from_config_then_fine_tune(tmp_path):
    from microseg.models import load_model

    cfg = load_config(None, overrides=TINY + ["train.precision=bf16", "train.channels_last=true"])
    first = train(cfg, out_dir=tmp_path / "bce")
    for name in ("config.yaml", "metrics.csv", "metrics.json", "best/model.json", "best/model.safetensors"):
        assert (tmp_path / "bce" / name).is_file()
    model, meta = load_model(first.best_dir)
    assert meta["preprocessing"]["normalize"]["mode"] == "per_image" and meta["target"] == "boundaries"
    assert meta["training_config"]["model"]["arch"] == "unet_plain"
    # seed 001's second stage: BCE + 0.04 Topo at lr 1e-5, from the BCE model
    ft = cfg.replace(loss={"name": "bce_topo", "topo_lambda": 0.04}, train={"lr": 1e-5, "precision": "fp32",
                                                                          "channels_last": False})
    second = train(ft, out_dir=tmp_path / "topo", init_from=first.best_dir)
    assert second.steps == first.steps
    assert load_config(tmp_path / "topo" / "config.yaml").train.init_from == str(first.best_dir)
    tuned, _ = load_model(second.best_dir)
    moved = [not torch.equal(a, b) for a, b in zip(model.state_dict().values(), tuned.state_dict().values())
             if a.is_floating_point()]
    assert any(moved)


def test_time_budget_stops_and_resumes_to_the_same_weights(datasets, tmp_path):
    train_data, val_data = datasets
    cfg = _cfg(epochs=2, checkpoint_every_steps=0)
    fit(_net(), losses.build("bce"), train_data, val_data, config=cfg, out_dir=tmp_path / "full",
        save_model=_save)
    cut = fit(_net(), losses.build("bce"), train_data, val_data, config=_cfg(epochs=2, max_minutes=1e-9),
              out_dir=tmp_path / "cut", save_model=_save)
    assert cut.steps == 1 and cut.stop_reason.startswith("time budget") and cut.history[-1]["partial"]
    assert cut.best_dir is not None
    done = fit(_net(), losses.build("bce"), train_data, val_data, config=cfg, out_dir=tmp_path / "cut",
               save_model=_save)
    assert done.steps == 8 and done.stop_reason == "completed"
    a, b = _tensors(tmp_path / "full" / "last"), _tensors(tmp_path / "cut" / "last")
    assert all(torch.equal(a[k], b[k]) for k in a)
