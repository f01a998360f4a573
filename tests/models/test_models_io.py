"""Models on disk and pretrained encoder weights from local files (files written here)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from microseg._util import FileFormatError, InputError, OutputExistsError  # noqa: E402
from microseg.models import build, load_encoder_weights, load_model, save_model  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny models: one thread is fastest and does not suffer from a busy 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(**kwargs):
    torch.manual_seed(0)
    return build("defectsegnet", width=0.5, **kwargs)


def unet(encoder="resnet18", **kwargs):
    torch.manual_seed(1)
    return build("unet", encoder=encoder, decoder_channels=(16, 8, 8, 8, 8), **kwargs)


# -- save_model / load_model -------------------------------------------------------------

def test_save_writes_both_files_and_refuses_to_overwrite(tmp_path):
    model = tiny()
    save_model(model, tmp_path, metadata={"normalisation": {"mean": 0.4}})
    doc = json.loads((tmp_path / "model.json").read_text())
    assert doc["arch"] == "defectsegnet" and doc["options"]["width"] == 0.5
    assert doc["metadata"] == {"normalisation": {"mean": 0.4}} and "microseg_version" in doc
    with pytest.raises(OutputExistsError, match="model.safetensors"):
        save_model(model, tmp_path)
    save_model(model, tmp_path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]


def test_load_from_the_json_path(tmp_path):
    model = tiny(classes=2).eval()
    save_model(model, tmp_path)
    loaded, metadata = load_model(tmp_path / "model.json")
    assert metadata == {} and loaded.classes == 2
    x = torch.rand(1, 1, 20, 20)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(InputError, match="JSON"):
        save_model(tiny(), tmp_path, metadata={"bad": object()})
    assert not list(tmp_path.iterdir())


def test_corrupted_weights_file_names_the_file(tmp_path):
    save_model(tiny(), tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(FileFormatError, match=r"model\.safetensors: not a readable safetensors"):
        load_model(tmp_path)


def test_foreign_safetensors_lists_missing_and_unexpected_keys(tmp_path):
    save_model(tiny(), tmp_path)
    save_file({"foo.weight": torch.zeros(3), "bar": torch.ones(2, 2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(FileFormatError, match=r"missing key\(s\): enc\.0.*unexpected key\(s\): .*foo\.weight"):
        load_model(tmp_path)


def test_weights_of_another_shape_are_reported(tmp_path):
    save_model(tiny(), tmp_path / "a")
    save_model(tiny(classes=3), tmp_path / "b")
    (tmp_path / "b" / "model.safetensors").replace(tmp_path / "a" / "model.safetensors")
    with pytest.raises(FileFormatError, match=r"shape mismatch.*head\.weight"):
        load_model(tmp_path / "a")


def test_unknown_arch_and_bad_json(tmp_path):
    save_model(tiny(), tmp_path)
    doc = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**doc, "arch": "defectsegnett"}))
    with pytest.raises(InputError, match=r"model\.json: .*did you mean 'defectsegnet'"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({**doc, "weights": "../model.pth"}))
    with pytest.raises(FileFormatError, match="must name a .safetensors file in the same folder"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(FileFormatError, match=r"model\.json: not a readable JSON"):
        load_model(tmp_path)
    with pytest.raises(FileFormatError, match="no such file"):
        load_model(tmp_path / "missing")


# -- load_encoder_weights ------------------------------------------------------------------

def _encoder_equal(model, state, skip=()):
    enc = model.encoder.state_dict()
    return all(torch.equal(enc[k], v) for k, v in state.items() if k in enc and k not in skip)


def test_torchvision_imagenet_resnet_state_dict(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(2)
    # resnet18 rather than resnet34 (same key layout) keeps the test fast
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, tmp_path / "resnet18.pth")
    model = unet(in_channels=3)
    assert not _encoder_equal(model, state)
    report = load_encoder_weights(model, tmp_path / "resnet18.pth", strict=True)
    assert _encoder_equal(model, state)
    assert sorted(report.ignored) == ["fc.bias", "fc.weight"]
    assert not report.missing and not report.unexpected and not report.adapted
    assert len(report.loaded) == len(model.encoder.state_dict())


def test_rgb_filters_are_summed_for_grey_input(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pt")
    model = unet(in_channels=1)
    report = load_encoder_weights(model, tmp_path / "ckpt.pt")
    assert report.adapted == ["conv1.weight (3->1 channels)"]
    torch.testing.assert_close(model.encoder.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    assert _encoder_equal(model, state, skip=("conv1.weight",))
    # a grey image gives the response the RGB filters give to (g, g, g)
    g = torch.rand(1, 1, 16, 16)
    rgb = torch.nn.functional.conv2d(g.expand(1, 3, 16, 16), state["conv1.weight"], stride=2, padding=3)
    torch.testing.assert_close(model.encoder.conv1(g), rgb)


def test_micronet_style_bare_encoder_safetensors(tmp_path):
    source = unet(in_channels=3)
    torch.manual_seed(5)
    for p in source.encoder.parameters():
        torch.nn.init.normal_(p)
    state = {k: v.contiguous() for k, v in source.encoder.state_dict().items()}
    save_file(state, str(tmp_path / "micronet_resnet18.safetensors"))
    model = unet(in_channels=3)
    report = load_encoder_weights(model, tmp_path / "micronet_resnet18.safetensors", strict=True)
    assert _encoder_equal(model, state) and not report.ignored


def test_full_smp_model_state_dict_and_module_prefix(tmp_path):
    source = unet(in_channels=3)
    torch.manual_seed(6)
    for p in source.parameters():
        torch.nn.init.normal_(p)
    full = {f"module.{k}": v for k, v in source.net.state_dict().items()}  # DataParallel checkpoint
    torch.save({"model": full}, tmp_path / "smp.bin")
    model = unet(in_channels=3)
    report = load_encoder_weights(model, tmp_path / "smp.bin")
    assert _encoder_equal(model, source.encoder.state_dict())
    assert any(k.startswith("decoder.") for k in report.ignored)
    assert not report.missing


def test_foreign_file_is_refused_with_a_clear_error(tmp_path):
    save_file({"foo": torch.zeros(2), "bar.weight": torch.zeros(3, 3)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(FileFormatError, match=r"x\.safetensors: no tensor matches .*conv1\.weight"):
        load_encoder_weights(unet(), tmp_path / "x.safetensors")


def test_wrong_shapes_are_refused(tmp_path):
    state = dict(unet().encoder.state_dict())
    state["layer1.0.conv1.weight"] = torch.zeros(128, 64, 3, 3)  # as a wider encoder has
    torch.save(state, tmp_path / "wide.pth")
    with pytest.raises(FileFormatError, match=r"do not fit the encoder: layer1\.0\.conv1\.weight"):
        load_encoder_weights(unet(), tmp_path / "wide.pth")


def test_strict_reports_missing_keys(tmp_path):
    state = dict(unet().encoder.state_dict())
    del state["layer4.1.bn2.weight"]
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(FileFormatError, match="1 missing.*layer4.1.bn2.weight"):
        load_encoder_weights(unet(), tmp_path / "partial.pt", strict=True)
    report = load_encoder_weights(unet(), tmp_path / "partial.pt")
    assert report.missing == ["layer4.1.bn2.weight"]


class _Exploit:
    """Unpickling this would run code (it writes a marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Exploit(marker)}, tmp_path / "evil.pth")
    with pytest.raises(FileFormatError, match=r"evil\.pth: refused"):
        load_encoder_weights(unet(), tmp_path / "evil.pth")
    assert not marker.exists()


def test_unsupported_model_and_format(tmp_path):
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(FileFormatError, match="unknown weights format '.npz'"):
        load_encoder_weights(unet(), tmp_path / "w.npz")
    with pytest.raises(InputError, match="no pretrained-encoder support; encoder weights apply to "
                                         "'unet', 'unetpp'$"):
        load_encoder_weights(tiny(), tmp_path / "w.npz")
    with pytest.raises(FileFormatError, match="no such weights file"):
        load_encoder_weights(unet(), tmp_path / "absent.pth")
