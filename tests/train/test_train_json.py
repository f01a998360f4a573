"""JSON written by training (metrics.json, checkpoint state.json, model.json) follows the one rule."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from microseg._util import FileFormatError, InputError
from microseg.train.checkpoint import STATE_FILE, load_checkpoint, save_checkpoint
from microseg.train.loop import write_metrics


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_metrics_json_writes_nan_as_null(tmp_path):
    history = [{"epoch": 1, "step": 4, "lr": np.float32(0.5), "train_loss": 0.7, "val_loss": float("nan"),
                "bf_f1": float("inf"), "partial": False}]
    write_metrics(tmp_path, history, {"best_metric": float("nan"), "out": tmp_path})
    doc = _strict((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert doc["epochs"][0]["val_loss"] is None and doc["epochs"][0]["bf_f1"] is None
    assert doc["epochs"][0]["lr"] == 0.5 and doc["summary"]["best_metric"] is None
    assert doc["summary"]["out"] == str(tmp_path)


def test_checkpoint_state_is_strict_json_and_a_damaged_one_names_the_file(tmp_path):
    model = nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    state = {"epoch": 1, "step": 1, "loop": {"metrics": {"bf_f1": float("nan"), "f1": 0.5}}}
    save_checkpoint(tmp_path / "last", model=model, optimizer=opt, state=state)
    doc = _strict((tmp_path / "last" / STATE_FILE).read_text(encoding="utf-8"))
    assert doc["loop"]["metrics"] == {"bf_f1": None, "f1": 0.5}
    back = load_checkpoint(tmp_path / "last", model=nn.Linear(2, 1),
                           optimizer=torch.optim.Adam(nn.Linear(2, 1).parameters()), restore_rng=False)
    assert back["loop"]["metrics"]["bf_f1"] is None and back["step"] == 1
    (tmp_path / "last" / STATE_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"state\.json: not valid JSON"):
        load_checkpoint(tmp_path / "last", model=model, optimizer=opt)


def test_model_json_refuses_nan_and_says_where(tmp_path):
    from microseg import models

    model = models.build(models.available()[0], in_channels=1, classes=1)
    with pytest.raises(InputError, match=r"model\.json cannot hold NaN or infinity.*metadata\.normalize\.std = nan"):
        models.save_model(model, tmp_path / "m", metadata={"normalize": {"mean": 0.5, "std": float("nan")}})
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())
    models.save_model(model, tmp_path / "m", metadata={"normalize": {"mean": np.float32(0.25)}, "shape": (1, 2)})
    doc = _strict((tmp_path / "m" / "model.json").read_text(encoding="utf-8"))
    assert doc["metadata"] == {"normalize": {"mean": 0.25}, "shape": [1, 2]}
