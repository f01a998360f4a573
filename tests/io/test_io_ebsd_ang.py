"""EDAX/TSL .ang: hand-written files, hexagonal grids, the not-indexed rule, errors, round
trips and agreement with orix on the shared real scans."""
from __future__ import annotations

import math

import numpy as np
import pytest
from orix.quaternion import Rotation

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.io import EBSDMap, Phase, read_ebsd, write_ebsd
from microseg.io.ebsd import read_ang, write_ang

FOUR_PI = 4 * math.pi


def ang_text(rows, *, grid="SqrGrid", ncols=(3, 3), nrows=2, xstep=0.5, ystep=None,
             phases=(("Nickel", 43),), names=True, drop=()):
    """A small .ang file; ``rows`` are (phi1, Phi, phi2, x, y, iq, ci, phase) tuples."""
    ystep = xstep if ystep is None else ystep
    head = ["# TEM_PIXperUM 1.0", "# WorkingDistance 15.0", "#"]
    for i, (name, sym) in enumerate(phases, start=1):
        head += [f"# Phase {i}", f"# MaterialName  \t{name}", f"# Symmetry   {sym}",
                 "# LatticeConstants 3.520 3.520 3.520 90.000 90.000 90.000", "#"]
    head += [f"# GRID: {grid}", f"# XSTEP: {xstep}", f"# YSTEP: {ystep}",
             f"# NCOLS_ODD: {ncols[0]}", f"# NCOLS_EVEN: {ncols[1]}", f"# NROWS: {nrows}", "#"]
    if names:
        head.append("# Column names: phi1, Phi, phi2, x, y, image_quality, confidence_index, "
                    "phase_id, detector_signal, pattern_fit")
    head = [h for h in head if not any(h.startswith(d) for d in drop)]
    body = [" ".join(f"{v:.5f}" for v in r[:7]) + f" {r[7]} 0.0 1.5" for r in rows]
    return "\n".join(head + body) + "\n"


def square_rows(nrows=2, ncols=3, step=0.5, ci=0.8, phase=1):
    rng = np.random.default_rng(0)
    out = []
    for r in range(nrows):
        for c in range(ncols):
            e = np.round(rng.uniform(0, [2 * np.pi, np.pi, 2 * np.pi]), 5)
            out.append((*e, c * step, r * step, 100.0 + r * ncols + c, ci, phase))
    return out


def same_up_to_sign(a, b, atol):
    return np.all(np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1)) <= atol)


def test_square_values_match_orix_from_euler(tmp_path):
    rows = square_rows()
    (tmp_path / "s.ang").write_text(ang_text(rows))
    m = read_ebsd(tmp_path / "s.ang")
    assert m.shape == (2, 3) and m.grid == "square" and m.step == 0.5 and m.y_step is None
    expected = Rotation.from_euler(np.array([r[:3] for r in rows])).data.reshape(2, 3, 4)
    np.testing.assert_allclose(m.rotations, expected, atol=1e-12)
    np.testing.assert_array_equal(m.quality["iq"], np.arange(100, 106, dtype=np.float32).reshape(2, 3))
    assert set(m.quality) == {"iq", "ci", "detector_signal", "fit"}
    assert m.phases == {1: Phase(1, "Nickel", "m-3m", (3.52, 3.52, 3.52, 90.0, 90.0, 90.0))}
    assert m.metadata["WorkingDistance"] == "15.0"


def test_rows_are_placed_by_position_not_file_order(tmp_path):
    rows = square_rows()
    (tmp_path / "a.ang").write_text(ang_text(rows))
    (tmp_path / "b.ang").write_text(ang_text(rows[::-1]))
    a, b = read_ang(tmp_path / "a.ang"), read_ang(tmp_path / "b.ang")
    np.testing.assert_array_equal(a.rotations, b.rotations)


def test_not_indexed_rules_and_single_phase_zero(tmp_path):
    rows = square_rows(phase=0)
    rows[1] = (*rows[1][:6], -1.0, 0)                    # CI -1
    rows[2] = (FOUR_PI, FOUR_PI, FOUR_PI, *rows[2][3:])  # Euler 4π
    (tmp_path / "n.ang").write_text(ang_text(rows, names=False))
    m = read_ang(tmp_path / "n.ang")
    np.testing.assert_array_equal(m.phase_ids, [[1, -1, -1], [1, 1, 1]])
    np.testing.assert_array_equal(m.rotations[0, 1], [1, 0, 0, 0])


