"""Training samples on disk: pair folders and image/mask folders, read as float images + masks.

Two layouts are read:

* the training pair folder of DESIGN.md (``image.tif`` + ``boundaries.tif``, written by
  :func:`microseg.register.write_training_pair`), one :class:`Sample` per folder;
* an images folder beside a masks folder (``super1/train`` + ``super1/train_annot``), where
  ``<name>.tif`` has the mask ``<name>_mask.tif``. Colour masks (RGB/RGBA) mark the
  positive class by an exact colour (pure blue secondary γ′, pure red tertiary γ′); grey
  masks must be binary and their nonzero pixels are positive.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microseg._util import IGNORE_LABEL, InputError, look_up_option
from microseg.io import MissingFileError, read_image
from microseg.io._files import IMAGE_SUFFIXES, check_input_file, collapse_equal_channels, natural_key, read_raw

logger = logging.getLogger(__name__)

#: Colours (R, G, B) of the positive class in colour masks, by the ``positive`` option.
MASK_COLOURS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "blue": ((0, 0, 255),),
    "red": ((255, 0, 0),),
    "blue+red": ((0, 0, 255), (255, 0, 0)),
}
POSITIVE_OPTIONS = ("blue", "red", "blue+red", "nonzero")
PAIR_IMAGE, PAIR_MASK, PAIR_VALID = "image.tif", "boundaries.tif", "valid.tif"


@dataclass(frozen=True)
class Sample:
    """One training image with its binary target.

    Parameters
    ----------
    image : ndarray of float32
        ``(C, H, W)``, C = 1 (grey) or 3 (RGB), integer images scaled to [0, 1] by the range
        of their dtype (uint8 / 255, uint16 / 65535); float images are kept as they are.
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
    """

    image: np.ndarray
    mask: np.ndarray
    name: str
    pixel_size: float | None = None
    source: str = ""
    valid: np.ndarray | None = None

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
                f"valid={self.valid_fraction:.3f}, pixel_size={self.pixel_size}, source={self.source!r})")

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image and mask."""
        return (int(self.mask.shape[0]), int(self.mask.shape[1]))


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
    if data.dtype == bool:
        out = data.astype(np.float32)
    elif np.issubdtype(data.dtype, np.integer):
        out = data.astype(np.float32) / np.float32(np.iinfo(data.dtype).max)
    elif np.issubdtype(data.dtype, np.floating):
        out = data.astype(np.float32)
    else:
        raise InputError(f"{name}: unsupported image dtype {data.dtype}")
    out = out[None] if out.ndim == 2 else np.moveaxis(out, -1, 0)
    if channels == 3 and out.shape[0] == 1:
        out = np.repeat(out, 3, axis=0)
    return np.ascontiguousarray(out)


