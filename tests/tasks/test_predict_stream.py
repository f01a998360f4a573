"""``tasks.predict`` on images too large for memory: region by region into the output files.

The streamed outputs must be those of the in-memory path (same tiles, blending, mean,
spread, threshold and thinning), written all or none, and the result must read them lazily.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg import io, tasks
from microseg._util import InputError
from microseg.infer.stream import thin_in_bands
from microseg.tasks import _predict

META = {"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}, "pixel_size_um": 0.05}


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_unet):
    from microseg.models import save_model

    root = tmp_path_factory.mktemp("stream")
    save_model(tiny_unet(1), root / "m1", metadata=META)
    save_model(tiny_unet(2), root / "m2", metadata=META)
    other = {**META, "preprocessing": {"normalize": {"mode": "minmax"}, "median": 3}}
    save_model(tiny_unet(3), root / "m3", metadata=other)          # another pre-processing: its own group
    save_model(tiny_unet(4), root / "thin", metadata={**META, "thin": True})
    y, x = np.mgrid[0:301, 0:259]
    image = 30000 + 20000 * np.sin(x / 9.0) * np.cos(y / 13.0) + np.random.default_rng(0).normal(0, 2000, y.shape)
    io.write_image(root / "big.tif", image.astype(np.uint16), pixel_size=0.05)
    return root


def _both(files, tmp_path, monkeypatch, models, **options):
    """(in-memory result, streamed result) of the same prediction, written to two folders.

    The threshold is the median probability, so that the untrained models' masks have both classes."""
    monkeypatch.setattr(_predict, "STREAM_PIXELS", 10**12)
    prob = tasks.predict(models, files / "big.tif", device="cpu", tile_size=96).prob
    options.setdefault("threshold", float(np.median(prob)))
    memory = tasks.predict(models, files / "big.tif", device="cpu", tile_size=96, output=tmp_path / "memory",
                           **options)
    monkeypatch.setattr(_predict, "STREAM_PIXELS", 0)
    streamed = tasks.predict(models, files / "big.tif", device="cpu", tile_size=96, output=tmp_path / "streamed",
                             **options)
    return memory, streamed


@pytest.mark.parametrize("models", [["m1"], ["m1", "m2"], ["m1", "m3"]], ids=["one", "ensemble", "two-groups"])
def test_streamed_outputs_are_the_in_memory_ones(files, tmp_path, monkeypatch, models):
    memory, streamed = _both(files, tmp_path, monkeypatch, [files / m for m in models])
    from microseg.io.lazy import LazyImage

    # files written band by band are read by regions, the others memory-mapped
    assert isinstance(streamed.images[0].prob, LazyImage) and isinstance(memory.images[0].prob, np.memmap)
    names = sorted(p.name for p in (tmp_path / "memory").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "streamed").iterdir())
    assert not list((tmp_path / "streamed").glob(".*")), "nothing temporary is left"
    for name in names:
        a, b = io.read_image(tmp_path / "memory" / name), io.read_image(tmp_path / "streamed" / name)
        assert a.pixel_size == pytest.approx(0.05) and b.pixel_size == pytest.approx(0.05)
        if name.endswith("_mask.tif"):
            assert np.array_equal(a.data, b.data)
            assert 0.01 < a.data.mean() < 0.99, "the test needs a mask with both classes"
        else:
            np.testing.assert_allclose(a.data, b.data, atol=1e-6)
    m, s = memory.images[0], streamed.images[0]
    assert s.positive_fraction == pytest.approx(m.positive_fraction, abs=1e-12)
    if len(models) > 1:
        assert s.spread_mean == pytest.approx(m.spread_mean, rel=1e-5) and s.spread_mean > 0
    # the result reads the committed files lazily, like arrays
    np.testing.assert_allclose(s.prob[10:20, 30:40], m.prob[10:20, 30:40], atol=1e-6)
    assert np.array_equal(np.asarray(s.mask), m.mask)


def test_a_streamed_thinned_mask_is_the_whole_images_skeleton(files, tmp_path, monkeypatch):
    memory, streamed = _both(files, tmp_path, monkeypatch, files / "thin")
    assert streamed.summary["thin"] is True
    assert np.array_equal(np.asarray(streamed.mask), memory.mask) and memory.mask.any()


def test_thinning_in_bands_equals_thinning_whole_on_a_boundary_network():
    from microseg.data import thin_boundaries
    from microseg.synth import make_polycrystal

    boundaries = make_polycrystal((700, 300), mean_diameter_px=40, seed=2).boundaries
    band = np.zeros_like(boundaries, dtype=np.uint8)
    from scipy import ndimage

    band[ndimage.binary_dilation(boundaries > 0, iterations=2)] = 1           # 5-px bands, as a network draws
    out = np.zeros_like(band)
    count = thin_in_bands(band, out, band=128)
    whole = thin_boundaries(band.astype(bool))
    assert np.array_equal(out.astype(bool), whole) and count == int(whole.sum())
    with pytest.raises(InputError, match="halo"):
        thin_in_bands(band, out, halo=4)


