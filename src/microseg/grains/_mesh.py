"""Surface mesh of a phase by marching cubes, streamed over slabs of slices, written as PLY or STL.

A (Z, Y, X) volume larger than memory is meshed a slab of slices at a time
(:func:`skimage.measure.marching_cubes` on each); consecutive slabs share one slice, so
every cube of the volume is meshed exactly once and the surface is continuous, and the
vertices on a shared slice are matched so that the mesh is the one of the whole volume at
once. The volume is padded by one background sample on its outer faces, so the mesh of
a phase is closed (it has an inside and an outside).

The writers are written here rather than taken from meshio or trimesh because those hold
the whole mesh in memory (vertex and face arrays) before writing: here each slab's
vertices and faces are appended to temporary files and the file is put together at the end,
with the header that needs the counts, under a temporary name that is renamed onto the
output (atomic: nothing half-written is left under the output name).

Formats (by the suffix of the path):

- ``.ply``: binary little-endian PLY 1.0, ``element vertex`` with ``float x, y, z`` and
  ``element face`` with ``list uchar int vertex_indices`` (shared vertices, one index list
  per triangle);
- ``.stl``: binary STL, an 80-byte header, a uint32 triangle count, and per triangle its
  unit normal and three vertices (float32) and a uint16 0.

Coordinates: ``x`` along the columns, ``y`` along the rows, ``z`` along the slices, with a
voxel's centre at its index times ``spacing`` (skimage's convention), in µm when a spacing
is given and in voxels otherwise; triangles wind counter-clockwise seen from outside the
phase (normals point out of it).
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from microseg._util import InputError, atomic_path
from microseg._util import progress as _progress
from microseg._validate import check_int, check_pixel_size

logger = logging.getLogger(__name__)

__all__ = ["write_mesh"]

#: Samples (voxels after ``step_size``) per slab. A slab costs marching cubes' work arrays
#: and, for a dense surface (a porous solid: ~0.7 triangles per sample), ~150 bytes per
#: sample of vertices and faces: ~300 MB at this size.
_SLAB_SAMPLES = 1 << 21

_FACE_DTYPE = np.dtype([("n", "u1"), ("i", "<i4", (3,))])                       # 13 bytes
_STL_DTYPE = np.dtype([("normal", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])  # 50 bytes
_FORMATS = (".ply", ".stl")


def write_mesh(slices: Any, path: str | os.PathLike, *, step_size: int = 1,
               spacing: float | Sequence[float] | None = None, level: float = 0.5,
               force: bool = False, progress: bool = False) -> dict[str, Any]:
    """Write the surface of the phase of a (Z, Y, X) volume as a PLY or STL mesh.

    Parameters
    ----------
    slices : array or object with ``.shape`` and ``slices[z]``
        ``(Z, Y, X)`` mask (bool or 0/1; 1 = phase) or a grey / probability volume cut at
        ``level``; read one slice at a time (only every ``step_size``-th one).
    path : str or PathLike
        Output file, ``.ply`` or ``.stl``.
    step_size : int, default 1
        Sample every ``step_size``-th voxel along each axis (as marching cubes'
        ``step_size``): a coarser, smaller mesh for a giga-voxel volume.
    spacing : float or (dz, dy, dx), optional
        Voxel size in µm: the mesh and its area are then in µm.
    level : float, default 0.5
        Iso-value of the surface.
    force : bool, default False
        Overwrite an existing ``path``.
    progress : bool, default False
        Show a progress bar over the slabs.

    Returns
    -------
    dict
        ``{"vertices", "faces", "area_um2" (with a spacing) or "area_px2", "path"}``.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> cube = np.zeros((4, 4, 4), bool); cube[1:3, 1:3, 1:3] = True
    >>> out = write_mesh(cube, pathlib.Path(tempfile.mkdtemp()) / "cube.ply")
    >>> out["vertices"], out["faces"]
    (24, 44)
    >>> round(out["area_px2"], 3)      # 6 x 1 flat + 12 x 1 x 0.5 sqrt(2) chamfers + 8 corners
    16.217
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise InputError(f"{path}: unknown mesh format {path.suffix or '(no suffix)'!r}; use .ply or .stl")
    shape = _check_volume(slices)
    step = check_int(step_size, "step_size", low=1)
    size = check_pixel_size(spacing, "spacing", ndim=3)
    scale = np.ones(3) if size is None else np.asarray(size, dtype=np.float64)
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.number)) \
            or not np.isfinite(level):
        raise InputError(f"level must be a finite number (the iso-value of the surface); got {level!r}")
    with atomic_path(path, force=force) as tmp, \
            tempfile.TemporaryFile(dir=path.parent, prefix=f".{path.stem}.") as vfile, \
            tempfile.TemporaryFile(dir=path.parent, prefix=f".{path.stem}.") as ffile:
        n_vert, n_face, area = _mesh_to_files(slices, shape, step, scale, float(level), vfile, ffile,
                                              stl=suffix == ".stl", progress=progress)
        with open(tmp, "wb") as out:
            if suffix == ".ply":
                out.write(_ply_header(n_vert, n_face, size is not None))
                for part in (vfile, ffile):
                    part.seek(0)
                    shutil.copyfileobj(part, out, 1 << 22)
            else:
                out.write(_stl_header(size is not None))
                out.write(np.uint32(n_face).tobytes())
                ffile.seek(0)
                shutil.copyfileobj(ffile, out, 1 << 22)
    logger.info("%s: %d vertices, %d triangles", path, n_vert, n_face)
    return {"vertices": n_vert, "faces": n_face,
            ("area_px2" if size is None else "area_um2"): area, "path": str(path)}


