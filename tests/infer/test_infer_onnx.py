"""The onnxruntime backend: export (checked against PyTorch), load, and predict with it."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.infer.predict import LoadedModel, predict_probs

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from microseg.infer.onnx import OnnxModel, _check, _Graph, export_onnx, load_onnx  # noqa: E402

META = {"pixel_size_um": 0.05, "preprocessing": {"normalize": {"mode": "per_image"}, "median": 0}}


def _trained(model: torch.nn.Module, steps: int = 20) -> torch.nn.Module:
    """A few Adam steps on smooth noise -> its sign: batch-norm statistics and weights that a
    trained model has, not those of a fresh one."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        x = torch.nn.functional.avg_pool2d(torch.randn(2, model.in_channels, 64, 64, generator=gen), 5, 1, 2)
        y = (x[:, :1] > 0).float()
        out = model(x)
        out = out[-1] if isinstance(out, list) else out
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module", params=["unet_plain", "unet_resnet18"])
def exported(request, tmp_path_factory):
    """A model, its ONNX file and the check's measured difference: a trained plain U-Net, and
    an smp U-Net with a resnet18 encoder as built (random weights, evaluation mode)."""
    from microseg import models

    torch.manual_seed(0)
    if request.param == "unet_plain":
        net = _trained(models.build("unet_plain", base_channels=8, depth=4))
    else:
        net = models.build("unet", encoder="resnet18").eval()
    path = tmp_path_factory.mktemp("onnx") / f"{request.param}.onnx"
    diff = export_onnx(LoadedModel(net, META, request.param), path)
    return net, path, diff


def test_export_agrees_with_pytorch_in_probability(exported):
    import onnx

    net, path, diff = exported
    record = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["microseg"])
    assert diff is not None and (diff <= 1e-4 or record["onnx"]["max_abs_diff_float64"] <= 1e-4)
    loaded = load_onnx(path)
    assert loaded.metadata == META and loaded.name == path.name
    assert loaded.model.in_channels == 1 and loaded.model.classes == 1
    image = (np.random.default_rng(3).random((96, 80)) * 65535).astype(np.uint16)   # not a multiple of 32
    ref = predict_probs([LoadedModel(net, META)], image, device="cpu")
    got = predict_probs([loaded], image, device="cpu")
    assert got.shape == ref.shape == (1, 96, 80)
    assert np.abs(got - ref).max() <= 1e-4
    assert ref.std() > 1e-3                          # a map, not a constant
    # the embedded pixel size drives the resampling as the model folder's does
    ref2 = predict_probs([LoadedModel(net, META)], image, device="cpu", pixel_size=0.08)
    got2 = predict_probs([loaded], image, device="cpu", pixel_size=0.08)
    assert np.abs(got2 - ref2).max() <= 1e-4
    assert np.abs(ref2 - ref).max() > 1e-3           # the resampling did something


@pytest.mark.parametrize("shape", [(3, 1, 33, 47), (1, 1, 5, 7), (2, 1, 128, 96), (1, 1, 1, 1)])
def test_any_size_and_batch_runs(exported, shape):
    net, path, _ = exported
    model = load_onnx(path).model
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = net(x)
    got = model(x)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32 and got.shape == ref.shape
    assert (got - ref).abs().max().item() <= 1e-4
    assert torch.equal(model(x.numpy()), got)        # numpy in, the same tensor out


def test_onnx_model_is_called_like_a_module(exported):
    _, path, _ = exported
    model = load_onnx(path).model
    assert isinstance(model, OnnxModel) and model.training is False
    assert model.eval() is model and model.train(False) is model and model.to("cpu") is model
    assert list(model.parameters()) == []
    with pytest.raises(InputError, match="expected a \\(N, 1, H, W\\) input"):
        model(torch.zeros(1, 3, 8, 8))


def test_the_embedded_record_is_model_json(exported):
    import onnx

    net, path, diff = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    record = json.loads(props["microseg"])
    assert record["arch"] == net.arch and record["options"] == json.loads(json.dumps(net.config))
    assert record["metadata"] == META and record["in_channels"] == 1 and record["classes"] == 1
    assert record["onnx"]["pad_multiple"] == net.pad_multiple and record["onnx"]["max_abs_diff"] == diff
    assert record["onnx"]["dynamic"] is True and record["onnx"]["opset"] >= 18


