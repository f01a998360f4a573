"""The images a task is given: one or several paths, arrays or :class:`~microseg.io.Image`.

Each input gets a name, the stem its outputs are called by: a file's stem (``a.tif`` ->
``a``; ``day1_a`` when another input is ``day2/a.tif``), the stem of an Image's ``source``,
or ``image<i>`` (``i`` its place in the list) for an array or an Image made in memory. Whether an input is a ``(Z, Y, X)`` stack is
known before it is read: a folder or a multi-page TIFF of grey pages, an Image whose
``metadata["axes"]`` is ``"ZYX"``, a 3D array whose last axis is not 3 or 4 (colour).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg.io import Image

__all__ = ["Input", "as_inputs", "expand_images", "is_stack_file", "region_readable_pixels"]


@dataclass(frozen=True)
class Input:
    """One input of a task: its name (output stem), what was given, whether it is a stack."""

    name: str
    item: Any
    stack: bool

    @property
    def source(self) -> str:
        """The path given (as given), an Image's source, or the name of an in-memory array."""
        if isinstance(self.item, (str, os.PathLike)):
            return str(self.item)
        return getattr(self.item, "source", None) or self.name

    def read(self, *, pixel_size: float | None = None) -> Image:
        """The input as an :class:`~microseg.io.Image`; ``pixel_size`` (µm) wins over the file's."""
        from microseg import io
        from microseg._validate import check_pixel_size

        pixel_size = check_pixel_size(pixel_size)
        if isinstance(self.item, (str, os.PathLike)):
            reader = io.read_stack if self.stack else io.read_image
            return reader(self.item, pixel_size=pixel_size)
        if isinstance(self.item, Image):
            if pixel_size is None:
                return self.item
            return Image(self.item.data, pixel_size=pixel_size, source=self.item.source,
                         pixel_size_source="explicit", slice_spacing=self.item.slice_spacing,
                         metadata=self.item.metadata)
        data = np.asarray(self.item)
        # a 3D array that is not a stack keeps no axes: (Y, X, 3) or (C, H, W) is decided
        # where it is used (microseg.infer.as_image_array)
        axes = {"axes": "ZYX"} if self.stack else ({"axes": "YX"} if data.ndim == 2 else {})
        return Image(data, pixel_size=pixel_size, metadata=axes,
                     pixel_size_source="unknown" if pixel_size is None else "explicit")


def region_readable_pixels(inp: Input) -> int:
    """Pixels of ``inp`` if it is a 2D TIFF file that :func:`microseg.io.open_image` reads by
    regions (after cutting a data bar), else 0: arrays, stacks, other formats, and files it
    cannot open (the whole-image reader then says what is wrong). Tasks stream inputs above
    their threshold into their output files.
    """
    from microseg._util import MicrosegError
    from microseg.io._files import TIFF_SUFFIXES

    path = inp.item
    if inp.stack or not isinstance(path, (str, os.PathLike)) or Path(path).suffix.lower() not in TIFF_SUFFIXES:
        return 0
    import warnings

    from microseg import io

    with warnings.catch_warnings():   # the pixel size is reported when the image is read
        warnings.simplefilter("ignore")
        try:
            shape = io.open_image(path).shape
        except MicrosegError:
            return 0
    return int(shape[0]) * int(shape[1])


def is_stack_file(path: Path) -> bool:
    """Whether ``path`` holds a ``(Z, Y, X)`` stack: a folder, or a TIFF of several grey pages."""
    if path.is_dir():
        return True
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return False
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return len(series.shape) == 3 and series.shape[-1] not in (3, 4)
    except Exception:  # unreadable: let read_image give the proper error naming the file
        return False


def _is_stack(item: Any) -> bool:
    if isinstance(item, (str, os.PathLike)):
        return is_stack_file(Path(item))
    if isinstance(item, Image):
        return item.metadata.get("axes") == "ZYX"
    data = np.asarray(item)
    return data.ndim == 3 and data.shape[-1] not in (3, 4)


def _is_single(images: Any) -> bool:
    return isinstance(images, (str, os.PathLike, Image, np.ndarray))


