"""Oxford .h5oina and EDAX OIM .h5: small files written with h5py in the vendors' layouts."""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from orix.quaternion import Rotation

from microseg._util import FileFormatError, InputError
from microseg.io import read_ebsd
from microseg.io.ebsd import read_edax_h5, read_h5oina

RNG = np.random.default_rng(7)
EULER = RNG.uniform(0, [2 * np.pi, np.pi, 2 * np.pi], (6, 3))


def write_h5oina(path, *, laue=11, phase=(1, 1, 0, 1, 1, 1), drop=()):
    with h5py.File(path, "w") as f:
        f["Index"] = np.array([b"1"])
        ebsd = f.create_group("1/EBSD")
        data, head = ebsd.create_group("Data"), ebsd.create_group("Header")
        x, y = np.tile(np.arange(3) * 0.2, 2), np.repeat(np.arange(2) * 0.2, 3)
        cols = {"Euler": EULER.astype(np.float32), "Phase": np.array(phase, np.uint8)[:, None],
                "X": x.astype(np.float32)[:, None], "Y": y.astype(np.float32)[:, None],
                "Band Contrast": np.arange(6, dtype=np.uint8)[:, None] * 10,
                "Mean Angular Deviation": np.full((6, 1), 0.4, np.float32)}
        for key, value in cols.items():
            if key not in drop:
                data[key] = value
        for key, value in {"X Cells": np.array([3], np.int32), "Y Cells": np.array([2], np.int32),
                           "X Step": np.array([0.2], np.float32),
                           "Y Step": np.array([0.2], np.float32)}.items():
            if key not in drop:
                head[key] = value
        ph = head.create_group("Phases/1")
        ph["Phase Name"] = np.array([b"Iron fcc"])
        ph["Laue Group"] = np.array([laue], np.int32)
        ph["Lattice Dimensions"] = np.array([[3.6, 3.6, 3.6]], np.float32)
        ph["Lattice Angles"] = np.array([[np.pi / 2] * 3], np.float32)


def write_edax(path, *, grid="SqrGrid", sym=43, ci=None, drop=()):
    hexa = grid == "HexGrid"
    counts = (3, 2, 3) if hexa else (3, 3)
    step, ystep = 0.5, (0.5 * math.sqrt(3) / 2 if hexa else 0.5)
    x = np.concatenate([np.arange(n) * step + (r % 2) * step / 2 * hexa for r, n in enumerate(counts)])
    y = np.concatenate([np.full(n, r * ystep) for r, n in enumerate(counts)])
    n = len(x)
    euler = RNG.uniform(0, [2 * np.pi, np.pi, 2 * np.pi], (n, 3))
    with h5py.File(path, "w") as f:
        f[" Manufacturer"] = np.array([b"EDAX"])
        scan = f.create_group("Scan 1")
        data, head = scan.create_group("EBSD/Data"), scan.create_group("EBSD/Header")
        cols = {"Phi1": euler[:, 0], "Phi": euler[:, 1], "Phi2": euler[:, 2], "X Position": x,
                "Y Position": y, "CI": np.full(n, 0.5) if ci is None else ci, "IQ": np.arange(n) * 1.0,
                "Fit": np.full(n, 1.2), "Phase": np.zeros(n, np.int32)}
        for key, value in cols.items():
            if key not in drop:
                data[key] = np.asarray(value, np.float32 if key != "Phase" else np.int32)
        head["Grid Type"] = np.array([grid.encode()])
        head["nColumns"], head["nRows"] = np.array([3], np.int32), np.array([len(counts)], np.int32)
        head["Step X"], head["Step Y"] = np.array([step], np.float32), np.array([ystep], np.float32)
        ph = head.create_group("Phase/1")
        ph["MaterialName"] = np.array([b"Nickel"])
        ph["Symmetry"] = np.array([sym], np.int32)
        for k, v in zip(("a", "b", "c", "alpha", "beta", "gamma"), (3.52,) * 3 + (90.0,) * 3):
            ph[f"Lattice Constant {k}"] = np.array([v], np.float32)
    return euler.astype(np.float32).astype(np.float64)


