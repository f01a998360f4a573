"""The command line as a new user meets it: help that does not contradict itself, one-line warnings."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from microseg.cli import build_parser


def _help_of(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return sub.format_help()


@pytest.mark.parametrize("command", sorted(next(a for a in build_parser()._actions
                                                if a.dest == "command").choices))
def test_help_never_contradicts_its_flags(command):
    text = " ".join(_help_of(command).split())
    assert "(default: None)" not in text
    assert "(default: True)" not in text and "(default: False)" not in text
    assert not re.search(r"\(default[^)]*\) \(default", text)   # "(default: from the file) (default: None)"


def test_a_missing_pixel_size_is_one_clean_warning_line(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8))
    run = subprocess.run([sys.executable, "-m", "microseg", "segment", str(tmp_path / "a.tif"), "-o",
                          str(tmp_path / "seg")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    warned = [line for line in run.stderr.splitlines() if "pixel size" in line]
    assert len(warned) == 1
    assert warned[0].startswith("warning: ") and "a.tif" in warned[0]
    assert "UserWarning" not in run.stderr and "warnings.warn" not in run.stderr


def test_quiet_silences_the_summary(tmp_path, capsys):
    from microseg.cli import main

    assert main(["synth", "-o", str(tmp_path / "a"), "--size", "64", "--mean-diameter", "16"]) == 0
    assert capsys.readouterr().out.strip()          # the summary, without -q
    assert main(["-q", "synth", "-o", str(tmp_path / "b"), "--size", "64", "--mean-diameter", "16"]) == 0
    assert main(["synth", "-q", "-o", str(tmp_path / "c"), "--size", "64", "--mean-diameter", "16"]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "b" / "image.tif").is_file() and (tmp_path / "c" / "image.tif").is_file()


def test_every_command_is_a_thin_call_of_one_task():
    import ast
    import inspect

    from microseg import tasks

    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    task_names = set(tasks.__all__) - {"TaskResult", "check_outputs", "write_all"}
    for name, sub in subs.items():
        func = sub.get_default("func")
        tree = ast.parse(inspect.getsource(func))
        imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and n.module == "microseg.tasks" for a in n.names}
        called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        called |= {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call)
                   and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
                   and n.func.value.id == "tasks"}
        used = called & (imported | task_names) & task_names
        assert len(used) == 1, (name, used)
        assert len(inspect.getsource(func).splitlines()) <= 20, name   # thin: no work in the CLI
