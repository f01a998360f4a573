"""Planar transforms from the EBSD frame (µm) to the SEM image (px): landmark estimation,
conditioning checks, tilt correction, composition and JSON round trips."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from skimage import transform as sktf

from microseg._util import InputError, look_up_option
from microseg.register._landmarks import Landmarks, _as_points

logger = logging.getLogger(__name__)

__all__ = ["LandmarkTransform", "estimate_transform", "tilt_correction"]

_KINDS = ("similarity", "affine", "projective")
_MIN_PAIRS = {"similarity": 2, "affine": 3, "projective": 4}
_ESTIMATORS = {"similarity": sktf.SimilarityTransform, "affine": sktf.AffineTransform,
               "projective": sktf.ProjectiveTransform}
# Relative size below which a point set counts as degenerate (duplicate / collinear).
_DEGENERATE = 1e-3


@dataclass(frozen=True)
class LandmarkTransform:
    """A planar homogeneous transform, by default EBSD ``(x_um, y_um)`` -> SEM ``(col, row)``.

    Parameters
    ----------
    matrix : ndarray, shape (3, 3)
        Acts on column vectors ``(x, y, 1)``; normalised so ``matrix[2, 2] == 1``.
    kind : {"similarity", "affine", "projective"}, optional
        The model it was estimated with (composition gives the most general kind);
        default ``"affine"`` if the last row is ``(0, 0, 1)``, else ``"projective"``.
    residuals : ndarray of float64, shape (N,), optional
        Distance in output units (px) between each mapped source landmark and its target.

    Examples
    --------
    >>> t = LandmarkTransform(np.diag([2.0, 2.0, 1.0]))
    >>> t([[1.0, 3.0]]).tolist(), t.inverse([[2.0, 6.0]]).tolist()
    ([[2.0, 6.0]], [[1.0, 3.0]])
    """

    matrix: np.ndarray
    kind: str | None = None
    residuals: np.ndarray | None = None

    __array_ufunc__ = None  # so that ``ndarray @ transform`` defers to __rmatmul__

    def __post_init__(self) -> None:
        m = np.array(self.matrix, dtype=np.float64)
        if m.shape != (3, 3) or not np.isfinite(m).all():
            raise InputError(f"matrix must be a finite 3 x 3 array, got shape {m.shape}")
        if abs(m[2, 2]) < 1e-12 or abs(np.linalg.det(m)) < 1e-12 * abs(m[2, 2]) ** 3:
            raise InputError("matrix is singular (not invertible)")
        m = m / m[2, 2]
        object.__setattr__(self, "matrix", m)
        kind = self.kind
        if kind is None:
            kind = "affine" if np.allclose(m[2], [0.0, 0.0, 1.0], atol=1e-15) else "projective"
        object.__setattr__(self, "kind", look_up_option(kind, _KINDS, what="kind"))
        if self.residuals is not None:
            object.__setattr__(self, "residuals", np.asarray(self.residuals, np.float64).ravel())

    @property
    def rms(self) -> float:
        """Root-mean-square landmark residual (NaN when there are no residuals)."""
        if self.residuals is None or self.residuals.size == 0:
            return float("nan")
        return float(np.sqrt(np.mean(self.residuals ** 2)))

    @property
    def inverse(self) -> LandmarkTransform:
        """The inverse map (SEM px -> EBSD µm); carries no residuals."""
        return LandmarkTransform(np.linalg.inv(self.matrix), kind=self.kind)

    def __call__(self, xy) -> np.ndarray:
        """Map points ``(N, 2)`` (or one ``(2,)``) through the transform."""
        pts = np.asarray(xy, dtype=np.float64)
        single = pts.ndim == 1
        pts = np.atleast_2d(pts)
        if pts.shape[-1] != 2:
            raise InputError(f"xy must have shape (N, 2), got {np.shape(xy)}")
        out = apply_matrix(self.matrix, pts)
        return out[0] if single else out

    def __matmul__(self, other) -> LandmarkTransform:
        """``a @ b`` applies ``b`` first, then ``a`` (matrix convention)."""
        if not isinstance(other, LandmarkTransform):
            other = LandmarkTransform(np.asarray(other, float))
        m = self.matrix @ other.matrix
        kind = max(self.kind, other.kind, key=_KINDS.index)
        if not np.allclose(m[2], [0.0, 0.0, m[2, 2]], atol=1e-15):
            kind = "projective"
        return LandmarkTransform(m, kind=kind)

    def __rmatmul__(self, other) -> LandmarkTransform:
        return LandmarkTransform(np.asarray(other, float)) @ self

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (see :meth:`from_dict`)."""
        return {"kind": self.kind, "matrix": self.matrix.tolist(),
                "residuals_px": None if self.residuals is None else self.residuals.tolist(),
                "rms_px": None if self.residuals is None else self.rms}

    @classmethod
    def from_dict(cls, data: dict) -> LandmarkTransform:
        """Rebuild a transform from :meth:`to_dict` output."""
        try:
            return cls(np.asarray(data["matrix"], float), kind=data.get("kind"),
                       residuals=data.get("residuals_px"))
        except (KeyError, TypeError) as exc:
            raise InputError(f"data is not a transform dict ({exc!r}); expected keys "
                             "'matrix' and 'kind'") from None


