"""The run configuration's assembly (microseg.config): sections beside their stages, errors that
name where a bad key came from, section-only configs for tasks, and the old import path."""
from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from microseg import config as assembly
from microseg._util import InputError
from microseg.config import (
    SECTIONS, Config, apply_overrides, dump_config, from_dict, load_config, section_schema, write_config,
)

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
REMOVED_INFER = ("ensemble",)


def test_each_section_is_defined_beside_its_stage():
    stages = {"data": "data", "model": "models", "loss": "losses", "train": "train", "infer": "infer",
              "grains": "grains"}
    assert SECTIONS == tuple(stages)
    for name, stage in stages.items():
        schema = section_schema(name)
        assert schema.__module__ == f"microseg.{stage}.config"
        assert type(getattr(Config(), name)) is schema
        schema().check()  # the defaults are valid
        # the stage exports its section's class
        assert getattr(__import__(f"microseg.{stage}", fromlist=["_"]), schema.__name__) is schema


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.sections == SECTIONS
    assert load_config(path, sections=("grains",)).grains == cfg.grains


@pytest.mark.parametrize("key", REMOVED_INFER)
def test_unread_infer_keys_are_refused_with_what_to_do(tmp_path, key):
    path = tmp_path / "run.yaml"
    path.write_text(f"infer:\n  {key}: 1\n")
    with pytest.raises(InputError, match=rf"run.yaml: infer.{key} is no longer a key.*delete the key"):
        load_config(path)
    with pytest.raises(InputError, match=rf"--set infer.{key}=1: infer.{key} is no longer a key"):
        load_config(None, overrides=[f"infer.{key}=1"])
    assert key not in {f.name for f in dataclasses.fields(section_schema("infer"))}


