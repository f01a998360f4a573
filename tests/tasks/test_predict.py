"""``tasks.predict``: the CLI's prediction as one call; ensemble mean and spread from the infer stage."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from microseg import io, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.infer import predict_ensemble, predict_image
from microseg.tasks._predict import PredictResult

META = {"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_unet):
    from microseg.models import save_model

    root = tmp_path_factory.mktemp("predict")
    for k in (1, 2):
        save_model(tiny_unet(k), root / f"m{k}", metadata=META)
    rng = np.random.default_rng(3)
    for name, shape in (("a", (40, 56)), ("b", (32, 32))):
        io.write_image(root / f"{name}.tif", (rng.random(shape) * 255).astype(np.uint8), pixel_size=0.05)
    return root


def test_the_task_is_what_the_cli_writes_and_prints(files, tmp_path, capsys):
    out = tmp_path / "cli"
    models = [files / "m1", files / "m2"]
    images = [files / "a.tif", files / "b.tif"]
    assert main(["predict", *map(str, models), "--image", *map(str, images), "--device", "cpu",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    result = tasks.predict(models, images, device="cpu")
    assert printed == result.text + "\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(result.output_names())
    assert len(result.output_names()) == 6          # 3 per image (config.yaml only with a config)
    for item in result.images:
        prob = io.read_prob_image(out / f"{item.name}_prob.tif")
        assert np.array_equal(prob.data, item.prob) and prob.pixel_size == pytest.approx(0.05)
        assert np.array_equal(tifffile.imread(out / f"{item.name}_mask.tif"), item.mask)
        assert np.array_equal(io.read_prob(out / f"{item.name}_spread.tif"), item.spread)
        # mean and spread are those of the infer stage's ensemble
        mean, spread = predict_ensemble(models, io.read_image(files / f"{item.name}.tif"), device="cpu")
        assert np.array_equal(item.prob, mean) and np.array_equal(item.spread, spread)
        assert np.array_equal(item.mask, (mean >= 0.5).astype(np.uint8))
    s = result.summary
    assert s["models"] == ["m1", "m2"] and s["threshold"] == 0.5 and s["thin"] is False
    assert [i["name"] for i in s["images"]] == ["a", "b"]
    assert result.table["positive_fraction"][0] == pytest.approx(result["a"].mask.mean())


def test_one_model_has_no_spread_and_threshold_applies(files, tmp_path):
    image = io.read_image(files / "a.tif")
    result = tasks.predict(files / "m1", image, threshold=0.7, output=tmp_path / "one")
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["a_mask.tif", "a_prob.tif"]
    assert result.spread is None and np.isnan(result.table["spread_mean"][0])
    expected = predict_image(files / "m1", image)
    np.testing.assert_allclose(result.prob, expected, atol=1e-6)
    assert np.array_equal(result.mask, (result.prob >= 0.7).astype(np.uint8))
    with pytest.raises(InputError, match="threshold"):
        tasks.predict(files / "m1", image, threshold=1.5)


def test_in_memory_models_and_arrays(files, tiny_unet):
    arrays = [np.random.default_rng(0).random((24, 24)).astype(np.float32)] * 2
    result = tasks.predict([(tiny_unet(1), META), (tiny_unet(1), META)], arrays)
    assert [i.name for i in result.images] == ["image0", "image1"]
    assert np.array_equal(result["image0"].spread, np.zeros((24, 24), np.float32))   # identical models
    assert result["image0"].pixel_size is None
    with pytest.raises(AttributeError, match="2 images"):
        result.prob


def test_thin_models_give_a_thinned_mask_unless_asked_not_to(files):
    from microseg.data import thin_boundaries

    class Band(torch.nn.Module):
        """A boundary model drawing a 5-px band down the middle."""

        in_channels = 1

        def forward(self, x):
            out = torch.full_like(x[:, :1], -10.0)
            out[..., 14:19] = 10.0
            return out

    image = np.zeros((32, 32), np.float32)
    thin = tasks.predict((Band(), {"thin": True}), image)
    band = tasks.predict((Band(), {"thin": True}), image, thin=False)
    assert band.mask.sum() == 5 * 32
    assert np.array_equal(thin.mask, thin_boundaries(band.mask.astype(bool)).astype(np.uint8))
    assert 0 < thin.mask.sum() < band.mask.sum()
    plain = tasks.predict((Band(), {}), image)                   # not trained thin: the band as it is
    assert np.array_equal(plain.mask, band.mask) and plain.summary["thin"] is False


def test_write_is_all_or_nothing_and_never_overwrites(files, tmp_path, monkeypatch):
    result = tasks.predict([files / "m1", files / "m2"], files / "a.tif")
    result.write(tmp_path / "ok")
    before = (tmp_path / "ok" / "a_prob.tif").read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        tasks.predict([files / "m1", files / "m2"], files / "a.tif", output=tmp_path / "ok")
    with pytest.raises(OutputExistsError):
        result.write(tmp_path / "ok")
    assert (tmp_path / "ok" / "a_prob.tif").read_bytes() == before

    files_of = PredictResult.files

    def failing(self):
        def boom(path):
            raise OSError("disk full")
        return files_of(self)[:-1] + [("a_spread.tif", boom)]
    monkeypatch.setattr(PredictResult, "files", failing)
    with pytest.raises(OSError, match="disk full"):
        result.write(tmp_path / "bad")
    assert not (tmp_path / "bad").exists(), "a folder the run made is removed again"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    with pytest.raises(OSError, match="disk full"):
        result.write(tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    with pytest.raises(InputError, match="two outputs"):
        tasks.predict(files / "m1", [files / "a.tif", files / "a.tif"], output=tmp_path / "dup")


def test_the_threshold_comes_from_the_config_unless_given(files, tmp_path):
    from microseg.config import load_config

    image = io.read_image(files / "a.tif")
    (tmp_path / "run.yaml").write_text("infer: {threshold: 0.52}\ngrains: {close_gaps: none}\n")
    from_config = tasks.predict(files / "m1", image, config=tmp_path / "run.yaml", output=tmp_path / "c")
    assert from_config.settings["threshold"] == 0.52
    assert np.array_equal(from_config.mask, (from_config.prob >= 0.52).astype(np.uint8))
    assert load_config(tmp_path / "c" / "config.yaml", sections=("infer",)).infer.threshold == 0.52
    given = tasks.predict(files / "m1", image, config=tmp_path / "run.yaml", threshold=0.4)
    assert given.settings["threshold"] == 0.4
    assert main(["predict", str(files / "m1"), "--image", str(files / "a.tif"), "--config",
                 str(tmp_path / "run.yaml"), "-o", str(tmp_path / "cli")]) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "cli" / "a_mask.tif"), from_config.mask)


def test_tiles_tta_and_precision_through_the_task_and_the_cli(files, tmp_path, capsys):
    models = [files / "m1", files / "m2"]
    options = dict(tile_size=16, overlap=4, batch_size=3, tta="flip", precision="fp32")
    result = tasks.predict(models, files / "a.tif", device="cpu", output=tmp_path / "task", **options)
    s = result.settings
    assert (s["tile_size"], s["overlap"], s["batch_size"], s["tta"], s["precision"]) == (16, 4, 3, "flip", "fp32")
    mean, spread = predict_ensemble(models, io.read_image(files / "a.tif"), device="cpu", **options)
    assert np.array_equal(result.prob, mean) and np.array_equal(result.spread, spread)
    whole = predict_ensemble(models, io.read_image(files / "a.tif"), device="cpu")[0]
    assert not np.array_equal(result.prob, whole)            # tiles and TTA did something
    assert main(["predict", *map(str, models), "--image", str(files / "a.tif"), "--device", "cpu", "--tile", "16",
                 "--overlap", "4", "--batch", "3", "--tta", "flip", "-o", str(tmp_path / "cli")]) == 0
    assert np.array_equal(io.read_prob(tmp_path / "cli" / "a_prob.tif"), io.read_prob(tmp_path / "task" / "a_prob.tif"))
    capsys.readouterr()
    # --tta alone is the dihedral group
    assert main(["predict", str(files / "m1"), "--image", str(files / "b.tif"), "--device", "cpu", "--tta",
                 "-o", str(tmp_path / "d")]) == 0
    dihedral = tasks.predict(files / "m1", files / "b.tif", device="cpu", tta=True)
    assert dihedral.settings["tta"] == "dihedral"
    assert np.array_equal(io.read_prob(tmp_path / "d" / "b_prob.tif"), dihedral.prob)


def test_by_default_small_images_are_whole_and_large_ones_tiled(files, monkeypatch):
    from microseg.infer import tiling

    image = io.read_image(files / "a.tif")                   # 40 x 56
    result = tasks.predict(files / "m1", image, device="cpu")
    assert result.settings["tile_size"] == "auto"
    assert np.array_equal(result.prob, predict_image(files / "m1", image, device="cpu"))
    monkeypatch.setattr(tiling, "AUTO_TILE_ABOVE", 32)       # now 'large': tiles of AUTO_TILE
    monkeypatch.setattr(tiling, "AUTO_TILE", 16)
    tiled = tasks.predict(files / "m1", image, device="cpu")
    assert np.array_equal(tiled.prob, predict_image(files / "m1", image, device="cpu", tile_size=16))
    assert not np.array_equal(tiled.prob, result.prob)
    assert np.array_equal(tasks.predict(files / "m1", image, device="cpu", tile_size=0).prob, result.prob)


def test_bad_input_is_one_line_naming_the_file_and_leaves_nothing(files, tmp_path, capsys):
    nan = np.full((24, 24), np.nan, np.float32)
    tifffile.imwrite(tmp_path / "nan.tif", nan)
    out = tmp_path / "out"
    argv = ["predict", str(files / "m1"), "--image", str(files / "a.tif"), str(tmp_path / "nan.tif"),
            "--pixel-size", "0.05", "--device", "cpu", "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nan.tif" in err[0] and "NaN" in err[0]
    assert not out.exists() or not any(out.iterdir())       # a.tif's outputs are not written either
    with pytest.raises(InputError, match="nan.tif: the image contains only NaN"):
        tasks.predict(files / "m1", tmp_path / "nan.tif", pixel_size=0.05)
    for flags, match in ((["--precision", "fp16"], "fp16"), (["--tile", "-3"], "tile_size"),
                         (["--overlap", "2.5", "--tile", "2"], "overlap"), (["--batch", "0"], "batch_size")):
        assert main(argv[:4] + ["--device", "cpu", *flags, "-o", str(tmp_path / "x")]) == 2
        assert match in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clean_error(files, tmp_path, capsys):
    assert main(["predict", str(files / "m1"), "--image", str(files / "a.tif"), "--device", "cuda",
                 "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "Traceback" not in err and not (tmp_path / "c").exists()
