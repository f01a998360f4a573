"""``tasks.segment``: the CLI's classical segmentation as one call, written all or nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from microseg import classic, io, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.tasks._segment import SegmentResult


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("segment")
    poly = tasks.synth(size=128, mean_diameter=24.0, seed=4)
    io.write_image(root / "poly.tif", poly.image, pixel_size=poly.pixel_size)
    fib = tasks.synth("porous", size=48, slices=3, seed=1, pixel_size=0.02)
    io.write_stack(root / "fib.tif", fib.stack, pixel_size=0.02, slice_spacing=0.02)
    area = np.zeros((48, 48), np.uint8)
    area[:, :20] = 1
    tifffile.imwrite(root / "area.tif", area)
    return {"root": root, "poly": root / "poly.tif", "fib": root / "fib.tif", "area": root / "area.tif",
            "poly_image": poly.image, "fib_stack": fib.stack, "area_mask": area > 0}


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_the_task_is_what_the_cli_writes_and_prints(files, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["segment", str(files["poly"]), str(files["fib"]), "--method", "otsu", "--polarity", "bright",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    result = tasks.segment([files["poly"], files["fib"]], method="otsu", polarity="bright")
    assert printed == result.text + "\n"
    assert _names(out) == sorted(result.output_names())
    assert _names(out) == ["fib_mask.tif", "fib_phase_fraction.csv", "fib_prob.tif", "poly_mask.tif",
                           "poly_prob.tif", "segment.json"]
    poly, fib = result["poly"], result["fib"]
    assert np.array_equal(io.read_prob(out / "poly_prob.tif"), poly.prob)
    assert np.array_equal(tifffile.imread(out / "poly_mask.tif"), poly.mask)
    assert np.array_equal(tifffile.imread(out / "fib_prob.tif"), fib.prob)
    assert np.array_equal(tifffile.imread(out / "fib_mask.tif"), fib.mask)
    assert io.read_prob_image(out / "poly_prob.tif").pixel_size == pytest.approx(0.05)
    assert json.loads((out / "segment.json").read_text()) == json.loads(io.json_text(result.summary))
    # the same segmenter the classical stage builds, on the same pixels
    expected = classic.build("otsu", polarity="bright").predict(io.read_image(files["poly"]).data)
    assert np.array_equal(poly.prob, expected) and np.array_equal(poly.mask, expected >= 0.5)
    assert result.summary["segmenter"] == {"method": "otsu", "polarity": "bright"}
    assert not poly.is_stack and fib.is_stack and fib.prob.shape == (3, 48, 48)


def test_a_stack_gets_its_phase_fraction_per_slice_inside_the_mask(files, tmp_path):
    result = tasks.segment(files["fib"], method="otsu", polarity="bright", mask=files["area"], output=tmp_path)
    item = result.images[0]
    pred = item.mask.astype(bool)
    expected = pred[:, :, :20].reshape(3, -1).mean(axis=1)      # the fraction inside the area, by hand
    np.testing.assert_allclose(item.phase_fraction, expected, rtol=0, atol=1e-12)
    rows = (tmp_path / "fib_phase_fraction.csv").read_text().strip().splitlines()
    assert rows[0] == "slice,phase_fraction"
    np.testing.assert_allclose([float(r.split(",")[1]) for r in rows[1:]], expected, atol=1e-6)
    assert [int(r.split(",")[0]) for r in rows[1:]] == [0, 1, 2]
    assert item.phase_fraction_summary["mean"] == pytest.approx(expected.mean())
    assert item.phase_fraction_summary["std"] == pytest.approx(expected.std())
    assert item.positive_fraction == pytest.approx(pred[:, :, :20].mean())
    table = result.table
    assert list(table["slice"]) == [0, 1, 2] and list(table["image"]) == ["fib"] * 3
    np.testing.assert_allclose(table["positive_fraction"], expected)
    assert result.summary["mask"] == str(files["area"])
    # without a mask: the plain per-slice fraction
    plain = tasks.segment(files["fib"], method="otsu", polarity="bright").images[0]
    np.testing.assert_allclose(plain.phase_fraction, pred.reshape(3, -1).mean(axis=1), atol=1e-12)


def test_arrays_and_images_in_memory(files):
    image = io.read_image(files["poly"])
    result = tasks.segment([files["poly_image"], files["fib_stack"], image], method="otsu",
                           polarity="bright", pixel_size=0.05)
    assert [i.name for i in result.images] == ["image0", "image1", "poly"]
    assert [i.is_stack for i in result.images] == [False, True, False]
    assert np.array_equal(result["image0"].prob, result["poly"].prob)
    assert result["image0"].pixel_size == 0.05 and result["poly"].pixel_size == 0.05
    assert result.summary["images"] == ["image0", "image1", str(files["poly"])]
    with pytest.raises(AttributeError, match="3 images"):
        result.prob
    one = tasks.segment(files["poly_image"], method="otsu", polarity="bright")
    assert one.prob.shape == (128, 128) and one.mask.dtype == np.uint8
    with pytest.raises(KeyError, match="image0"):
        one["poly"]


def test_options_that_do_not_apply_are_refused_before_any_work(files, tmp_path):
    with pytest.raises(InputError, match=r"window_size \(--window-size\).*'ridge'"):
        tasks.segment(files["poly"], method="ridge", window_size=31, output=tmp_path / "o")
    with pytest.raises(InputError, match="did you mean 'otsu'"):
        tasks.segment(files["poly"], method="otzu", output=tmp_path / "o")
    with pytest.raises(InputError, match="two outputs"):          # two inputs with one stem
        tasks.segment([files["poly"], files["poly"]], output=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_failure_on_a_later_image_leaves_nothing(files, tmp_path, capsys):
    broken = tmp_path / "broken.tif"
    data = files["poly"].read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    out = tmp_path / "cli"
    assert main(["segment", str(files["poly"]), str(broken), "--method", "otsu", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.tif" in err[0]
    assert not out.exists() or _names(out) == []                 # not even poly's outputs
    small = np.ones((16, 16), np.uint8)
    with pytest.raises(InputError, match="shape"):               # the area fits the stack, not the image
        tasks.segment([files["fib"], small], method="otsu", mask=files["area"], output=tmp_path / "m")
    assert not (tmp_path / "m").exists() or _names(tmp_path / "m") == []


def test_write_is_all_or_nothing_and_never_overwrites(files, tmp_path, monkeypatch):
    result = tasks.segment([files["poly"], files["fib"]], method="otsu", polarity="bright")
    first = result.write(tmp_path / "ok")
    assert sorted(p.name for p in first) == _names(tmp_path / "ok")
    before = (tmp_path / "ok" / "poly_prob.tif").read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        result.write(tmp_path / "ok")
    with pytest.raises(OutputExistsError):
        tasks.segment(files["poly"], method="otsu", output=tmp_path / "ok")
    assert (tmp_path / "ok" / "poly_prob.tif").read_bytes() == before
    result.write(tmp_path / "ok", force=True)

    files_of = SegmentResult.files

    def failing(self):
        def boom(path):
            raise OSError("disk full")
        return files_of(self)[:-1] + [("segment.json", boom)]
    monkeypatch.setattr(SegmentResult, "files", failing)
    with pytest.raises(OSError, match="disk full"):
        result.write(tmp_path / "bad")
    assert not (tmp_path / "bad").exists()                       # no output, no temporary folder


def test_tuning_is_recorded_and_written(tmp_path):
    from microseg.synth import make_precipitates

    train, new = (make_precipitates((96, 96), contrast=0.04, seed=s) for s in (1, 2))
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    io.write_image(tmp_path / "images" / "a.tif", train.image.data, pixel_size=0.01)
    tifffile.imwrite(tmp_path / "masks" / "a.tif", train.mask)
    pairs = f"{tmp_path / 'images'}:{tmp_path / 'masks'}"
    result = tasks.segment(new.image, method="sauvola", tune=pairs, positive="nonzero", output=tmp_path / "out")
    assert result.tuned is not None and result.tuned.metric == "iou"
    assert result.summary["tuned"]["params"] == result.tuned.params
    assert result.summary["segmenter"] == {"method": "sauvola", **result.tuned.params}
    rows = (tmp_path / "out" / "tune.csv").read_text().strip().splitlines()
    assert len(rows) == len(result.tuned.table) + 1 and "k" in rows[0].split(",")
    assert result.text.splitlines()[0].startswith("tuned sauvola on ")


def test_a_missing_image_fails_before_tuning(tmp_path, monkeypatch):
    import microseg.tasks._segment as module

    monkeypatch.setattr(module, "_tune", lambda *a, **k: pytest.fail("tuned before the images were checked"))
    with pytest.raises(FileNotFoundError, match="missing.tif"):
        tasks.segment(tmp_path / "missing.tif", tune="anything", output=tmp_path / "o")
