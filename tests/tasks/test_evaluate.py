"""``tasks.evaluate``: what ``microseg evaluate`` writes and prints, as one call."""
from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest

from microseg import io, synth, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.tasks._evaluate import OUTPUTS, EvaluateResult


def _strict_json(text: str):
    """JSON as every reader takes it: a bare NaN or Infinity is an error."""
    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _csv(path):
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows[0] == ["metric", "value"]
    return {k: float(v) for k, v in rows[1:]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    poly = synth.make_polycrystal((160, 224), mean_diameter_px=26.0, pixel_size=0.05, seed=7)
    truth = poly.boundaries
    pred = np.roll(truth, 1, axis=1).astype(np.float32) * 0.8   # shifted by a pixel, weaker
    pred[40:44, 50:120] = 0.7                                    # and a false boundary
    io.write_image(root / "truth.tif", truth, pixel_size=0.05)
    io.write_prob(root / "pred.tif", pred, pixel_size=0.05)
    mask = np.zeros(truth.shape, np.uint8)
    mask[:, :150] = 1
    io.write_image(root / "mask.tif", mask, pixel_size=0.05)
    return {"pred": root / "pred.tif", "truth": root / "truth.tif", "mask": root / "mask.tif",
            "arrays": (io.read_prob(root / "pred.tif"), truth, mask.astype(bool))}


@pytest.fixture(scope="module")
def result(files):
    return tasks.evaluate(files["pred"], files["truth"], mask=files["mask"])


def test_the_task_is_what_the_cli_writes(files, result, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(files["pred"]), str(files["truth"]), "--mask", str(files["mask"]),
                 "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.csv", "eval.json"]
    assert _strict_json(out.read_text()) == _strict_json(io.json_text(result.summary))
    s = result.summary
    assert s["pred"] == str(files["pred"]) and s["truth"] == str(files["truth"])
    assert 0 < s["f1"] < 1 and 0 < s["ari"] < 1 and s["mean_ecd_true_um"] > 0
    written = _csv(tmp_path / "eval.csv")
    assert list(written) == list(result.table["metric"])
    np.testing.assert_allclose(list(written.values()), result.table["value"], rtol=1e-12)
    assert written["n_grains_true"] == s["n_grains_true"] and "kind" not in written


def test_without_output_the_cli_prints_valid_json(files, tmp_path, capsys):
    empty = tmp_path / "empty.tif"          # no boundary found: the grain distances are undefined
    io.write_image(empty, np.zeros((160, 224), np.uint8), pixel_size=0.05)
    assert main(["evaluate", str(empty), str(files["truth"])]) == 0
    printed = capsys.readouterr().out
    doc = _strict_json(printed)
    assert doc["js_ecd"] is None and doc["n_grains_pred"] == 0 and doc["f1"] == 0.0
    assert printed == tasks.evaluate(empty, files["truth"]).text + "\n"


def test_arrays_give_what_the_files_give(files, result):
    pred, truth, mask = files["arrays"]
    from_arrays = tasks.evaluate(pred, truth, pixel_size=0.05, mask=mask)
    assert from_arrays.summary["pred"] is None
    same = {k: v for k, v in result.summary.items() if k not in ("pred", "truth")}
    assert {k: v for k, v in from_arrays.summary.items() if k not in ("pred", "truth")} == same
    unmasked = tasks.evaluate(pred, truth, pixel_size=0.05)
    assert unmasked.summary["n_grains_true"] > result.summary["n_grains_true"]
    in_px = tasks.evaluate(pred, truth)
    assert "mean_ecd_true_px" in in_px.summary and "mean_ecd_true_um" not in in_px.summary
    phase = tasks.evaluate(pred, truth, kind="phase")
    assert phase.summary["kind"] == "phase" and "ari" not in phase.summary


def test_write_and_write_file_are_all_or_nothing(result, tmp_path, monkeypatch):
    from microseg import _util

    folder = tmp_path / "folder"
    assert sorted(p.name for p in result.write(folder)) == sorted(OUTPUTS)
    assert _strict_json((folder / "evaluation.json").read_text()) == _strict_json(io.json_text(result.summary))
    assert _csv(folder / "evaluation.csv") == dict(zip(result.table["metric"], result.table["value"]))
    with monkeypatch.context() as m:
        write_text = _util.write_text_atomic

        def fail(path, *args, **kwargs):               # the CSV fails, after the JSON is written
            if str(path).endswith(".csv"):
                assert any(p.suffix == ".json" for p in path.parent.iterdir())
                raise OSError("disk full")
            return write_text(path, *args, **kwargs)

        m.setattr(_util, "write_text_atomic", fail)
        with pytest.raises(OSError, match="disk full"):
            result.write_file(tmp_path / "out" / "e.json")
        with pytest.raises(OSError, match="disk full"):
            result.write(tmp_path / "out2")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()
    result.write_file(tmp_path / "out" / "e.json")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert sorted(before) == ["e.csv", "e.json"]
    with pytest.raises(OutputExistsError):
        result.write_file(tmp_path / "out" / "e.json")
    with pytest.raises(OutputExistsError):
        result.write(folder)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    result.write_file(tmp_path / "out" / "e.json", force=True)
    with pytest.raises(InputError, match="JSON"):
        result.write_file(tmp_path / "out" / "e.csv")


def test_an_existing_csv_is_refused_before_any_work(files, tmp_path, capsys, monkeypatch):
    from microseg.tasks import _evaluate

    (tmp_path / "e.csv").write_text("keep")
    monkeypatch.setattr(_evaluate, "evaluate_maps", lambda *a, **k: pytest.fail("worked before checking"))
    assert main(["evaluate", str(files["pred"]), str(files["truth"]), "-o", str(tmp_path / "e.json")]) == 2
    assert "e.csv" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "evaluation.json").write_text("keep")
    with pytest.raises(OutputExistsError, match="evaluation.json"):
        tasks.evaluate(files["pred"], files["truth"], output=tmp_path / "folder")
    assert EvaluateResult.check_file(tmp_path / "new.json") == (tmp_path / "new.json", tmp_path / "new.csv")


def test_maps_of_different_shapes_are_one_clean_error(files, tmp_path):
    with pytest.raises(InputError, match=r"pred has shape \(160, 224\) but truth has shape \(10, 10\)"):
        tasks.evaluate(files["arrays"][0], np.zeros((10, 10)))
    io.write_image(tmp_path / "small.tif", np.zeros((16, 16), np.uint8), pixel_size=0.05)
    with pytest.raises(InputError, match=r"small.tif has shape \(16, 16\) but .*truth.tif has shape"):
        tasks.evaluate(tmp_path / "small.tif", files["truth"], output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_evaluation_is_computed_in_the_task_layer_not_in_report():
    assert importlib.util.find_spec("microseg.report.evaluation") is None
