"""Uniform cubic B-spline displacement fields on a coarse control grid (pure numpy)."""
from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["BSplineGrid"]


def _weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First control index (``floor(t) - 1``, shifted by +1 for the padding) and the four
    cubic B-spline weights of each coordinate ``t`` (in control-interval units)."""
    i = np.floor(t)
    f = t - i
    w = np.stack([(1 - f) ** 3, 3 * f ** 3 - 6 * f ** 2 + 4, -3 * f ** 3 + 3 * f ** 2 + 3 * f + 1,
                  f ** 3], axis=-1) / 6.0
    return i.astype(np.intp), w


class BSplineGrid:
    """A smooth 2-vector field over a rectangle ``[0, height] x [0, width]``.

    ``shape = (ny, nx)`` intervals give ``(ny + 3) * (nx + 3)`` control points (one
    padding point on the low side, two on the high side). Coordinates outside the
    rectangle are clamped to it (constant extension).
    """

    def __init__(self, extent: tuple[float, float], shape: tuple[int, int]):
        self.extent = (float(extent[0]), float(extent[1]))
        self.shape = (max(1, int(shape[0])), max(1, int(shape[1])))
        self.n_control = (self.shape[0] + 3) * (self.shape[1] + 3)

    def _local(self, y: np.ndarray, x: np.ndarray):
        ty = np.clip(y / self.extent[0] * self.shape[0], 0, self.shape[0] - 1e-9)
        tx = np.clip(x / self.extent[1] * self.shape[1], 0, self.shape[1] - 1e-9)
        return _weights(ty), _weights(tx)

    def matrix(self, y: np.ndarray, x: np.ndarray) -> sparse.csr_matrix:
        """Sparse ``(N, n_control)`` matrix ``W`` with ``field(points) = W @ control``."""
        (iy, wy), (ix, wx) = self._local(np.asarray(y, float), np.asarray(x, float))
        ncol = self.shape[1] + 3
        rows = np.repeat(np.arange(len(iy)), 16)
        cols = ((iy[:, None, None] + np.arange(4)[:, None]) * ncol
                + ix[:, None, None] + np.arange(4)[None, :]).reshape(-1)
        data = (wy[:, :, None] * wx[:, None, :]).reshape(-1)
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(iy), self.n_control))

    def evaluate(self, control: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Field ``(N, 2)`` at points ``(y, x)`` from ``control`` ``(n_control, 2)``."""
        return self.matrix(np.ravel(y), np.ravel(x)) @ control

    def penalty(self, control: np.ndarray) -> tuple[float, np.ndarray]:
        """Bending energy (sum of squared second differences along both axes) and its
        gradient with respect to ``control``."""
        c = control.reshape(self.shape[0] + 3, self.shape[1] + 3, -1)
        grad = np.zeros_like(c)
        energy = 0.0
        for axis in (0, 1):
            if c.shape[axis] < 3:
                continue
            d2 = np.diff(c, n=2, axis=axis)
            energy += float((d2 ** 2).sum())
            g = 2 * d2
            # adjoint of the second difference: [1, -2, 1] scattered back
            sl = [slice(None)] * 3
            for k, coef in ((0, 1.0), (1, -2.0), (2, 1.0)):
                sl[axis] = slice(k, k + d2.shape[axis])
                grad[tuple(sl)] += coef * g
        return energy, grad.reshape(control.shape)
