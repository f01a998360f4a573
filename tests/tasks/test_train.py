"""``tasks.train`` and ``tasks.cv``: what ``microseg train`` / ``cv`` do, as one call each."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from microseg import tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main

TINY = {"data": {"pairs": "synthetic:se", "synthetic": {"n_images": 1, "size": 64, "mean_diameter_px": 14},
                 "split": "random", "patch": 32},
        "model": {"arch": "unet_plain", "options": {"base_channels": 2, "depth": 1}},
        "loss": {"name": "bce"}, "train": {"epochs": 2, "batch": 4, "device": "cpu"}}

CV = ["data.chip=32", "data.patch=32", "data.split=columns", "data.folds=[A, C]",
      "data.synthetic={n_images: 1, size: [64, 128], mean_diameter_px: 14}", "train.epochs=1",
      "train.lr=1e-2", "grains.min_diameter_um=0"]


def _csv_columns(path):
    rows = list(csv.DictReader(path.read_text().splitlines()))
    return {k: [r[k] for r in rows] for k in rows[0]}


def _same_column(task, written):
    expected = np.array([np.nan if v == "" else float(v) for v in written], float)
    np.testing.assert_allclose(np.asarray(task, float), expected, rtol=1e-12, equal_nan=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    return tasks.train(TINY, overrides=["train.lr=1e-2"], output=out)


def test_train_result_is_what_the_run_folder_holds(run):
    out = run.folder
    assert run.config.train.lr == 0.01 and "lr: 0.01" in (out / "config.yaml").read_text()
    written = _csv_columns(out / "metrics.csv")
    assert list(run.table) == list(written)
    for column, values in written.items():
        if column == "partial":
            assert [str(v) for v in run.table[column]] == values
        else:
            _same_column(run.table[column], values)
    assert list(run.table["epoch"]) == [1.0, 2.0]
    doc = json.loads((out / "metrics.json").read_text())["summary"]
    s = run.summary
    for key in ("epochs", "steps", "stop_reason", "monitor"):
        assert s[key] == doc[key], key
    assert s["best_metric"] == pytest.approx(doc["best_metric"]) and s["best_epoch"] == doc["best_epoch"] + 1
    best_row = list(run.table["epoch"]).index(s["best_epoch"])
    assert run.table[s["monitor"]][best_row] == pytest.approx(s["best_metric"])
    assert run.text == (f"{s['stop_reason']}: 2 epochs, {s['steps']} steps; best {s['monitor']} "
                        f"{s['best_metric']:.4f} at epoch {s['best_epoch']}")
    assert json.loads(json.dumps(s)) == s


def test_train_write_copies_the_run_all_or_nothing(run, tmp_path, monkeypatch):
    import shutil

    from microseg.tasks import _train

    copy = tmp_path / "copy"
    calls = []

    def broken(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 2:
            raise OSError("disk full")
        return shutil.copytree(src, dst, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(_train.shutil, "copytree", broken)
        with pytest.raises(OSError, match="disk full"):
            run.write(copy)
    assert not copy.exists()                           # neither best/ nor a temporary folder, nor the folder
    run.write(copy)
    names = ["best", "last", "metrics.json", "metrics.csv", "config.yaml"]
    assert sorted(p.name for p in copy.iterdir()) == sorted(names)
    assert (copy / "metrics.csv").read_bytes() == (run.folder / "metrics.csv").read_bytes()
    assert (copy / "best" / "model.safetensors").read_bytes() == \
        (run.folder / "best" / "model.safetensors").read_bytes()
    with pytest.raises(OutputExistsError):
        run.write(copy)
    assert (copy / "metrics.csv").read_bytes() == (run.folder / "metrics.csv").read_bytes()


def test_train_resumes_refuses_and_starts_afresh(run, tmp_path, monkeypatch, capsys):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(run.folder, out)
    before = (out / "metrics.csv").read_bytes()
    again = tasks.train(TINY, overrides=["train.lr=1e-2"], output=out)   # finished: nothing left to do
    assert again.summary["steps"] == run.summary["steps"] and (out / "metrics.csv").read_bytes() == before
    assert main(["train", str(out / "config.yaml"), "-o", str(out)]) == 0
    assert capsys.readouterr().out == again.text + "\n"

    import microseg.train

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the run was refused")

    with monkeypatch.context() as m:
        m.setattr(microseg.train, "train", no_training)
        with pytest.raises(OutputExistsError, match="force"):
            tasks.train(TINY, output=out, resume=False)
    assert (out / "metrics.csv").read_bytes() == before
    seen = {}

    def record(config, *, out_dir, resume, progress):
        seen.update(present=sorted(p.name for p in out_dir.iterdir()), resume=resume)
        raise RuntimeError("stop here")

    with monkeypatch.context() as m:
        m.setattr(microseg.train, "train", record)
        with pytest.raises(RuntimeError, match="stop here"):
            tasks.train(TINY, output=out, resume=False, force=True)
    assert seen == {"present": ["config.yaml"], "resume": False}   # the old run is gone


def test_config_from_a_path_a_dict_or_a_config(tmp_path, run):
    from microseg.tasks._train import resolve_config

    path = tmp_path / "run.yaml"
    path.write_text("train: {epochs: 3}\nmodel: {options: {depth: 1}}\n")
    a = resolve_config(path, ["train.lr=1e-3", "model.options.base_channels=4"])
    b = resolve_config({"train": {"epochs": 3}, "model": {"options": {"depth": 1}}},
                       ["train.lr=1e-3", "model.options.base_channels=4"])
    c = resolve_config(run.config.replace(train={"epochs": 3, "lr": 0.5}), ["train.lr=1e-3"])
    assert a.to_dict() == b.to_dict()
    assert a.model.options == {"depth": 1, "base_channels": 4} and a.train.epochs == 3
    assert c.train.lr == 1e-3 and c.train.epochs == 3 and c.model.arch == "unet_plain"
    with pytest.raises(InputError, match="did you mean 'lr'"):
        resolve_config(run.config, ["train.lrr=1"])
    with pytest.raises(InputError, match="config must be"):
        resolve_config(3)


def test_cv_task_is_what_the_cli_writes(tmp_path, capsys):
    out = tmp_path / "cv"
    result = tasks.cv(TINY, overrides=CV, folds=[1], output=out)
    rows = list(csv.reader((out / "cv_results.csv").read_text().splitlines()))
    assert rows[0] == list(result.table) and [r[0] for r in rows[1:]] == ["fold1", "mean", "std", "ensemble"]
    for i, column in enumerate(rows[0]):
        if column in ("model", "test"):
            assert list(result.table[column]) == [r[i] for r in rows[1:]]
        else:
            _same_column(result.table[column], [r[i] for r in rows[1:]])
    doc = json.loads((out / "cv_results.json").read_text())
    s = result.summary
    assert [f["name"] for f in s["folds"]] == ["fold1"] and s["unit"] == doc["ecd_unit"]
    assert s["folds"][0]["f1"] == pytest.approx(doc["folds"][0]["f1"])
    assert result.text == (out / "cv_results.md").read_text()
    # the CLI: refuses to overwrite the table, then resumes the finished fold with --force
    argv = ["cv", str(out / "config.yaml"), "--folds", "1", "-o", str(out)]
    assert main(argv) == 2
    assert "already exist" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert capsys.readouterr().out == (out / "cv_results.md").read_text() + "\n"
    import shutil

    other = tmp_path / "cv2"                                          # fold runs, no table yet
    shutil.copytree(out / "fold1", other / "fold1")
    with pytest.raises(OutputExistsError, match="fold1"):             # retraining them needs force
        tasks.cv(result.config, folds=[1], output=other, resume=False)
    assert (other / "fold1" / "best" / "model.json").is_file()
    copy = tmp_path / "copy"
    result.write(copy)
    assert sorted(p.name for p in copy.iterdir()) == sorted(["fold1", "cv_results.csv", "cv_results.md",
                                                            "cv_results.json", "config.yaml"])
    assert (copy / "fold1" / "best" / "model.json").is_file()