def as_inputs(images: Any, *, what: str = "images", stacks: bool = True) -> list[Input]:
    """The inputs of a task, named.

    With ``stacks=False`` every input is taken as one 2D image (a file is read with
    :func:`microseg.io.read_image`, which refuses a stack naming the file; a 3D array is
    an image with channels, as :func:`microseg.infer.as_image_array` reads it).

    Examples
    --------
    >>> import numpy as np
    >>> [(i.name, i.stack) for i in as_inputs([np.zeros((4, 4)), np.zeros((2, 8, 8))])]
    [('image0', False), ('image1', True)]
    >>> as_inputs("scans/a.tif")[0].name
    'a'
    >>> [i.name for i in as_inputs(["day1/a.tif", "day2/a.tif", "b.tif"])]   # one stem, two folders
    ['day1_a', 'day2_a', 'b']
    """
    items = [images] if _is_single(images) else list(images) if images is not None else []
    if not items:
        raise InputError(f"{what}: no image given; pass a path, an array or an Image, or a list of them")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            name = Path(item).stem
        elif isinstance(item, Image) or (isinstance(item, np.ndarray) and item.dtype != object):
            source = getattr(item, "source", None)
            name = Path(source).stem if source else f"image{i}"
        else:
            raise InputError(f"{what}[{i}]: expected a path, an array or a microseg.io.Image; got "
                             f"{type(item).__name__}")
        out.append(Input(name, item, stacks and _is_stack(item)))
    return _distinct(out)


def _distinct(inputs: list[Input]) -> list[Input]:
    """Files of one stem in different folders (``a/image.tif``, ``b/image.tif``) named by their
    folder too (``a_image``, ``b_image``), so that their outputs do not collide."""
    from collections import Counter

    counts = Counter(i.name for i in inputs)
    out = []
    for i in inputs:
        if counts[i.name] > 1 and isinstance(i.item, (str, os.PathLike)) and Path(i.item).parent.name:
            i = Input(f"{Path(i.item).parent.name}_{i.name}", i.item, i.stack)
        out.append(i)
    return out


def expand_images(images: Any) -> Any:
    """Folders and glob patterns among ``images`` replaced by the image files they stand for.

    A folder stands for its image files (TIFF, PNG, BMP, JPEG; not its subfolders), a
    path that does not exist and holds ``*``, ``?`` or ``[`` for the files it matches
    (:func:`glob.glob`, ``**`` across folders); both sorted by name. Anything else is
    kept as it is. A folder without images or a pattern that matches nothing is an error
    naming it. (For tasks that take stacks, a folder is one stack: they do not expand.)

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.tif", "a.png", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [p.name for p in expand_images(folder)]
    ['a.png', 'b.tif']
    >>> [p.name for p in expand_images([str(folder / "*.tif")])]
    ['b.tif']
    """
    import glob

    from microseg.io import MissingFileError
    from microseg.io._files import IMAGE_SUFFIXES

    if _is_single(images) and not isinstance(images, (str, os.PathLike)):
        return images
    items = [images] if isinstance(images, (str, os.PathLike)) else list(images) if images is not None else []
    out: list[Any] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            out.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{path}: a folder without images ({', '.join(IMAGE_SUFFIXES)})")
            out += found
        elif not path.exists() and any(c in str(item) for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(str(item), recursive=True) if Path(p).is_file())
            if not found:
                raise MissingFileError(f"{item}: the pattern matches no file")
            out += found
        else:
            out.append(item)
    return out


def section_config(config: Any, name: str, **given: Any) -> Any:
    """Section ``name`` of a run configuration, with the options a caller gave on top.

    ``config``: ``None`` (the section's defaults), a YAML path (only this section is read,
    :func:`microseg.config.load_config`), a :class:`microseg.config.Config` or the section's
    dataclass. ``given``: option values that replace the section's; ``None`` means "not
    given" (the section's value stays). The result is checked.

    >>> section_config(None, "grains", close_gaps="watershed").close_gaps
    'watershed'
    """
    import dataclasses

    from microseg.config import Config, load_config, section_schema

    schema = section_schema(name)
    if config is None:
        section = schema()
    elif isinstance(config, schema):
        section = config
    elif isinstance(config, Config):
        section = getattr(config, name) or schema()
    elif isinstance(config, (str, os.PathLike)):
        section = getattr(load_config(config, sections=(name,)), name)
    else:
        raise InputError(f"config must be a YAML file, a microseg.config.Config or a {schema.__name__}; "
                         f"got {type(config).__name__}")
    section = dataclasses.replace(section, **{k: v for k, v in given.items() if v is not None})
    section.check()
    return section


def config_writer(name: str, section: Any):
    """A writer of ``config.yaml`` holding the resolved section ``name`` (saved with outputs)."""
    import dataclasses

    from microseg.config import dump_config, from_dict

    text = dump_config(from_dict({name: dataclasses.asdict(section)}, sections=(name,)))
    return lambda path: Path(path).write_text(text, encoding="utf-8")
