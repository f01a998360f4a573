"""The ``microseg`` command end to end, on small synthetic data written to tmp_path."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from microseg.cli import main


def run(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert run("synth", "-o", str(out), "--size", "256", "--mean-diameter", "30", "--seed", "3") == 0
    return out


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    commands = ("demo", "synth", "segment", "grains", "evaluate", "ebsd", "labels", "train", "cv",
                "predict", "export", "models")
    listed = set(re.findall(r"^    (\w+) ", text, flags=re.M))
    assert set(commands) <= listed, set(commands) - listed
    for command in commands:   # each one answers --help
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert f"usage: microseg {command}" in capsys.readouterr().out


def test_synth_writes_truth_and_refuses_to_overwrite(synth_dir, capsys):
    for name in ("image.tif", "boundaries.tif", "classes.tif", "labels.tif", "truth.json"):
        assert (synth_dir / name).is_file()
    before = (synth_dir / "image.tif").read_bytes()
    assert run("synth", "-o", str(synth_dir), "--size", "64") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
    assert (synth_dir / "image.tif").read_bytes() == before


def _true_cells_without_border(boundaries: np.ndarray) -> np.ndarray:
    """Independent truth: 4-connected interiors, border grains dropped."""
    lab, n = ndi.label(boundaries == 0)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    keep = np.setdiff1d(np.arange(1, n + 1), edge)
    return keep


def test_grains_on_true_boundaries_recovers_count_and_mean_ecd(synth_dir, tmp_path):
    out = tmp_path / "grains"
    assert run("grains", str(synth_dir / "boundaries.tif"), "-o", str(out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    boundaries = tifffile.imread(synth_dir / "boundaries.tif")
    cells = tifffile.imread(synth_dir / "labels.tif").astype(np.int64)
    keep = _true_cells_without_border(boundaries)
    assert summary["n_grains"] == len(keep)
    # truth ECD from the full tessellation cells (interior + own boundary pixels)
    from microseg import synth

    poly = synth.make_polycrystal((256, 256), mean_diameter_px=30.0, seed=3)
    assert np.array_equal(poly.labels, cells)
    lab, _ = ndi.label(boundaries == 0)
    cell_ids = np.array([np.bincount(poly.cells[lab == k]).argmax() for k in keep])
    areas = np.bincount(poly.cells.ravel())[cell_ids]
    true_mean_ecd_um = float(np.mean(2 * np.sqrt(areas / np.pi))) * 0.05
    assert summary["pixel_size_um"] == pytest.approx(0.05)
    assert summary["mean_ecd_um"] == pytest.approx(true_mean_ecd_um, rel=0.01)
    for name in ("grains.csv", "labels.tif", "distributions.png", "overlay.png"):
        assert (out / name).stat().st_size > 0
    header = (out / "grains.csv").read_text().splitlines()[0].split(",")
    assert {"ecd_um", "area_um2", "aspect_ratio"} <= set(header)


def test_grains_and_evaluate_with_a_mask(synth_dir, tmp_path, capsys):
    boundaries = tifffile.imread(synth_dir / "boundaries.tif")
    mask = np.zeros(boundaries.shape, np.uint8)
    mask[:, :128] = 255                                   # only the left half is specimen
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    out = tmp_path / "grains"
    assert run("grains", str(synth_dir / "boundaries.tif"), "--mask", str(tmp_path / "mask.tif"),
               "-o", str(out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    labels = tifffile.imread(out / "labels.tif")
    assert not labels[:, 128:].any() and summary["settings"]["mask"] is True
    # independently: 4-connected interiors wholly inside the left half, off the image edge
    lab, _ = ndi.label(boundaries == 0)
    cut = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1], lab[:, 127:].ravel()]))
    inside = np.setdiff1d(np.unique(lab[:, :127]), cut)
    assert summary["n_grains"] == inside.size
    assert any("grains measured" in w for w in summary["warnings"])   # fewer than 50
    assert run("evaluate", str(synth_dir / "boundaries.tif"), str(synth_dir / "boundaries.tif"),
               "--mask", str(tmp_path / "mask.tif"), "-o", str(tmp_path / "e.json")) == 0
    e = json.loads((tmp_path / "e.json").read_text())
    assert e["ari"] == pytest.approx(1.0) and e["n_grains_true"] == inside.size
    capsys.readouterr()
    tifffile.imwrite(tmp_path / "small.tif", mask[:10])
    assert run("grains", str(synth_dir / "boundaries.tif"), "--mask", str(tmp_path / "small.tif"),
               "-o", str(tmp_path / "g2")) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "small.tif" in err[0] and "shape" in err[0]
    assert not (tmp_path / "g2").exists()


def test_segment_then_evaluate(synth_dir, tmp_path):
    seg = tmp_path / "seg"
    assert run("segment", str(synth_dir / "image.tif"), "--method", "sauvola", "-o", str(seg)) == 0
    assert (seg / "image_prob.tif").is_file() and (seg / "image_mask.tif").is_file()
    report = tmp_path / "eval.json"
    assert run("evaluate", str(seg / "image_prob.tif"), str(synth_dir / "boundaries.tif"),
               "-o", str(report)) == 0
    result = json.loads(report.read_text())
    for key in ("precision", "recall", "f1", "iou", "hd95", "bf_f1", "ari", "n_grains_true",
                "mean_ecd_true_um", "ecd_error_um", "betti1_error", "js_ecd", "js_aspect_ratio"):
        assert key in result
    assert 0.0 < result["f1"] < 1.0 and -1.0 <= result["ari"] <= 1.0
    assert report.with_suffix(".csv").read_text().startswith("metric,value")
    # a perfect prediction scores perfectly
    assert run("evaluate", str(synth_dir / "boundaries.tif"), str(synth_dir / "boundaries.tif"),
               "-o", str(tmp_path / "self.json")) == 0
    perfect = json.loads((tmp_path / "self.json").read_text())
    assert perfect["f1"] == 1.0 and perfect["hd95"] == 0.0 and perfect["ari"] == 1.0
    assert perfect["js_ecd"] == 0.0 and perfect["js_aspect_ratio"] == 0.0
    assert 0.0 < result["js_ecd"] <= 1.0


def test_segment_stack_reports_phase_fraction_per_slice(tmp_path):
    fib = tmp_path / "fib"
    assert run("synth", "--kind", "porous", "--slices", "4", "--size", "64", "-o", str(fib)) == 0
    seg = tmp_path / "seg"
    assert run("segment", str(fib / "stack.tif"), "--method", "otsu", "--polarity", "bright",
               "-o", str(seg)) == 0
    rows = (seg / "stack_phase_fraction.csv").read_text().strip().splitlines()
    assert rows[0] == "slice,phase_fraction" and len(rows) == 5
    assert run("evaluate", str(seg / "stack_mask.tif"), str(fib / "phases.tif"), "--kind", "phase",
               "-o", str(tmp_path / "e.json")) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert 0.5 < result["iou"] <= 1.0 and "slice_fraction_pred_std" in result
    # a (Y, X) mask of the specimen: the fraction per slice is taken inside it
    half = np.zeros((64, 64), np.uint8)
    half[:, :32] = 1
    tifffile.imwrite(tmp_path / "half.tif", half)
    assert run("segment", str(fib / "stack.tif"), "--method", "otsu", "--polarity", "bright",
               "--mask", str(tmp_path / "half.tif"), "-o", str(tmp_path / "seg2")) == 0
    masked = [float(r.split(",")[1]) for r in
              (tmp_path / "seg2" / "stack_phase_fraction.csv").read_text().strip().splitlines()[1:]]
    pred = tifffile.imread(seg / "stack_mask.tif")
    np.testing.assert_allclose(masked, pred[:, :, :32].reshape(4, -1).mean(axis=1), atol=1e-6)


def _one_line_error(capsys, *argv: str, match: str) -> str:
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and match in err, err
    return err


def test_bad_inputs_give_one_line_errors(tmp_path, capsys, synth_dir):
    missing = tmp_path / "missing.tif"
    _one_line_error(capsys, "grains", str(missing), "-o", str(tmp_path / "o1"), match="missing.tif")
    truncated = tmp_path / "truncated.tif"
    data = (synth_dir / "boundaries.tif").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    _one_line_error(capsys, "grains", str(truncated), "-o", str(tmp_path / "o2"), match="truncated.tif")
    zeros = tmp_path / "zeros.tif"
    tifffile.imwrite(zeros, np.zeros((32, 32), np.uint8))
    _one_line_error(capsys, "grains", str(zeros), "--pixel-size", "0.1", "-o", str(tmp_path / "o3"),
                    match="no boundary pixels")
    ones = tmp_path / "ones.tif"
    tifffile.imwrite(ones, np.ones((32, 32), np.uint8))
    _one_line_error(capsys, "grains", str(ones), "--pixel-size", "0.1", "-o", str(tmp_path / "o4"),
                    match="every pixel is boundary")
    nan = tmp_path / "nan.tif"
    arr = np.zeros((32, 32), np.float32)
    arr[3, 4] = np.nan
    tifffile.imwrite(nan, arr)
    _one_line_error(capsys, "grains", str(nan), "--pixel-size", "0.1", "-o", str(tmp_path / "o5"),
                    match="NaN")
    volume = tmp_path / "volume.tif"
    tifffile.imwrite(volume, np.zeros((2, 3, 16, 16), np.uint8), photometric="minisblack")
    _one_line_error(capsys, "grains", str(volume), "--pixel-size", "0.1", "-o", str(tmp_path / "o6"),
                    match="volume.tif")
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, np.zeros((16, 16), np.uint8))
    _one_line_error(capsys, "evaluate", str(small), str(synth_dir / "boundaries.tif"), "--pixel-size", "0.05",
                    match="shape")
    _one_line_error(capsys, "segment", str(synth_dir / "image.tif"), "--method", "otzu", "-o",
                    str(tmp_path / "o7"), match="did you mean 'otsu'")
    for folder in ("o1", "o2", "o3", "o4", "o5", "o6", "o7"):
        assert not (tmp_path / folder / "summary.json").exists()


def test_demo_runs_and_writes_figures(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "microseg", "demo", "--size", "256", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "sauvola" in proc.stdout and "IoU" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["polycrystal"]["n_grains_true"] > 10
    for method in ("otsu", "sauvola"):
        r = summary["polycrystal"]["methods"][method]
        assert 0.0 <= r["boundary_f_score_2px"] <= 1.0
        assert 0.0 < summary["fib_sem"]["methods"][method]["iou"] <= 1.0
    for name in ("demo.png", "distributions.png", "fib_sem.png"):
        assert (out / name).stat().st_size > 10_000


def test_segment_with_the_ridge_detector_beats_sauvola(synth_dir, tmp_path, capsys):
    from microseg.metrics import boundary_f_score

    truth = tifffile.imread(synth_dir / "boundaries.tif")
    scores = {}
    for method in ("ridge", "sauvola"):
        out = tmp_path / method
        assert run("segment", str(synth_dir / "image.tif"), "--method", method, "-o", str(out)) == 0
        mask = tifffile.imread(out / "image_mask.tif")
        scores[method] = boundary_f_score(mask, truth, tolerance=2.0)["f1"]
    assert scores["ridge"] > scores["sauvola"] + 0.1
    assert run("segment", str(synth_dir / "image.tif"), "--method", "ridge", "--window-size", "31",
               "-o", str(tmp_path / "bad")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--window-size" in err[0] and "ridge" in err[0]


def test_segment_tune_picks_parameters_on_labelled_images(tmp_path):
    from microseg.synth import make_precipitates

    train, new = (make_precipitates((160, 160), contrast=0.04, seed=s) for s in (1, 2))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    from microseg.io import write_image

    write_image(tmp_path / "images" / "a.tif", train.image.data, pixel_size=0.01)
    tifffile.imwrite(tmp_path / "masks" / "a.tif", train.mask)
    write_image(tmp_path / "new.tif", new.image.data, pixel_size=0.01)
    out = tmp_path / "seg"
    assert run("segment", str(tmp_path / "new.tif"), "--method", "sauvola", "--tune",
               f"{tmp_path / 'images'}:{tmp_path / 'masks'}", "--positive", "nonzero", "-o", str(out)) == 0
    meta = json.loads((out / "segment.json").read_text())
    assert meta["tuned"]["metric"] == "iou" and "k" in meta["tuned"]["params"]
    rows = (out / "tune.csv").read_text().strip().splitlines()
    assert rows[0].startswith("polarity") or "k" in rows[0].split(",")
    assert len(rows) > 10
    assert run("segment", str(tmp_path / "new.tif"), "--method", "sauvola", "-o", str(tmp_path / "plain")) == 0

    def iou(folder):
        pred = tifffile.imread(folder / "new_mask.tif") > 0
        truth = new.mask > 0
        return (pred & truth).sum() / (pred | truth).sum()
    assert iou(out) > iou(tmp_path / "plain") + 0.2        # the default k = 0.2 misses faint precipitates
