"""The :class:`Registration` result and warping of EBSD cell maps into the SEM frame."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from microseg._util import InputError
from microseg._validate import check_positive
from microseg.register._transform import LandmarkTransform, apply_matrix

logger = logging.getLogger(__name__)

__all__ = ["Registration", "warp_cells"]

_CHUNK_ROWS = 256


@dataclass(frozen=True)
class Registration:
    """EBSD-to-SEM registration: a global transform plus a smooth drift field.

    The EBSD content that the global ``transform`` alone puts at SEM pixel ``q - d(q)``
    belongs at ``q``, where ``d = displacement[:, row, col]``. So the registered label at
    ``q`` is the EBSD cell at ``transform.inverse(q - d(q))``.

    Attributes
    ----------
    transform : LandmarkTransform
        Global map EBSD ``(x_um, y_um)`` -> SEM ``(col, row)``.
    displacement : ndarray of float32, shape (2, Y, X), or None
        ``(d_row, d_col)`` in px on the SEM grid (``None``: no drift correction).
    score_before, score_after : float
        :func:`~microseg.register.alignment_score` of the initial and final registration.
    drift_summary : dict
        ``{"max": ..., "mean": ...}`` of ``|displacement|`` in px over the SEM frame.
    """

    transform: LandmarkTransform
    displacement: np.ndarray | None = None
    score_before: float = float("nan")
    score_after: float = float("nan")
    drift_summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.transform, LandmarkTransform):
            raise InputError(f"transform must be a LandmarkTransform, got "
                             f"{type(self.transform).__name__}")
        if self.displacement is not None:
            d = np.asarray(self.displacement, dtype=np.float32)
            if d.ndim != 3 or d.shape[0] != 2:
                raise InputError(f"displacement must have shape (2, Y, X), got {d.shape}")
            object.__setattr__(self, "displacement", d)
            if not self.drift_summary:
                mag = np.hypot(d[0], d[1])
                object.__setattr__(self, "drift_summary", {"max": float(mag.max()),
                                                           "mean": float(mag.mean())})

    def to_dict(self) -> dict:
        """JSON-serialisable summary (transform, scores, drift statistics; not the field)."""
        return {"transform": self.transform.to_dict(), "score_before": self.score_before,
                "score_after": self.score_after, "drift_summary": dict(self.drift_summary),
                "displacement_shape": None if self.displacement is None
                else list(self.displacement.shape)}


def check_cells(cells, name: str = "cells") -> np.ndarray:
    """``cells`` as an integer ``(R, C)`` array, or an :class:`InputError`."""
    arr = np.asarray(cells)
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InputError(f"{name} must be a 2D (rows, columns) EBSD cell map, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name} must hold integer cell ids (0 = unknown), got dtype {arr.dtype}")
    return arr


def check_step(step_um) -> float:
    return check_positive(step_um, "step_um", unit="µm", what="EBSD step")


def warp_cells(cells, registration, output_shape: tuple[int, int], *,
               step_um: float) -> np.ndarray:
    """Warp an EBSD cell map into the SEM frame (nearest neighbour).

    Each SEM pixel ``q`` takes the cell of the EBSD point nearest to
    ``transform.inverse(q - d(q))``; pixels that fall outside the EBSD grid get 0. Draw
    boundaries on the result (not before warping) to keep them 1 px thin and closed.

    Parameters
    ----------
    cells : ndarray of int, shape (R, C)
        EBSD cell map; point ``(r, c)`` lies at ``(x_um, y_um) = (c * step, r * step)``.
    registration : Registration or LandmarkTransform
        EBSD µm -> SEM px; a bare transform means no drift field.
    output_shape : (int, int)
        ``(Y, X)`` of the SEM image.
    step_um : float
        EBSD step in µm.

    Returns
    -------
    ndarray of int32, shape output_shape

    Examples
    --------
    >>> cells = np.array([[1, 2], [3, 4]], np.int32)
    >>> t = LandmarkTransform(np.diag([2.0, 2.0, 1.0]))  # 1 µm step -> 2 px
    >>> warp_cells(cells, t, (4, 4), step_um=1.0)
    array([[1, 2, 2, 0],
           [3, 4, 4, 0],
           [3, 4, 4, 0],
           [0, 0, 0, 0]], dtype=int32)
    """
    cells = check_cells(cells)
    step = check_step(step_um)
    if isinstance(registration, LandmarkTransform):
        registration = Registration(registration)
    if not isinstance(registration, Registration):
        raise InputError(f"registration must be a Registration or LandmarkTransform, got "
                         f"{type(registration).__name__}")
    try:
        shape = tuple(int(s) for s in output_shape)
    except (TypeError, ValueError):
        raise InputError(f"output_shape must be (Y, X), got {output_shape!r}") from None
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"output_shape must be (Y, X) with positive sides, got {output_shape!r}")
    disp = registration.displacement
    if disp is not None and disp.shape[1:] != shape:
        raise InputError(f"the registration's displacement field is {disp.shape[1:]}, but "
                         f"output_shape is {shape}")
    inv = registration.transform.inverse.matrix
    out = np.zeros(shape, dtype=np.int32)
    cols = np.arange(shape[1], dtype=np.float64)
    for r0 in range(0, shape[0], _CHUNK_ROWS):
        r1 = min(shape[0], r0 + _CHUNK_ROWS)
        rr, cc = np.meshgrid(np.arange(r0, r1, dtype=np.float64), cols, indexing="ij")
        if disp is not None:
            rr = rr - disp[0, r0:r1]
            cc = cc - disp[1, r0:r1]
        xy = apply_matrix(inv, np.stack([cc.ravel(), rr.ravel()], axis=1)) / step
        j = np.floor(xy[:, 0] + 0.5)  # nearest, halves up (not to even)
        i = np.floor(xy[:, 1] + 0.5)
        ok = (i >= 0) & (i < cells.shape[0]) & (j >= 0) & (j < cells.shape[1])
        block = np.zeros(i.shape, dtype=np.int32)
        block[ok] = cells[i[ok].astype(np.intp), j[ok].astype(np.intp)]
        out[r0:r1] = block.reshape(r1 - r0, shape[1])
    return out
