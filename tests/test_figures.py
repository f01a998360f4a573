"""microseg._figures: drawing leaves matplotlib's backend and pyplot alone; atomic saving."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from microseg import _figures
from microseg._util import OutputExistsError

SRC = Path(__file__).resolve().parents[1] / "src" / "microseg"

# Draws with every figure-making function of report.figures and ebsd.plot in a fresh
# interpreter whose user chose the "pdf" backend, and reports what changed.
_DRAW = r"""
import sys, tempfile, pathlib
import matplotlib
matplotlib.use("pdf")
before = matplotlib.get_backend()
import numpy as np
import microseg.ebsd as E
from microseg.io import EBSDMap, Phase
from microseg.report import figures as F
from microseg import _figures

out = pathlib.Path(tempfile.mkdtemp())
labels = np.arange(16).reshape(4, 4) % 3
F.save_figure(F.plot_segmentation({"a": np.zeros((4, 4)), "b": labels}), out / "seg.png")
F.plot_distributions({"x": np.arange(10.0)}, xlabel="x")
F.plot_training_pair(np.zeros((8, 8)), np.eye(8, dtype=np.uint8), np.eye(8, dtype=np.uint8),
                     np.ones((8, 8), bool))
pyplot_by_report = "matplotlib.pyplot" in sys.modules
q = np.tile([1.0, 0, 0, 0], (4, 4, 1))
m = EBSDMap(q, np.ones((4, 4), np.int32), {1: Phase(1, "Ni", "m-3m")}, step=1.0)
_figures.save_figure(E.plot_ebsd(m, E.classify_boundaries(m)), out / "ebsd.png")
import matplotlib.pyplot as plt  # orix.plot (IPF colours) imports it anyway
print(before, matplotlib.get_backend(), pyplot_by_report, plt.get_fignums(),
      sorted(p.name for p in out.iterdir()))
"""


def test_drawing_leaves_the_users_backend_and_pyplot_alone():
    run = subprocess.run([sys.executable, "-c", _DRAW], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    before, after, pyplot, figures, files = run.stdout.strip().split(" ", 4)
    assert before == after == "pdf"
    assert pyplot == "False"  # report's drawing never imported pyplot (which picks a backend)
    assert figures == "[]"     # no figure of ours sits in pyplot's list (a notebook would show it)
    assert files == "['ebsd.png', 'seg.png']"


def test_no_module_calls_matplotlib_use_or_imports_pyplot():
    bad = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "matplotlib.pyplot" for a in node.names):
                bad.append(f"{path.name}:{node.lineno} imports matplotlib.pyplot")
            elif isinstance(node, ast.ImportFrom) and (node.module == "matplotlib.pyplot" or (
                    node.module == "matplotlib" and any(a.name in ("pyplot", "use") for a in node.names))):
                bad.append(f"{path.name}:{node.lineno} imports from matplotlib.pyplot / matplotlib.use")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use"
                  and isinstance(node.func.value, ast.Name) and node.func.value.id == "matplotlib"):
                bad.append(f"{path.name}:{node.lineno} calls matplotlib.use")
    assert not bad, bad


def test_importing_every_module_imports_no_pyplot():
    code = ("import importlib, pkgutil, sys, microseg\n"
            "for m in pkgutil.walk_packages(microseg.__path__, 'microseg.'):\n"
            "    if not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "print('matplotlib.pyplot' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_new_figure_is_not_registered_with_pyplot():
    fig, axes = _figures.subplots(2, 2, figsize=(3, 3))
    assert axes.shape == (2, 2) and len(fig.axes) == 4
    assert type(fig.canvas).__name__ == "FigureCanvasAgg"
    assert not hasattr(fig, "number")  # pyplot numbers the figures it manages


def test_save_figure_is_atomic_and_refuses_to_overwrite(tmp_path, monkeypatch):
    fig, ax = _figures.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    path = _figures.save_figure(fig, tmp_path / "a.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    first = path.read_bytes()
    ax.plot([0, 1], [1, 0])
    with pytest.raises(OutputExistsError, match="a.png"):
        _figures.save_figure(fig, path)
    assert path.read_bytes() == first
    _figures.save_figure(fig, path, force=True)
    assert path.read_bytes() != first
    _figures.save_figure(fig, tmp_path / "a.svg")
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()[:500]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _figures.save_figure(fig, tmp_path / "b.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.svg"]  # no partial file


def test_save_figure_closes_a_pyplot_figure(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig = plt.figure()
    _figures.save_figure(fig, tmp_path / "p.png")
    assert not plt.fignum_exists(fig.number)


def test_colour_tables():
    rgb = _figures.class_colours(np.array([[0, 1, 2, 3, 7]]))
    assert rgb.shape == (1, 5, 3) and rgb.dtype == np.float32
    np.testing.assert_array_equal(rgb[0, 0], (0, 0, 0))
    np.testing.assert_array_equal(rgb[0, 1], (1, 1, 1))       # HAGB white on black
    np.testing.assert_array_equal(rgb[0, 4], rgb[0, 3])       # beyond Σ3: drawn as Σ3
    lab = _figures.label_colours(np.array([[0, 1], [2, 2]]))
    assert (lab[0, 0] == 0).all() and (lab[1, 0] == lab[1, 1]).all() and (lab[0, 1] >= 0.25).all()
    assert _figures.label_colours(np.zeros((2, 2), int)).shape == (2, 2, 3)
    assert set(_figures.BOUNDARY_COLORS) == {1, 2, 3, 4}
    from microseg.ebsd import BOUNDARY_COLORS
    from microseg.report.figures import CLASS_COLOURS

    assert BOUNDARY_COLORS is _figures.BOUNDARY_COLORS and CLASS_COLOURS is _figures.CLASS_COLOURS