def _read_image_quiet(path: Path, *, channels: int):
    """read_image without the 'pixel size unknown' warning (logged instead)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pixel size unknown", category=UserWarning)
        img = read_image(path, as_gray=channels == 1)
    if img.pixel_size is None:
        logger.info("%s: pixel size unknown", path)
    return img


def _values_text(values: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(v.tolist()) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def binary_mask(data: np.ndarray, *, positive: str = "nonzero", path: str | Path = "mask") -> np.ndarray:
    """Turn a mask as stored into uint8 ``(H, W)`` with 1 = positive.

    Parameters
    ----------
    data : ndarray
        ``(H, W)`` grey or ``(H, W, 3|4)`` colour (alpha ignored).
    positive : {"blue", "red", "blue+red", "nonzero"}
        For a colour mask (channels differ somewhere), a pixel is positive when it is
        exactly the named colour (pure blue (0, 0, 255), pure red (255, 0, 0), or either);
        other colours (the grey image showing through) are background. ``"nonzero"``, and
        every grey mask whatever ``positive`` says, requires a binary mask (at most two
        distinct values / colours) and takes its nonzero pixels as positive.
    path : str or path-like
        Named in error messages.

    Raises
    ------
    InputError
        If a binary mask is expected and the mask holds three or more distinct values.

    Examples
    --------
    >>> rgb = np.zeros((1, 3, 3), np.uint8); rgb[0, 0] = (0, 0, 255); rgb[0, 1] = (80, 80, 80)
    >>> binary_mask(rgb, positive="blue")
    array([[1, 0, 0]], dtype=uint8)
    >>> binary_mask(np.array([[0, 255]], np.uint8))
    array([[0, 1]], dtype=uint8)
    """
    positive = look_up_option(positive, POSITIVE_OPTIONS, what="positive class")
    if data.ndim == 3 and data.shape[-1] in (2, 3, 4):
        grey = collapse_equal_channels(data)
        if grey is None and positive != "nonzero":
            colour = data[..., :3]
            out = np.zeros(data.shape[:2], bool)
            for rgb in MASK_COLOURS[positive]:
                out |= np.all(colour == np.asarray(rgb, dtype=colour.dtype), axis=-1)
            return out.astype(np.uint8)
        data = data[..., :3] if grey is None else grey
    elif data.ndim != 2:
        raise InputError(f"{path}: expected a (H, W) or (H, W, 3|4) mask; got shape {data.shape}")
    flat = data.reshape(-1, data.shape[-1]) if data.ndim == 3 else data.reshape(-1)
    values = np.unique(flat, axis=0) if data.ndim == 3 else np.unique(flat)
    if len(values) > 2:
        raise InputError(f"{path}: a binary mask (two values) is expected but it holds "
                         f"{len(values)} distinct values: {_values_text(values)}")
    nonzero = np.any(data != 0, axis=-1) if data.ndim == 3 else data != 0
    return nonzero.astype(np.uint8)


def _check_same_shape(image: np.ndarray, mask: np.ndarray, image_path, mask_path) -> None:
    if image.shape[1:] != mask.shape:
        raise InputError(f"image {image_path} is {image.shape[1]} × {image.shape[2]} (H × W) but "
                         f"mask {mask_path} is {mask.shape[0]} × {mask.shape[1]}; they must match")


def load_pair_folder(folder: str | os.PathLike, *, channels: int = 1) -> Sample:
    """Read a training pair folder (``image.tif`` + ``boundaries.tif``) as a :class:`Sample`.

    Parameters
    ----------
    folder : str or path-like
        A folder written by :func:`microseg.register.write_training_pair`.
    channels : {1, 3}
        Channels of ``Sample.image``.

    Returns
    -------
    Sample
        ``mask`` is the boundary map (1 = boundary); ``name`` is the folder's name;
        ``valid`` comes from ``valid.tif`` when the folder has one (``microseg labels``
        writes it: EBSD coverage less non-indexed points and fiducials).

    Raises
    ------
    MissingFileError
        If the folder, ``image.tif`` or ``boundaries.tif`` is missing.
    InputError
        If image and boundaries differ in size or the boundaries are not binary.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such folder (training pair folder expected)")
    image_path, mask_path = folder / PAIR_IMAGE, folder / PAIR_MASK
    for path in (image_path, mask_path):
        if not path.is_file():
            raise MissingFileError(f"{path}: missing; a training pair folder holds {PAIR_IMAGE} "
                                   f"and {PAIR_MASK}")
    img = _read_image_quiet(image_path, channels=channels)
    image = to_float_image(img.data, channels=channels, name=str(image_path))
    mask = binary_mask(read_raw(check_input_file(mask_path, what="mask")).data, path=mask_path)
    _check_same_shape(image, mask, image_path, mask_path)
    valid = None
    if (folder / PAIR_VALID).is_file():
        valid = binary_mask(read_raw(folder / PAIR_VALID).data, path=folder / PAIR_VALID).astype(bool)
        _check_same_shape(image, valid, image_path, folder / PAIR_VALID)
        if not valid.any():
            raise InputError(f"{folder / PAIR_VALID}: no valid pixel; the label is unknown everywhere")
    return Sample(image, mask, folder.name, img.pixel_size, str(folder), valid)