def test_side_output_models_export_their_final_output(tmp_path):
    from microseg import models

    torch.manual_seed(0)
    net = models.build("hed", width=0.25)
    net.train()                                       # a side-output model returns a list here
    path = tmp_path / "hed.onnx"
    diff = export_onnx(net, path)
    assert diff <= 1e-4 and net.training              # exported in eval mode; the model is left as it was
    x = torch.randn(2, 1, 45, 38)
    with torch.no_grad():
        ref = net.eval()(x)
    assert (load_onnx(path).model(x) - ref).abs().max().item() <= 1e-4


def test_the_check_refuses_a_graph_that_differs(exported):
    """The comparison itself: the exported graph against another model's PyTorch output."""
    net, path, _ = exported
    from microseg import models

    other = _Graph(models.build(net.arch, **net.config).eval())
    x = torch.randn(2, 1, 40, 36)
    with pytest.raises(InputError, match="differ from PyTorch's by .* not written"):
        _check(other, path.read_bytes(), x, name="m", atol=1e-4)
    diff, _ = _check(_Graph(net), path.read_bytes(), x, name="m", atol=1e-4)
    assert diff <= 1e-4


def test_refuses_to_overwrite_before_any_work(exported, tmp_path):
    net, path, _ = exported
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        export_onnx(net, path)
    assert path.read_bytes() == before
    with pytest.raises(InputError, match="is a folder"):
        export_onnx(net, tmp_path)
    with pytest.raises(InputError, match="opset must be"):
        export_onnx(net, tmp_path / "a.onnx", opset=11)
    assert not (tmp_path / "a.onnx").exists()


def test_missing_packages_say_what_to_install(monkeypatch, exported, tmp_path):
    net, path, _ = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)     # import fails as when not installed
    with pytest.raises(InputError, match=r'pip install "microseg\[onnx\]"'):
        load_onnx(path)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(InputError, match=r"'onnx'.*microseg\[onnx\]"):
        export_onnx(net, tmp_path / "b.onnx")
    assert not (tmp_path / "b.onnx").exists()


def _foreign(path, *, shape=("N", 1, "H", "W"), props=None):
    """An ONNX file written with onnx itself: logits = image - 0.5."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sub", ["x", "half"], ["y"])], "sub",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    for k, v in (props or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
    return path


def test_foreign_and_bad_files(tmp_path):
    loaded = load_onnx(_foreign(tmp_path / "sub.onnx"))
    assert loaded.metadata == {} and loaded.model.pad_multiple == 1
    x = np.random.default_rng(0).random((2, 1, 7, 9)).astype(np.float32)
    assert np.allclose(loaded.model(x).numpy(), x - 0.5)
    fixed = load_onnx(_foreign(tmp_path / "fixed.onnx", shape=(1, 1, 8, 8))).model
    assert fixed(np.zeros((1, 1, 8, 8), np.float32)).shape == (1, 1, 8, 8)
    with pytest.raises(InputError, match="fixed.onnx.*dynamic=False"):
        fixed(np.zeros((1, 1, 9, 8), np.float32))
    with pytest.raises(FileFormatError, match="bad.onnx.*metadata is not JSON"):
        load_onnx(_foreign(tmp_path / "bad.onnx", props={"microseg": "{not json"}))
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(FileFormatError, match="junk.onnx: not a readable ONNX model"):
        load_onnx(tmp_path / "junk.onnx")
    with pytest.raises(FileFormatError, match="missing.onnx: no such file"):
        load_onnx(tmp_path / "missing.onnx")
    with pytest.raises(InputError, match="is a folder"):
        load_onnx(tmp_path)
    with pytest.raises(InputError, match="device must be"):
        load_onnx(tmp_path / "sub.onnx", device="gpu")


def test_cuda_without_a_cuda_provider_is_a_clean_error(tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider")
    with pytest.raises(InputError, match="no CUDA provider"):
        load_onnx(_foreign(tmp_path / "sub.onnx"), device="cuda")
    assert load_onnx(tmp_path / "sub.onnx", device="auto").model.session.get_providers() == ["CPUExecutionProvider"]
