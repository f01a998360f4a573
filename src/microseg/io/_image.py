"""The image type that carries its pixel size through the pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Image:
    """A micrograph, stack or map together with its physical pixel size.

    Parameters
    ----------
    data : ndarray
        ``(Y, X)`` grey, ``(Y, X, 3)`` RGB, or ``(Z, Y, X)`` for a stack; dtype as read
        (uint8, uint16, float32, ...).
    pixel_size : float or None
        Edge length of one pixel in µm (in-plane). ``None`` means unknown: lengths are then
        reported in pixels only.
    source : str or None
        Where the data came from (a path), for messages and provenance.
    pixel_size_source : str
        How the pixel size was found: ``"fei"``, ``"zeiss"``, ``"ome"``, ``"json"``,
        ``"imagej"``, ``"tiff-resolution"``, ``"sidecar"``, ``"explicit"`` or ``"unknown"``.
    slice_spacing : float or None
        Distance between slices in µm for a ``(Z, Y, X)`` stack (``None`` if unknown or 2D).
    metadata : dict
        Anything else read from the file (instrument, voltage, ...), JSON-serialisable.
    """

    data: np.ndarray
    pixel_size: float | None = None
    source: str | None = None
    pixel_size_source: str = "unknown"
    slice_spacing: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"Image(shape={self.shape}, dtype={self.data.dtype}, pixel_size={self.pixel_size}, "
                f"pixel_size_source={self.pixel_size_source!r}, source={self.source!r})")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def is_rgb(self) -> bool:
        return self.metadata.get("axes") == "YXS"

    @property
    def spacing(self) -> tuple[float, ...] | None:
        """Pixel spacing per spatial axis in µm, or ``None`` if the pixel size is unknown."""
        if self.pixel_size is None:
            return None
        if self.metadata.get("axes") == "ZYX":
            dz = self.slice_spacing if self.slice_spacing is not None else self.pixel_size
            return (float(dz), float(self.pixel_size), float(self.pixel_size))
        return (float(self.pixel_size), float(self.pixel_size))