def test_multi_phase_zero_is_not_indexed(tmp_path):
    rows = square_rows()
    rows[0] = (*rows[0][:7], 0)
    rows[1] = (*rows[1][:7], 2)
    text = ang_text(rows, phases=(("Nickel", 43), ("Titanium", 62)))
    (tmp_path / "m.ang").write_text(text)
    m = read_ang(tmp_path / "m.ang", phase_names={2: "alpha-Ti"})
    np.testing.assert_array_equal(m.phase_ids[0], [-1, 2, 1])
    assert m.phases[2].point_group == "6/mmm" and m.phases[2].name == "alpha-Ti"


def test_hexagonal_grid_alternating_rows(tmp_path):
    step, rows = 1.0, []
    counts = (3, 2, 3)
    for r, n in enumerate(counts):
        for c in range(n):
            x = c * step + (r % 2) * step / 2
            rows.append((0.1 * (r + 1), 0.2, 0.3 * (c + 1), x, r * step * math.sqrt(3) / 2, 50.0, 0.9, 1))
    text = ang_text(rows, grid="HexGrid", ncols=(3, 2), nrows=3, xstep=step,
                    ystep=round(step * math.sqrt(3) / 2, 6))
    (tmp_path / "h.ang").write_text(text)
    m = read_ang(tmp_path / "h.ang")
    assert m.grid == "hexagonal" and m.shape == (3, 3) and m.step == 1.0
    np.testing.assert_array_equal(m.phase_ids, [[1, 1, 1], [1, 1, -1], [1, 1, 1]])
    expected = Rotation.from_euler([[0.2, 0.2, 0.6]]).data[0]  # row 1, column 1
    np.testing.assert_allclose(m.rotations[1, 1], expected, atol=1e-12)
    assert m.quality["ci"][1, 2] == -1  # padding
    x, y = m.coordinates()
    assert x[1, 0] == 0.5 and math.isclose(y[2, 0], math.sqrt(3))
    # round trip keeps the 3/2 layout
    write_ang(tmp_path / "h2.ang", m)
    assert "# NCOLS_EVEN: 2" in (tmp_path / "h2.ang").read_text()
    back = read_ang(tmp_path / "h2.ang")
    np.testing.assert_array_equal(back.phase_ids, m.phase_ids)
    assert same_up_to_sign(back.rotations, m.rotations, 1e-5)


@pytest.mark.parametrize("line", ["# XSTEP: 0.5\n", "# NROWS: 2\n", "# GRID: SqrGrid\n"])
def test_missing_grid_line_is_taken_from_positions(tmp_path, line):
    text = ang_text(square_rows())
    (tmp_path / "a.ang").write_text(text)
    (tmp_path / "b.ang").write_text(text.replace(line, ""))
    a, b = read_ang(tmp_path / "a.ang"), read_ang(tmp_path / "b.ang")
    assert (a.shape, a.step, a.grid) == (b.shape, b.step, b.grid) == ((2, 3), 0.5, "square")
    np.testing.assert_array_equal(a.rotations, b.rotations)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda t: "", r"file is empty"),
    (lambda t: t.replace("# Phase 1\n", "").replace("# MaterialName  \tNickel\n", "")
     .replace("# Symmetry   43\n", "").replace("# LatticeConstants 3.520 3.520 3.520 90.000 "
                                                "90.000 90.000\n", ""), r"no '# Phase N' block"),
    (lambda t: t.replace("# Symmetry   43", "# Symmetry   99"),
     r"line 6: unknown TSL Symmetry code '99'; known: 1 \(-1\).*43 \(m-3m\)"),
    (lambda t: t.replace("# XSTEP: 0.5", "# XSTEP: abc"), r"line 10: XSTEP is 'abc'"),
    (lambda t: t.replace("# GRID: SqrGrid", "# GRID: Triangle"), r"GRID is 'Triangle'"),
    (lambda t: t.rsplit("\n", 2)[0] + "\n", r"5 data points, fewer than the 6"),
    (lambda t: t + t.splitlines()[-1] + "\n", r"7 data points, more than the 6"),
    (lambda t: t.replace(" 0.0 1.5\n", "\n", 1), r"line 17: data row has 8 columns, expected 10 like the other rows"),
    (lambda t: t[:t.rindex("0.0 1.5")] + "zz 1.5\n", r"line 22: column 9 is 'zz', not a finite"),
    (lambda t: t[:t.rindex("0.0 1.5")] + "nan 1.5\n", r"line 22: column 9 is 'nan'"),
    (lambda t: t.replace(" 1 0.0 1.5", " 7 0.0 1.5", 1), r"line 17: phase id 7 is not among"),
    (lambda t: t.replace(" 1 0.0 1.5", " 1.5 0.0 1.5", 1), r"line 17: phase id 1.5 is not an integer"),
])
def test_malformed_files_name_file_and_line(tmp_path, mutate, match):
    path = tmp_path / "bad.ang"
    path.write_text(mutate(ang_text(square_rows())))
    with pytest.raises(FileFormatError, match=match) as info:
        read_ebsd(path)
    assert str(path) in str(info.value)


