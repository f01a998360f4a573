"""``tasks.labels``: the CLI's training pair as one call, written all or nothing."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tifffile

from microseg import io, synth, tasks
from microseg._util import OutputExistsError
from microseg.cli import main
from microseg.register import read_landmarks
from microseg.register._evidence import alignment_score, cell_boundaries
from microseg.register.pairs import PAIR_FILES

OUTPUTS = [*PAIR_FILES, "overlay.png"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    pair = synth.make_registration_pair((256, 256), mean_diameter_px=36.0, step_px=2.0,
                                        drift_amplitude_px=8.0, seed=2)
    io.write_ebsd(root / "scan.ang", synth.registration_ebsd_map(pair, orientation_noise_deg=0.3, seed=2))
    image = np.round(np.clip(pair.image, 0, 1) * 255).astype(np.uint8)
    io.write_image(root / "sem.tif", image, pixel_size=pair.poly.pixel_size)
    rows = ["x_um,y_um,col,row"] + [f"{x},{y},{c},{r}" for (x, y), (c, r) in
                                    zip(pair.landmarks.src_um, pair.landmarks.dst_px)]
    (root / "points.csv").write_text("\n".join(rows) + "\n")
    return {"ebsd": root / "scan.ang", "image": root / "sem.tif", "points": root / "points.csv"}


@pytest.fixture(scope="module")
def refined(files):
    return tasks.labels(files["ebsd"], files["image"], points=files["points"])


def test_the_task_is_what_the_cli_writes_and_prints(files, refined, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["labels", str(files["ebsd"]), "--image", str(files["image"]), "--points",
                 str(files["points"]), "-o", str(out)]) == 0
    assert capsys.readouterr().out == refined.text + "\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    for name, array in (("boundaries.tif", refined.boundaries), ("classes.tif", refined.classes),
                        ("valid.tif", refined.valid.astype(np.uint8)), ("image.tif", refined.image.data)):
        assert np.array_equal(tifffile.imread(out / name), array), name
    assert np.array_equal(io.read_labels(out / "cells.tif"), refined.cells)
    meta = json.loads((out / "meta.json").read_text())
    assert meta == json.loads(io.json_text(refined.meta))
    assert set(meta["sources"]) == {"ebsd", "image", "points"}
    s = refined.summary
    assert json.loads(io.json_text(s)) == s                   # JSON-ready as it is
    assert s["refined"] and s["alignment_score_after"] > s["alignment_score_before"]
    assert s["alignment_score_after"] == meta["registration"]["score_after"]
    assert s["shape"] == list(tifffile.imread(out / "boundaries.tif").shape)
    assert s["ebsd_coverage"] == meta["ebsd_coverage"] and s["crop"] == meta["crop"]
    assert "->" in refined.text.splitlines()[0] and "not refined" not in refined.text


def test_objects_give_the_same_pair_as_files(files, refined):
    result = tasks.labels(io.read_ebsd(files["ebsd"]), io.read_image(files["image"]),
                          points=read_landmarks(files["points"]))
    for name in ("boundaries", "classes", "cells", "valid"):
        assert np.array_equal(getattr(result, name), getattr(refined, name)), name
    assert result.meta["sources"] == {}                      # nothing read from a file
    assert result.meta["registration"] == refined.meta["registration"]


def test_without_refinement_the_alignment_score_is_still_measured(files, refined, tmp_path, capsys):
    out = tmp_path / "base"
    assert main(["labels", str(files["ebsd"]), "--image", str(files["image"]), "--points",
                 str(files["points"]), "--no-refine", "--no-crop", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(not refined)" in text and "nan" not in text
    reg = json.loads((out / "meta.json").read_text())["registration"]
    assert reg["refine"] is False and reg["score_before"] == reg["score_after"]
    # the score of the landmark transform is the one refinement starts from ...
    assert reg["score_after"] == pytest.approx(refined.registration.score_before, abs=1e-9)
    assert f"alignment score {reg['score_after']:.3f} (not refined)" in text
    # ... and is the alignment score of the unrefined label against the image
    cells = io.read_labels(out / "cells.tif")
    grey = tifffile.imread(files["image"]).astype(np.float32) / 255
    assert reg["score_after"] == pytest.approx(alignment_score(grey, cell_boundaries(cells), mask=cells != 0),
                                               abs=1e-6)
    assert reg["score_after"] < refined.registration.score_after


def test_the_overlay_is_drawn_on_the_bt709_grey(refined, tmp_path, monkeypatch):
    from microseg.report import figures

    rgb = np.zeros((*refined.boundaries.shape, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = 200, 40                        # channel mean 80, BT.709 luma 71
    seen = {}
    draw = figures.plot_training_pair

    def spy(image, *args):
        seen["grey"] = image
        return draw(image, *args)

    monkeypatch.setattr(figures, "plot_training_pair", spy)
    result = dataclasses.replace(refined, pair=dataclasses.replace(refined.pair, image=io.Image(rgb)))
    result.write(tmp_path / "rgb")
    assert seen["grey"].shape == rgb.shape[:2]
    assert np.allclose(seen["grey"], io.to_gray(rgb) / 255.0)
    assert not np.allclose(seen["grey"], rgb.mean(axis=-1) / 255.0)


def test_write_is_all_or_nothing_and_refuses_to_overwrite(refined, tmp_path, monkeypatch):
    from microseg.report import figures

    out = tmp_path / "pair"

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(figures, "save_figure", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            refined.write(out)
    assert not out.exists()                                   # no pair file, no temporary folder
    written = refined.write(out)
    assert sorted(p.name for p in written) == sorted(OUTPUTS)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OutputExistsError):
        refined.write(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    refined.write(out, force=True)


def test_an_existing_pair_is_refused_before_any_work(tmp_path):
    out = tmp_path / "pair"
    out.mkdir()
    (out / "meta.json").write_text("{}")
    # the inputs do not exist: the refusal comes before anything is read
    with pytest.raises(OutputExistsError, match="meta.json"):
        tasks.labels(tmp_path / "missing.ang", tmp_path / "missing.tif", output=out)
    assert (out / "meta.json").read_text() == "{}"


def test_write_training_pair_writes_the_same_pair_folder(files, refined, tmp_path):
    from microseg.register.pairs import write_training_pair

    task, stage = tmp_path / "task", tmp_path / "stage"
    refined.write(task)
    assert write_training_pair(refined.pair, stage) == stage        # the benchmarks' call
    assert sorted(p.name for p in stage.iterdir()) == sorted(PAIR_FILES)
    for name in PAIR_FILES:
        assert (stage / name).read_bytes() == (task / name).read_bytes(), name
    with pytest.raises(OutputExistsError):
        write_training_pair(refined.pair, stage)
    write_training_pair(refined.pair, stage, sources={"image": files["image"]}, force=True)
    assert set(json.loads((stage / "meta.json").read_text())["sources"]) == {"image"}
