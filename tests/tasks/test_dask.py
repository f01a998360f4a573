"""``--dask``: predict and segment on a dask.distributed cluster give the single-process files, bit for bit;
an unreachable scheduler and a worker that dies are one-line errors with nothing written."""
from __future__ import annotations

import filecmp
import os
import sys

import cloudpickle
import numpy as np
import pytest
import torch

from microseg import io, tasks
from microseg._util import InputError
from microseg.cli import main
from microseg.tasks._base import Staging
from microseg.tasks._dask import ClusterError, dask_client, map_inputs

distributed = pytest.importorskip("distributed")
cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import this test module

META = {"preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_unet):
    from microseg.models import save_model

    root = tmp_path_factory.mktemp("dask")
    for k in (1, 2):
        save_model(tiny_unet(k), root / f"m{k}", metadata=META)
    rng = np.random.default_rng(5)
    images = root / "images"
    images.mkdir()
    for i, shape in enumerate([(40, 56), (64, 48), (33, 70), (50, 50)]):
        io.write_image(images / f"im{i}.tif", (rng.random(shape) * 255).astype(np.uint8), pixel_size=0.05)
    return root


def _same_files(a, b) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and names
    for name in names:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


def test_predict_on_the_cluster_writes_the_single_process_files(folder, cluster, tmp_path):
    models = [folder / "m1", folder / "m2"]
    one = tasks.predict(models, folder / "images", device="cpu", output=tmp_path / "one")
    many = tasks.predict(models, folder / "images", device="cpu", dask=cluster.scheduler_address,
                         output=tmp_path / "many")
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == names
    for name in names:   # masks to the bit; a worker's one torch thread may round a few sums differently
        if name.endswith("_mask.tif"):
            assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "many" / name, shallow=False), name
        else:
            np.testing.assert_allclose(io.read_prob(tmp_path / "many" / name), io.read_prob(tmp_path / "one" / name),
                                       rtol=0, atol=1e-6)
    assert [i.name for i in many.images] == [i.name for i in one.images] == ["im0", "im1", "im2", "im3"]
    for a, b in zip(one.images, many.images):
        assert np.array_equal(np.asarray(a.mask), np.asarray(b.mask))
        assert a.positive_fraction == b.positive_fraction


def test_predict_on_the_cluster_without_output_returns_the_arrays(folder, cluster):
    one = tasks.predict(folder / "m1", folder / "images", device="cpu")
    many = tasks.predict(folder / "m1", folder / "images", device="cpu", dask=cluster.scheduler_address)
    for a, b in zip(one.images, many.images):
        assert np.array_equal(a.mask, b.mask)
        np.testing.assert_allclose(b.prob, a.prob, rtol=0, atol=1e-6)


def test_segment_on_the_cluster_writes_the_single_process_files_stacks_too(folder, cluster, tmp_path):
    stack = (np.random.default_rng(1).random((5, 30, 40)) * 255).astype(np.uint8)
    io.write_stack(tmp_path / "stack.tif", stack, pixel_size=0.1)
    inputs = sorted((folder / "images").glob("*.tif")) + [tmp_path / "stack.tif"]
    one = tasks.segment(inputs, method="sauvola", output=tmp_path / "one")
    many = tasks.segment(inputs, method="sauvola", dask=cluster.scheduler_address, output=tmp_path / "many")
    _same_files(tmp_path / "one", tmp_path / "many")
    assert np.array_equal(many["stack"].phase_fraction, one["stack"].phase_fraction)
    assert np.array_equal(np.asarray(many["stack"].mask[2]), np.asarray(one["stack"].mask[2]))


def test_the_cli_starts_a_local_cluster_of_the_workers_asked(folder, tmp_path, capsys, caplog):
    out = tmp_path / "cli"
    with caplog.at_level("INFO", logger="microseg.tasks._dask"):   # the CLI shows INFO logs on stderr
        assert main(["segment", *map(str, sorted((folder / "images").glob("*.tif"))), "--method", "otsu",
                     "--dask", "--workers", "2", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "local dask cluster of 2 worker(s)" in caplog.text
    one = tasks.segment(sorted((folder / "images").glob("*.tif")), method="otsu", output=tmp_path / "one")
    assert one.text in captured.out
    _same_files(tmp_path / "one", out)


def test_an_unreachable_scheduler_is_one_line_and_nothing_is_written(folder, tmp_path, capsys, monkeypatch):
    from microseg.tasks import _dask

    monkeypatch.setattr(_dask, "CONNECT_TIMEOUT", 1)   # nothing listens there: no need to wait 10 s
    out = tmp_path / "never"
    code = main(["segment", str(folder / "images" / "im0.tif"), "--method", "otsu", "--dask",
                 "tcp://127.0.0.1:9", "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and not out.exists()
    assert len(err) == 1 and "tcp://127.0.0.1:9" in err[0] and "cannot reach a dask scheduler" in err[0]


# ------------------------------------------------------------------------- workers that die
def _dies_once(item: str, *, marker: str) -> str:
    """Kills its worker process the first time it runs (the marker file says it did)."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return item.upper()


def _always_dies(item: str, *, staging: Staging) -> str:
    staging.path(f"{item}.txt").write_text("half")
    os._exit(1)


def test_a_task_whose_worker_dies_is_run_again_by_dask(cluster, tmp_path):
    with distributed.Client(cluster) as client:
        out = map_inputs(client, _dies_once, ["a", "b"], names=["a", "b"], marker=str(tmp_path / "died"))
    assert out == ["A", "B"] and (tmp_path / "died").exists()


def test_a_worker_that_keeps_dying_fails_the_run_and_leaves_nothing(tmp_path):
    dask_config = pytest.importorskip("dask").config
    out = tmp_path / "run"
    with dask_config.set({"distributed.scheduler.allowed-failures": 1}):
        with dask_client("local", workers=1) as client:
            with pytest.raises(ClusterError, match="a dask worker died each time") as err:
                with Staging(out, ["x.txt"]) as staging:
                    map_inputs(client, _always_dies, ["x"], names=["x"], staging=staging)
                    staging.commit()
    assert "\n" not in str(err.value) and str(err.value).startswith("x:")
    assert not out.exists()   # the staged half-written file went with the folder the run created


class _Killer(torch.nn.Module):
    """A model whose forward pass kills the dask worker it runs on (and gives zeros elsewhere)."""

    in_channels = 1

    def forward(self, x):
        try:
            distributed.get_worker()
        except ValueError:   # not on a worker
            return torch.zeros((x.shape[0], 1, *x.shape[2:]))
        os._exit(1)


def test_predict_with_a_model_that_kills_its_workers_reports_failure_and_writes_nothing(folder, tmp_path):
    dask_config = pytest.importorskip("dask").config
    out = tmp_path / "pred"
    with dask_config.set({"distributed.scheduler.allowed-failures": 0}):
        with pytest.raises(ClusterError, match="nothing was written"):
            tasks.predict([(_Killer(), {})], folder / "images" / "im0.tif", device="cpu", dask="local",
                          workers=1, output=out)
    assert not out.exists()


def test_dask_missing_options_are_refused(folder):
    with pytest.raises(InputError, match="workers"):
        with dask_client("local", workers=0):
            pass


def test_local_workers_take_big_allocations_from_the_heap():
    from microseg.tasks._dask import WORKER_MALLOC

    with dask_client("local", workers=1) as client:
        env = next(iter(client.run(lambda: {k: os.environ.get(k) for k in WORKER_MALLOC}).values()))
    assert env == WORKER_MALLOC
