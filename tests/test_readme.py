"""The README's examples run as written: its Python blocks, then its commands, in one folder."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_examples_run(monkeypatch, tmp_path):
    from microseg.cli import main

    import shutil

    shutil.copytree(README.parent / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) >= 2, "README has lost its python examples"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    commands = [line.split("#")[0].strip() for block in _blocks("bash") for line in block.splitlines()]
    commands = [c for c in commands if c.startswith("microseg ")]
    assert len(commands) >= 8
    for command in commands:
        assert main(shlex.split(command)[1:]) == 0, command
    for produced in ("grains/summary.json", "fib-seg/stack_phase_fraction.csv", "ebsd/ebsd.png",
                     "pair/overlay.png", "pair/meta.json", "user/fiducials.csv",
                     "grains-from-python/config.yaml", "user-py/scan.ang", "pred-pair/image_prob.tif",
                     "pair.onnx", "pred-onnx/image_prob.tif", "runs/unet/best/model.json",
                     "pred/image_prob.tif", "pred-batch/poly_image_prob.tif", "pred-batch/poly2_image_prob.tif",
                     "fib-vol/stack_volume.json", "fib-vol-tif/stack_mesh.ply", "seg-dask/poly2_image_mask.tif"):
        assert (tmp_path / produced).is_file(), produced
