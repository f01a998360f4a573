"""``tasks.volume`` / ``microseg volume``: a stack slice by slice through the 2D path, streamed to
zarr or TIFF, measured in 3D; the same on dask chunks; bad input refused in one line."""
from __future__ import annotations

import json
import sys

import cloudpickle
import numpy as np
import pytest
import tifffile

from microseg import io, synth, tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main
from microseg.grains import connected_components_3d, percolates, phase_fraction_per_slice
from microseg.infer import predict_ensemble

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])

META = {"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}
NAMES = ["fib_mask.zarr", "fib_phase_fraction.csv", "fib_phase_fraction.png", "fib_prob.zarr", "fib_views.png",
         "fib_volume.json"]


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_unet):
    """A FIB-SEM-like stack (ImageJ TIFF with its voxel size), a 2D and a 2.5D tiny model."""
    import torch

    from microseg import models
    from microseg.models import save_model

    root = tmp_path_factory.mktemp("volume")
    phases = synth.make_porous_volume((9, 40, 52), porosity=0.3, pore_size_px=6, seed=2)
    image = synth.render_fib_sem(phases, seed=2)
    stack = (np.clip(image.data, 0, 1) * 255).astype(np.uint8)
    io.write_stack(root / "fib.tif", stack, pixel_size=0.02, slice_spacing=0.05)
    save_model(tiny_unet(1), root / "m2d", metadata=META)
    torch.manual_seed(3)
    deep = models.build("unet_plain", in_channels=3, base_channels=2, depth=2)
    save_model(deep, root / "m25d", metadata={**META, "input": {"context": 1}})
    return root, stack


