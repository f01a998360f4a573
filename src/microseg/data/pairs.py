"""Which mask goes with which image: pairing by name in folders, or by a CSV list.

Only names and paths here, no pixels: :func:`find_pairs` pairs ``<base><image_suffix>.<ext>``
in an images folder with ``<base><mask_suffix>.<ext>`` in a masks folder (by default
``<stem>_mask``, or the same stem when the masks have their own folder);
:func:`read_pair_list` reads a CSV with the columns ``image,mask``. Errors name what did
not pair.
"""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from microseg._util import InputError
from microseg.io._files import IMAGE_SUFFIXES, MissingFileError, natural_key

logger = logging.getLogger(__name__)

#: Mask suffixes tried when none is given: ``<stem>_mask``, then (masks in their own folder) ``<stem>``.
AUTO_MASK_SUFFIXES = ("_mask", "")


def _image_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: natural_key(p.name))


def _strip(stem: str, suffix: str) -> str:
    return stem[:len(stem) - len(suffix)] if suffix else stem


def _names(paths, limit: int = 5) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _guess_suffixes(images: list[str], masks: list[str]) -> tuple[str, str] | None:
    """``(image_suffix, mask_suffix)`` that pair most of the ``images`` stems with ``masks`` stems."""
    mask_set = set(masks)
    for stem in images[:5]:
        best = max(masks, key=lambda m: len(os.path.commonprefix([stem, m])), default="")
        base = os.path.commonprefix([stem, best])
        if not base:
            continue
        img_suf, mask_suf = stem[len(base):], best[len(base):]
        while len(base) > 1 and base[-1] in "_-. ":  # 'a_sem' / 'a_th' -> '_sem' / '_th'
            img_suf, mask_suf, base = base[-1] + img_suf, base[-1] + mask_suf, base[:-1]
        if img_suf == mask_suf and img_suf:
            continue
        paired = sum(s.endswith(img_suf) and _strip(s, img_suf) + mask_suf in mask_set for s in images)
        if 2 * paired >= len(images):
            return img_suf, mask_suf
    return None