def test_unknown_sections_and_keys_name_the_file_or_the_override(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("grain:\n  close_gaps: none\n")
    with pytest.raises(InputError, match=r"run.yaml: unknown config section 'grain'.*did you mean 'grains'"):
        load_config(path)
    path.write_text("grains:\n  min_diameter: 0.4\n")
    with pytest.raises(InputError, match=r"run.yaml: unknown key 'min_diameter' in section 'grains'.*"
                                         r"did you mean 'min_diameter_um'"):
        load_config(path)
    with pytest.raises(InputError, match=r"--set infer.treshold=0.3: unknown key 'treshold' in section 'infer'"
                                         r".*did you mean 'threshold'"):
        load_config(None, overrides=["infer.treshold=0.3"])
    with pytest.raises(InputError, match=r"--set trian.lr=1: unknown config section 'trian'"):
        load_config(path, overrides=["trian.lr=1"])
    with pytest.raises(InputError, match=r"unknown config section 'modle'.*did you mean 'model'"):
        from_dict({"modle": {}})


def test_a_bad_value_names_where_its_section_came_from(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  lr: 0\n")
    with pytest.raises(InputError, match=r"^\S*run.yaml: train.lr must be > 0"):
        load_config(path)
    path.write_text("train:\n  epochs: 2\n")
    with pytest.raises(InputError, match=r"run.yaml, --set train.lr=0: train.lr must be > 0"):
        load_config(path, overrides=["train.lr=0"])
    with pytest.raises(InputError, match=r"^--set grains.min_diameter_um=big: grains.min_diameter_um must be a number"):
        load_config(path, overrides=["grains.min_diameter_um=big"])


@pytest.mark.parametrize("override, match", [
    ("grains.merge_threshold=strong", "grains.merge_threshold must be a number or null"),
    ("train.max_minutes=soon", "train.max_minutes must be a number or null"),
    ("train.threads=2.5", "train.threads must be an integer"),
    ("loss.pos_weight=heavy", "loss.pos_weight must be a number or null"),
])
def test_optional_numbers_are_numbers_or_null(override, match):
    with pytest.raises(InputError, match=rf"--set {override}: {match}"):
        load_config(None, overrides=[override])
    key = override.split("=")[0]
    cfg = load_config(None, overrides=[f"{key}=null", "data.fold=2", "data.pixel_size=0.05"])
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) is None
    assert cfg.data.fold == 2 and cfg.data.pixel_size == 0.05


def test_section_only_config_for_grains_and_predict(tmp_path):
    path = tmp_path / "run.yaml"
    # a run file: other known sections are left to their tasks (even a key they would refuse)
    path.write_text("train:\n  lrr: 1\ninfer: {tile: 3}\ngrains:\n  close_gaps: watershed\n  min_diameter_um: 0.4\n")
    cfg = load_config(path, overrides=["grains.exclude_border=false"], sections=("grains",))
    assert cfg.sections == ("grains",)
    assert (cfg.data, cfg.model, cfg.loss, cfg.train, cfg.infer) == (None,) * 5
    g = cfg.grains
    assert (g.close_gaps, g.min_diameter_um, g.exclude_border) == ("watershed", 0.4, False)
    with pytest.raises(InputError, match=r"--set train.lr=1: this task reads only the config section\(s\) grains"):
        load_config(path, overrides=["train.lr=1"], sections=("grains",))
    path.write_text("grains: {close_gaps: none}\ngrians: {}\n")
    with pytest.raises(InputError, match=r"run.yaml: unknown config section 'grians'.*did you mean 'grains'"):
        load_config(path, sections=("grains",))
    with pytest.raises(InputError, match="unknown config section 'grain'"):
        load_config(None, sections=("grain",))
    predict = load_config(None, overrides=["infer.threshold=0.3"], sections="infer")
    assert predict.sections == ("infer",) and predict.infer.threshold == 0.3
    # the resolved config written beside a task's outputs holds only its sections and reads back
    write_config(cfg, tmp_path / "out")
    text = (tmp_path / "out" / "config.yaml").read_text()
    assert text.startswith("grains:") and "train:" not in text and text == dump_config(cfg)
    assert load_config(tmp_path / "out" / "config.yaml", sections=("grains",)) == cfg
    assert load_config(tmp_path / "out" / "config.yaml").grains == g  # a full load takes defaults for the rest
    assert cfg.replace(grains={"close_gaps": "none"}).grains.close_gaps == "none"


def test_overrides_apply_to_a_config_as_to_a_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epochs: 5\nmodel:\n  options: {depth: 3}\n")
    overrides = ["train.lr=3e-4", "model.options.width=2", "data.folds=C"]
    assert apply_overrides(load_config(path), overrides) == load_config(path, overrides=overrides)
    grains = load_config(None, sections=("grains",))
    assert apply_overrides(grains, ["grains.close_gaps=none"]).sections == ("grains",)
    with pytest.raises(InputError, match=r"--set train.epochs=2: this task reads only .* grains"):
        apply_overrides(grains, ["train.epochs=2"])
    with pytest.raises(InputError, match=r"--set train.lrr=1: unknown key 'lrr'.*did you mean 'lr'"):
        apply_overrides(Config(), ["train.lrr=1"])


def test_loading_grains_only_imports_no_torch():
    code = ("import sys; from microseg.config import load_config; "
            "load_config(None, sections=('grains',)); "
            "print('torch' in sys.modules, sorted(m for m in sys.modules if m.startswith('microseg.')"
            " and m.split('.')[1] in ('train', 'models', 'infer', 'data')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False []"


def test_grains_and_infer_defaults_are_the_cli_and_library_defaults():
    from microseg.cli import build_parser
    from microseg.grains import analyse_grains

    g, i = section_schema("grains")(), section_schema("infer")()
    lib = inspect.signature(analyse_grains).parameters
    assert g.min_diameter_um == lib["min_diameter"].default == 0.0
    assert (g.exclude_border, g.close_gaps, g.merge_threshold) == (
        lib["exclude_border"].default, lib["close_gaps"].default, lib["merge_threshold"].default)
    args = build_parser().parse_args(["grains", "map.tif", "-o", "out"])   # not given: the section decides
    assert (args.min_diameter, args.exclude_border, args.close_gaps, args.merge_threshold) == (None,) * 4
    assert build_parser().parse_args(["predict", "m", "--image", "x.tif", "-o", "out"]).threshold is None
    assert i.threshold == 0.5   # what a threshold not given resolves to (tests/tasks/test_predict.py)


def test_the_training_stage_reads_a_config_without_importing_the_assembly(tmp_path):
    # microseg.config imports each stage's section; the train stage uses a Config's sections and
    # its write(), so no import (not even a hidden importlib one) runs from train/ to the assembly
    import ast

    import microseg.train

    root = Path(microseg.train.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert "microseg.config" not in names | strings, path.name
    assert not hasattr(microseg.train, "load_config")
    cfg = load_config(None, overrides=["train.epochs=3"])
    assert cfg.write(tmp_path) == tmp_path / "config.yaml"
    assert load_config(tmp_path / "config.yaml").train.epochs == 3
