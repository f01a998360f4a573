"""``tasks.demo``: the demo's numbers computed by the task, drawn by report, written all or nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from microseg import io, metrics, tasks
from microseg._util import OutputExistsError
from microseg.cli import main
from microseg.grains import read_grain_table
from microseg.tasks._demo import OUTPUTS, DemoResult

SIZE = 192


@pytest.fixture(scope="module")
def result():
    return tasks.demo(size=SIZE, seed=0)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    import contextlib
    import io as stdio

    out = tmp_path_factory.mktemp("demo") / "out"
    buf = stdio.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "--size", str(SIZE), "-o", str(out)]) == 0
    return out, buf.getvalue()


def test_the_task_is_what_the_cli_writes_and_prints(result, cli):
    out, printed = cli
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS) == sorted(result.output_names())
    assert printed.startswith(result.text + "\n")
    assert f"open {out}/demo.png" in printed
    assert json.loads((out / "summary.json").read_text()) == json.loads(io.json_text(result.summary))
    assert np.array_equal(tifffile.imread(out / "image.tif"),
                          np.round(np.clip(result.image.data, 0, 1) * 255).astype(np.uint8))
    truth = read_grain_table(out / "grains_truth.csv")
    assert np.array_equal(truth["ecd_um"], result.truth.table["ecd_um"])
    sauvola = read_grain_table(out / "grains_sauvola.csv")
    assert len(sauvola["ecd_um"]) == result.methods["sauvola"]["grains"].summary["n_grains"]
    for name in ("demo.png", "distributions.png", "fib_sem.png"):
        assert (out / name).stat().st_size > 10_000


def test_the_summary_is_the_metrics_of_the_arrays(result):
    s = result.summary
    assert s["polycrystal"]["n_grains_true"] == result.truth.summary["n_grains"] > 5
    for name in ("otsu", "sauvola"):
        r, m = s["polycrystal"]["methods"][name], result.methods[name]
        b = metrics.evaluate_boundaries(m["prob"] >= 0.5, result.poly.boundaries, tolerance=2.0)
        assert r["boundary_f_score_2px"] == b["bf_f1"] and r["hd95_px"] == b["hd95"]
        assert r["n_grains"] == m["grains"].summary["n_grains"]
        f = result.fib["methods"][name]
        solid = result.fib["phases"] > 0
        assert s["fib_sem"]["methods"][name]["iou"] == pytest.approx(metrics.iou_score(f["mask"], solid))
        np.testing.assert_allclose(f["fraction"], f["mask"].reshape(len(solid), -1).mean(axis=1))
    assert s["fib_sem"]["true_fraction_mean"] == pytest.approx((result.fib["phases"] > 0).mean())
    lines = result.text.splitlines()
    assert lines[0].startswith("Synthetic SE micrograph:") and "IoU" in result.text
    assert sum(line.strip().startswith(("otsu", "sauvola")) for line in lines) == 4


def test_write_is_all_or_nothing_and_never_overwrites(result, cli, tmp_path, monkeypatch):
    out, _ = cli
    before = (out / "summary.json").read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        result.write(out)
    with pytest.raises(OutputExistsError):
        tasks.demo(size=SIZE, output=out)                      # refused before any work
    assert (out / "summary.json").read_bytes() == before

    def boom(self, path):
        raise OSError("disk full")
    monkeypatch.setattr(DemoResult, "_fib_sem_png", boom)        # the third of seven files fails
    with pytest.raises(OSError, match="disk full"):
        result.write(tmp_path / "bad")
    assert not (tmp_path / "bad").exists()                     # not even the folder it made
