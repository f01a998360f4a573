"""Finding the pixel size of a micrograph in vendor metadata, TIFF tags or a sidecar file.

Sources, in the order :func:`find_pixel_size` tries them (the first that gives a positive,
finite value wins):

1. ``"fei"`` — FEI/Thermo Fisher TIFF tag 34682 (``FEI_HELIOS``) or 34680 (``FEI_SFEG``):
   INI text, ``[Scan] PixelWidth=`` in metres.
2. ``"zeiss"`` — Zeiss ``CZ_SEM`` tag 34118: ``AP_IMAGE_PIXEL_SIZE`` (e.g.
   ``Image Pixel Size = 12.5 nm``) or ``AP_PIXEL_SIZE``; units pm, nm, µm/um, mm.
3. ``"imagej"`` — ``XResolution`` (pixels per unit) with the ImageJ ``unit=`` of the
   ImageDescription (``micron``, ``um``, ``µm``, ``\\u00B5m``, ``nm``, ``mm``, ``cm``).
4. ``"tiff-resolution"`` — a plain TIFF ``XResolution`` with ``ResolutionUnit`` centimetre
   (or tifffile's millimetre/micrometre), kept only when it gives less than 50 µm per pixel.
   Inch units (dots per inch) and "no unit" are print settings and are ignored, so a
   default 72-dpi TIFF has no pixel size.
5. ``"sidecar"`` — a ``.txt`` file with the image's stem, as JEOL and Hitachi write them:

   * JEOL: ``$$SM_MICRON_BAR <px>`` with ``$$SM_MICRON_MARKER <length><unit>`` (scale bar
     length in pixels and in µm/nm), scaled by ``$CM_FULL_SIZE <width> <height>`` when that
     width differs from the image's; or ``$CM_PIXEL_SIZE`` / ``$$SM_PIXEL_SIZE`` given with a
     unit. ``$CM_INSTRUMENT`` and ``$CM_MAG`` go to the metadata.
   * Hitachi: ``PixelSize=<nm>``; ``InstructName=`` and ``Magnification=`` go to the metadata.
"""
from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

from microseg.io._files import RawImage

logger = logging.getLogger(__name__)

#: Micrometres per unit, for every spelling met in vendor files.
UNITS_UM = {
    "pm": 1e-6, "nm": 1e-3, "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0,
    "mm": 1e3, "cm": 1e4, "m": 1e6,
}

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d.]+)\s*$")
_PLAUSIBLE_TIFF_RESOLUTION_UM = 50.0


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


def _from_fei(fei: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
    meta: dict[str, Any] = {"vendor": "FEI/Thermo Fisher"}
    system = fei.get("System", {})
    for key in ("SystemType", "Type", "Dnumber"):
        if system.get(key):
            meta["instrument"] = str(system[key]).strip()
            break
    hv = fei.get("Beam", {}).get("HV")
    if isinstance(hv, (int, float)):
        meta["accelerating_voltage_kv"] = float(hv) / 1000.0
    width = fei.get("Scan", {}).get("PixelWidth")
    value = parse_length_um(width, "m")
    return value, meta


def _from_zeiss(sem: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
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
                return value, meta
            logger.debug("Zeiss %s %r: no usable pixel size", key, entry)
    return None, meta


def _from_resolution(tiff: dict[str, Any]) -> tuple[float | None, str]:
    """Pixel size from XResolution + ImageJ unit or a metric ResolutionUnit."""
    xres = tiff.get("xresolution")
    if not xres or not xres[0] or not xres[1]:
        return None, ""
    per_unit = xres[0] / xres[1]  # pixels per unit
    if per_unit <= 0:
        return None, ""
    imagej = tiff.get("imagej") or {}
    if imagej.get("unit"):
        factor = unit_to_um(str(imagej["unit"]))
        if factor is None:
            logger.debug("ImageJ unit %r is not a length; pixel size not taken", imagej["unit"])
            return None, ""
        return factor / per_unit, "imagej"
    # TIFF ResolutionUnit: 1 none, 2 inch, 3 cm; 4 mm and 5 µm are tifffile extensions.
    factor = {3: 1e4, 4: 1e3, 5: 1.0}.get(tiff.get("resolutionunit", 1))
    if factor is None:
        return None, ""
    value = factor / per_unit
    if value >= _PLAUSIBLE_TIFF_RESOLUTION_UM:
        logger.debug("TIFF resolution %.4g px/unit (%.4g µm per pixel) looks like a print "
                     "setting; ignored", per_unit, value)
        return None, ""
    return value, "tiff-resolution"


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


def find_pixel_size(raw: RawImage) -> tuple[float | None, str, dict[str, Any]]:
    """Return ``(pixel_size_um, source, metadata)`` for a file read by :func:`read_raw`.

    ``source`` is ``"fei"``, ``"zeiss"``, ``"imagej"``, ``"tiff-resolution"``,
    ``"sidecar"`` or ``"unknown"`` (then ``pixel_size_um`` is None). ``metadata`` holds the
    instrument strings found on the way, whichever source gave the pixel size.
    """
    metadata: dict[str, Any] = {}
    found: tuple[float, str] | None = None
    tiff = raw.tiff
    if tiff.get("fei"):
        value, meta = _from_fei(tiff["fei"])
        metadata.update(meta)
        if _valid(value):
            found = (value, "fei")
    if found is None and tiff.get("zeiss"):
        value, meta = _from_zeiss(tiff["zeiss"])
        metadata.update(meta)
        if _valid(value):
            found = (value, "zeiss")
    if found is None and tiff:
        value, source = _from_resolution(tiff)
        if _valid(value):
            found = (value, source)
    width = raw.data.shape[-2] if raw.axes.endswith("S") else raw.data.shape[-1]
    value, meta = _from_sidecar(raw.path, int(width))
    for key, item in meta.items():
        metadata.setdefault(key, item)
    if found is None and _valid(value):
        found = (value, "sidecar")
    if found is None:
        return None, "unknown", metadata
    logger.debug("%s: pixel size %.6g µm from %s", raw.path, found[0], found[1])
    return found[0], found[1], metadata
