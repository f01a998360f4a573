"""``tasks.grains`` on a map too large to draw pixel for pixel: the overlay is drawn from every
n-th pixel, said in the log and the summary; everything measured stays what it is. The largest
side drawn 1:1 is lowered for small maps."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from PIL import Image as PILImage

from microseg import io, tasks
from microseg._figures import label_colours
from microseg._util import InputError
from microseg.report import grain_report
from microseg.tasks._grains import overlay_step



@pytest.fixture(scope="module")
def files(grain_files):
    return grain_files


@pytest.fixture
def small_side(monkeypatch):
    """Maps over 100 px on their long side are drawn downsampled (288 px: one pixel in 3)."""
    monkeypatch.setattr(grain_report, "OVERLAY_MAX_SIDE", 100)


def _png(path):
    with PILImage.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_the_step_keeps_the_long_side_within_the_limit():
    for shape in [(10, 10), (4000, 4000), (4001, 10), (8192, 8192), (20000, 15000), (1, 123457)]:
        step = overlay_step(shape, 4000)
        assert max(shape) / step <= 4000 and (step == 1 or max(shape) / (step - 1) > 4000), shape
    assert overlay_step((4000, 3999)) == 1 and overlay_step((4001, 3999)) == 2


def test_a_large_map_is_drawn_from_every_nth_pixel_and_says_so(files, tmp_path, small_side, caplog,
                                                                monkeypatch):
    with caplog.at_level(logging.INFO, logger="microseg.tasks"):
        big = tasks.grains(files["map"], image=files["image"], output=tmp_path / "big")
    said = [r.getMessage() for r in caplog.records if "overlay.png" in r.getMessage()]
    assert len(said) == 1 and "1/3 scale" in said[0] and "64 x 96 px" in said[0]
    assert big.overlay_step == 3
    assert big.summary["overlay"]["every_nth_pixel"] == 3 and big.summary["overlay"]["drawn_shape"] == [64, 96]
    assert json.loads((tmp_path / "big" / "summary.json").read_text())["overlay"] == big.summary["overlay"]
    png = _png(tmp_path / "big" / "overlay.png")
    assert png.shape == (64, 2 * 96, 3)                              # micrograph | grains, each 1/3
    assert np.array_equal(big.image, files["pixels"][::3, ::3])     # read band by band from the file
    rows = slice(30, 64)                                             # below the panel names
    expected = np.round(label_colours(big.labels[::3, ::3]) * 255)
    assert np.abs(png[rows, 96:].astype(float) - expected[rows]).max() <= 1
    # what is measured does not depend on how the overlay is drawn
    monkeypatch.setattr(grain_report, "OVERLAY_MAX_SIDE", 4000)
    plain = tasks.grains(files["map"], image=files["image"])
    assert plain.overlay_step == 1 and "overlay" not in plain.summary
    assert np.array_equal(plain.labels, big.labels)
    assert {k: v for k, v in big.summary.items() if k != "overlay"} == plain.summary
    for column, values in plain.table.items():
        np.testing.assert_array_equal(values, big.table[column], err_msg=column)


def test_an_array_image_is_sampled_too_and_another_shape_is_refused_first(files, tmp_path, small_side,
                                                                          monkeypatch):
    from microseg.tasks import _grains

    result = tasks.grains(io.read_prob(files["map"]), pixel_size=0.05, image=files["pixels"])
    assert np.array_equal(result.image, files["pixels"][::3, ::3]) and result.image.flags.c_contiguous
    io.write_image(tmp_path / "small.tif", files["pixels"][:100], pixel_size=0.05)
    monkeypatch.setattr(_grains, "analyse_grains", lambda *a, **k: pytest.fail("worked before checking"))
    with pytest.raises(InputError, match=r"small.tif: the image has shape \(100, 288\) but .* \(192, 288\)"):
        tasks.grains(files["map"], image=tmp_path / "small.tif", output=tmp_path / "o")
    assert not (tmp_path / "o").exists()