def test_h5oina_values(tmp_path):
    write_h5oina(tmp_path / "a.h5oina")
    m = read_ebsd(tmp_path / "a.h5oina")
    assert m.shape == (2, 3) and m.step == pytest.approx(0.2) and m.grid == "square"
    np.testing.assert_array_equal(m.phase_ids, [[1, 1, -1], [1, 1, 1]])
    expected = Rotation.from_euler(EULER.astype(np.float32).astype(np.float64)).data.reshape(2, 3, 4)
    np.testing.assert_allclose(m.rotations[m.indexed], expected[m.indexed], atol=1e-12)
    assert sorted(m.quality) == ["bc", "mad"] and m.quality["bc"][1, 2] == 50
    assert m.phases[1].name == "Iron fcc" and m.phases[1].lattice[3] == pytest.approx(90.0)


def test_h5oina_without_positions_uses_file_order(tmp_path):
    write_h5oina(tmp_path / "a.h5oina", drop=("X", "Y"))
    assert read_h5oina(tmp_path / "a.h5oina").quality["bc"][1, 0] == 30


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"laue": 42}, r"unknown Oxford Laue group '42'"),
    ({"drop": ("Euler",)}, r"/1/EBSD/Data/Euler is missing"),
    ({"drop": ("X Cells",)}, r"/1/EBSD/Header/X Cells is missing"),
    ({"phase": (1, 1, 0, 1, 1, 4)}, r"point 5: phase id 4 is not among"),
])
def test_h5oina_errors(tmp_path, kwargs, match):
    write_h5oina(tmp_path / "a.h5oina", **kwargs)
    with pytest.raises(FileFormatError, match=match):
        read_h5oina(tmp_path / "a.h5oina")


def test_edax_square_single_phase_zero_means_phase_one(tmp_path):
    ci = np.array([0.5, -1, 0.5, 0.5, 0.5, 0.5])
    euler = write_edax(tmp_path / "e.h5", ci=ci)
    m = read_ebsd(tmp_path / "e.h5")
    assert m.shape == (2, 3) and m.metadata["scan"] == "Scan 1"
    np.testing.assert_array_equal(m.phase_ids, [[1, -1, 1], [1, 1, 1]])
    expected = Rotation.from_euler(euler).data.reshape(2, 3, 4)
    np.testing.assert_allclose(m.rotations[m.indexed], expected[m.indexed], atol=1e-12)
    assert sorted(m.quality) == ["ci", "fit", "iq"] and m.phases[1].lattice[0] == pytest.approx(3.52)


def test_edax_hexagonal(tmp_path):
    write_edax(tmp_path / "h.h5", grid="HexGrid")
    m = read_edax_h5(tmp_path / "h.h5")
    assert m.grid == "hexagonal" and m.shape == (3, 3)
    np.testing.assert_array_equal(m.phase_ids[1], [1, 1, -1])
    assert m.quality["iq"][2, 0] == 5


@pytest.mark.parametrize(("kwargs", "match", "error"), [
    ({"sym": 7}, r"unknown TSL Symmetry code '7'", FileFormatError),
    ({"drop": ("Phi",)}, r"EBSD/Data/Phi is missing", FileFormatError),
    ({"drop": ("X Position",)}, r"X Position is missing", FileFormatError),
])
def test_edax_errors(tmp_path, kwargs, match, error):
    write_edax(tmp_path / "e.h5", **kwargs)
    with pytest.raises(error, match=match):
        read_edax_h5(tmp_path / "e.h5")


def test_edax_unknown_scan_and_foreign_h5(tmp_path):
    write_edax(tmp_path / "e.h5")
    with pytest.raises(InputError, match=r"no scan 'x'; scans: Scan 1"):
        read_edax_h5(tmp_path / "e.h5", scan="x")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(FileFormatError, match=r"not an EDAX OIM .h5 file"):
        read_ebsd(tmp_path / "other.h5")


@pytest.mark.parametrize("suffix", [".h5", ".h5oina"])
@pytest.mark.parametrize("keep", [0, 100, 2000])
def test_truncated_or_garbage_hdf5(tmp_path, suffix, keep):
    write_edax(tmp_path / "e.h5") if suffix == ".h5" else write_h5oina(tmp_path / "e.h5")
    raw = (tmp_path / "e.h5").read_bytes()
    (tmp_path / f"t{suffix}").write_bytes(raw[:keep] if keep else b"not hdf5 at all")
    with pytest.raises(FileFormatError, match=r"cannot open as HDF5"):
        read_ebsd(tmp_path / f"t{suffix}")