def test_the_task_is_what_the_cli_writes_and_prints(data, tmp_path, capsys):
    root, stack = data
    out = tmp_path / "cli"
    assert main(["volume", str(root / "fib.tif"), "--method", "otsu", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    result = tasks.volume(root / "fib.tif", method="otsu")
    assert printed == result.text + "\n"
    assert sorted(p.name for p in out.iterdir()) == NAMES
    mask = io.open_stack(out / "fib_mask.zarr")
    assert mask.shape == stack.shape and mask.dtype == np.uint8
    assert mask.pixel_size == pytest.approx(0.02) and mask.slice_spacing == pytest.approx(0.05)
    assert np.array_equal(np.asarray(mask), result.mask)
    assert np.array_equal(np.asarray(io.open_stack(out / "fib_prob.zarr")), result.prob)


def test_slices_go_through_the_2d_path_and_3d_numbers_equal_the_whole_array_ones(data):
    root, stack = data
    result = tasks.volume(root / "fib.tif", method="sauvola", window_size=15)
    seg = tasks.segment(root / "fib.tif", method="sauvola", window_size=15)   # the 2D task, per slice
    assert np.array_equal(result.mask, seg.mask) and np.array_equal(result.prob, seg.prob)
    phase = result.stats["phase"]
    mask = result.mask.astype(bool)
    np.testing.assert_allclose(result.per_slice, phase_fraction_per_slice(mask))
    assert phase["summary"]["mean"] == pytest.approx(phase_fraction_per_slice(mask).mean())
    assert phase["volume_fraction"] == pytest.approx(mask.mean())
    _, sizes = connected_components_3d(mask)
    assert phase["components"]["count"] == sizes.size
    assert phase["components"]["sizes_vox"] == sorted(sizes.tolist(), reverse=True)
    assert phase["percolates"] == {a: percolates(mask, axis=i) for i, a in enumerate("zyx")}
    assert result.stats["complement"]["volume_fraction"] == pytest.approx(1 - mask.mean())
    assert result.table["phase_fraction"].shape == (stack.shape[0],)


def test_a_model_predicts_every_slice_as_predict_does(data, tmp_path):
    root, stack = data
    result = tasks.volume(root / "fib.tif", models=root / "m2d", device="cpu", output=tmp_path / "o")
    for z in (0, 4, 8):
        mean, _ = predict_ensemble(root / "m2d", stack[z], device="cpu", pixel_size=0.02, tile_size="auto")
        np.testing.assert_array_equal(np.asarray(result.prob[z]), mean)
        assert np.array_equal(np.asarray(result.mask[z]), (mean >= 0.5).astype(np.uint8))
    summary = json.loads((tmp_path / "o" / "fib_volume.json").read_text())
    assert summary["models"] == ["m2d"] and summary["context"] == 0 and summary["shape"] == list(stack.shape)


def test_a_2_5d_model_sees_the_neighbouring_slices(data):
    root, stack = data
    result = tasks.volume(root / "fib.tif", models=root / "m25d", device="cpu")
    assert result.settings["context"] == 1
    for z, near in ((0, [0, 0, 1]), (5, [4, 5, 6]), (8, [7, 8, 8])):
        x = stack[near].astype(np.float32) / 255
        mean, _ = predict_ensemble(root / "m25d", x, device="cpu", pixel_size=0.02)
        np.testing.assert_array_equal(result.prob[z], mean)


def test_context_that_does_not_match_the_model_is_one_line(data, tmp_path, capsys):
    root, _ = data
    for model, k, words in (("m2d", "1", "single slices"), ("m25d", "0", "context 1")):
        out = tmp_path / model
        assert main(["volume", str(root / "fib.tif"), "-m", str(root / model), "--context", k, "-o", str(out)]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and model in err[0]
        assert not out.exists()
    with pytest.raises(InputError, match="classical methods segment single slices"):
        tasks.volume(root / "fib.tif", method="otsu", context=1)


def test_tiff_output_and_a_mesh(data, tmp_path):
    root, stack = data
    out = tmp_path / "t"
    result = tasks.volume(root / "fib.tif", method="otsu", fmt="tiff", mesh="stl", output=out)
    with tifffile.TiffFile(out / "fib_mask.tif") as tif:
        assert tif.is_imagej and tif.imagej_metadata["spacing"] == pytest.approx(0.05)
        assert np.array_equal(tif.asarray(), np.asarray(result.mask))
    data_ = (out / "fib_mesh.stl").read_bytes()
    assert int.from_bytes(data_[80:84], "little") == result.mesh["faces"] > 0
    assert len(data_) == 84 + 50 * result.mesh["faces"]
    assert result.mesh["area_um2"] > 0


def test_on_dask_chunks_the_files_are_the_single_process_ones(data, cluster, tmp_path):
    root, _ = data
    probe = tasks.volume(root / "fib.tif", models=root / "m25d", device="cpu")
    middle = float(np.median(probe.prob))   # the untrained model's masks are empty at 0.5
    learned = {"models": root / "m25d", "device": "cpu", "threshold": middle}
    for kind, options in (("otsu", {"method": "otsu"}), ("learned", learned)):
        one = tasks.volume(root / "fib.tif", output=tmp_path / f"{kind}1", **options)
        many = tasks.volume(root / "fib.tif", output=tmp_path / f"{kind}2", dask=cluster.scheduler_address,
                            chunk_slices=2, **options)
        masks = [np.asarray(io.open_stack(tmp_path / f"{kind}{i}" / "fib_mask.zarr")) for i in (1, 2)]
        assert np.array_equal(*masks), kind
        probs = [np.asarray(io.open_stack(tmp_path / f"{kind}{i}" / "fib_prob.zarr")) for i in (1, 2)]
        if kind == "otsu":
            assert np.array_equal(*probs)
        else:   # a worker's one torch thread may round a few sums differently
            np.testing.assert_allclose(probs[1], probs[0], rtol=0, atol=1e-6)
        assert many.stats["phase"]["components"] == one.stats["phase"]["components"]
        assert 0 < one.stats["phase"]["volume_fraction"] < 1
        assert many.settings["dask"] == cluster.scheduler_address


def test_in_memory_on_dask_equals_in_memory_here(data, cluster):
    root, _ = data
    one = tasks.volume(root / "fib.tif", method="otsu")
    many = tasks.volume(root / "fib.tif", method="otsu", dask=cluster.scheduler_address, chunk_slices=4)
    assert np.array_equal(one.prob, many.prob) and np.array_equal(one.mask, many.mask)


def test_an_existing_zarr_is_not_overwritten_without_force(data, tmp_path, capsys):
    root, _ = data
    out = tmp_path / "o"
    tasks.volume(root / "fib.tif", method="otsu", output=out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    stamp = (out / "fib_volume.json").read_bytes()
    assert main(["volume", str(root / "fib.tif"), "--method", "sauvola", "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fib_prob.zarr" in err[0] and "--force" in err[0]
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "fib_volume.json").read_bytes() == stamp
    with pytest.raises(OutputExistsError):
        tasks.volume(root / "fib.tif", method="otsu", output=out)
    tasks.volume(root / "fib.tif", method="sauvola", output=out, force=True)
    assert json.loads((out / "fib_volume.json").read_text())["method"]["method"] == "sauvola"


def test_slices_of_different_sizes_are_refused_naming_the_file(tmp_path, capsys):
    folder = tmp_path / "slices"
    folder.mkdir()
    for z in range(4):
        shape = (20, 24) if z != 2 else (20, 23)
        io.write_image(folder / f"s{z}.tif", np.zeros(shape, np.uint8), pixel_size=0.1)
    out = tmp_path / "o"
    assert main(["volume", str(folder), "--method", "otsu", "-o", str(out)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s2.tif" in err[0]
    assert not out.exists()


def test_a_failure_midway_leaves_nothing(data, tmp_path, monkeypatch):
    root, _ = data
    from microseg.infer import volume as vol

    calls = []

    def failing(self, x):
        calls.append(1)
        if len(calls) == 5:
            raise InputError("slice 4: something wrong")
        return np.zeros(x.shape[1:], np.float32)

    monkeypatch.setattr(vol.classic_slice_predictor, "__call__", failing)
    out = tmp_path / "o"
    with pytest.raises(InputError, match="slice 4"):
        tasks.volume(root / "fib.tif", method="otsu", output=out)
    assert not out.exists()


def test_an_ome_zarr_written_by_ome_zarr_py_is_read_with_its_voxel_size(data, tmp_path):
    import warnings

    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_image
    _, stack = data
    group = zarr.open_group(str(tmp_path / "fib.ome.zarr"), mode="w", zarr_format=2)
    write_image(stack, group, scale_factors=[2], axes="zyx", scale={"z": 50.0, "y": 20.0, "x": 20.0},
                axes_units={"z": "nanometer", "y": "nanometer", "x": "nanometer"})
    result = tasks.volume(tmp_path / "fib.ome.zarr", method="otsu", output=tmp_path / "out")
    assert result.name == "fib"
    assert result.settings["pixel_size_um"] == pytest.approx(0.02)
    assert result.settings["slice_spacing_um"] == pytest.approx(0.05)
    assert np.array_equal(np.asarray(result.mask), tasks.volume(stack, method="otsu").mask)


def test_an_in_memory_result_writes_what_output_writes(data, tmp_path):
    root, _ = data
    result = tasks.volume(root / "fib.tif", method="otsu", fmt="tiff")
    result.write(tmp_path / "later")
    tasks.volume(root / "fib.tif", method="otsu", fmt="tiff", output=tmp_path / "now")
    names = sorted(p.name for p in (tmp_path / "now").iterdir())
    assert sorted(p.name for p in (tmp_path / "later").iterdir()) == names
    for name in ("fib_mask.tif", "fib_prob.tif", "fib_phase_fraction.csv"):
        assert (tmp_path / "later" / name).read_bytes() == (tmp_path / "now" / name).read_bytes(), name
    with pytest.raises(OutputExistsError):
        result.write(tmp_path / "later")
