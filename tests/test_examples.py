"""The scripts in examples/ run as written, use only the task API, and get what they promise."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_examples_and_they_use_only_the_task_api():
    assert len(SCRIPTS) >= 4
    for path in SCRIPTS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        ours = {m for m in used if m and m.startswith("microseg")}
        assert ours == {"microseg"}, (path.name, ours)   # "from microseg import tasks"
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "microseg"
                 for a in n.names}
        assert names == {"tasks"}, (path.name, names)


def test_grains_from_a_micrograph(tmp_path, capsys):
    r = _load(EXAMPLES / "grains_from_a_micrograph.py").main(tmp_path)
    n, n_true = r["grains"].summary["n_grains"], r["truth"].summary["n_grains"]
    assert abs(n - n_true) <= 0.15 * n_true
    assert r["grains"].summary["mean_ecd_um"] == pytest.approx(r["truth"].summary["mean_ecd_um"], rel=0.1)
    assert r["score"].summary["bf_f1"] > 0.8
    assert (tmp_path / "grains" / "grains.csv").is_file() and "mean ECD" in capsys.readouterr().out


def test_ebsd_to_training_pair(tmp_path):
    r = _load(EXAMPLES / "ebsd_to_training_pair.py").main(tmp_path)
    assert r["ebsd"].summary["n_grains"] > 10
    assert r["pair"].valid.mean() > 0.5 and 0.02 < r["pair"].boundaries[r["pair"].valid].mean() < 0.2
    for name in ("image.tif", "boundaries.tif", "valid.tif", "meta.json", "overlay.png"):
        assert (tmp_path / "pair" / name).is_file()


def test_fib_sem_phase_fraction(tmp_path):
    r = _load(EXAMPLES / "fib_sem_phase_fraction.py").main(tmp_path)
    fraction = r["segment"].images[0].phase_fraction
    assert len(fraction) == 16 and abs(fraction.mean() - r["truth_fraction"]) < 0.05
    assert r["score"].summary["iou"] > 0.7
    assert (tmp_path / "seg" / "stack_phase_fraction.csv").is_file()


def test_train_and_predict(tmp_path):
    r = _load(EXAMPLES / "train_and_predict.py").main(tmp_path)
    assert r["run"].summary["stop_reason"] == "completed"
    assert (tmp_path / "run" / "last" / "model.json").is_file() and (tmp_path / "pred" / "image_prob.tif").is_file()
    assert r["grains"].summary["n_grains"] >= 0.5 * r["truth"].summary["n_grains"]
