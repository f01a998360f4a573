"""Reading and writing images with their pixel size, stacks, label maps and probability maps.

Volumes larger than memory are read and written slice by slice with :func:`open_stack`
(multi-page TIFF, folders of slices, zarr / OME-Zarr) and :func:`open_stack_writer`.

The pixel size (µm) is found in FEI/Thermo and Zeiss TIFF tags, ImageJ resolution tags or a
JEOL/Hitachi ``.txt`` sidecar; see :mod:`microseg.io._metadata` for the exact keys.
"""
from __future__ import annotations

from microseg.io._ebsd import EBSDMap, Phase, point_group
from microseg.io._files import MissingFileError
from microseg.io.ebsd import read_ebsd, write_ebsd
from microseg.io._image import Image
from microseg.io._json import json_text, read_json, write_json
from microseg.io.images import read_image, to_gray, write_image
from microseg.io.lazy import LazyImage, open_image, open_image_writer, open_prob_writer
from microseg.io.maps import read_labels, read_mask, read_prob, read_prob_image, write_labels, write_prob
from microseg.io.stacks import read_stack, write_stack
from microseg.io.volumes import LazyStack, StackWriter, open_stack, open_stack_writer

__all__ = [
    "EBSDMap",
    "Image",
    "LazyImage",
    "LazyStack",
    "StackWriter",
    "open_image",
    "open_image_writer",
    "open_prob_writer",
    "open_stack",
    "open_stack_writer",
    "Phase",
    "point_group",
    "json_text",
    "read_json",
    "write_json",
    "MissingFileError",
    "read_ebsd",
    "read_image",
    "read_labels",
    "read_prob",
    "read_prob_image",
    "read_mask",
    "read_stack",
    "to_gray",
    "write_ebsd",
    "write_image",
    "write_labels",
    "write_prob",
    "write_stack",
]
