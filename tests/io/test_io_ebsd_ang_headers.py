""".ang headers as labs have them: phase keys before their '# Phase' line (or none at all),
lines in another order, no XSTEP/YSTEP/NCOLS_ODD/NCOLS_EVEN/NROWS (grid from the x/y columns).
Each fixture rewrites the header of a canonical file and must read to the same EBSDMap."""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from orix.quaternion import Rotation

from microseg._util import FileFormatError
from microseg.io import EBSDMap, Phase, read_ebsd, write_ebsd
from microseg.io.ebsd._common import grid_from_positions

GRID_LINES = ("# XSTEP:", "# YSTEP:", "# NCOLS_ODD:", "# NCOLS_EVEN:", "# NROWS:")
PHASE_KEYS = ("# MaterialName", "# Formula", "# Info", "# Symmetry", "# LatticeConstants",
              "# NumberFamilies")


def random_map(grid: str, shape=(23, 31), seed=5) -> EBSDMap:
    """Random orientations, two phases, 3 % not indexed, CI/IQ; on a hexagonal grid the last
    point of the odd rows is padding, so write_ang gives NCOLS_EVEN = NCOLS_ODD - 1."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=shape + (4,))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    ids = np.where(np.arange(shape[1]) >= shape[1] // 2, 2, 1) * np.ones(shape, np.int32)
    ids[rng.random(shape) < 0.03] = -1
    if grid == "hexagonal":
        ids[1::2, -1] = -1
    q[ids < 0] = (1.0, 0.0, 0.0, 0.0)
    ci = np.where(ids > 0, rng.random(shape), -1).astype(np.float32)
    phases = {1: Phase(1, "Nickel", "m-3m", (3.52, 3.52, 3.52, 90, 90, 90)),
              2: Phase(2, "Titanium", "6/mmm", (2.95, 2.95, 4.68, 90, 90, 120))}
    return EBSDMap(q, ids.astype(np.int32), phases, 0.1, grid=grid,
                   quality={"ci": ci, "iq": rng.uniform(100, 5000, shape).astype(np.float32)})


@pytest.fixture(scope="module", params=["square", "hexagonal"])
def canonical(request, tmp_path_factory):
    """A canonical .ang (write_ang) of a two-phase map, and its text."""
    path = tmp_path_factory.mktemp("ang") / f"{request.param}.ang"
    write_ebsd(path, random_map(request.param))
    return path, path.read_text()


def keys_before_phase(text: str) -> str:
    """Move every phase's keys above its '# Phase N' line (MaterialName first)."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        j = i + 1
        if lines[i].startswith("# Phase "):
            while j < len(lines) and lines[j].startswith(PHASE_KEYS):
                j += 1
            out += lines[i + 1:j]
        out.append(lines[i])
        i = j
    return "\n".join(out) + "\n"


def drop(text: str, prefixes) -> str:
    return "\n".join(li for li in text.splitlines() if not li.startswith(tuple(prefixes))) + "\n"


def assert_same_map(a: EBSDMap, b: EBSDMap) -> None:
    assert (a.shape, a.grid, a.step, a.y_step) == (b.shape, b.grid, b.step, b.y_step)
    np.testing.assert_array_equal(a.rotations, b.rotations)
    np.testing.assert_array_equal(a.phase_ids, b.phase_ids)
    assert a.phases == b.phases
    assert sorted(a.quality) == sorted(b.quality)
    for name in a.quality:
        np.testing.assert_array_equal(a.quality[name], b.quality[name])
    assert a.metadata == b.metadata


def test_keys_before_phase_moves_them(canonical):
    _, text = canonical
    moved = keys_before_phase(text).splitlines()
    first = next(i for i, li in enumerate(moved) if li.startswith("# MaterialName"))
    assert moved[first + 6] == "# Phase 1" and "# MaterialName  \tTitanium" in moved


@pytest.mark.parametrize("variant", ["keys_first", "no_grid_lines", "both", "both_no_grid_type",
                                     "only_xstep_missing"])