def _check_volume(slices: Any) -> tuple[int, int, int]:
    shape = getattr(slices, "shape", None)
    if shape is None or not hasattr(slices, "__getitem__"):
        raise InputError(f"slices: expected a (Z, Y, X) array or an object with .shape and slices[z] -> "
                         f"(Y, X), got {type(slices).__name__}")
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"slices must be a 3D (Z, Y, X) volume with at least one voxel; got shape {tuple(shape)}")
    return tuple(int(s) for s in shape)


def _planes(slices: Any, shape: tuple[int, int, int], step: int, level: float) -> Iterator[np.ndarray]:
    """The sampled planes of the volume padded by one background sample on every side:
    a background plane, slices 0, step, 2 step, ... (each sampled every ``step`` in Y
    and X and framed by background), a background plane. Background is 0 (a mask's), or
    ``level - 1`` for a level <= 0: always outside the surface."""
    z_size, y_size, x_size = shape
    frame = (-(-y_size // step) + 2, -(-x_size // step) + 2)
    background = 0.0 if level > 0 else level - 1.0
    yield np.full(frame, background, np.float32)
    for z in range(0, z_size, step):
        arr = np.asarray(slices[z])
        if arr.shape != (y_size, x_size):
            raise InputError(f"slices: slice {z} has shape {arr.shape}, expected {(y_size, x_size)}; every "
                             "slice of a volume must be the same size")
        if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
            raise InputError(f"slices: slice {z} has dtype {arr.dtype}; expected a mask or numbers")
        plane = np.full(frame, background, np.float32)
        plane[1:-1, 1:-1] = arr[::step, ::step]
        if arr.dtype != bool and not np.isfinite(plane).all():
            raise InputError(f"slices: slice {z} holds NaN or infinite values; mesh a mask or finite values")
        yield plane
    yield np.full(frame, background, np.float32)


def _slabs(planes: Iterator[np.ndarray], depth: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(index of the first plane, (D, Y', X') slab)`` with consecutive slabs sharing a plane."""
    buf: list[np.ndarray] = []
    start = 0
    for plane in planes:
        buf.append(plane)
        if len(buf) == depth:
            yield start, np.stack(buf)
            start += depth - 1
            buf = buf[-1:]
    if len(buf) > 1:
        yield start, np.stack(buf)


def _plane_keys(yx: np.ndarray) -> np.ndarray:
    """One int64 per (y, x) float32 pair, equal exactly when both coordinates are."""
    bits = np.ascontiguousarray(yx, dtype=np.float32).view(np.uint32).astype(np.int64)
    return (bits[:, 0] << 32) | bits[:, 1]


def _mesh_to_files(slices: Any, shape: tuple[int, int, int], step: int, scale: np.ndarray, level: float,
                   vfile: BinaryIO, ffile: BinaryIO, *, stl: bool, progress: bool) -> tuple[int, int, float]:
    """Mesh slab by slab; append vertices (PLY) and faces or triangles (STL) to the files."""
    from skimage.measure import marching_cubes

    frame = (-(-shape[1] // step) + 2) * (-(-shape[2] // step) + 2)
    depth = max(2, _SLAB_SAMPLES // frame)
    n_planes = -(-shape[0] // step) + 2
    n_slabs = max(1, -(-(n_planes - 1) // (depth - 1)))
    n_vert = n_face = 0
    area = 0.0
    seam_keys = np.zeros(0, np.int64)      # the previous slab's vertices on its last plane
    seam_ids = np.zeros(0, np.int64)
    for start, slab in _progress(_slabs(_planes(slices, shape, step, level), depth), enabled=progress,
                                 desc="mesh", total=n_slabs):
        lo, hi = float(slab.min()), float(slab.max())
        if not lo < hi or not lo <= level <= hi:
            seam_keys, seam_ids = seam_keys[:0], seam_ids[:0]
            continue
        verts, faces, _, _ = marching_cubes(slab, level=level)
        ids = np.empty(len(verts), np.int64)
        first = verts[:, 0] == 0
        known = np.zeros(len(verts), bool)
        if seam_keys.size and first.any():
            keys = _plane_keys(verts[first, 1:])
            at = np.minimum(np.searchsorted(seam_keys, keys), seam_keys.size - 1)
            hit = seam_keys[at] == keys
            sel = np.flatnonzero(first)[hit]
            ids[sel] = seam_ids[at[hit]]
            known[sel] = True
        fresh = ~known
        ids[fresh] = np.arange(n_vert, n_vert + int(fresh.sum()))
        # voxel index coordinates (z, y, x) -> physical (x, y, z)
        zyx = (verts.astype(np.float64) + [start, 0, 0] - 1) * (step * scale)
        xyz = zyx[:, ::-1].astype(np.float32)   # with z and x swapped skimage's winding faces outward
        corners = xyz[faces]
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        length = np.sqrt(np.einsum("ij,ij->i", normal, normal))
        area += 0.5 * float(length.sum(dtype=np.float64))
        if stl:
            rec = np.zeros(len(faces), _STL_DTYPE)
            rec["normal"] = normal / np.where(length > 0, length, 1.0)[:, None]
            rec["v"] = corners
            ffile.write(rec.tobytes())
        else:
            vfile.write(xyz[fresh].astype("<f4", copy=False).tobytes())
            rec = np.zeros(len(faces), _FACE_DTYPE)
            rec["n"] = 3
            rec["i"] = ids[faces]
            ffile.write(rec.tobytes())
        n_vert += int(fresh.sum())
        n_face += len(faces)
        if n_vert >= 2**31:
            raise InputError(f"the mesh has over 2**31 vertices, more than PLY int indices hold; use a larger "
                             f"step_size than {step}")
        last = verts[:, 0] == slab.shape[0] - 1
        keys = _plane_keys(verts[last, 1:])
        order = np.argsort(keys)
        seam_keys, seam_ids = keys[order], ids[last][order]
    return n_vert, n_face, area


def _ply_header(n_vert: int, n_face: int, in_um: bool) -> bytes:
    unit = "um" if in_um else "voxels"
    return (f"ply\nformat binary_little_endian 1.0\ncomment microseg marching cubes, units {unit}\n"
            f"element vertex {n_vert}\nproperty float x\nproperty float y\nproperty float z\n"
            f"element face {n_face}\nproperty list uchar int vertex_indices\nend_header\n").encode("ascii")


def _stl_header(in_um: bool) -> bytes:
    text = f"microseg marching cubes mesh, units {'um' if in_um else 'voxels'}".encode("ascii")
    return text.ljust(80, b" ")
