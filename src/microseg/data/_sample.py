"""A training sample and the pixel scaling every path shares (below :mod:`~microseg.data.samples`
and :mod:`~microseg.data.stacks`, which both make samples)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microseg._util import IGNORE_LABEL, InputError

PAIR_IMAGE, PAIR_MASK, PAIR_VALID = "image.tif", "boundaries.tif", "valid.tif"


@dataclass(frozen=True)
class Sample:
    """One training image with its binary target.

    Parameters
    ----------
    image : ndarray of float32
        ``(C, H, W)``, C = 1 (grey) or 3 (RGB), integer images scaled to [0, 1] by the range
        of their dtype (uint8 / 255, uint16 / 65535); float images are kept as they are.
        A slice of a stack with ``context`` k has ``C = 2k + 1``: slices ``z - k .. z + k``.
    mask : ndarray of uint8
        ``(H, W)``, 1 = positive (boundary or phase), 0 = background.
    name : str
        Short name (the pair folder's or the image file's stem).
    pixel_size : float or None
        µm per pixel, ``None`` when unknown.
    source : str
        Where the image came from (a path).
    valid : ndarray of bool, optional
        ``(H, W)``, True where the mask is known (e.g. covered by the EBSD map, away from
        fiducials); ``None`` means everywhere. Training and validation ignore the rest.
    z : int, optional
        The slice's index in its stack (``source``) when the sample is a slice of a
        ``(Z, Y, X)`` stack; ``None`` for a 2D image. Splits keep a stack's neighbouring
        slices on one side (:func:`microseg.data.stacks.stack_slice_split`).
    """

    image: np.ndarray
    mask: np.ndarray
    name: str
    pixel_size: float | None = None
    source: str = ""
    valid: np.ndarray | None = None
    z: int | None = None

    def __post_init__(self) -> None:
        if self.valid is not None and tuple(self.valid.shape) != tuple(self.mask.shape):
            raise InputError(f"sample {self.name!r}: valid {self.valid.shape} and mask "
                             f"{self.mask.shape} must have the same shape")

    @property
    def valid_fraction(self) -> float:
        """Fraction of pixels whose label is known."""
        return 1.0 if self.valid is None else float(self.valid.mean()) if self.valid.size else 0.0

    def target(self) -> np.ndarray:
        """The mask with :data:`~microseg._util.IGNORE_LABEL` where the label is unknown."""
        if self.valid is None:
            return self.mask
        return np.where(self.valid, self.mask, np.uint8(IGNORE_LABEL)).astype(np.uint8)

    def __repr__(self) -> str:
        return (f"Sample(name={self.name!r}, image={self.image.shape}, "
                f"positive={float(self.mask.mean()) if self.mask.size else 0.0:.3f}, "
                f"valid={self.valid_fraction:.3f}, pixel_size={self.pixel_size}, source={self.source!r}"
                + ("" if self.z is None else f", z={self.z}") + ")")

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image and mask."""
        return (int(self.mask.shape[0]), int(self.mask.shape[1]))


def scaled_float32(data: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Pixels as float32, integers divided by their dtype's largest value (uint8 by 255), bool 0/1.

    The one scaling of training, 2D prediction and volumes: the same floats everywhere.

    >>> scaled_float32(np.array([0, 255], np.uint8)), scaled_float32(np.array([True]))
    (array([0., 1.], dtype=float32), array([1.], dtype=float32))
    """
    if data.dtype == bool:
        return data.astype(np.float32)
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float32) / np.float32(np.iinfo(data.dtype).max)
    if np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32, copy=False)
    raise InputError(f"{name}: unsupported image dtype {data.dtype}")


def to_float_image(data: np.ndarray, *, channels: int = 1, name: str = "image") -> np.ndarray:
    """Turn a ``(H, W)`` or ``(H, W, 3)`` image into float32 ``(C, H, W)`` in [0, 1].

    Integer images are divided by the largest value of their dtype (uint8 by 255, uint16 by
    65535), booleans become 0/1, float images are kept as they are. ``channels=1`` turns RGB
    into grey (BT.709 luma, see :func:`microseg.io.to_gray`); ``channels=3`` repeats a grey
    image three times.

    Examples
    --------
    >>> to_float_image(np.array([[0, 255]], np.uint8))
    array([[[0., 1.]]], dtype=float32)
    >>> to_float_image(np.array([[0, 65535]], np.uint16), channels=3).shape
    (3, 1, 2)
    """
    from microseg.io import to_gray

    if channels not in (1, 3):
        raise InputError(f"channels must be 1 (grey) or 3 (RGB); got {channels!r}")
    if data.ndim == 3 and data.shape[-1] in (2, 3, 4):
        data = to_gray(data) if channels == 1 else data[..., :3]
    elif data.ndim != 2:
        raise InputError(f"{name}: expected a (H, W) or (H, W, 3) image; got shape {data.shape}")
    out = scaled_float32(data, name=name)
    out = out[None] if out.ndim == 2 else np.moveaxis(out, -1, 0)
    if channels == 3 and out.shape[0] == 1:
        out = np.repeat(out, 3, axis=0)
    return np.ascontiguousarray(out)
