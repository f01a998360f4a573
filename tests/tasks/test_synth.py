"""``tasks.synth``: the CLI's synthetic samples as one call, written all or nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from microseg import io, synth, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.tasks._synth import SynthResult


def test_a_polycrystal_is_what_the_cli_writes(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "-o", str(out), "--size", "96", "--mean-diameter", "24", "--mode", "bse",
                 "--seed", "5", "--twin-fraction", "0.5", "--pixel-size", "0.1"]) == 0
    result = tasks.synth(size=96, mean_diameter=24.0, mode="bse", seed=5, twin_fraction=0.5, pixel_size=0.1)
    assert capsys.readouterr().out == result.text + "\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(result.output_names())
    for name in ("image", "boundaries", "classes"):
        assert np.array_equal(tifffile.imread(out / f"{name}.tif"), getattr(result, name)), name
    assert np.array_equal(io.read_labels(out / "labels.tif"), result.labels)
    assert io.read_image(out / "image.tif").pixel_size == pytest.approx(0.1)
    truth = json.loads((out / "truth.json").read_text())
    assert truth == json.loads(io.json_text(result.summary))
    # the truth against the synthetic stage itself, computed independently
    poly = synth.make_polycrystal((96, 96), mean_diameter_px=24.0, twin_fraction=0.5, pixel_size=0.1, seed=5)
    rendered = synth.render_sem(poly, mode="bse", seed=5).data
    assert np.array_equal(result.image, np.round(np.clip(rendered, 0, 1) * 255).astype(np.uint8))
    assert np.array_equal(result.labels, poly.labels) and np.array_equal(result.classes, poly.classes)
    assert truth["n_cells"] == int(poly.labels.max()) and truth["mode"] == "bse"
    assert truth["boundary_fraction"] == pytest.approx(poly.boundaries.mean())
    assert truth["class_pixels"]["sigma3"] == int((poly.classes == 3).sum())
    assert result.stack is None and result.phases is None


def test_a_porous_stack_is_what_the_cli_writes(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "--kind", "porous", "--slices", "3", "--size", "40", "--porosity", "0.3",
                 "--seed", "2", "-o", str(out)]) == 0
    result = tasks.synth("porous", slices=3, size=40, porosity=0.3, seed=2)
    assert capsys.readouterr().out == result.text + "\n"
    assert sorted(p.name for p in out.iterdir()) == ["phases.tif", "stack.tif", "truth.json"]
    stack = io.read_stack(out / "stack.tif")
    assert np.array_equal(stack.data, result.stack) and stack.data.shape == (3, 40, 40)
    assert stack.pixel_size == pytest.approx(0.05) and stack.slice_spacing == pytest.approx(0.05)
    assert np.array_equal(tifffile.imread(out / "phases.tif"), result.phases)
    truth = json.loads((out / "truth.json").read_text())
    assert truth == result.summary == {"kind": "porous", "seed": 2, "shape": [3, 40, 40],
                                       "solid_fraction": pytest.approx(float(result.phases.mean()))}
    phases = synth.make_porous_volume((3, 40, 40), porosity=0.3, seed=2)
    assert np.array_equal(result.phases, phases.astype(np.uint8))
    assert result.image is None


def test_write_is_all_or_nothing_and_never_overwrites(tmp_path, monkeypatch):
    result = tasks.synth(size=64, mean_diameter=20.0)
    result.write(tmp_path / "ok")
    before = (tmp_path / "ok" / "image.tif").read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        tasks.synth(size=64, output=tmp_path / "ok")
    with pytest.raises(OutputExistsError):
        result.write(tmp_path / "ok")
    assert (tmp_path / "ok" / "image.tif").read_bytes() == before

    files_of = SynthResult.files

    def failing(self):
        def boom(path):
            raise OSError("disk full")
        return files_of(self)[:-1] + [("truth.json", boom)]
    monkeypatch.setattr(SynthResult, "files", failing)
    with pytest.raises(OSError, match="disk full"):
        result.write(tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_bad_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match="did you mean 'porous'"):
        tasks.synth("porus", output=tmp_path / "o")
    with pytest.raises(InputError, match="mode"):
        tasks.synth(mode="tem", size=32, output=tmp_path / "o")
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_a_correlated_pair_is_what_labels_reads(tmp_path, capsys):
    # the user's files for microseg labels: an EBSD map, an SEM image, the fiducials, and the exact truth
    from microseg.cli import main
    from microseg.register import read_landmarks

    result = tasks.synth("pair", size=256, mean_diameter=30, seed=2, output=tmp_path / "pair")
    assert sorted(p.name for p in (tmp_path / "pair").iterdir()) == sorted(
        ["scan.ang", "image.tif", "fiducials.csv", "boundaries.tif", "classes.tif", "truth.json"])
    assert result.image.dtype == np.uint16 and result.image.shape == (256, 256)
    back = read_landmarks(tmp_path / "pair" / "fiducials.csv")
    np.testing.assert_allclose(back.dst_px, result.landmarks.dst_px)
    assert io.read_ebsd(tmp_path / "pair" / "scan.ang").shape == result.ebsd.shape
    assert set(np.unique(result.classes)) <= {0, 1, 2, 3} and result.truth["n_cells"] > 10
    assert main(["labels", str(tmp_path / "pair" / "scan.ang"), "--image", str(tmp_path / "pair" / "image.tif"),
                 "--points", str(tmp_path / "pair" / "fiducials.csv"), "-o", str(tmp_path / "tp")]) == 0
    assert (tmp_path / "tp" / "meta.json").is_file()
