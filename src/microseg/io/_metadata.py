"""Finding the pixel size of a micrograph in vendor metadata, TIFF tags or a sidecar file.

Sources, in the order :func:`find_pixel_size` tries them (the first that gives a positive,
finite value wins; instrument metadata first, then self-describing descriptions, then the
generic resolution tags, then files beside the image):

1. ``"fei"`` — FEI/Thermo Fisher TIFF tag 34682 (``FEI_HELIOS``) or 34680 (``FEI_SFEG``):
   INI text, ``[Scan] PixelWidth=`` (and ``PixelHeight=``) in metres.
2. ``"zeiss"`` — Zeiss ``CZ_SEM`` tag 34118: ``AP_IMAGE_PIXEL_SIZE`` (e.g.
   ``Image Pixel Size = 12.5 nm``) or ``AP_PIXEL_SIZE``; units pm, nm, µm/um, mm.
3. ``"ome"`` — an OME-XML ImageDescription: ``Pixels PhysicalSizeX`` (and ``PhysicalSizeY``)
   in ``PhysicalSizeXUnit`` (default µm, as the OME schema says) of the first image.
4. ``"json"`` — a JSON ImageDescription (or tifffile's JSON description after a plain
   one). tifffile's default ``{"shape": [...]}`` holds no pixel size and does not count.
   Keys are matched ignoring case, ``_``, ``-`` and spaces:

   * ``pixel_size`` / ``pixelsize`` / ``pixel_spacing`` / ``physical_size``, at the top or
     in a nested object; ``spacing`` and ``resolution`` at the top only;
   * with the unit in the key (``pixel_size_um``, ``pixel_size_nm``, ``spacing_mm``), in the
     value (``"15 nm"``, ``{"value": 15, "unit": "nm"}``) or in a ``unit`` / ``units`` /
     ``<key>_unit`` key beside it; a value without any unit is not taken;
   * a number, a ``[y, x]`` or ``[z, y, x]`` list, ``{"x": .., "y": ..}``, or ``_x`` /
     ``_y`` keys. A single number under ``spacing`` in a stack is the slice spacing (as
     microseg and ImageJ write it), not the pixel size.

   Failing those, a ``unit`` key with ``XResolution`` and ``ResolutionUnit`` NONE gives
   the pixel size as resolution in pixels per that unit (also ``"json"``). A resolution of
   1, 72 or 96 pixels per unit is a writer's default and is not taken.
5. ``"imagej"`` — ``XResolution`` (pixels per unit) with the ImageJ ``unit=`` of the
   ImageDescription (``micron``, ``um``, ``µm``, ``\\u00B5m``, ``nm``, ``mm``, ``cm``, ...).
6. ``"tiff-resolution"`` — a plain TIFF ``XResolution`` with ``ResolutionUnit`` centimetre
   or inch (or tifffile's millimetre/micrometre), kept only when it gives less than 50 µm
   per pixel. A whole number of dots per inch up to 9600 (72 and 96 dpi screen defaults,
   300, 600, 1200 dpi print and scan settings) is a print setting and is ignored, and so is
   "no unit"; such a TIFF has no pixel size.
7. ``"sidecar"`` — a ``.txt`` file with the image's stem, as JEOL and Hitachi write them:

   * JEOL: ``$$SM_MICRON_BAR <px>`` with ``$$SM_MICRON_MARKER <length><unit>`` (scale bar
     length in pixels and in µm/nm), scaled by ``$CM_FULL_SIZE <width> <height>`` when that
     width differs from the image's; or ``$CM_PIXEL_SIZE`` / ``$$SM_PIXEL_SIZE`` given with a
     unit. ``$CM_INSTRUMENT`` and ``$CM_MAG`` go to the metadata.
   * Hitachi: ``PixelSize=<nm>``; ``InstructName=`` and ``Magnification=`` go to the metadata.

Pixels that are not square (FEI ``PixelHeight``, OME ``PhysicalSizeY``, a JSON ``[y, x]``
or ``YResolution`` that differs from the width by more than 0.1 %) give the width as the
pixel size, ``metadata["pixel_size_y_um"]`` and one warning naming the file.
"""
from __future__ import annotations

import json
import logging
import math
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from microseg.io._files import RawImage

logger = logging.getLogger(__name__)