def test_reordered_header_reads_to_the_canonical_map(canonical, tmp_path, variant):
    path, text = canonical
    changed = {"keys_first": keys_before_phase(text),
               "no_grid_lines": drop(text, GRID_LINES),
               "both": drop(keys_before_phase(text), GRID_LINES),
               "both_no_grid_type": drop(keys_before_phase(text), GRID_LINES + ("# GRID:",)),
               "only_xstep_missing": drop(text, ("# XSTEP:",))}[variant]
    assert changed != text
    (tmp_path / "v.ang").write_text(changed)
    ref = read_ebsd(path)
    assert_same_map(read_ebsd(tmp_path / "v.ang"), ref)
    if ref.grid == "hexagonal":  # the layout with shorter odd rows is what was exercised
        assert "# NCOLS_EVEN: " + str(ref.shape[1] - 1) in text


def test_orix_reads_the_variant_alike(canonical, tmp_path):
    import orix.io

    path, text = canonical
    (tmp_path / "v.ang").write_text(drop(keys_before_phase(text), GRID_LINES))
    m = read_ebsd(tmp_path / "v.ang")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # orix: "Angles are quite high" (4π where not indexed)
        xmap = orix.io.load(tmp_path / "v.ang")
    row = np.rint(xmap.y / m.row_step).astype(int)
    col = np.rint((xmap.x - (row % 2) * m.step / 2 * (m.grid == "hexagonal")) / m.step).astype(int)
    at = row * m.shape[1] + col
    ids = m.phase_ids.ravel()[at]
    np.testing.assert_array_equal(ids, np.where(xmap.phase_id < 1, -1, xmap.phase_id))
    mine, theirs = m.rotations.reshape(-1, 4)[at][ids > 0], xmap.rotations.data[ids > 0]
    assert np.all(np.minimum(np.abs(mine - theirs).max(1), np.abs(mine + theirs).max(1)) < 1e-9)
    assert {k: p.name for k, p in m.phases.items()} == \
        {i: xmap.phases[i].name for i in xmap.phases.ids if i > 0}


def _ang(rows, head):
    body = [" ".join(f"{v:.5f}" for v in r[:7]) + f" {int(r[7])} 0 0" for r in rows]
    return "\n".join(head + body) + "\n"


def _rows(xs, ys, phase=1):
    return [(0.1 * k, 0.2, 0.3, x, y, 100.0, 0.9, phase) for k, (x, y) in enumerate(zip(xs, ys))]


def test_astar_style_header_without_phase_line(tmp_path):
    """ASTAR/EMsoft: no '# Phase' line; the keys are phase 1, the grid comes from x/y."""
    head = ["# File created from ACOM RES results", "#", "# MaterialName      Nickel",
            "# Formula     Ni", "# Symmetry          43",
            "# LatticeConstants  3.520  3.520  3.520  90.000  90.000  90.000", "#"]
    xs, ys = np.meshgrid(np.arange(4) * 0.02, np.arange(3) * 0.02)
    (tmp_path / "a.ang").write_text(_ang(_rows(xs.ravel(), ys.ravel()), head))
    m = read_ebsd(tmp_path / "a.ang")
    assert m.shape == (3, 4) and m.step == 0.02 and m.grid == "square" and m.y_step is None
    assert m.phases == {1: Phase(1, "Nickel", "m-3m", (3.52, 3.52, 3.52, 90.0, 90.0, 90.0))}
    expected = Rotation.from_euler([[0.1 * 5, 0.2, 0.3]]).data[0]
    np.testing.assert_allclose(m.rotations[1, 1], expected, atol=1e-12)


