"""One suite over every registered architecture (like smp's tests/models/base.py).

Small instances (``SMALL``) keep the whole run fast on a 2-core CPU; a new architecture
must add its small options here, or the suite fails and says so.
"""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from torch.nn.modules.batchnorm import _BatchNorm  # noqa: E402

from microseg._util import InputError  # noqa: E402
from microseg import models  # noqa: E402
from microseg.models import (  # noqa: E402
    MODELS, available, build, describe, encoders, final_output, load_model, model_summary, parameter_count,
    save_model,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These models are tiny: one thread is fastest, and two threads on a busy 2-core
    # machine were measured 40x slower (OpenMP threads waiting for each other).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# encoder_depth=5: with a shallower depth smp keeps the unused deeper ResNet stages,
# whose parameters then get no gradient.
SMALL = {
    "unet": dict(encoder="resnet18", decoder_channels=(16, 8, 8, 8, 8)),
    "unetpp": dict(encoder="resnet18", decoder_channels=(16, 8, 8, 8, 8), deep_supervision=True),
    "fcn32s": dict(width=0.0625, fc_channels=512),
    "fcn16s": dict(width=0.0625, fc_channels=512),
    "fcn8s": dict(width=0.0625, fc_channels=512),
    "hed": dict(width=0.0625),
    "rcf": dict(width=0.0625),
    "deepcrack": dict(width=0.0625),
    "defectsegnet": dict(width=0.5),
    "unet_plain": dict(base_channels=4, depth=3),
}
#: Number of outputs in training mode of the side-output models (final included).
N_OUTPUTS = {"unetpp": 4, "hed": 6, "rcf": 6, "deepcrack": 6}


def small(name: str, **kwargs) -> torch.nn.Module:
    if name not in SMALL:
        pytest.fail(f"add small test options for the new architecture {name!r} to SMALL")
    torch.manual_seed(0)
    return build(name, **SMALL[name], **kwargs)


def test_registry_lists_the_contract_names():
    assert set(available()) >= {"unet", "unetpp", "fcn32s", "fcn16s", "fcn8s", "hed", "rcf",
                                "deepcrack", "defectsegnet"}


@pytest.mark.parametrize("name", available())
@pytest.mark.parametrize("in_channels,classes", [(1, 1), (3, 2)])
def test_output_shape_for_odd_sizes(name, in_channels, classes):
    model = small(name, in_channels=in_channels, classes=classes)
    assert (model.in_channels, model.classes, model.arch) == (in_channels, classes, name)
    x = torch.rand(2, in_channels, 37, 53)
    with torch.no_grad():
        out = model.eval()(x)
        assert isinstance(out, torch.Tensor)
        assert out.shape == (2, classes, 37, 53)
        train_out = model.train()(x)
    if model.side_outputs:
        assert isinstance(train_out, list) and len(train_out) == N_OUTPUTS[name]
        assert all(o.shape == (2, classes, 37, 53) for o in train_out)
    else:
        assert isinstance(train_out, torch.Tensor) and train_out.shape == (2, classes, 37, 53)


@pytest.mark.parametrize("name", available())
def test_backward_gives_finite_gradients(name):
    model = small(name, classes=2).train()
    out = model(torch.rand(2, 1, 37, 53))
    outputs = out if isinstance(out, list) else [out]
    sum(o.square().mean() for o in outputs).backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{pname} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{pname} has non-finite gradients"


@pytest.mark.parametrize("name", available())
def test_save_load_round_trip_gives_identical_outputs(name, tmp_path):
    model = small(name, classes=2).eval()
    x = torch.rand(1, 1, 37, 53)
    save_model(model, tmp_path / "m", metadata={"mean": 0.5, "std": 0.25, "metrics": {"f1": 0.9}})
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["arch"] == name and doc["in_channels"] == 1 and doc["classes"] == 2
    loaded, metadata = load_model(tmp_path / "m")
    assert metadata == {"mean": 0.5, "std": 0.25, "metrics": {"f1": 0.9}}
    assert type(loaded) is type(model) and loaded.config == model.config
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("name", available())
def test_eval_is_deterministic(name):
    model = small(name).eval()
    x = torch.rand(1, 1, 40, 33)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", [n for n in available() if n in N_OUTPUTS])
def test_side_outputs_list_has_the_final_output_last(name):
    model = small(name)
    assert model.side_outputs
    x = torch.rand(2, 1, 37, 53)
    with torch.no_grad():
        expected = model.eval()(x)
        model.train()
        for m in model.modules():  # batch norm on running statistics, as in eval mode
            if isinstance(m, _BatchNorm):
                m.eval()
        out = model(x)
    assert isinstance(out, list)
    torch.testing.assert_close(out[-1], expected)
    assert final_output(out) is out[-1] and final_output(expected) is expected


@pytest.mark.parametrize("name", ["hed", "rcf"])
def test_fusion_starts_as_the_mean_of_the_side_outputs(name):
    with torch.no_grad():
        out = small(name, classes=2).train()(torch.rand(2, 1, 24, 24))
    torch.testing.assert_close(out[-1], torch.stack(out[:-1]).mean(0))


def test_unetpp_deep_supervision_final_equals_smp_forward():
    model = small("unetpp").train()
    x = torch.rand(2, 1, 32, 64)  # a multiple of 32: no padding
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], model.net(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", available())
def test_config_is_json_and_rebuilds_the_model(name):
    model = small(name, in_channels=3, classes=2)
    config = json.loads(json.dumps(model.config))
    rebuilt = build(name, **config)
    assert rebuilt.config == model.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}