#: Micrometres per unit, for every spelling met in vendor files and descriptions.
UNITS_UM = {
    "pm": 1e-6, "picometer": 1e-6, "picometre": 1e-6,
    "å": 1e-4, "Å": 1e-4, "\u212b": 1e-4, "angstrom": 1e-4, "angstroms": 1e-4,
    "nm": 1e-3, "nanometer": 1e-3, "nanometers": 1e-3, "nanometre": 1e-3, "nanometres": 1e-3,
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
    "micrometers": 1.0, "micrometre": 1.0, "micrometres": 1.0,
    "mm": 1e3, "millimeter": 1e3, "millimeters": 1e3, "millimetre": 1e3, "millimetres": 1e3,
    "cm": 1e4, "m": 1e6, "meter": 1e6, "meters": 1e6, "metre": 1e6, "metres": 1e6,
}

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d.]+)\s*$")
_PLAUSIBLE_TIFF_RESOLUTION_UM = 50.0
_PRINT_DPI_MAX = 9600.0  # whole dpi up to this are print/scan settings, not calibrations
_DEFAULT_PER_UNIT = (1.0, 72.0, 96.0)  # what writers put in XResolution by default
_SQUARE_RTOL = 1e-3
# JSON keys (normalised: lower case, no "_", "-", " "); the last two only at the top level.
_JSON_KEYS = ("pixelsize", "pixelspacing", "physicalsize")
_JSON_TOP_KEYS = _JSON_KEYS + ("spacing", "resolution")
_JSON_MAX_DEPTH = 3

#: ``(x_um, y_um or None, source)``: what one source found.
Found = tuple[float, float | None, str]


def unit_to_um(unit: str) -> float | None:
    """Return micrometres per ``unit`` (``"nm"`` → 1e-3), or None for an unknown unit."""
    unit = unit.strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    return UNITS_UM.get(unit) or UNITS_UM.get(unit.lower())


def parse_length_um(value: Any, unit: str | None = None) -> float | None:
    """Return a length in µm from ``value`` (a number with ``unit``, or a text like "12.5 nm").

    Returns None when the text cannot be read or the unit is unknown.
    """
    if isinstance(value, str):
        match = _NUMBER_UNIT.match(value)
        if match is None:
            try:
                number = float(value)
            except ValueError:
                return None
        else:
            number, unit = float(match.group(1)), match.group(2)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        return None
    if unit is None:
        return None
    factor = unit_to_um(unit)
    return None if factor is None else number * factor


