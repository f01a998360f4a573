"""``tasks.export`` and ``microseg export``: one checked ONNX file, written whole or not at all."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg import tasks
from microseg._util import InputError, OutputExistsError
from microseg.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

META = {"pixel_size_um": 0.1, "preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from microseg import models
    from microseg.models import save_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model") / "best"
    save_model(models.build("unet_plain", base_channels=4, depth=2), folder, metadata=META)
    return folder


def test_export_task_writes_one_checked_file(model_dir, tmp_path):
    from microseg.infer import load_models, predict_probs
    from microseg.infer.onnx import load_onnx

    out = tmp_path / "sub" / "model.onnx"
    result = tasks.export(model_dir, output=out)
    s = result.summary
    assert s["path"] == str(out) and s["opset"] == 18 and s["input"] == "image" and s["model"] == "best"
    assert 0 <= s["max_abs_diff"] <= 1e-4 and s["bytes"] == out.stat().st_size
    assert "\n" not in result.text and str(out) in result.text and "agrees with PyTorch" in result.text
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.onnx"]        # no temporary left
    loaded = load_onnx(out)
    assert loaded.metadata == META
    image = np.random.default_rng(0).random((37, 50)).astype(np.float32)
    ref = predict_probs(load_models([model_dir]), image, device="cpu")
    assert np.abs(predict_probs([loaded], image, device="cpu") - ref).max() <= 1e-4
    # the result writes itself again, elsewhere, and never over a file without force
    assert result.write(tmp_path / "again")[0].read_bytes() == out.read_bytes()
    with pytest.raises(OutputExistsError, match="model.onnx: already exists"):
        tasks.export(model_dir, output=out)            # refused before any work
    assert result.write_file(out, force=True) == out


def test_bad_outputs_are_refused_before_any_work(model_dir, tmp_path, monkeypatch):
    import microseg.infer.onnx as backend

    def boom(*args, **kwargs):
        raise AssertionError("the export ran")

    monkeypatch.setattr(backend, "to_onnx", boom)
    with pytest.raises(InputError, match="is a folder"):
        tasks.export(model_dir, output=tmp_path)
    with pytest.raises(InputError, match=r"name it \*\.onnx"):
        tasks.export(model_dir, output=tmp_path / "model.json")
    with pytest.raises(InputError, match="atol must be"):
        tasks.export(model_dir, output=tmp_path / "m.onnx", atol=0)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_nothing(model_dir, tmp_path, monkeypatch):
    import microseg.infer.onnx as backend

    def refuse(*args, **kwargs):
        raise InputError("model 'best': onnxruntime's logits differ from PyTorch's by 0.5")

    monkeypatch.setattr(backend, "to_onnx", refuse)
    assert main(["export", str(model_dir), "-o", str(tmp_path / "m.onnx")]) == 2
    assert list(tmp_path.iterdir()) == []


def test_export_cli(model_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["export", str(model_dir), "-o", str(out), "--no-check"]) == 0
    text = capsys.readouterr().out.strip()
    assert text.count("\n") == 0 and str(out) in text and "not checked" in text
    before = out.read_bytes()
    assert main(["export", str(model_dir), "-o", str(out)]) == 2        # no overwrite without --force
    err = capsys.readouterr().err
    assert "m.onnx: already exists" in err and "--force" in err and err.count("\n") == 1
    assert out.read_bytes() == before
    assert main(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "n.onnx")]) == 2
    assert "nothing" in capsys.readouterr().err and not (tmp_path / "n.onnx").exists()
    assert main(["export", str(model_dir), "-o", str(tmp_path / "x.onnx"), "--opset", "9"]) == 2
    assert "opset must be" in capsys.readouterr().err


def test_an_exported_model_predicts_like_its_folder(model_dir, tmp_path):
    from microseg import io

    image = (np.random.default_rng(1).random((70, 90)) * 255).astype(np.uint8)
    io.write_image(tmp_path / "a.tif", image, pixel_size=0.1)
    tasks.export(model_dir, output=tmp_path / "m.onnx")
    torch_run = tasks.predict(model_dir, tmp_path / "a.tif", device="cpu")
    assert main(["predict", str(tmp_path / "m.onnx"), "--image", str(tmp_path / "a.tif"), "-o",
                 str(tmp_path / "pred")]) == 0
    onnx_prob = io.read_prob(tmp_path / "pred" / "a_prob.tif")
    np.testing.assert_allclose(onnx_prob, torch_run.prob, atol=1e-4)
