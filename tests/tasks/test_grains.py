"""``tasks.grains``: what ``microseg grains`` writes and prints, as one call."""
from __future__ import annotations

import inspect
import json
import logging

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from skimage.segmentation import find_boundaries

from microseg import io, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import build_parser, main
from microseg.grains import read_grain_table
from microseg.grains.config import GrainsConfig
from microseg.tasks._grains import OUTPUTS



@pytest.fixture(scope="module")
def files(grain_files):
    return grain_files


@pytest.fixture(scope="module")
def result(files):
    return tasks.grains(files["map"], image=files["image"])


def _png(path):
    with PILImage.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _partials(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".microseg-partial")]


def test_the_task_is_what_the_cli_writes_and_prints(files, result, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["grains", str(files["map"]), "--image", str(files["image"]), "-o", str(out)]) == 0
    assert capsys.readouterr().out == result.text + "\n"
    assert result.text.startswith("ASTM E112 (pixel size 0.05 µm)")
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    assert np.array_equal(io.read_labels(out / "labels.tif"), result.labels)
    assert json.loads((out / "summary.json").read_text()) == json.loads(io.json_text(result.summary))
    written = read_grain_table(out / "grains.csv")
    assert list(written) == list(result.table)
    for column, values in written.items():
        np.testing.assert_array_equal(values, result.table[column], err_msg=column)
    assert result.summary["n_grains"] == len(result.table["label"]) == int(result.labels.max())
    assert result.pixel_size == pytest.approx(0.05) and "lognormal" in result.fits


def test_an_array_or_an_image_gives_what_the_file_gives(files, result):
    prob = io.read_prob_image(files["map"])
    from_array = tasks.grains(prob.data, pixel_size=0.05, image=files["pixels"])
    from_image = tasks.grains(prob)                        # the Image's pixel size is used
    for other in (from_array, from_image):
        assert np.array_equal(other.labels, result.labels)
        assert other.summary["mean_ecd_um"] == pytest.approx(result.summary["mean_ecd_um"], rel=1e-12)
    assert from_image.pixel_size == pytest.approx(0.05) and from_image.image is None
    in_px = tasks.grains(prob.data)                        # no pixel size: lengths in px
    assert in_px.pixel_size is None and "ecd_um" not in in_px.table
    assert in_px.summary["mean_ecd_px"] == pytest.approx(result.summary["mean_ecd_um"] / 0.05)


