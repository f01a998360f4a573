"""TIFF writing with pixel size and slice spacing, shared by the image, stack and map writers."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# dtypes ImageJ reads natively: 8-bit, 16-bit and 32-bit float grey; 8-bit RGB.
_IMAGEJ_GREY = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


def write_tiff(path: Path, data: np.ndarray, *, rgb: bool = False, pixel_size: float | None = None,
               slice_spacing: float | None = None, extra: dict[str, Any] | None = None,
               compression: str | None = None) -> None:
    """Write ``data`` to the TIFF ``path`` with its pixel size (and slice spacing) in µm.

    Grey uint8/uint16/float32 and RGB uint8 are written as ImageJ TIFFs (``unit=um``,
    ``XResolution`` in pixels per µm, ``spacing`` for stacks) so that ImageJ/Fiji and
    :func:`microseg.io.read_image` both find the pixel size. Other dtypes are written as
    plain TIFFs with ``ResolutionUnit`` centimetre and the slice spacing in tifffile's JSON
    description. ``extra`` keys go to that JSON description (plain TIFFs only).
    """
    import tifffile

    is_stack = data.ndim == (4 if rgb else 3)
    imagej = extra is None and compression is None and (
        (rgb and data.dtype == np.uint8 and data.shape[-1] == 3) or (not rgb and data.dtype in _IMAGEJ_GREY)
    )
    kwargs: dict[str, Any] = {"photometric": "rgb" if rgb else "minisblack"}
    if compression is not None:
        kwargs["compression"] = compression
    if imagej:
        metadata: dict[str, Any] = {"axes": ("ZYX" if is_stack else "YX") + ("S" if rgb else "")}
        if pixel_size is not None:
            metadata["unit"] = "um"
            kwargs["resolution"] = (1.0 / pixel_size, 1.0 / pixel_size)
        if is_stack and slice_spacing is not None:
            metadata["spacing"] = slice_spacing
        tifffile.imwrite(path, data, imagej=True, metadata=metadata, **kwargs)
    else:
        metadata = dict(extra or {})
        if pixel_size is not None:
            per_cm = 1e4 / pixel_size
            kwargs["resolution"] = (per_cm, per_cm)
            kwargs["resolutionunit"] = "CENTIMETER"
        if slice_spacing is not None:
            metadata["spacing"] = slice_spacing
            metadata["unit"] = "um"
        tifffile.imwrite(path, data, metadata=metadata, **kwargs)
    logger.debug("wrote %s: shape %s, dtype %s, ImageJ %s", path, data.shape, data.dtype, imagej)
