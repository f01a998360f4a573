"""``microseg labels``: EBSD file + SEM image -> registered training pair, on exact synthetic truth."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from microseg import synth
from microseg.cli import main
from microseg.io import write_ebsd, write_image
from microseg.register import boundary_distance


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pair")
    pair = synth.make_registration_pair((320, 320), mean_diameter_px=36.0, step_px=2.0,
                                        drift_amplitude_px=15.0, seed=1)
    write_ebsd(root / "scan.ang", synth.registration_ebsd_map(pair, orientation_noise_deg=0.3, seed=1))
    image = np.round(np.clip(pair.image, 0, 1) * 255).astype(np.uint8)
    write_image(root / "sem.tif", image, pixel_size=pair.poly.pixel_size)
    rows = ["id,x_um,y_um,col,row"] + [f"{n},{x},{y},{c},{r}" for n, (x, y), (c, r) in
                                       zip(pair.landmarks.names, pair.landmarks.src_um, pair.landmarks.dst_px)]
    (root / "points.csv").write_text("\n".join(rows) + "\n")
    return root, pair


def _distance(folder, pair):
    boundaries = tifffile.imread(folder / "boundaries.tif")
    inside = tifffile.imread(folder / "cells.tif") > 0
    crop = json.loads((folder / "meta.json").read_text())["crop"]
    truth = pair.poly.boundaries
    if crop is not None:
        truth = truth[slice(*crop["rows"]), slice(*crop["cols"])]
    return boundary_distance(boundaries, truth * inside)


def test_labels_registers_ebsd_boundaries_onto_the_sem_image(pair_files, tmp_path, capsys):
    root, pair = pair_files
    base, refined = tmp_path / "landmarks-only", tmp_path / "refined"
    common = [str(root / "scan.ang"), "--image", str(root / "sem.tif"), "--points", str(root / "points.csv")]
    assert main(["labels", *common, "--no-refine", "-o", str(base)]) == 0
    unrefined = capsys.readouterr().out             # the landmark transform's score, measured once
    assert "alignment score" in unrefined and "(not refined)" in unrefined and "nan" not in unrefined
    assert main(["labels", *common, "-o", str(refined)]) == 0
    assert "alignment score" in capsys.readouterr().out
    base_reg = json.loads((base / "meta.json").read_text())["registration"]
    assert base_reg["score_before"] == base_reg["score_after"] and -1 <= base_reg["score_after"] <= 1
    before, after = _distance(base, pair), _distance(refined, pair)
    assert after["median"] <= 1.5 and after["mean"] < before["mean"]
    meta = json.loads((refined / "meta.json").read_text())
    reg = meta["registration"]
    assert reg["score_after"] > reg["score_before"]
    assert reg["score_before"] == pytest.approx(base_reg["score_after"], abs=1e-9)   # the same start
    assert len(reg["initial_transform"]["residuals_px"]) == len(pair.landmarks)
    assert meta["thresholds"]["hagb_deg"] == 15.0 and meta["thresholds"]["lagb_deg"] == 2.0
    assert set(meta["sources"]) == {"ebsd", "image", "points"}
    assert len(meta["sources"]["ebsd"]["sha256"]) == 64
    assert meta["pixel_size_um"] == pytest.approx(pair.poly.pixel_size)
    classes = tifffile.imread(refined / "classes.tif")
    boundaries = tifffile.imread(refined / "boundaries.tif")
    assert set(np.unique(classes[boundaries > 0])) <= {1, 2, 3}
    assert np.array_equal(classes > 0, boundaries > 0)
    assert (refined / "overlay.png").stat().st_size > 10_000
    # the pair is cropped to the common area and knows where its label is valid
    valid = tifffile.imread(refined / "valid.tif").astype(bool)
    assert valid.shape == boundaries.shape and valid.mean() > 0.9
    crop = meta["crop"]
    assert crop["of_shape"] == [320, 320] and boundaries.shape == (crop["rows"][1] - crop["rows"][0],
                                                                   crop["cols"][1] - crop["cols"][0])
    assert meta["clean_up"]["mode"] == "lab" and "spikes" in meta["clean_up"]["counts"]["steps"]
    for c, r in pair.landmarks.dst_px:                       # fiducials are not valid
        rr, cc = int(round(r)) - crop["rows"][0], int(round(c)) - crop["cols"][0]
        if 0 <= rr < valid.shape[0] and 0 <= cc < valid.shape[1]:
            assert not valid[rr, cc]
    whole = tmp_path / "whole"
    assert main(["labels", *common, "--no-crop", "--clean", "none", "-o", str(whole)]) == 0
    assert tifffile.imread(whole / "boundaries.tif").shape == (320, 320)
    assert json.loads((whole / "meta.json").read_text())["crop"] is None


def test_labels_refuses_bad_landmarks_and_overwrites(pair_files, tmp_path, capsys):
    root, _ = pair_files
    bad = tmp_path / "collinear.csv"
    bad.write_text("x_um,y_um,col,row\n0,0,0,0\n1,1,10,10\n2,2,20,20\n")
    args = ["labels", str(root / "scan.ang"), "--image", str(root / "sem.tif"), "--points", str(bad),
            "--transform", "affine", "-o", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "collinear" in err
    few = tmp_path / "few.csv"
    few.write_text("x_um,y_um,col,row\n0,0,0,0\n1,5,10,50\n")
    args[args.index(str(bad))] = str(few)
    assert main(args) == 2
    assert "3" in capsys.readouterr().err
