"""``tasks.segment`` on a 2D image file above ``STREAM_PIXELS``: segmented band by band into its
files, the same files as in memory, all or nothing. The threshold is lowered for small images."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from microseg import io, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.io import LazyImage
import microseg.tasks._segment as module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    poly = tasks.synth(size=150, mean_diameter=24.0, seed=4)
    rng = np.random.default_rng(0)
    grey16 = (poly.image.astype(np.float64) * 200 + rng.normal(0, 600, poly.image.shape) + 20000)
    io.write_image(root / "poly.tif", np.clip(grey16, 0, 65535).astype(np.uint16), pixel_size=0.05)
    colour = np.stack([poly.image, 255 - poly.image, poly.image // 2], axis=-1).astype(np.uint8)
    io.write_image(root / "colour.tif", colour, pixel_size=0.05)
    area = np.zeros((150, 150), np.uint8)
    area[20:, 30:110] = 1
    tifffile.imwrite(root / "area.tif", area)
    return root


@pytest.fixture
def stream(monkeypatch):
    """Every 2D file above 1000 px streams, in tiles of 48 px (several tiles and bands)."""
    monkeypatch.setattr(module, "STREAM_PIXELS", 1000)
    monkeypatch.setattr(module, "STREAM_TILE", 48)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _in_memory(*args, **kwargs):
    saved = module.STREAM_PIXELS, module.STREAM_TILE
    module.STREAM_PIXELS, module.STREAM_TILE = 4096 * 4096, 1024
    try:
        return tasks.segment(*args, **kwargs)
    finally:
        module.STREAM_PIXELS, module.STREAM_TILE = saved


@pytest.mark.parametrize("method, options", [("otsu", {}), ("sauvola", {}),
                                             ("sauvola", {"window_size": 51, "k": 0.05}),
                                             ("otsu", {"polarity": "bright", "sigma": 2.0})])
@pytest.mark.parametrize("name", ["poly", "colour"])
def test_a_streamed_image_gives_the_files_of_the_in_memory_path(files, tmp_path, stream, method, options, name):
    path = files / f"{name}.tif"
    memory = _in_memory(path, method=method, output=tmp_path / "memory", **options)
    streamed = tasks.segment(path, method=method, output=tmp_path / "streamed", **options)
    assert not memory.images[0].streamed and streamed.images[0].streamed
    assert _names(tmp_path / "streamed") == _names(tmp_path / "memory")
    for suffix in ("prob", "mask"):
        a = tifffile.imread(tmp_path / "memory" / f"{name}_{suffix}.tif")
        b = tifffile.imread(tmp_path / "streamed" / f"{name}_{suffix}.tif")
        assert a.dtype == b.dtype and np.array_equal(a, b), suffix       # bit for bit
    assert io.read_prob_image(tmp_path / "streamed" / f"{name}_prob.tif").pixel_size == pytest.approx(0.05)
    assert io.read_image(tmp_path / "streamed" / f"{name}_mask.tif").pixel_size == pytest.approx(0.05)
    assert (json.loads((tmp_path / "streamed" / "segment.json").read_text())
            == json.loads((tmp_path / "memory" / "segment.json").read_text()))
    assert streamed.images[0].positive_fraction == memory.images[0].positive_fraction
    assert streamed.text == memory.text
    # the result holds lazy images of the files, which read like the arrays
    assert isinstance(streamed.prob, LazyImage) and isinstance(streamed.mask, LazyImage)
    assert np.array_equal(np.asarray(streamed.prob), memory.prob)
    assert np.array_equal(np.asarray(streamed.mask), memory.mask)
    assert np.array_equal(streamed.mask[10:20, 30:40], memory.mask[10:20, 30:40])


def test_a_streamed_result_writes_elsewhere_by_copying_its_files(files, tmp_path, stream):
    result = tasks.segment(files / "poly.tif", method="otsu", output=tmp_path / "a")
    result.write(tmp_path / "b")
    assert _names(tmp_path / "b") == _names(tmp_path / "a") == ["poly_mask.tif", "poly_prob.tif", "segment.json"]
    for name in _names(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    with pytest.raises(OutputExistsError, match="--force"):
        result.write(tmp_path / "b")


def test_the_fraction_inside_an_area_mask_is_counted_while_streaming(files, tmp_path, stream):
    area = files / "area.tif"
    streamed = tasks.segment(files / "poly.tif", method="sauvola", mask=area, output=tmp_path / "s")
    mask = tifffile.imread(tmp_path / "s" / "poly_mask.tif").astype(bool)
    inside = tifffile.imread(area) > 0
    expected = np.count_nonzero(mask & inside) / np.count_nonzero(inside)   # by hand, from the file
    assert streamed.images[0].positive_fraction == pytest.approx(expected, rel=1e-15)
    assert expected != pytest.approx(mask.mean())                           # the area changes it
    memory = _in_memory(files / "poly.tif", method="sauvola", mask=area, output=tmp_path / "m")
    assert streamed.images[0].positive_fraction == memory.images[0].positive_fraction
    small = np.ones((16, 16), np.uint8)
    with pytest.raises(InputError, match=r"has shape \(16, 16\).*poly.tif has shape \(150, 150\)"):
        tasks.segment(files / "poly.tif", method="otsu", mask=small, output=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_an_error_mid_stream_leaves_nothing(files, tmp_path, stream, monkeypatch):
    put = module._MapsWriter.__setitem__
    calls = []

    def failing(self, key, block):
        calls.append(key)
        if len(calls) == 5:
            raise OSError("disk full")
        put(self, key, block)

    monkeypatch.setattr(module._MapsWriter, "__setitem__", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):            # a small image first, in memory
        tasks.segment([np.zeros((8, 8)) + np.eye(8), files / "poly.tif"], method="otsu", output=out)
    assert len(calls) == 5 and not out.exists()                # no output, no temporary file or folder
    # an existing output is kept as it was, and a failure at the end (segment.json) leaves nothing new
    monkeypatch.setattr(module._MapsWriter, "__setitem__", put)
    tasks.segment(files / "poly.tif", method="otsu", output=out)
    before = {name: (out / name).read_bytes() for name in _names(out)}
    monkeypatch.setattr(module._MapsWriter, "__setitem__", failing)
    calls.clear()
    with pytest.raises(OSError, match="disk full"):
        tasks.segment(files / "poly.tif", method="sauvola", output=out, force=True)
    assert {name: (out / name).read_bytes() for name in _names(out)} == before


def test_the_cli_streams_with_the_same_messages_and_refusals(files, tmp_path, stream, capsys):
    out = tmp_path / "cli"
    assert main(["segment", str(files / "poly.tif"), "--method", "otsu", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == _in_memory(files / "poly.tif", method="otsu").text + "\n"
    assert main(["segment", str(files / "poly.tif"), "--method", "otsu", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
    assert main(["segment", str(files / "poly.tif"), "--method", "sauvola", "-o", str(out), "--force"]) == 0
    assert json.loads((out / "segment.json").read_text())["segmenter"]["method"] == "sauvola"