def apply_matrix(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3 x 3 homogeneous ``matrix`` to ``(N, 2)`` points."""
    h = pts @ matrix[:, :2].T + matrix[:, 2]
    return h[:, :2] / h[:, 2:3]


def estimate_transform(src, dst=None, *, kind: str = "similarity") -> LandmarkTransform:
    """Least-squares transform mapping ``src`` (EBSD µm) onto ``dst`` (SEM px).

    Parameters
    ----------
    src : (N, 2) array or Landmarks
        ``(x_um, y_um)`` points, or a :class:`Landmarks` (then ``dst`` is omitted).
    dst : (N, 2) array
        ``(col, row)`` of the same points in the image.
    kind : {"similarity", "affine", "projective"}
        Needs at least 2, 3 or 4 pairs. Similarity (rotation, uniform scale, shift)
        suits an untilted image of a flat sample; affine absorbs shear and a tilt
        foreshortening; projective also a trapezoidal (keystone) distortion.

    Returns
    -------
    LandmarkTransform
        With per-point residuals in px and their RMS (``.rms``).

    Raises
    ------
    InputError
        Too few pairs, non-finite coordinates, duplicate points, or a point set that
        cannot determine the model (collinear points for affine/projective).

    Examples
    --------
    >>> src = [[0, 0], [10, 0], [0, 10], [10, 10]]
    >>> dst = [[5, 5], [25, 5], [5, 25], [25, 25]]
    >>> t = estimate_transform(src, dst, kind="affine")
    >>> np.round(t.matrix, 6).tolist(), round(t.rms, 6)
    ([[2.0, 0.0, 5.0], [0.0, 2.0, 5.0], [0.0, 0.0, 1.0]], 0.0)
    """
    kind = look_up_option(kind, _KINDS, what="kind")
    if isinstance(src, Landmarks):
        if dst is not None:
            raise InputError("pass either a Landmarks object or src and dst arrays, not both")
        src, dst = src.src_um, src.dst_px
    elif dst is None:
        raise InputError("dst is required when src is an array")
    src, dst = _as_points(src, "src"), _as_points(dst, "dst")
    if len(src) != len(dst):
        raise InputError(f"src and dst must hold the same number of points, got {len(src)} "
                         f"and {len(dst)}")
    need = _MIN_PAIRS[kind]
    if len(src) < need:
        raise InputError(f"a {kind} transform needs at least {need} landmark pairs, got {len(src)}")
    for name, pts in (("src", src), ("dst", dst)):
        _check_conditioning(pts, name, kind)
    est = _ESTIMATORS[kind].from_estimate(src, dst)
    if not est:
        raise InputError(f"the {kind} transform could not be estimated from these landmarks "
                         f"({est}); check for degenerate point sets")
    matrix = np.asarray(est.params, float)
    residuals = np.hypot(*(apply_matrix(matrix, src) - dst).T)
    logger.info("%s transform from %d pairs: RMS residual %.3g px, max %.3g px", kind,
                len(src), float(np.sqrt(np.mean(residuals ** 2))), float(residuals.max()))
    return LandmarkTransform(matrix, kind=kind, residuals=residuals)


def _check_conditioning(pts: np.ndarray, name: str, kind: str) -> None:
    """Refuse duplicate points and point sets too close to a line for ``kind``."""
    centred = pts - pts.mean(axis=0)
    extent = float(np.sqrt((centred ** 2).sum(axis=1).max()))
    if extent == 0:
        raise InputError(f"{name}: all landmark points coincide")
    dist = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
    i, j = np.nonzero(np.triu(dist <= _DEGENERATE * extent, k=1))
    if len(i):
        raise InputError(f"{name}: landmark points {i[0]} and {j[0]} are duplicates "
                         f"({pts[i[0]].tolist()}); every pair must be a distinct point")
    if kind == "similarity":
        return
    s = np.linalg.svd(centred / extent, compute_uv=False)
    if s[1] < _DEGENERATE * s[0]:
        raise InputError(f"{name}: the landmark points are (nearly) collinear, so a {kind} "
                         "transform is undetermined; add points off that line or use "
                         "kind='similarity'")
    if kind == "projective" and len(pts) == 4:
        for k in range(4):
            tri = np.delete(pts, k, axis=0) / extent
            (ax, ay), (bx, by) = tri[1] - tri[0], tri[2] - tri[0]
            area = abs(ax * by - ay * bx)
            if area < _DEGENERATE:
                raise InputError(f"{name}: three of the four landmark points "
                                 f"{[n for n in range(4) if n != k]} are collinear, so a "
                                 "projective transform is undetermined; add a point")


def tilt_correction(tilt_deg: float = 70.0, *, axis: str = "y") -> np.ndarray:
    """Matrix that undoes the ``cos(tilt)`` foreshortening of an image of a tilted sample.

    An image recorded with the sample tilted by ``tilt_deg`` about the horizontal axis
    (``axis="y"``: the image rows are compressed) or the vertical axis (``axis="x"``)
    shows lengths along that axis multiplied by ``cos(tilt)``. The returned 3 x 3 matrix
    acts on **image pixel coordinates** ``(col, row, 1)`` of the tilted image and maps
    them to coordinates in the sample plane (stretching the foreshortened axis by
    ``1 / cos(tilt)``, about pixel 0). EBSD maps are already in the sample plane.

    Compose it with a :class:`LandmarkTransform` (``a @ b`` applies ``b`` first): if
    ``t_flat`` maps EBSD µm to untilted pixels, ``LandmarkTransform(np.linalg.inv(C)) @
    t_flat`` maps EBSD µm into the tilted image; conversely a similarity transform can be
    fitted to tilted landmarks after un-tilting their pixel coordinates with ``C``.

    Parameters
    ----------
    tilt_deg : float
        Sample tilt in degrees, ``0 <= tilt < 90`` (70 for the usual EBSD geometry).
    axis : {"y", "x"}
        The image axis along which lengths are foreshortened.

    Returns
    -------
    ndarray, shape (3, 3)

    Examples
    --------
    >>> c = tilt_correction(60.0)
    >>> np.round(c, 6).tolist()
    [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    """
    axis = look_up_option(axis, ("x", "y"), what="axis")
    if not (np.isfinite(tilt_deg) and 0 <= tilt_deg < 89.9):
        raise InputError(f"tilt_deg must be in [0, 89.9) degrees, got {tilt_deg!r}")
    m = np.eye(3)
    i = 0 if axis == "x" else 1
    m[i, i] = 1.0 / np.cos(np.deg2rad(tilt_deg))
    return m
