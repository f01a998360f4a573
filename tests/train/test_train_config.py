"""Run configuration: YAML + overrides, errors with suggestions, the train section and the seeds' lr
schedules (the assembly itself: tests/test_config.py)."""
from __future__ import annotations

import pytest

from microseg._util import InputError
from microseg.config import Config, dump_config, load_config, write_config
from microseg.train.config import TrainConfig
from microseg.train.schedule import Schedule, lr_sequence, make_schedule, step_lr


def test_defaults_follow_design():
    cfg = load_config(None)
    assert cfg.data.folds == ("A", "D", "F") and cfg.data.split == "columns"
    assert cfg.train.schedule == "plateau" and cfg.train.lr == 1e-4 and cfg.train.min_lr == 1e-5
    assert cfg.loss.pos_weight == 9.0 and cfg.loss.topo_lambda == 0.04
    assert set(cfg.to_dict()) == {"data", "model", "loss", "train", "infer", "grains"}


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: 1e-3\n  epochs: 5\ndata:\n  folds: [A, B]\nmodel:\n  arch: unetpp\n")
    cfg = load_config(path, overrides=["train.lr=3e-4", "data.augment=[flip]", "train.early_stop=4",
                                       "model.options.decoder_channels=[8, 8]", "data.folds=C"])
    assert cfg.train.lr == pytest.approx(3e-4) and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 5 and cfg.train.early_stop == 4
    assert cfg.data.augment == ("flip",) and cfg.data.folds == ("C",)
    assert cfg.model.arch == "unetpp" and cfg.model.options == {"decoder_channels": [8, 8]}


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(None, overrides=["train.schedule=step", "data.synthetic={size: 64}"])
    write_config(cfg, tmp_path)
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg
    assert "schedule: step" in dump_config(cfg)


@pytest.mark.parametrize("override, match", [
    ("trian.lr=1", "unknown config section 'trian'.*did you mean 'train'"),
    ("train.lrr=1", "unknown key 'lrr' in section 'train'.*did you mean 'lr'"),
    ("train.schedule=plato", "train.schedule.*did you mean 'plateau'"),
    ("train.epochs=many", "train.epochs must be a number"),
    ("train.epochs=2.5", "train.epochs must be an integer"),
    ("train.lr=0", "train.lr must be > 0"),
    ("trainlr", "section.key=value"),
])
def test_bad_keys_and_values_name_the_key(override, match):
    with pytest.raises(InputError, match=match):
        load_config(None, overrides=[override])