def _valid(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _found(x: float | None, y: float | None, source: str) -> Found | None:
    """``(x, y, source)`` when ``x`` is a usable length (``y`` kept only when usable)."""
    if x is None or not _valid(x):
        return None
    return float(x), (float(y) if y is not None and _valid(y) else None), source


def _from_fei(fei: dict[str, Any]) -> tuple[Found | None, dict[str, Any]]:
    meta: dict[str, Any] = {"vendor": "FEI/Thermo Fisher"}
    system = fei.get("System", {})
    for key in ("SystemType", "Type", "Dnumber"):
        if system.get(key):
            meta["instrument"] = str(system[key]).strip()
            break
    hv = fei.get("Beam", {}).get("HV")
    if isinstance(hv, (int, float)):
        meta["accelerating_voltage_kv"] = float(hv) / 1000.0
    image = fei.get("Image", {})
    rx, ry = image.get("ResolutionX"), image.get("ResolutionY")
    if isinstance(rx, int) and isinstance(ry, int) and rx > 0 and ry > 0:
        # the scanned field; rows below it are the microscope's data bar
        meta["specimen_shape"] = [int(ry), int(rx)]
    scan = fei.get("Scan", {})
    x, y = parse_length_um(scan.get("PixelWidth"), "m"), parse_length_um(scan.get("PixelHeight"), "m")
    return _found(x, y, "fei"), meta


def _from_zeiss(sem: dict[str, Any]) -> tuple[Found | None, dict[str, Any]]:
    meta: dict[str, Any] = {"vendor": "Zeiss"}
    for key in ("sv_instrument_id", "sv_serial_number", "dp_column_type"):
        entry = sem.get(key)
        if isinstance(entry, tuple) and len(entry) >= 2:
            meta["instrument"] = str(entry[1])
            break
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        entry = sem.get(key)
        if isinstance(entry, tuple) and len(entry) >= 2:
            unit = entry[2] if len(entry) >= 3 else None
            value = parse_length_um(entry[1], unit)
            if _valid(value):
                return _found(value, None, "zeiss"), meta
            logger.debug("Zeiss %s %r: no usable pixel size", key, entry)
    return None, meta


def _from_ome(description: str) -> Found | None:
    """``Pixels PhysicalSizeX/Y`` of the first image of an OME-XML description."""
    try:
        root = ET.fromstring(description)
    except ET.ParseError as exc:
        logger.debug("OME-XML description cannot be parsed: %s", exc)
        return None
    pixels = next((el for el in root.iter() if el.tag.rpartition("}")[2] == "Pixels"), None)
    if pixels is None:
        return None
    sizes = []
    for axis in "XY":
        value, unit = pixels.get(f"PhysicalSize{axis}"), pixels.get(f"PhysicalSize{axis}Unit", "µm")
        try:
            sizes.append(float(value) * (unit_to_um(unit) or math.nan) if value else None)
        except ValueError:
            sizes.append(None)
    if not _valid(sizes[0]):
        logger.debug("OME-XML Pixels %s: no usable PhysicalSizeX", dict(pixels.attrib))
    return _found(sizes[0], sizes[1], "ome")


def _norm_key(key: Any) -> str:
    return re.sub(r"[\s_\-]", "", str(key)).lower()


def _split_key(norm: str, base: str) -> tuple[str, str] | None:
    """``(axis, unit)`` of a key ``<base>[x|y][<unit>]``, or None when it is not one."""
    if not norm.startswith(base):
        return None
    rest = norm[len(base):]
    axis = ""
    if rest[:1] in ("x", "y") and (len(rest) == 1 or unit_to_um(rest[1:]) is not None):
        axis, rest = rest[0], rest[1:]
    if rest and unit_to_um(rest) is None:
        return None
    return axis, rest


def _unit_beside(obj: dict[str, Any], base: str) -> str | None:
    for key, value in obj.items():
        if _norm_key(key) in (base + "unit", base + "units", "unit", "units") and isinstance(value, str):
            return value
    return None


def _json_value(value: Any, unit: str | None, *, scalar_ok: bool) -> tuple[float | None, float | None]:
    """``(x, y)`` in µm from a JSON value: number, text, ``[y, x]``, ``[z, y, x]`` or object."""
    if isinstance(value, dict):
        inner = {_norm_key(k): v for k, v in value.items()}
        unit = _unit_beside(value, "") or unit
        if "x" in inner:
            x, y = (_json_value(inner.get(a), unit, scalar_ok=True)[0] for a in "xy")
            return x, y
        for key in ("value", "size", "magnitude"):
            if key in inner:
                return _json_value(inner[key], unit, scalar_ok=scalar_ok)
        return None, None
    if isinstance(value, (list, tuple)) and len(value) in (2, 3):
        y, x = (parse_length_um(v, unit) for v in value[-2:])
        return x, y
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not scalar_ok:
        return None, None
    return parse_length_um(value, unit), None


def _json_in(obj: dict[str, Any], bases: tuple[str, ...], scalar_spacing: bool) -> Found | None:
    for base in bases:
        axes: dict[str, float | None] = {}
        for key, value in obj.items():
            split = _split_key(_norm_key(key), base)
            if split is None:
                continue
            axis, key_unit = split
            unit = key_unit or _unit_beside(obj, base)
            scalar_ok = base != "spacing" or scalar_spacing
            if base == "resolution" and isinstance(value, (list, tuple)):
                continue  # [1024, 768] is a frame size more often than a pixel size
            x, y = _json_value(value, unit, scalar_ok=scalar_ok)
            if axis == "" and _valid(x):
                return _found(x, y, "json")
            if axis and _valid(x):
                axes.setdefault(axis, x)
            elif not _valid(x):
                logger.debug("JSON %r: %r is not a length with a unit", key, value)
        if "x" in axes:
            return _found(axes["x"], axes.get("y"), "json")
    return None


def _from_json(description: dict[str, Any], *, scalar_spacing: bool) -> Found | None:
    """The pixel size in a JSON description: top level first, then nested objects."""
    found = _json_in(description, _JSON_TOP_KEYS, scalar_spacing)
    level = [v for v in description.values() if isinstance(v, dict)]
    for _ in range(_JSON_MAX_DEPTH):
        if found is not None or not level:
            break
        for obj in level:
            found = found or _json_in(obj, _JSON_KEYS, scalar_spacing)
        level = [v for obj in level for v in obj.values() if isinstance(v, dict)]
    return found


def _json_descriptions(tiff: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON objects of the ImageDescription and of tifffile's shaped description."""
    out: list[dict[str, Any]] = []
    text = tiff.get("description") or ""
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            logger.debug("JSON description cannot be parsed: %s", exc)
        else:
            if isinstance(parsed, dict):
                out.append(parsed)
    shaped = tiff.get("shaped")
    if isinstance(shaped, dict) and shaped not in out:
        out.append(shaped)
    return out


def _per_unit(tiff: dict[str, Any], key: str) -> float | None:
    res = tiff.get(key)
    if not res or len(res) != 2 or not res[0] or not res[1]:
        return None
    value = res[0] / res[1]
    return value if _valid(value) else None


def _resolution_sizes(tiff: dict[str, Any], factor: float, source: str) -> Found | None:
    """``factor`` (µm per unit) over X/YResolution (pixels per unit)."""
    x, y = _per_unit(tiff, "xresolution"), _per_unit(tiff, "yresolution")
    if x is None:
        return None
    return _found(factor / x, factor / y if y else None, source)


def _from_description_unit(tiff: dict[str, Any], unit: str) -> Found | None:
    """XResolution with ResolutionUnit NONE, in pixels per the description's ``unit``."""
    factor = unit_to_um(unit)
    per_unit = _per_unit(tiff, "xresolution")
    if factor is None or per_unit is None or tiff.get("resolutionunit", 1) != 1:
        return None
    if any(math.isclose(per_unit, d) for d in _DEFAULT_PER_UNIT):
        logger.debug("XResolution %g per %s is a writer's default; not taken", per_unit, unit)
        return None
    return _resolution_sizes(tiff, factor, "json")


def _from_imagej(tiff: dict[str, Any]) -> Found | None:
    """Pixel size from XResolution + the ImageJ ``unit``."""
    imagej = tiff.get("imagej") or {}
    if not imagej.get("unit"):
        return None
    factor = unit_to_um(str(imagej["unit"]))
    if factor is None:
        logger.debug("ImageJ unit %r is not a length; pixel size not taken", imagej["unit"])
        return None
    return _resolution_sizes(tiff, factor, "imagej")


def _from_resolution(tiff: dict[str, Any]) -> Found | None:
    """Pixel size from XResolution with a length ResolutionUnit (not a print setting)."""
    per_unit = _per_unit(tiff, "xresolution")
    # TIFF ResolutionUnit: 1 none, 2 inch, 3 cm; 4 mm and 5 µm are tifffile extensions.
    unit = tiff.get("resolutionunit", 1)
    factor = {2: 25400.0, 3: 1e4, 4: 1e3, 5: 1.0}.get(unit)
    if per_unit is None or factor is None:
        return None
    if unit == 2 and per_unit <= _PRINT_DPI_MAX and math.isclose(per_unit, round(per_unit)):
        logger.debug("TIFF resolution %g dpi is a print or screen setting; ignored", per_unit)
        return None
    found = _resolution_sizes(tiff, factor, "tiff-resolution")
    if found is not None and found[0] >= _PLAUSIBLE_TIFF_RESOLUTION_UM:
        logger.debug("TIFF resolution %.4g px/unit (%.4g µm per pixel) looks like a print "
                     "setting; ignored", per_unit, found[0])
        return None
    return found


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _from_jeol(text: str, image_width: int | None) -> tuple[float | None, dict[str, Any]]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if parts and parts[0].startswith("$"):
            fields[parts[0].upper()] = parts[1].strip() if len(parts) > 1 else ""
    meta: dict[str, Any] = {"vendor": "JEOL"}
    if fields.get("$CM_INSTRUMENT"):
        meta["instrument"] = fields["$CM_INSTRUMENT"]
    if fields.get("$CM_MAG"):
        meta["magnification"] = fields["$CM_MAG"]
    for key in ("$CM_PIXEL_SIZE", "$$SM_PIXEL_SIZE"):
        value = parse_length_um(fields.get(key, ""))
        if _valid(value):
            return value, meta
    try:
        bar_px = float(fields["$$SM_MICRON_BAR"])
    except (KeyError, ValueError):
        return None, meta
    bar_um = parse_length_um(fields.get("$$SM_MICRON_MARKER", ""))
    if not _valid(bar_um) or bar_px <= 0:
        return None, meta
    value = bar_um / bar_px
    try:
        full_width = float(fields["$CM_FULL_SIZE"].split()[0])
    except (KeyError, ValueError, IndexError):
        full_width = None
    if full_width and image_width and full_width != image_width:
        value *= full_width / image_width  # the bar is measured on the full-size frame
    return value, meta


def _from_hitachi(text: str) -> tuple[float | None, dict[str, Any]]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    meta: dict[str, Any] = {"vendor": "Hitachi"}
    if fields.get("InstructName"):
        meta["instrument"] = fields["InstructName"]
    if fields.get("Magnification"):
        meta["magnification"] = fields["Magnification"]
    try:
        return float(fields["PixelSize"]) * 1e-3, meta  # Hitachi writes nm
    except (KeyError, ValueError):
        return None, meta


def sidecar_path(path: Path) -> Path | None:
    """Return the ``.txt`` sidecar beside ``path`` (same stem, any case), or None."""
    for suffix in (".txt", ".TXT"):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _from_sidecar(path: Path, image_width: int | None) -> tuple[float | None, dict[str, Any]]:
    side = sidecar_path(path)
    if side is None:
        return None, {}
    try:
        text = _read_text(side)
    except OSError as exc:
        logger.warning("%s: cannot read sidecar: %s", side, exc)
        return None, {}
    if re.search(r"^\s*\$", text, flags=re.MULTILINE):
        value, meta = _from_jeol(text, image_width)
    elif re.search(r"^\s*PixelSize\s*=", text, flags=re.MULTILINE):
        value, meta = _from_hitachi(text)
    else:
        logger.debug("%s: neither a JEOL nor a Hitachi sidecar", side)
        return None, {}
    meta["sidecar"] = str(side)
    return value, meta


def _from_tiff(raw: RawImage) -> Found | None:
    """OME, JSON, ImageJ and TIFF-resolution sources, in that order."""
    tiff = raw.tiff
    description = tiff.get("description") or ""
    if "<OME" in description[:4096]:
        found = _from_ome(description)
        if found is not None:
            return found
    stack = raw.axes.startswith("Z")
    for obj in _json_descriptions(tiff):
        shape = obj.get("shape")
        # a scalar spacing is in-plane only for a 2D image stored as 2D (not a 1-slice stack)
        flat = not stack and (not isinstance(shape, list) or len(shape) == raw.data.ndim)
        found = _from_json(obj, scalar_spacing=flat)
        unit = _unit_beside(obj, "")
        if found is None and unit is not None:
            found = _from_description_unit(tiff, unit)
        if found is not None:
            return found
    return _from_imagej(tiff) or _from_resolution(tiff)


def find_pixel_size(raw: RawImage) -> tuple[float | None, str, dict[str, Any]]:
    """Return ``(pixel_size_um, source, metadata)`` for a file read by :func:`read_raw`.

    ``source`` is ``"fei"``, ``"zeiss"``, ``"ome"``, ``"json"``, ``"imagej"``,
    ``"tiff-resolution"``, ``"sidecar"`` or ``"unknown"`` (then ``pixel_size_um`` is None),
    tried in that order (see the module docstring for the keys read). ``metadata`` holds the
    instrument strings found on the way, whichever source gave the pixel size, and
    ``pixel_size_y_um`` when the pixels are not square.

    Warns
    -----
    UserWarning
        When the pixels are not square: the width is the pixel size.
    """
    metadata: dict[str, Any] = {}
    found: Found | None = None
    tiff = raw.tiff
    if tiff.get("fei"):
        found, meta = _from_fei(tiff["fei"])
        metadata.update(meta)
    if found is None and tiff.get("zeiss"):
        found, meta = _from_zeiss(tiff["zeiss"])
        metadata.update(meta)
    if found is None and tiff:
        found = _from_tiff(raw)
    width = raw.data.shape[-2] if raw.axes.endswith("S") else raw.data.shape[-1]
    value, meta = _from_sidecar(raw.path, int(width))
    for key, item in meta.items():
        metadata.setdefault(key, item)
    if found is None and _valid(value):
        found = _found(value, None, "sidecar")
    if found is None:
        return None, "unknown", metadata
    x, y, source = found
    if y is not None and not math.isclose(x, y, rel_tol=_SQUARE_RTOL):
        metadata["pixel_size_y_um"] = y
        warnings.warn(f"{raw.path}: pixels are not square ({x:.6g} µm wide, {y:.6g} µm high, "
                      f"from {source} metadata); the width is taken as the pixel size",
                      UserWarning, stacklevel=3)
    logger.debug("%s: pixel size %.6g µm from %s", raw.path, x, source)
    return x, source, metadata