def test_two_phases_keys_after_then_before(tmp_path):
    """Phase 1 lists its keys after '# Phase 1', phase 2 before '# Phase 2': a repeated key
    opens the next phase."""
    head = ["# Phase 1", "# MaterialName Nickel", "# Symmetry 43",
            "# MaterialName Titanium", "# Symmetry 62", "# Phase 2", "# GRID: SqrGrid"]
    xs, ys = np.meshgrid(np.arange(3) * 0.5, np.arange(2) * 0.5)
    rows = _rows(xs.ravel(), ys.ravel())
    rows[4] = (*rows[4][:7], 2)
    (tmp_path / "p.ang").write_text(_ang(rows, head))
    m = read_ebsd(tmp_path / "p.ang")
    assert {k: (p.name, p.point_group) for k, p in m.phases.items()} == \
        {1: ("Nickel", "m-3m"), 2: ("Titanium", "6/mmm")}
    np.testing.assert_array_equal(m.phase_ids, [[1, 1, 1], [1, 2, 1]])


def test_hexagonal_grid_from_positions_alone():
    step = 0.1
    xs, ys = [], []
    for r in range(5):
        for c in range(4 - r % 2):
            xs.append(round(c * step + (r % 2) * step / 2, 5))
            ys.append(round(r * step * math.sqrt(3) / 2, 5))
    spec = grid_from_positions(np.array(xs), np.array(ys), where="f")
    assert (spec.grid, spec.xstep, spec.nrows, spec.ncols_odd, spec.ncols_even) == \
        ("hexagonal", 0.1, 5, 4, 3)
    assert spec.ystep == pytest.approx(step * math.sqrt(3) / 2, rel=1e-4)
    square = grid_from_positions(np.tile([0.0, 0.25, 0.5], 2), np.repeat([0.0, 0.3], 3), where="f")
    assert (square.grid, square.xstep, square.ystep, square.nrows, square.ncols_odd) == \
        ("square", 0.25, 0.3, 2, 3)
    one_row = grid_from_positions(np.array([0.0, 1.5, 3.0]), np.zeros(3), where="f")
    assert (one_row.xstep, one_row.ystep, one_row.nrows, one_row.ncols_odd) == (1.5, 1.5, 1, 3)


@pytest.mark.parametrize(("xs", "ys", "grid", "match"), [
    ([0.0], [0.0], None, r"f: header has no grid lines and 1 data point\(s\) cannot give a step"),
    ([1.0, 1.0], [2.0, 2.0], None, r"all 2 points share one position"),
    ([0.0, 1.0, 0.5, 1.5], [0.0, 0.0, 0.87, 0.87], "square",
     r"header says a square grid, but the x/y columns lie on a hexagonal one"),
    ([0.0, 1e-30, 2e-30, 3e38], [0.0] * 4, None, r"f: the x/y columns span 3e\+38 µm with a "
     r"column step of 1e-30 µm; too many points for a grid"),
])
def test_grid_from_positions_errors(xs, ys, grid, match):
    with pytest.raises(FileFormatError, match=match):
        grid_from_positions(np.array(xs), np.array(ys), where="f", grid=grid)


def test_missing_points_without_grid_lines_name_the_file(tmp_path):
    xs, ys = np.meshgrid(np.arange(3) * 0.5, np.arange(2) * 0.5)
    rows = _rows(xs.ravel(), ys.ravel())[:-1]  # an interrupted last row
    (tmp_path / "i.ang").write_text(_ang(rows, ["# Phase 1", "# MaterialName Ni", "# Symmetry 43"]))
    with pytest.raises(FileFormatError, match=re.escape(str(tmp_path / "i.ang"))
                       + r": 5 data points, fewer than the 6"):
        read_ebsd(tmp_path / "i.ang")


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["ni_annealed_edax.ang", "in100_slice1.ang"])
def test_real_scans_with_reordered_header_and_no_grid_lines(shared_data, tmp_path, name):
    path = shared_data / "ebsd" / name
    text = path.read_text()
    (tmp_path / name).write_text(drop(keys_before_phase(text), GRID_LINES + ("# GRID:",)))
    assert_same_map(read_ebsd(tmp_path / name), read_ebsd(path).with_(source=str(tmp_path / name)))