def test_the_overlay_is_drawn_pixel_for_pixel(files, result, tmp_path):
    result.write(tmp_path / "with")
    png = _png(tmp_path / "with" / "overlay.png")
    h, w = files["pixels"].shape[:2]
    assert png.shape == (h, 2 * w, 3)                      # micrograph | grains, each 1:1
    from microseg.report.figures import boundary_overlay

    drawn = boundary_overlay(files["pixels"], find_boundaries(result.labels, mode="inner"))
    expected = np.round(drawn * 255)
    rows = slice(h // 3, h)                                # below the panel names
    assert np.abs(png[rows, :w].astype(float) - expected[rows]).max() <= 1
    outline = find_boundaries(result.labels, mode="inner")[rows]
    red = np.array([1.0, 0.2, 0.1]) * 255                  # the outlines, in red
    assert outline.sum() > 500 and np.abs(png[rows, :w][outline] - red).max() <= 1
    tasks.grains(files["map"]).write(tmp_path / "without")
    assert _png(tmp_path / "without" / "overlay.png").shape == (h, w, 3)


def test_a_1536_by_1024_map_gives_an_overlay_of_its_resolution(tmp_path, capsys):
    b = np.zeros((1024, 1536), np.uint8)
    b[::64, :] = 1
    b[:, ::64] = 1
    io.write_image(tmp_path / "grid.tif", b, pixel_size=0.1)
    io.write_image(tmp_path / "sem.tif", (255 - 200 * b).astype(np.uint8), pixel_size=0.1)
    out = tmp_path / "out"
    assert main(["grains", str(tmp_path / "grid.tif"), "--image", str(tmp_path / "sem.tif"),
                 "--close-gaps", "none", "-o", str(out)]) == 0
    assert _png(out / "overlay.png").shape == (1024, 2 * 1536, 3)


def test_an_image_of_another_shape_is_refused_before_anything_is_written(files, tmp_path, capsys):
    io.write_image(tmp_path / "small.tif", files["pixels"][:100], pixel_size=0.05)
    out = tmp_path / "out"
    assert main(["grains", str(files["map"]), "--image", str(tmp_path / "small.tif"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for part in ("small.tif", "(100, 288)", "boundaries.tif", "(192, 288)"):
        assert part in err[0]
    assert not out.exists()
    with pytest.raises(InputError, match=r"image: the image has shape \(4, 4\) but prob_map has shape"):
        tasks.grains(files["poly"].boundaries, image=np.zeros((4, 4)), output=tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_hysteresis_on_a_binary_map_says_it_is_none(files, caplog):
    binary = files["poly"].boundaries
    with caplog.at_level(logging.INFO, logger="microseg.tasks"):
        hyst = tasks.grains(binary, pixel_size=0.05, close_gaps="hysteresis")
    said = [r.getMessage() for r in caplog.records if "hysteresis" in r.getMessage()]
    assert len(said) == 1 and "binary" in said[0] and "'none'" in said[0]
    assert np.array_equal(hyst.labels, tasks.grains(binary, pixel_size=0.05, close_gaps="none").labels)
    caplog.clear()
    prob = np.clip(binary * 0.9 + 0.05, 0, 1).astype(np.float32)   # a probability map: no such line
    with caplog.at_level(logging.INFO, logger="microseg.tasks"):
        tasks.grains(prob, pixel_size=0.05, close_gaps="hysteresis")
    assert not [r for r in caplog.records if "hysteresis" in r.getMessage()]


def test_write_is_all_or_nothing_and_refuses_to_overwrite(result, tmp_path, monkeypatch):
    from microseg.report import grain_report

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        def fail(*args, **kwargs):
            raise RuntimeError("no overlay today")

        m.setattr(grain_report, "grain_overlay_image", fail)
        with pytest.raises(RuntimeError, match="no overlay today"):
            result.write(out)
    assert not out.exists()                                # nothing, not even a temporary folder
    paths = result.write(out)
    assert sorted(p.name for p in paths) == sorted(OUTPUTS)
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    with pytest.raises(OutputExistsError, match="--force"):
        result.write(out)
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before and not _partials(out)
    result.write(out, force=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)


def test_an_existing_output_is_refused_before_any_work(files, tmp_path, monkeypatch):
    from microseg.tasks import _grains

    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    monkeypatch.setattr(_grains, "analyse_grains", lambda *a, **k: pytest.fail("worked before checking"))
    with pytest.raises(OutputExistsError, match="summary.json"):
        tasks.grains(files["map"], output=out)
    assert (out / "summary.json").read_text() == "{}"


def test_one_set_of_defaults_for_the_task_the_cli_and_configs():
    # the options a run configuration's grains section holds are "not given" (None) in the task
    # and the CLI; they resolve to the config's values, else GrainsConfig's
    sig = inspect.signature(tasks.grains).parameters
    keys = ("min_diameter", "exclude_border", "close_gaps", "merge_threshold")
    assert all(sig[k].default is None for k in keys)
    args = build_parser().parse_args(["grains", "map.tif", "-o", "out"])
    assert (args.min_diameter, args.exclude_border, args.close_gaps, args.merge_threshold, args.config) == \
        (None,) * 5
    assert build_parser().parse_args(["grains", "m.tif", "--keep-border", "-o", "o"]).exclude_border is False
    assert args.threshold == sig["threshold"].default
    b = np.zeros((40, 40), np.uint8)
    b[::10, :] = 1
    b[:, ::10] = 1
    assert tasks.grains(b, pixel_size=0.5).config == GrainsConfig()
    assert all(p.kind is p.KEYWORD_ONLY for name, p in sig.items() if name != "prob_map")


def test_a_config_file_gives_the_options_not_given_and_is_saved_with_the_outputs(tmp_path, capsys):
    from microseg.cli import main
    from microseg.config import load_config

    b = np.zeros((60, 60), np.uint8)
    b[::12, :] = 1
    b[:, ::12] = 1
    b[30:33, 36] = 0        # a gap: none leaves two cells joined, merge closes it
    tifffile.imwrite(tmp_path / "map.tif", b)
    (tmp_path / "run.yaml").write_text("train: {epochs: 3}\ngrains: {close_gaps: none, exclude_border: false}\n")
    plain = tasks.grains(b)
    configured = tasks.grains(b, config=tmp_path / "run.yaml")
    assert configured.config.close_gaps == "none" and configured.config.exclude_border is False
    assert configured.summary["n_grains"] != plain.summary["n_grains"]
    given = tasks.grains(b, config=tmp_path / "run.yaml", close_gaps="merge")   # what is given wins
    assert given.config.close_gaps == "merge" and given.config.exclude_border is False
    assert main(["grains", str(tmp_path / "map.tif"), "--pixel-size", "1", "--config", str(tmp_path / "run.yaml"),
                 "-o", str(tmp_path / "out")]) == 0
    saved = load_config(tmp_path / "out" / "config.yaml", sections=("grains",)).grains
    assert saved == configured.config
    assert "train" not in (tmp_path / "out" / "config.yaml").read_text()
    (tmp_path / "bad.yaml").write_text("grains: {close_gap: none}\n")
    assert main(["grains", str(tmp_path / "map.tif"), "--pixel-size", "1", "--config", str(tmp_path / "bad.yaml"),
                 "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "did you mean 'close_gaps'" in err
    assert not (tmp_path / "out2").exists()


def test_min_diameter_of_a_config_does_not_apply_without_a_pixel_size(tmp_path, caplog):
    b = np.zeros((60, 60), np.uint8)
    b[::6, :] = 1
    b[:, ::6] = 1
    (tmp_path / "run.yaml").write_text("grains: {min_diameter_um: 8}\n")
    with caplog.at_level("INFO", logger="microseg"):
        px = tasks.grains(b, config=tmp_path / "run.yaml")            # no pixel size: not applied
    assert px.summary["n_grains"] == tasks.grains(b).summary["n_grains"] > 0
    assert "does not apply" in caplog.text
    with pytest.raises(InputError, match="no grains"):   # with 1 µm pixels it applies: cells of 5 µm go
        tasks.grains(b, pixel_size=1.0, config=tmp_path / "run.yaml")
