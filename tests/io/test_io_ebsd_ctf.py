"""Oxford .ctf: hand-written files, degrees, phase 0, errors, round trips and agreement with
orix on the shared real scan."""
from __future__ import annotations

import numpy as np
import pytest
from orix.quaternion import Rotation

from microseg._util import FileFormatError, InputError
from microseg.io import EBSDMap, Phase, read_ebsd, write_ebsd
from microseg.io.ebsd import read_ctf, write_ctf

COLUMNS = "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"


def ctf_text(rows, *, xcells=3, ycells=2, step="0.5000", laue=(11, 9)):
    head = ["Channel Text File", "Prj\ttest", "JobMode\tGrid", f"XCells\t{xcells}",
            f"YCells\t{ycells}", f"XStep\t{step}", f"YStep\t{step}", "AcqE1\t0", "AcqE2\t0",
            "AcqE3\t0", "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t100\tKV\t20",
            f"Phases\t{len(laue)}"]
    for i, code in enumerate(laue):
        head.append(f"3.52;3.52;3.52\t90;90;90\tPhase{i + 1}\t{code}\t225\t\t\tx")
    body = ["\t".join(str(v) for v in r) for r in rows]
    return "\n".join(head + [COLUMNS] + body) + "\n"


def rows_2x3():
    rng = np.random.default_rng(1)
    out = []
    for r in range(2):
        for c in range(3):
            e = np.round(rng.uniform(0, [360, 180, 360]), 4)
            out.append([1 + (c == 2), f"{c * 0.5:.4f}", f"{r * 0.5:.4f}", 7, 0, *e, 0.5, 120 + c, 99])
    out[3][0] = 0
    return out


def same_up_to_sign(a, b, atol):
    return np.all(np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1)) <= atol)


def test_values_degrees_and_phase_zero(tmp_path):
    rows = rows_2x3()
    (tmp_path / "s.ctf").write_text(ctf_text(rows))
    m = read_ebsd(tmp_path / "s.ctf")
    assert m.shape == (2, 3) and m.step == 0.5 and m.grid == "square"
    np.testing.assert_array_equal(m.phase_ids, [[1, 1, 2], [-1, 1, 2]])
    euler = np.radians(np.array([r[5:8] for r in rows], float)).reshape(2, 3, 3)
    expected = Rotation.from_euler(euler.reshape(-1, 3)).data.reshape(2, 3, 4)
    np.testing.assert_allclose(m.rotations[m.indexed], expected[m.indexed], atol=1e-12)
    np.testing.assert_array_equal(m.rotations[1, 0], [1, 0, 0, 0])
    assert sorted(m.quality) == ["bands", "bc", "bs", "error", "mad"]
    assert m.phases[2].point_group == "6/mmm" and m.phases[1].lattice[:3] == (3.52, 3.52, 3.52)
    assert m.metadata["KV"] == "20"


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda t: t.replace("XStep\t0.5000\n", ""), r"no 'XStep' line"),
    (lambda t: t.replace("YCells\t2\n", ""), r"no 'YCells' line"),
    (lambda t: t.replace("Phases\t2", "Nothing\t2"), r"no 'Phases N' line"),
    (lambda t: t.replace(COLUMNS, "foo"), r"no data column line"),
    (lambda t: t.replace("\t11\t225", "\t12\t225"),
     r"line 13: unknown Oxford Laue group '12'; known: 1 \(-1\).*11 \(m-3m\)"),
    (lambda t: t.replace("XCells\t3", "XCells\tthree"), r"line 4: XCells is 'three'"),
    (lambda t: t.rsplit("\n", 2)[0] + "\n", r"5 data points, fewer than the 6"),
    (lambda t: t.replace("\t99\n", "\n", 1), r"line 16: data row has 10 columns, expected 11"),
    (lambda t: t.replace("\t99\n", "\tx9\n", 1), r"line 16: column 11 is 'x9'"),
    (lambda t: t.replace("1\t0.5000\t0.0000", "5\t0.5000\t0.0000"), r"line 17: phase id 5 is not"),
])
def test_malformed_files(tmp_path, mutate, match):
    path = tmp_path / "bad.ctf"
    path.write_text(mutate(ctf_text(rows_2x3())))
    with pytest.raises(FileFormatError, match=match) as info:
        read_ctf(path)
    assert str(path) in str(info.value)


def _map(shape=(3, 4)):
    rng = np.random.default_rng(5)
    q = Rotation.random(shape[0] * shape[1]).data.reshape(shape + (4,))
    ids = rng.integers(1, 3, shape).astype(np.int32)
    ids[0, 0] = -1
    q[0, 0] = (1, 0, 0, 0)
    quality = {"bc": rng.integers(0, 255, shape).astype(np.float32),
               "mad": rng.random(shape).astype(np.float32), "ci": np.ones(shape, np.float32)}
    return EBSDMap(q, ids, {1: Phase(1, "Ni", "m-3m", (3.52, 3.52, 3.52, 90, 90, 90)),
                            2: Phase(2, "Ti", "6/mmm", (2.95, 2.95, 4.68, 90, 90, 120))},
                   0.2, quality=quality, y_step=0.3)


def test_round_trip(tmp_path):
    m = _map()
    write_ebsd(tmp_path / "m.ctf", m)
    back = read_ebsd(tmp_path / "m.ctf")
    assert (back.shape, back.step, back.y_step, back.grid) == (m.shape, m.step, 0.3, "square")
    np.testing.assert_array_equal(back.phase_ids, m.phase_ids)
    assert same_up_to_sign(back.rotations, m.rotations, 1e-5)
    for name in ("bc", "mad"):
        np.testing.assert_allclose(back.quality[name], m.quality[name], rtol=1e-6)
    assert "ci" not in back.quality  # no .ctf column for it
    assert {k: (p.name, p.point_group, p.lattice) for k, p in back.phases.items()} == \
        {k: (p.name, p.point_group, p.lattice) for k, p in m.phases.items()}


def test_hexagonal_map_is_refused(tmp_path):
    m = _map().with_(grid="hexagonal", y_step=None)
    with pytest.raises(InputError, match=r"square grids only; .*write_ang"):
        write_ctf(tmp_path / "h.ctf", m)
    assert not (tmp_path / "h.ctf").exists()


@pytest.mark.realdata
def test_real_ctf_matches_orix(shared_data):
    import orix.io

    path = shared_data / "ebsd" / "u720_superalloy.ctf"
    m = read_ebsd(path)
    xmap = orix.io.load(path)
    ref = xmap.rotations.data.reshape(m.shape + (4,))
    assert same_up_to_sign(m.rotations[m.indexed], ref[m.indexed], 1e-6)
    ids = xmap.phase_id.reshape(m.shape)
    np.testing.assert_array_equal(m.phase_ids, np.where(ids < 1, -1, ids))
    assert [p.name for p in m.phases.values()] == ["Ni-superalloy", "Ni3Al", "TiC"]
