"""write_mesh: streamed marching cubes, PLY / STL read back by readers written from the formats' specs."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from skimage.measure import marching_cubes, mesh_surface_area

from microseg._util import InputError, OutputExistsError
from microseg.grains import _mesh, write_mesh
from microseg.synth import make_porous_volume


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binary little-endian PLY with float x, y, z and uchar/int face lists (PLY 1.0 spec)."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0"
    elements, props = [], {}
    for line in header:
        words = line.split()
        if words[0] == "element":
            elements.append((words[1], int(words[2])))
            props[words[1]] = []
        elif words[0] == "property":
            props[elements[-1][0]].append(tuple(words[1:]))
    assert [e for e, _ in elements] == ["vertex", "face"]
    assert props["vertex"] == [("float", "x"), ("float", "y"), ("float", "z")]
    assert props["face"] == [("list", "uchar", "int", "vertex_indices")]
    n_vert, n_face = elements[0][1], elements[1][1]
    verts = np.frombuffer(data, "<f4", 3 * n_vert, end).reshape(n_vert, 3)
    at = end + 12 * n_vert
    faces = np.empty((n_face, 3), np.int64)
    for i in range(n_face):                            # one list per face: its length, then the indices
        (count,) = struct.unpack_from("<B", data, at)
        faces[i] = struct.unpack_from(f"<{count}i", data, at + 1)
        at += 1 + 4 * count
    assert at == len(data)
    return verts, faces


def read_stl(path: Path) -> tuple[int, np.ndarray, np.ndarray]:
    """Binary STL: 80-byte header, uint32 count, 50 bytes per triangle."""
    data = path.read_bytes()
    (count,) = struct.unpack_from("<I", data, 80)
    assert len(data) == 84 + 50 * count
    rec = np.frombuffer(data, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]), count, 84)
    return count, rec["n"], rec["v"]


def mesh_area(tri: np.ndarray) -> float:
    tri = tri.astype(np.float64)
    return 0.5 * float(np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())


def enclosed_volume(tri: np.ndarray) -> float:
    """Divergence theorem: positive when the triangles face outward."""
    tri = tri.astype(np.float64)
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6)


def ball(radius: float, *, soft: bool = False) -> np.ndarray:
    n = int(2 * radius) + 5
    c = (n - 1) / 2
    zz, yy, xx = np.mgrid[:n, :n, :n]
    dist = np.sqrt((zz - c) ** 2 + (yy - c) ** 2 + (xx - c) ** 2)
    return np.clip(radius + 0.5 - dist, 0, 1).astype(np.float32) if soft else dist <= radius


class SliceReader:
    def __init__(self, volume: np.ndarray) -> None:
        self._volume, self.shape, self.reads = volume, volume.shape, []

    def __getitem__(self, z: int) -> np.ndarray:
        self.reads.append(int(z))
        return self._volume[z]


def test_ball_area_ply_closed_and_outward(tmp_path):
    r, dx = 12.0, 0.5
    soft = write_mesh(ball(r, soft=True), tmp_path / "soft.ply", spacing=dx)   # partial-volume ball
    verts, faces = read_ply(tmp_path / "soft.ply")
    assert soft["vertices"] == len(verts) and soft["faces"] == len(faces)
    true_area = 4 * np.pi * (r * dx) ** 2
    assert soft["area_um2"] == pytest.approx(true_area, rel=0.01)
    assert mesh_area(verts[faces]) == pytest.approx(soft["area_um2"], rel=1e-5)
    assert enclosed_volume(verts[faces]) == pytest.approx(4 / 3 * np.pi * (r * dx) ** 3, rel=0.01)
    # a binary ball: marching cubes of voxels is known to overestimate the area (~8 %)
    binary = write_mesh(ball(r), tmp_path / "binary.ply", spacing=dx)
    assert true_area < binary["area_um2"] < 1.1 * true_area
    # closed: every edge is shared by exactly two triangles
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    assert set(np.unique(edges, axis=0, return_counts=True)[1].tolist()) == {2}


@pytest.mark.parametrize("side", [2, 8, 30])
def test_cube_area_and_stl(tmp_path, side):
    vol = np.zeros((side + 4, side + 3, side + 2), bool)
    vol[2:2 + side, 1:1 + side, 1:1 + side] = True
    out = write_mesh(vol, tmp_path / "cube.stl", spacing=(2.0, 1.0, 1.0))
    count, normals, tri = read_stl(tmp_path / "cube.stl")
    assert count == out["faces"]
    assert mesh_area(tri) == pytest.approx(out["area_um2"], rel=1e-5)
    # the level-0.5 surface of a voxel cube (z stretched by 2): flat faces through the
    # outer voxel faces between the outer voxel centres, edges chamfered across half a
    # voxel each way, a triangle at each corner
    n = side - 1
    flat = 2 * n * n + 4 * (2 * n) * n
    edges = 4 * (2 * n) * np.hypot(0.5, 0.5) + 8 * n * np.hypot(0.5 * 2, 0.5)
    corner = 8 * 0.5 * np.linalg.norm(np.cross([-0.5 * 2, 0.5, 0], [-0.5 * 2, 0, 0.5]))
    assert out["area_um2"] == pytest.approx(flat + edges + corner, rel=1e-6)
    true = 2 * side * side + 4 * (2 * side) * side
    assert out["area_um2"] == pytest.approx(true, rel=0.03 if side == 30 else 0.5)
    # unit normals that point out of the cube
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    centre = np.array([(1 + side / 2 - 0.5), (1 + side / 2 - 0.5), 2 * (2 + side / 2 - 0.5)])
    assert (np.einsum("ij,ij->i", tri.mean(axis=1) - centre, normals) > 0).all()


@pytest.mark.parametrize("slab", [2, 3, 7])
def test_slabs_give_the_whole_volume_mesh(tmp_path, monkeypatch, slab):
    vol = make_porous_volume((23, 30, 26), porosity=0.3, pore_size_px=6, seed=5) == 0
    monkeypatch.setattr(_mesh, "_SLAB_SAMPLES", slab * 32 * 28)   # slab planes of the padded frame
    reader = SliceReader(vol)
    out = write_mesh(reader, tmp_path / "pores.ply")
    assert reader.reads == list(range(23))
    verts, faces = read_ply(tmp_path / "pores.ply")
    ref_v, ref_f, _, _ = marching_cubes(np.pad(vol.astype(np.float32), 1), level=0.5)
    assert out["vertices"] == len(ref_v) and out["faces"] == len(ref_f)   # seam vertices matched
    assert out["area_px2"] == pytest.approx(mesh_surface_area(ref_v, ref_f), rel=1e-6)
    # the same vertex set (voxel-centre coordinates; the file holds x, y, z)
    np.testing.assert_allclose(np.unique(verts[:, ::-1], axis=0), np.unique(ref_v - 1, axis=0), atol=1e-5)
    assert verts.min() >= -0.5 and (verts.max(axis=0) <= np.array(vol.shape[::-1]) - 0.5).all()
    assert enclosed_volume(verts[faces]) == pytest.approx(vol.sum(), rel=0.05)


@pytest.mark.parametrize("step", [2, 3])
def test_step_size_as_marching_cubes(tmp_path, step):
    vol = make_porous_volume((20, 25, 31), porosity=0.3, pore_size_px=8, seed=6) == 0
    reader = SliceReader(vol)
    out = write_mesh(reader, tmp_path / "coarse.ply", step_size=step, spacing=(0.1, 0.05, 0.05))
    assert reader.reads == list(range(0, 20, step))               # only the sampled slices are read
    ref_v, ref_f, _, _ = marching_cubes(np.pad(vol.astype(np.float32), step), level=0.5, step_size=step,
                                        spacing=(0.1, 0.05, 0.05))
    assert (out["vertices"], out["faces"]) == (len(ref_v), len(ref_f))
    assert out["area_um2"] == pytest.approx(mesh_surface_area(ref_v, ref_f), rel=1e-5)


def test_empty_volume_and_options(tmp_path):
    out = write_mesh(np.zeros((3, 4, 5), bool), tmp_path / "none.ply")
    assert (out["vertices"], out["faces"], out["area_px2"]) == (0, 0, 0.0)
    assert read_ply(tmp_path / "none.ply")[0].shape == (0, 3)
    full = write_mesh(np.ones((3, 4, 5), np.uint8), tmp_path / "full.stl")
    assert full["faces"] > 0                                       # closed by the padding
    with pytest.raises(OutputExistsError, match="full.stl"):
        write_mesh(np.ones((3, 4, 5), bool), tmp_path / "full.stl")
    write_mesh(np.ones((3, 4, 5), bool), tmp_path / "full.stl", force=True)
    with pytest.raises(InputError, match="mesh.obj.*use .ply or .stl"):
        write_mesh(np.ones((3, 4, 5), bool), tmp_path / "mesh.obj")
    with pytest.raises(InputError, match="step_size"):
        write_mesh(np.ones((3, 4, 5), bool), tmp_path / "a.ply", step_size=0)
    with pytest.raises(InputError, match="slices must be a 3D"):
        write_mesh(np.ones((4, 5), bool), tmp_path / "a.ply")
    with pytest.raises(InputError, match="NaN"):
        write_mesh(np.full((3, 4, 5), np.nan), tmp_path / "a.ply")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.stl", "none.ply"]   # no temporary left