def find_pairs(images_dir: str | os.PathLike, masks_dir: str | os.PathLike, *, mask_suffix: str | None = None,
               image_suffix: str = "") -> list[tuple[Path, Path]]:
    """Pair every image of ``images_dir`` with its mask in ``masks_dir`` by name.

    An image ``<base><image_suffix>.<ext>`` has the mask ``<base><mask_suffix>.<any image ext>``.

    Parameters
    ----------
    images_dir, masks_dir : str or path-like
        Folders of images (TIFF, PNG, ...) and of their masks; they may be the same folder.
    mask_suffix : str, optional
        Ends a mask's stem in place of ``image_suffix`` (``"_mask"``, ``"_th"``, ``""``).
        ``None`` tries ``"_mask"`` and then, when the masks have their own folder, the image's
        own stem (``images/a.tif`` + ``masks/a.tif``).
    image_suffix : str
        Ends every image's stem (``"_sem"`` pairs ``x_sem.tif`` with ``x_th.tif``); only files
        whose stem ends so are images. ``""``: every file that is not a mask.

    Returns
    -------
    list of (Path, Path)
        ``(image, mask)`` in natural order of the image names.

    Raises
    ------
    MissingFileError
        If a folder is missing, or some image has no mask; the message names the first
        image, the mask looked for, the other images without one, the masks that paired with
        no image and, when it finds them, the suffixes that would pair the names.
    InputError
        If ``images_dir`` holds no image, or images and masks share a folder with nothing to
        tell them apart.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("x_sem.tif", "x_th.tif"):
    ...     (d / name).touch()
    >>> [(i.name, m.name) for i, m in find_pairs(d, d, image_suffix="_sem", mask_suffix="_th")]
    [('x_sem.tif', 'x_th.tif')]
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for d, what in ((images_dir, "images_dir"), (masks_dir, "masks_dir")):
        if not d.is_dir():
            raise MissingFileError(f"{d}: no such folder ({what})")
    for value, what in ((mask_suffix, "mask_suffix"), (image_suffix, "image_suffix")):
        if value is not None and not isinstance(value, str):
            raise InputError(f"{what} must be a string (e.g. '_mask'); got {value!r}")
    same = images_dir.resolve() == masks_dir.resolve()
    suffixes = (mask_suffix,) if mask_suffix is not None else AUTO_MASK_SUFFIXES[:1 if same else 2]
    if same and suffixes == ("",) and not image_suffix:
        raise InputError(f"{images_dir}: images and masks in one folder need a mask_suffix or an image_suffix "
                         "(data.mask_suffix, data.image_suffix) to tell them apart")
    if image_suffix and image_suffix in suffixes:
        raise InputError(f"image_suffix and mask_suffix are both {image_suffix!r}; they must differ")

    def is_image(p: Path) -> bool:
        if image_suffix:
            return p.stem.endswith(image_suffix) and len(p.stem) > len(image_suffix)
        return not any(s and p.stem.endswith(s) for s in suffixes)

    images = [p for p in _image_files(images_dir) if is_image(p)]
    if not images:
        which = f" whose name ends with {image_suffix!r} (image_suffix)" if image_suffix else ""
        raise InputError(f"images_dir {images_dir}: holds no image file{which} ({', '.join(IMAGE_SUFFIXES)})")
    by_stem: dict[str, list[Path]] = {}
    for p in _image_files(masks_dir):
        by_stem.setdefault(p.stem, []).append(p)
    pairs, missing, used = [], [], set()
    for image in images:
        base = _strip(image.stem, image_suffix)
        for suffix in suffixes:
            found = [p for p in by_stem.get(base + suffix, []) if p != image]
            if found:
                mask = min(found, key=lambda p: (p.suffix.lower() != image.suffix.lower(), p.name))
                pairs.append((image, mask))
                used.add(mask)
                break
        else:
            missing.append(image)
    leftover = [p for ps in by_stem.values() for p in ps
                if p not in used and not (same and is_image(p)) and p not in images]
    if missing:
        raise MissingFileError(_unpaired_message(missing, leftover, images, masks_dir, suffixes, image_suffix))
    if leftover:
        logger.warning("%s: %d mask(s) pair with no image in %s: %s", masks_dir, len(leftover), images_dir,
                       _names(sorted(leftover, key=lambda p: natural_key(p.name))))
    return pairs


def _unpaired_message(missing, leftover, images, masks_dir, suffixes, image_suffix) -> str:
    first = missing[0]
    base = _strip(first.stem, image_suffix)
    looked = " or ".join(f"{masks_dir / (base + s)}.*" for s in suffixes)
    shown = "mask_suffix=" + (repr(suffixes[0]) if len(suffixes) == 1 else f"None: {list(suffixes)}")
    text = f"{first}: no mask for this image; looked for {looked} ({shown}, image_suffix={image_suffix!r})"
    if len(missing) > 1:
        text += f"; {len(missing)} of {len(images)} images have no mask: {_names(missing)}"
    leftover = sorted(leftover, key=lambda p: natural_key(p.name))
    if leftover:
        text += f"; masks that pair with no image: {_names(leftover)}"
        guess = _guess_suffixes([p.stem for p in images], [p.stem for p in leftover])
        if guess:
            text += f"; did you mean image_suffix={guess[0]!r}, mask_suffix={guess[1]!r}?"
    return text + ("; set mask_suffix / image_suffix (data.mask_suffix, data.image_suffix) to how the names "
                   "differ, or list the pairs in a CSV with the columns image,mask")


def _csv_rows(path: Path) -> list[tuple[int, str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the pair list ({exc})") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    if "image" not in header or "mask" not in header:
        raise InputError(f"{path}: a pair list needs a header with the columns image,mask; found "
                         f"{','.join(header) or 'an empty file'}")
    i, m = header.index("image"), header.index("mask")
    rows = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(i, m) or not row[i].strip() or not row[m].strip():
            raise InputError(f"{path}, line {line}: needs an image and a mask; got {','.join(row)!r}")
        rows.append((line, row[i].strip(), row[m].strip()))
    if not rows:
        raise InputError(f"{path}: the pair list holds no pairs (one line per image: image,mask)")
    return rows


def read_pair_list(path: str | os.PathLike) -> list[tuple[Path, Path]]:
    """The ``(image, mask)`` paths listed in a CSV file with the columns ``image,mask``.

    Parameters
    ----------
    path : str or path-like
        A CSV file (UTF-8, header line ``image,mask``; other columns are ignored, blank lines
        skipped). Relative paths are relative to the CSV's folder.

    Returns
    -------
    list of (Path, Path)
        In the order of the lines.

    Raises
    ------
    MissingFileError
        If the CSV or any listed file is missing (the message names every line that did not
        pair, with the paths looked for).
    InputError
        If the header lacks ``image`` or ``mask``, a line lacks one, or the list is empty.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a.tif").touch(); (d / "a_label.png").touch()
    >>> _ = (d / "pairs.csv").write_text("image,mask\\na.tif,a_label.png\\n")
    >>> [(i.name, m.name) for i, m in read_pair_list(d / "pairs.csv")]
    [('a.tif', 'a_label.png')]
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file (pair list CSV expected)")
    pairs, bad = [], []
    for line, image, mask in _csv_rows(path):
        image_path, mask_path = path.parent / image, path.parent / mask
        absent = [str(p) for p in (image_path, mask_path) if not p.is_file()]
        if absent:
            bad.append(f"line {line}: {' and '.join(absent)}")
        pairs.append((image_path, mask_path))
    if bad:
        shown = "; ".join(bad[:5]) + (f"; ... ({len(bad)} lines in all)" if len(bad) > 5 else "")
        raise MissingFileError(f"{path}: {len(bad)} of {len(pairs)} listed pairs name missing files ({shown}); "
                               "paths are relative to the CSV's folder")
    return pairs