def test_off_grid_and_repeated_positions(tmp_path):
    rows = square_rows()
    rows[4] = (*rows[4][:3], 0.75, 0.5, *rows[4][5:])
    (tmp_path / "off.ang").write_text(ang_text(rows))
    with pytest.raises(FileFormatError, match=r"line 21: position \(0.75, 0.5\) µm does not lie"):
        read_ang(tmp_path / "off.ang")
    rows = square_rows()
    rows[4] = (*rows[4][:3], 0.0, 0.5, *rows[4][5:])
    (tmp_path / "rep.ang").write_text(ang_text(rows))
    with pytest.raises(FileFormatError, match=r"line 21: same grid position as line 20"):
        read_ang(tmp_path / "rep.ang")


def test_binary_file_and_unknown_extension(tmp_path):
    (tmp_path / "b.ang").write_bytes(b"\x89PNG\x00\x00garbage" * 10)
    with pytest.raises(FileFormatError, match="binary"):
        read_ebsd(tmp_path / "b.ang")
    (tmp_path / "b.xyz").write_text("x")
    with pytest.raises(FileFormatError, match=r"unknown EBSD format '.xyz'; supported: .ang "):
        read_ebsd(tmp_path / "b.xyz")


def _map(grid="square", shape=(4, 5), phases=None, seed=3):
    rng = np.random.default_rng(seed)
    q = Rotation.random(shape[0] * shape[1]).data.reshape(shape + (4,))
    ids = np.ones(shape, np.int32)
    ids[rng.random(shape) < 0.2] = -1
    q[ids < 0] = (1, 0, 0, 0)
    ci = np.where(ids > 0, rng.random(shape), -1).astype(np.float32)
    return EBSDMap(q, ids, phases or {1: Phase(1, "Nickel", "m-3m")}, 0.25, grid=grid,
                   quality={"ci": ci, "iq": rng.random(shape).astype(np.float32) * 1000,
                            "bc": rng.integers(0, 255, shape).astype(np.float32)})


@pytest.mark.parametrize("grid", ["square", "hexagonal"])
def test_write_read_round_trip(tmp_path, grid):
    m = _map(grid)
    write_ebsd(tmp_path / "m.ang", m)
    back = read_ebsd(tmp_path / "m.ang")
    assert (back.grid, back.shape, back.step, back.row_step) == (m.grid, m.shape, m.step,
                                                                 pytest.approx(m.row_step))
    np.testing.assert_array_equal(back.phase_ids, m.phase_ids)
    assert same_up_to_sign(back.rotations, m.rotations, 1e-5)
    for name, values in m.quality.items():  # extra fields travel as named columns
        np.testing.assert_allclose(back.quality[name], values, rtol=1e-6)
    assert {k: (p.name, p.point_group) for k, p in back.phases.items()} == {1: ("Nickel", "m-3m")}


def test_write_refuses_overwrite_and_bad_symmetry(tmp_path):
    m = _map()
    write_ebsd(tmp_path / "m.ang", m)
    with pytest.raises(OutputExistsError):
        write_ebsd(tmp_path / "m.ang", m)
    write_ebsd(tmp_path / "m.ang", m, force=True)
    with pytest.raises(InputError, match=r"cannot write EBSD format '.h5'"):
        write_ebsd(tmp_path / "m.h5", m)
    odd = m.with_(phases={1: Phase(1, "x", "mm2")})  # mm2 -> mmm is fine
    write_ang(tmp_path / "o.ang", odd)
    assert read_ang(tmp_path / "o.ang").phases[1].point_group == "mmm"


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["ni_annealed_edax.ang", "in100_slice1.ang"])
def test_real_ang_matches_orix(shared_data, name):
    import orix.io

    path = shared_data / "ebsd" / name
    m = read_ebsd(path)
    xmap = orix.io.load(path)
    ref = xmap.rotations.data.reshape(m.shape + (4,))
    assert same_up_to_sign(m.rotations[m.indexed], ref[m.indexed], 1e-6)
    ids = xmap.phase_id.reshape(m.shape)
    np.testing.assert_array_equal(m.phase_ids, np.where(ids < 1, -1, ids))
    assert m.step == xmap.dx