def test_tiny_input_smaller_than_the_padding():
    model = small("defectsegnet").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 3, 5)).shape == (1, 1, 3, 5)


def test_unknown_names_and_options_are_explained():
    with pytest.raises(InputError, match="did you mean 'unetpp'"):
        build("unetp")
    with pytest.raises(InputError, match="valid: .*deep_supervision"):
        build("unetpp", deep_supervison=True)
    with pytest.raises(InputError, match="did you mean 'resnet18'"):
        build("unet", encoder="resnet81")
    with pytest.raises(InputError, match="in_channels must be a positive integer"):
        build("hed", in_channels=0)
    with pytest.raises(InputError, match="width"):
        build("hed", width=-1)
    with pytest.raises(InputError, match="decoder_channels"):
        build("unet", encoder="resnet18", decoder_channels=(8, 8))  # 5 needed


def test_wrong_input_is_explained():
    model = small("defectsegnet")
    with pytest.raises(InputError, match="1 input channel"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        model(torch.rand(16, 16))


def test_describe_and_summary():
    rows = model_summary()
    assert [r["name"] for r in rows] == available()
    for row in rows:
        assert describe(row["name"]) == row["description"] and "\n" not in row["description"]
        assert row["params_default"] > 0
    by_name = {r["name"]: r for r in rows}
    assert 30_000_000 < by_name["deepcrack"]["params_default"] < 32_000_000  # 30.9 M (seed 001)
    assert by_name["hed"]["side_outputs"] and not by_name["unet"]["side_outputs"]
    assert [r["name"] for r in rows if r["takes_encoder_weights"]] == ["unet", "unetpp"]


@pytest.mark.parametrize("name", available())
def test_registry_key_and_capabilities_match_the_class(name):
    cls = MODELS.get(name)
    assert cls.arch == name and getattr(models, cls.__name__) is cls and cls.__name__ in models.__all__
    with torch.device("meta"):
        model = build(name, **SMALL[name])  # unetpp: with deep_supervision
    caps = MODELS.capabilities(name)
    assert caps["side_outputs"] == model.side_outputs == (name in N_OUTPUTS)
    assert caps["takes_encoder_weights"] == isinstance(getattr(model, "encoder", None), torch.nn.Module)
    assert (caps["encoders"] is not None) == ("encoder" in MODELS.describe(name)["options"])
    assert ("resnet18" in encoders(name)) == (caps["encoders"] == "smp")


def test_capability_filters():
    assert available(takes_encoder_weights=True) == ["unet", "unetpp"]
    assert available(side_outputs=True) == ["unetpp", "hed", "rcf", "deepcrack"]
    assert available(encoders="smp") == ["unet", "unetpp"]
    record = MODELS.describe("unetpp")
    assert record["options"]["encoder"] == "resnet34" and record["options"]["deep_supervision"] is False
    with pytest.raises(InputError, match="unknown capability of model architecture 'side_output'.*"
                                         "did you mean 'side_outputs'"):
        available(side_output=True)
    assert isinstance(build("UNet_Plain", base_channels=2, depth=1), models.PlainUNet)  # any case


def test_parameter_count():
    model = small("defectsegnet")
    assert parameter_count(model) == sum(p.numel() for p in model.parameters())
    model.head.weight.requires_grad_(False)
    assert parameter_count(model, trainable_only=True) == parameter_count(model) - model.head.weight.numel()
