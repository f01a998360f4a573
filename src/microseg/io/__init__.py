"""Reading and writing images with their pixel size, stacks, label maps and probability maps."""
from __future__ import annotations

from microseg.io._image import Image

__all__ = ["Image"]
