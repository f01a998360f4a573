"""Oxford Channel 5 .cpr/.crc: the same map as .ctf (rotations, quality, boundary fractions),
records written by hand from the field table, placement by position, errors naming the file
(and line), writer options, and damaged projects (hypothesis)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orix.quaternion import Rotation

from microseg._util import FileFormatError, InputError, OutputExistsError
from microseg.ebsd import boundary_summary, classify_boundaries
from microseg.io import EBSDMap, MissingFileError, Phase, read_ebsd, write_ebsd
from microseg.io.ebsd import read_cpr, write_cpr

NI = Phase(1, "Nickel", "m-3m", (3.524, 3.524, 3.524, 90.0, 90.0, 90.0))
TI = Phase(2, "Titanium", "6/mmm", (2.95, 2.95, 4.68, 90.0, 90.0, 120.0))


def same_up_to_sign(a, b, atol):
    return np.all(np.minimum(np.abs(a - b).max(-1), np.abs(a + b).max(-1)) <= atol)


def lab_map(seed=0, y_step=None, shape=(50, 60)) -> EBSDMap:
    """A Voronoi polycrystal built here (no microseg.synth): each cell split in two halves,
    the second a Σ3 twin (60° about [111]), a 5° subgrain or the same grain; 0.3° noise per
    point, 2 % not indexed, cells with id % 7 == 0 phase 2 (Ti), Oxford quality fields."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape, dtype=float)
    centres = rng.uniform((0, 0), (y.max(), x.max()), (shape[0] * shape[1] // 80, 2))
    cell = np.argmin((y[..., None] - centres[:, 0]) ** 2 + (x[..., None] - centres[:, 1]) ** 2, -1)
    second = x > centres[cell, 1]
    n = len(centres)
    parent = Rotation.from_axes_angles(rng.normal(size=(n, 3)), rng.uniform(0, np.pi, n))
    twin = Rotation.from_axes_angles([1, 1, 1], 60, degrees=True)
    sub = Rotation.from_axes_angles(rng.normal(size=(n, 3)), 5, degrees=True)
    kind = (np.arange(n) % 3)[:, None]
    child = np.where(kind == 0, (twin * parent).data,
                     np.where(kind == 1, (sub * parent).data, parent.data))
    q = np.where(second[..., None], child[cell], parent.data[cell])
    noise = Rotation.from_axes_angles(rng.normal(size=shape + (3,)), rng.normal(0, 0.3, shape),
                                      degrees=True)
    q = (noise * Rotation(q)).data
    ids = np.where(cell % 7 == 0, 2, 1).astype(np.int32)
    ids[rng.random(shape) < 0.02] = -1
    q[ids < 0] = (1.0, 0.0, 0.0, 0.0)
    quality = {"mad": rng.random(shape).astype(np.float32),
               "bc": rng.integers(0, 256, shape).astype(np.float32),
               "bs": rng.integers(0, 256, shape).astype(np.float32),
               "bands": np.where(ids > 0, rng.integers(5, 12, shape), 0).astype(np.float32),
               "error": np.where(ids > 0, 0, 3).astype(np.float32)}
    return EBSDMap(q, ids, {1: NI, 2: TI}, 0.2, quality=quality, y_step=y_step)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same map written as .ctf and as .cpr/.crc, read back."""
    d = tmp_path_factory.mktemp("cpr")
    m = lab_map()
    write_ebsd(d / "scan.ctf", m)
    write_ebsd(d / "scan.cpr", m)
    return m, read_ebsd(d / "scan.ctf"), read_ebsd(d / "scan.cpr"), d


def test_cpr_reads_to_the_ctf_map(pair):
    m, ctf, cpr, _ = pair
    assert (cpr.shape, cpr.grid, cpr.step, cpr.y_step) == (ctf.shape, "square", ctf.step, None)
    np.testing.assert_array_equal(cpr.phase_ids, ctf.phase_ids)
    np.testing.assert_array_equal(cpr.phase_ids, m.phase_ids)
    assert cpr.phases == ctf.phases == {1: NI, 2: TI}
    assert same_up_to_sign(cpr.rotations, ctf.rotations, 1e-6)
    assert same_up_to_sign(cpr.rotations, m.rotations, 1e-6)
    assert sorted(cpr.quality) == sorted(ctf.quality) == ["bands", "bc", "bs", "error", "mad"]
    for name in ("bands", "bc", "bs", "error"):
        np.testing.assert_array_equal(cpr.quality[name], ctf.quality[name])
    np.testing.assert_allclose(cpr.quality["mad"], ctf.quality["mad"], rtol=1e-6)
    assert cpr.metadata["format"] == "cpr" and cpr.metadata["fields"] == [3, 4, 5, 6, 7, 8, 10, 11]


def test_boundary_fractions_are_identical(pair):
    _, ctf, cpr, _ = pair
    a, b = classify_boundaries(ctf), classify_boundaries(cpr)
    np.testing.assert_array_equal(a.classes, b.classes)
    sa, sb = boundary_summary(ctf, a), boundary_summary(cpr, b)
    assert sa["percent"] == sb["percent"] and sa["length_um"] == sb["length_um"]
    assert all(sa["count"][k] > 0 for k in ("hagb", "lagb", "sigma3"))


def test_either_file_of_the_pair_reads_alike(pair):
    *_, cpr, d = pair
    via_crc = read_cpr(d / "scan.crc")
    np.testing.assert_array_equal(via_crc.rotations, cpr.rotations)
    assert via_crc.source == cpr.source == str(d / "scan.crc")


def test_row_step_and_round_trip(tmp_path):
    m = lab_map(seed=3, y_step=0.15)
    write_cpr(tmp_path / "r.crc", m)  # either suffix writes both files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.cpr", "r.crc"]
    back = read_cpr(tmp_path / "r.cpr")
    assert (back.step, back.y_step, back.row_step) == (m.step, 0.15, 0.15)
    np.testing.assert_array_equal(back.phase_ids, m.phase_ids)
    assert same_up_to_sign(back.rotations, m.rotations, 1e-6)


# --- records written by hand from the field table (independent of write_cpr) ------------

CPR = """[General]\r
Version=5.0\r
Description=hand written\r
JobMode=RegularGrid\r
\r
[Job]\r
kV=20\r
TiltAngle=70\r
GridDistX=0.5\r
GridDistY=0.5\r
xCells=3\r
yCells=2\r
\r
[Acquisition Surface]\r
Euler1=0\r
Euler2=-90\r
Euler3=0\r
\r
[Fields]\r
Count={count}\r
{fields}\r
\r
[EDX Windows]\r
Count=1\r
Window1=Fe Ka\r
\r
[Phases]\r
Count=2\r
\r
[Phase1]\r
StructureName=Iron fcc\r
Enabled=True\r
a=3.6599\r
b=3.6599\r
c=3.6599\r
alpha=90\r
beta=90\r
gamma=90\r
LaueGroup=11\r
SpaceGroup=225\r
\r
[Phase2]\r
StructureName=Iron bcc\r
a=2.8665\r
b=2.8665\r
c=2.8665\r
alpha=90\r
beta=90\r
gamma=90\r
SpaceGroup=229\r
"""
#: MTEX loadEBSD_crc: phase byte, then ids 1-6 float32, 7-11 one byte, 12 float32; EDX 101.
ALL_FIELDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 101]
RECORD = np.dtype([("phase", "u1"), ("x", "<f4"), ("y", "<f4"), ("e1", "<f4"), ("e2", "<f4"),
                   ("e3", "<f4"), ("mad", "<f4"), ("bc", "u1"), ("bs", "u1"), ("u9", "u1"),
                   ("bands", "u1"), ("err", "u1"), ("ri", "<f4"), ("fe", "<f4")])


def cpr_text(fields=ALL_FIELDS) -> str:
    return CPR.format(count=len(fields),
                      fields="\r\n".join(f"Field{k}={f}" for k, f in enumerate(fields, 1)))


def hand_records() -> np.ndarray:
    rec = np.zeros(6, RECORD)
    rec["phase"] = [1, 2, 0, 1, 1, 2]
    rec["x"], rec["y"] = np.tile([0, 0.5, 1.0], 2), np.repeat([0, 0.5], 3)
    rec["e1"], rec["e2"], rec["e3"] = np.linspace(0.1, 6.0, 6), 0.7, np.linspace(3.0, 0.2, 6)
    rec["mad"] = [0.3, 0.4, 0, 0.5, 0.6, 0.7]
    rec["bc"], rec["bs"], rec["u9"] = [10, 20, 0, 30, 40, 250], [1, 2, 3, 4, 5, 6], 9
    rec["bands"], rec["err"] = [8, 9, 0, 10, 11, 12], [0, 0, 3, 0, 0, 0]
    rec["ri"], rec["fe"] = [0.1, 0.2, 0.0, 0.4, 0.5, 0.6], [100, 200, 0, 400, 500, 600]
    return rec


def write_pair(d: Path, rec: np.ndarray, text: str | None = None, stem="h") -> Path:
    (d / f"{stem}.cpr").write_bytes((cpr_text() if text is None else text).encode())
    (d / f"{stem}.crc").write_bytes(rec.tobytes())
    return d / f"{stem}.cpr"


def test_hand_written_records_follow_the_field_table(tmp_path):
    assert RECORD.itemsize == 1 + 6 * 4 + 5 * 1 + 4 + 4
    rec = hand_records()
    m = read_cpr(write_pair(tmp_path, rec[::-1]))  # reversed: placed by the x/y fields
    assert m.shape == (2, 3) and m.step == 0.5
    np.testing.assert_array_equal(m.phase_ids, [[1, 2, -1], [1, 1, 2]])
    euler = np.column_stack([rec["e1"], rec["e2"], rec["e3"]]).astype(np.float64)
    expected = Rotation.from_euler(euler).data.reshape(2, 3, 4)
    np.testing.assert_allclose(m.rotations[m.indexed], expected[m.indexed], atol=1e-12)
    np.testing.assert_array_equal(m.rotations[0, 2], [1, 0, 0, 0])
    assert sorted(m.quality) == ["bands", "bc", "bs", "edx_fe_ka", "error", "mad",
                                 "reliability_index", "unknown9"]
    np.testing.assert_array_equal(m.quality["bc"].ravel(), rec["bc"])
    np.testing.assert_array_equal(m.quality["edx_fe_ka"].ravel(), rec["fe"])
    np.testing.assert_array_equal(m.quality["reliability_index"].ravel(), rec["ri"])
    assert m.phases[1] == Phase(1, "Iron fcc", "m-3m", (3.6599,) * 3 + (90.0,) * 3)
    assert m.phases[2].point_group == "m-3m"  # from SpaceGroup 229, no LaueGroup
    assert (m.metadata["kV"], m.metadata["AcqE2"]) == ("20", "-90")
    assert m.metadata["fields"] == ALL_FIELDS


def test_aztec_field_list_without_positions(tmp_path):
    """AZtec/MTEX export_crc: fields 3-8, 10-12 (25-byte records), points in file order."""
    fields = [3, 4, 5, 6, 7, 8, 10, 11, 12]
    rec = hand_records()[["phase", "e1", "e2", "e3", "mad", "bc", "bs", "bands", "err", "ri"]]
    packed = np.zeros(6, np.dtype([(n, rec.dtype[n]) for n in rec.dtype.names]))
    for n in rec.dtype.names:
        packed[n] = rec[n]
    assert packed.itemsize == 25
    m = read_cpr(write_pair(tmp_path, packed, cpr_text(fields)).with_suffix(".crc"))
    np.testing.assert_array_equal(m.phase_ids, [[1, 2, -1], [1, 1, 2]])
    np.testing.assert_array_equal(m.quality["bands"], [[8, 9, 0], [10, 11, 12]])


def test_upper_case_suffixes(tmp_path):
    write_pair(tmp_path, hand_records(), stem="H")
    for s in ("cpr", "crc"):
        (tmp_path / f"H.{s}").rename(tmp_path / f"H.{s.upper()}")
    assert read_ebsd(tmp_path / "H.CRC").shape == (2, 3)


def _mutate(tmp_path, old, new, rec=None):
    text = cpr_text()
    assert old in text
    return write_pair(tmp_path, hand_records() if rec is None else rec, text.replace(old, new))


@pytest.mark.parametrize(("old", "new", "match"), [
    ("xCells=3\r\n", "", r"h.cpr, line 6: \[Job\] has no xCells \(needed for the grid\)"),
    ("GridDistY=0.5\r\n", "", r"h.cpr, line 6: \[Job\] has no GridDistY"),
    ("[Job]", "[Jobs]", r"h.cpr: no \[Job\] section \(needed for the grid\)"),
    ("yCells=2", "yCells=two", r"h.cpr, line 12: yCells is 'two', not an integer"),
    ("GridDistX=0.5", "GridDistX=-1", r"h.cpr: xstep must be a positive number"),
    ("Field3=3\r\nField4=4\r\nField5=5", "Field3=13\r\nField4=14\r\nField5=15",
     r"h.cpr: \[Fields\] lists no Euler angles \['phi1', 'phi', 'phi2'\]"),
    ("Field2=2", "Field2=1", r"h.cpr, line 22: field id 1 is listed twice"),
    ("Field13=101\r\n", "", r"h.cpr, line 20: \[Fields\] Count is 13 but there is no Field13"),
    ("[Fields]", "[Field list]", r"h.cpr: no \[Fields\] section"),
    ("LaueGroup=11", "LaueGroup=12", r"h.cpr, line 51: unknown Oxford Laue group '12'"),
    ("SpaceGroup=229", "SpaceGroup=231", r"h.cpr, line 62: SpaceGroup 231 is not 1-230"),
    ("[Phase1]", "[Phase0]", r"h.crc, point 0 \(row 0, column 0\): phase id 1 is not among the "
                             r"header's phases \[2\]"),
    ("]\r\nStructureName", "x]\r\nStructureName", r"h.cpr: no \[Phase1\] section; cannot tell"),
    ("[General]", "Version 5\r\n[General]", r"h.cpr, line 1: 'Version 5' before any \[Section\]"),
])
def test_malformed_cpr_names_file_and_line(tmp_path, old, new, match):
    path = _mutate(tmp_path, old, new)
    with pytest.raises(FileFormatError, match=match) as info:
        read_ebsd(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("cut", "match"), [
    (-1, r"h.crc: 227 bytes, expected 228 = 3 x 2 points x 38 bytes per point \(\[Job\] and "
         r"\[Fields\] of h.cpr\); the file is truncated"),
    (0, r"h.crc: 0 bytes, expected 228 .* truncated"),
    (None, r"h.crc: 266 bytes, expected 228 .* longer than the grid"),
])
def test_crc_size_must_match_the_grid(tmp_path, cut, match):
    path = write_pair(tmp_path, hand_records())
    data = path.with_suffix(".crc").read_bytes()
    data = data + data[:38] if cut is None else data[:cut]
    path.with_suffix(".crc").write_bytes(data)
    with pytest.raises(FileFormatError, match=match):
        read_ebsd(path)


def test_non_finite_euler_angles_name_the_point(tmp_path):
    rec = hand_records()
    rec["e2"][4] = np.nan
    path = write_pair(tmp_path, rec)
    with pytest.raises(FileFormatError, match=r"h.crc, point 4 \(row 1, column 1\): Euler angles "
                                              r"are not finite"):
        read_cpr(path)
    rec["e2"][4], rec["e2"][2] = 0.7, np.nan  # not indexed: its angles are not used
    assert read_cpr(write_pair(tmp_path, rec)).phase_ids[0, 2] == -1


@pytest.mark.parametrize("missing", ["cpr", "crc"])
def test_a_file_without_its_partner(tmp_path, missing):
    path = write_pair(tmp_path, hand_records())
    path.with_suffix(f".{missing}").unlink()
    given = path.with_suffix(".crc" if missing == "cpr" else ".cpr")
    what = "project file" if missing == "cpr" else "binary data file"
    with pytest.raises(MissingFileError, match=rf"h.{given.suffix[1:]}: its {what}.* h.{missing} "
                                               r"is missing; an Oxford Channel 5 map needs"):
        read_ebsd(given)
    with pytest.raises(MissingFileError, match=r"nothing.cpr: no such file"):
        read_ebsd(tmp_path / "nothing.cpr")


def test_writer_refuses_hexagonal_overwrite_and_bad_phases(tmp_path):
    m = lab_map()
    with pytest.raises(InputError, match=r"square grids only; .*write_ang"):
        write_cpr(tmp_path / "x.cpr", m.with_(grid="hexagonal"))
    with pytest.raises(InputError, match=r"phases 1..N"):
        write_cpr(tmp_path / "x.cpr", m.with_(phases={1: NI, 2: TI, 5: TI}))
    assert not list(tmp_path.iterdir())
    (tmp_path / "x.crc").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="x.crc: already exists"):
        write_ebsd(tmp_path / "x.cpr", m)
    assert not (tmp_path / "x.cpr").exists()
    write_ebsd(tmp_path / "x.cpr", m, force=True)
    assert read_ebsd(tmp_path / "x.crc").shape == m.shape


def test_writer_rounds_byte_fields_and_drops_others(tmp_path):
    m = lab_map()
    q = dict(m.quality, bc=np.full(m.shape, 300.4, np.float32), ci=np.ones(m.shape, np.float32),
             reliability_index=np.full(m.shape, 0.25, np.float32))
    back = read_cpr(write_cpr(tmp_path / "b.cpr", m.with_(quality=q)))
    assert np.all(back.quality["bc"] == 255) and "ci" not in back.quality
    assert np.all(back.quality["reliability_index"] == 0.25) and back.metadata["fields"][-1] == 12


# --- damaged projects: a map or one of our errors, nothing else --------------------------

BASE = {"cpr": cpr_text().encode(), "crc": hand_records().tobytes()}
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def damaged(draw):
    which = draw(st.sampled_from(["cpr", "crc"]))
    data = {k: bytearray(v) for k, v in BASE.items()}
    kind = draw(st.sampled_from(["truncate", "flip", "line"]))
    target = data[which]
    if kind == "truncate":
        del target[draw(st.integers(0, len(target) - 1)):]
    elif kind == "flip":
        target[draw(st.integers(0, len(target) - 1))] = draw(st.integers(0, 255))
    else:
        lines = bytes(data["cpr"]).split(b"\r\n")
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.sampled_from([b"", b"Count=999999", b"xCells=-3", b"Field1=3",
                                         b"LaueGroup=x", b"[Phase1]", b"a=nan", b"=", b"[]"]))
        data["cpr"] = bytearray(b"\r\n".join(lines))
    return bytes(data["cpr"]), bytes(data["crc"])


@SETTINGS
@given(damaged())
def test_damaged_projects_give_map_or_our_error(case):
    cpr, crc = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.cpr"
        path.write_bytes(cpr)
        path.with_suffix(".crc").write_bytes(crc)
        try:
            m = read_ebsd(path)
        except (FileFormatError, InputError) as exc:
            assert tmp in str(exc) and "\n" not in str(exc)
            return
        assert np.all(np.isfinite(m.rotations))
        np.testing.assert_allclose(np.linalg.norm(m.rotations, axis=-1), 1.0, atol=1e-6)