def test_a_streamed_result_writes_copies_elsewhere(files, tmp_path, monkeypatch):
    monkeypatch.setattr(_predict, "STREAM_PIXELS", 0)
    result = tasks.predict([files / "m1", files / "m2"], files / "big.tif", device="cpu", tile_size=128,
                           output=tmp_path / "a")
    result.write(tmp_path / "b")
    for name in result.output_names():
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_failure_while_streaming_leaves_nothing(files, tmp_path, monkeypatch):
    bad = io.read_image(files / "big.tif").data.astype(np.float32)
    bad[250:260, 10:20] = np.nan                                     # found only when those rows are read
    io.write_image(tmp_path / "nan.tif", bad, pixel_size=0.05)
    monkeypatch.setattr(_predict, "STREAM_PIXELS", 0)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"nan\.tif.*NaN"):
        tasks.predict([files / "m1"], [files / "big.tif", tmp_path / "nan.tif"], device="cpu", tile_size=64,
                      output=out)
    assert not out.exists() or not any(out.iterdir()), "no output of the first image either"


def test_per_tile_resampling_agrees_with_resampling_the_whole_image(files):
    """An image at twice the model's pixel size: tiles resampled one by one, or the whole image."""
    image = io.read_image(files / "big.tif", pixel_size=0.1)
    whole = tasks.predict(files / "m1", image, device="cpu", tile_size=0).prob
    tiled = tasks.predict(files / "m1", image, device="cpu", tile_size=128, overlap=0.25).prob
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(whole[inner] - tiled[inner]).mean() < 0.01
    assert np.mean((whole[inner] >= 0.5) != (tiled[inner] >= 0.5)) < 0.02
    native = tasks.predict(files / "m1", image, device="cpu", tile_size=128, rescale=False).prob
    assert np.abs(native - tiled).mean() > 5 * np.abs(whole[inner] - tiled[inner]).mean(), \
        "resampling must change what the model sees"


def test_the_configs_infer_section_runs_prediction_and_options_win(files, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("infer: {threshold: 0.4, tile: 64, overlap: 16, batch: 2, tta: flip}\n", encoding="utf-8")
    result = tasks.predict(files / "m1", files / "big.tif", device="cpu", config=config)
    s = result.summary
    assert (s["threshold"], s["tile_size"], s["overlap"], s["batch_size"], s["tta"]) == (0.4, 64, 16, 2, "flip")
    direct = tasks.predict(files / "m1", files / "big.tif", device="cpu", threshold=0.4, tile_size=64, overlap=16,
                           batch_size=2, tta="flip")
    assert np.array_equal(result.prob, direct.prob)
    given = tasks.predict(files / "m1", files / "big.tif", device="cpu", config=config, tile_size=0, tta=False)
    assert given.summary["tile_size"] is None and given.summary["tta"] == "none"   # the options win


def test_onnx_backend_runs_model_folders_through_onnxruntime(files):
    pytest.importorskip("onnxruntime")
    torch_result = tasks.predict(files / "m1", files / "big.tif", device="cpu", tile_size=128)
    onnx_result = tasks.predict(files / "m1", files / "big.tif", device="cpu", tile_size=128, backend="onnx")
    assert onnx_result.summary["backend"] == "onnx"
    assert np.abs(onnx_result.prob - torch_result.prob).max() < 1e-4
    with pytest.raises(InputError, match="backend"):
        tasks.predict(files / "m1", files / "big.tif", backend="tensorrt")


def test_folders_and_patterns_stand_for_their_images(files, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("b", "a", "c"):
        io.write_image(folder / f"{name}.tif", (rng.random((40, 48)) * 255).astype(np.uint8), pixel_size=0.05)
    (folder / "notes.txt").write_text("not an image")
    by_folder = tasks.predict(files / "m1", folder, device="cpu")
    assert [i.name for i in by_folder.images] == ["a", "b", "c"]
    by_pattern = tasks.predict(files / "m1", str(folder / "[ab].tif"), device="cpu")
    assert [i.name for i in by_pattern.images] == ["a", "b"]
    assert np.array_equal(by_pattern["b"].prob, by_folder["b"].prob)
    with pytest.raises(io.MissingFileError, match="matches no file"):
        tasks.predict(files / "m1", str(folder / "*.png"))


class _ZeroCrossings(torch.nn.Module):
    """A 'boundary model' of the test image: boundaries where sin(x/9)cos(y/13) crosses zero (a grid)."""

    in_channels = 1

    def forward(self, x):
        return 4.0 - 8.0 * x.abs()


def test_grains_of_each_prediction_are_measured_and_written(files, tmp_path, monkeypatch):
    model = (_ZeroCrossings(), META)
    result = tasks.predict(model, files / "big.tif", device="cpu", tile_size=128, threshold=0.6,
                           grains=True, output=tmp_path / "memory")
    item = result.images[0]
    written = sorted(p.name for p in (tmp_path / "memory" / "big_grains").iterdir())
    assert {"grains.csv", "summary.json", "labels.tif"} <= set(written)
    expected = tasks.grains(io.read_prob_image(tmp_path / "memory" / "big_prob.tif"), threshold=0.6)
    assert item.grains["n_grains"] == expected.summary["n_grains"] > 20
    monkeypatch.setattr(_predict, "STREAM_PIXELS", 0)
    streamed = tasks.predict(model, files / "big.tif", device="cpu", tile_size=128, threshold=0.6,
                             grains=True, output=tmp_path / "streamed")
    assert streamed.images[0].grains["n_grains"] == item.grains["n_grains"]
    assert sorted(p.name for p in (tmp_path / "streamed" / "big_grains").iterdir()) == written