def test_bad_file_names_the_path(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  arch: unet\n  encodr: resnet18\n")
    with pytest.raises(InputError, match=r"bad.yaml.*did you mean 'encoder'"):
        load_config(bad)


def test_config_is_frozen():
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.train.lr = 1.0  # type: ignore[misc]
    assert cfg.replace(train={"lr": 0.5}).train.lr == 0.5 and cfg.train.lr == 1e-4


def test_step_schedule_is_seed_004():
    """lr = 1e-3 * 0.5 ** floor(epoch / 20) over 120 epochs."""
    s = make_schedule(TrainConfig(schedule="step", lr=1e-3, gamma=0.5, step_size=20), mode="max")
    seq = lr_sequence(s, [0.5] * 119)
    assert len(seq) == 120
    expected = [1e-3 * 0.5 ** (e // 20) for e in range(120)]
    assert seq == pytest.approx(expected, rel=1e-12)
    assert seq[19] == 1e-3 and seq[20] == 5e-4 and seq[119] == pytest.approx(3.125e-5)
    assert step_lr(40, lr0=1e-3, gamma=0.5, step_size=20) == 2.5e-4


def test_plateau_schedule_is_seed_000():
    """1e-4, reduced tenfold after patience stalled epochs, never below 1e-5."""
    s = Schedule("plateau", 1e-4, min_lr=1e-5, factor=0.1, patience=2, mode="max")
    seq = lr_sequence(s, [0.1, 0.2, 0.3] + [0.3] * 10)
    assert seq[:6] == [1e-4] * 6                 # improving, then 2 stalled epochs tolerated
    assert seq[6] == pytest.approx(1e-5)         # the third stalled epoch reduces
    assert min(seq) == pytest.approx(1e-5) and seq[-1] == pytest.approx(1e-5)
    s2 = Schedule("plateau", 1e-4, min_lr=1e-5, patience=0, mode="min")
    assert lr_sequence(s2, [1.0, 0.5, 0.25])[-1] == 1e-4   # a falling loss keeps the rate
    assert lr_sequence(Schedule("constant", 0.01), [0.1, 0.1]) == [0.01] * 3


def test_schedule_state_round_trips():
    s = Schedule("plateau", 1e-4, patience=1)
    lr_sequence(s, [0.5, 0.4, 0.4])
    t = Schedule("plateau", 1e-4, patience=1)
    t.load_state_dict(s.state_dict())
    assert t.lr == s.lr and t.best == s.best and t.bad_epochs == s.bad_epochs


def test_data_keys_for_masks_and_names_as_they_come(tmp_path):
    cfg = load_config(None, overrides=["data.positive=[1, 2]", "data.mask_suffix=_th", "data.image_suffix=_sem"])
    d = cfg.data
    assert d.positive == (1, 2) and d.mask_suffix == "_th" and d.image_suffix == "_sem"
    assert d.mask_threshold is None and d.allow_empty is False
    write_config(cfg, tmp_path)
    assert load_config(tmp_path / "config.yaml") == cfg
    assert load_config(None, overrides=["data.positive=1"]).data.positive == 1
    defaults = load_config(None).data
    assert (defaults.positive, defaults.mask_suffix, defaults.image_suffix) == ("blue", None, "")
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  positive: nonzero\n  mask_threshold: 128\n  allow_empty: true\n")
    assert load_config(path).data.mask_threshold == 128 and load_config(path).data.allow_empty


@pytest.mark.parametrize("override, match", [
    ("data.positive=green", r"unknown data.positive class 'green'.*blue, red, blue\+red, nonzero"),
    ("data.positive=[1, -1]", "data.positive must be a colour"),
    ("data.mask_threshold=0", "data.mask_threshold must be a finite number > 0"),
    ("data.mask_threshold=high", "data.mask_threshold must be a finite number > 0"),
    ("data.mask_suffix=[a]", "data.mask_suffix must be a string"),
    ("data.image_suffix=null", "data.image_suffix must be a string"),
    ("data.mask_sufix=_th", "unknown key 'mask_sufix' in section 'data'.*did you mean 'mask_suffix'"),
])
def test_bad_data_mask_keys(override, match):
    with pytest.raises(InputError, match=match):
        load_config(None, overrides=[override])
    with pytest.raises(InputError, match="exclude each other"):
        load_config(None, overrides=["data.positive=1", "data.mask_threshold=128"])


def test_data_keys_reach_the_loader(tmp_path):
    import numpy as np
    import tifffile

    from microseg.train.build import load_training_samples

    (tmp_path / "img").mkdir()
    (tmp_path / "msk").mkdir()
    labels = np.zeros((8, 8), np.uint8)
    labels[:2] = 1
    labels[6:] = 2
    tifffile.imwrite(tmp_path / "img" / "x_sem.tif", np.zeros((8, 8), np.uint8))
    tifffile.imwrite(tmp_path / "msk" / "x_th.tif", labels)
    cfg = load_config(None, overrides=[f"data.pairs={tmp_path / 'img'}:{tmp_path / 'msk'}", "data.positive=2",
                                       "data.image_suffix=_sem", "data.mask_suffix=_th"])
    (s,) = load_training_samples(cfg.data)
    assert s.name == "x_sem" and s.mask.sum() == 16 and s.mask[6:].all()


@pytest.mark.parametrize("changes, match", [
    ({"device": "gpu"}, "unknown train.device 'gpu'"),
    ({"precision": "fp8"}, "unknown train.precision 'fp8'"),
    ({"monitor": "bf_f2"}, "unknown train.monitor 'bf_f2'.*did you mean 'bf_f1'"),
    ({"batch": 0}, "train.batch must be a positive integer"),
    ({"gamma": 1.5}, r"train.gamma must be in \(0, 1\]"),
    ({"early_stop": -1}, "train.early_stop >= 0"),
])
def test_train_section_checks_its_values(changes, match):
    TrainConfig().check()
    with pytest.raises(InputError, match=match):
        TrainConfig(**changes).check()
    with pytest.raises(InputError, match=match):  # the same check when read from a config
        load_config(None, overrides=[f"train.{k}={v}" for k, v in changes.items()])