def load_image_mask_folders(images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *,
                            mask_suffix: str = "_mask", positive: str = "blue",
                            channels: int = 1) -> list[Sample]:
    """Read every image of ``images_dir`` with its mask ``<stem><mask_suffix>.<ext>`` in ``masks_dir``.

    Parameters
    ----------
    images_dir, masks_dir : str or path-like
        Folders of images (TIFF, PNG, ...) and of their masks, e.g. ``super1/train`` and
        ``super1/train_annot``. Files are read in natural order of their names.
    mask_suffix : str
        Added to an image's stem to name its mask; the mask may have any image extension.
    positive : {"blue", "red", "blue+red", "nonzero"}
        Which mask pixels are positive; see :func:`binary_mask`.
    channels : {1, 3}
        Channels of ``Sample.image`` (RGB images of a grey micrograph are made grey).

    Returns
    -------
    list of Sample

    Raises
    ------
    MissingFileError
        If a folder is missing or an image has no mask (the message names the image and the
        mask looked for).
    InputError
        If ``images_dir`` holds no image, sizes differ, or a binary mask is not binary.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    positive = look_up_option(positive, POSITIVE_OPTIONS, what="positive class")
    for d, what in ((images_dir, "images_dir"), (masks_dir, "masks_dir")):
        if not d.is_dir():
            raise MissingFileError(f"{d}: no such folder ({what})")
    images = sorted((p for p in images_dir.iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                     and not (mask_suffix and p.stem.endswith(mask_suffix))),
                    key=lambda p: natural_key(p.name))
    if not images:
        raise InputError(f"images_dir {images_dir}: holds no image file ({', '.join(IMAGE_SUFFIXES)})")
    samples = []
    for image_path in images:
        mask_path = _find_mask(image_path, masks_dir, mask_suffix)
        img = _read_image_quiet(image_path, channels=channels)
        image = to_float_image(img.data, channels=channels, name=str(image_path))
        mask = binary_mask(read_raw(mask_path).data, positive=positive, path=mask_path)
        _check_same_shape(image, mask, image_path, mask_path)
        samples.append(Sample(image, mask, image_path.stem, img.pixel_size, str(image_path)))
    logger.debug("read %d samples from %s", len(samples), images_dir)
    return samples


def _find_mask(image_path: Path, masks_dir: Path, suffix: str) -> Path:
    stem = image_path.stem + suffix
    for ext in (image_path.suffix, *IMAGE_SUFFIXES):
        candidate = masks_dir / (stem + ext)
        if candidate.is_file():
            return candidate
    raise MissingFileError(f"{image_path}: no mask for this image; looked for {masks_dir / stem}"
                           f"{image_path.suffix} (mask_suffix={suffix!r})")


def load_samples(source, *, channels: int = 1, mask_suffix: str = "_mask",
                 positive: str = "blue") -> list[Sample]:
    """Read samples from a pair folder, a folder of pair folders, ``images:masks``, or a list.

    Parameters
    ----------
    source : str, path-like or sequence of them
        * a training pair folder (holds ``image.tif``) → one sample;
        * a folder whose sub-folders are pair folders → one sample per sub-folder (natural
          order of names);
        * ``"IMAGES_DIR:MASKS_DIR"`` → :func:`load_image_mask_folders`;
        * a list or tuple of any of these → their samples, concatenated.
    channels, mask_suffix, positive
        Passed on to :func:`load_pair_folder` / :func:`load_image_mask_folders`.

    Returns
    -------
    list of Sample

    Raises
    ------
    InputError
        If ``source`` is none of the above (the message says what was found).
    MissingFileError
        If ``source`` names nothing that exists.
    """
    if isinstance(source, (list, tuple)):
        out: list[Sample] = []
        for item in source:
            out.extend(load_samples(item, channels=channels, mask_suffix=mask_suffix, positive=positive))
        return out
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"source must be a path, 'IMAGES_DIR:MASKS_DIR' or a list of them; "
                         f"got {type(source).__name__}")
    path = Path(source)
    if path.is_dir():
        if (path / PAIR_IMAGE).is_file():
            return [load_pair_folder(path, channels=channels)]
        pairs = sorted((p for p in path.iterdir() if (p / PAIR_IMAGE).is_file()),
                       key=lambda p: natural_key(p.name))
        if not pairs:
            raise InputError(f"source {path}: is neither a training pair folder ({PAIR_IMAGE} + "
                             f"{PAIR_MASK}) nor a folder of them; for images with masks give "
                             "'IMAGES_DIR:MASKS_DIR'")
        return [load_pair_folder(p, channels=channels) for p in pairs]
    text = os.fspath(source)
    if not path.exists() and text.count(":") == 1:
        images_dir, masks_dir = text.split(":")
        return load_image_mask_folders(images_dir, masks_dir, mask_suffix=mask_suffix,
                                       positive=positive, channels=channels)
    raise MissingFileError(f"{source}: no such folder (source expected: a pair folder, a folder of "
                           "pair folders or 'IMAGES_DIR:MASKS_DIR')")

