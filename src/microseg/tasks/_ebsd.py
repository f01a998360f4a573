"""``microseg ebsd``: an EBSD map → clean-up → boundary classes → grains, summary and IPF map."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microseg._util import InputError
from microseg.ebsd.analysis import EBSDAnalysis, analyse_ebsd
from microseg.io import EBSDMap
from microseg.tasks._base import TaskResult, Writer, check_outputs

log = logging.getLogger(__name__)

__all__ = ["EbsdResult", "OUTPUTS", "ebsd", "parse_quality"]

#: The files :meth:`EbsdResult.write` creates.
OUTPUTS = ("summary.json", "grains.csv", "ebsd.png")


@dataclass(frozen=True)
class EbsdResult(TaskResult):
    """What :func:`ebsd` found: the :class:`~microseg.ebsd.analysis.EBSDAnalysis` and its views.

    ``ebsd`` is the map after clean-up, ``edges`` its boundary classes, ``grains`` the grain
    ids (Y, X), ``table`` the per-grain columns as written to ``grains.csv``, ``summary``
    what ``summary.json`` holds and ``text`` what the command prints.
    """

    analysis: EBSDAnalysis

    @property
    def ebsd(self) -> EBSDMap:
        return self.analysis.ebsd

    @property
    def edges(self) -> Any:
        return self.analysis.edges

    @property
    def grains(self) -> np.ndarray:
        return self.analysis.grains

    @property
    def summary(self) -> dict[str, Any]:
        return self.analysis.summary

    @property
    def table(self) -> dict[str, np.ndarray]:
        """The 1D per-grain columns, the mean orientation as ``mean_orientation_q0`` ... ``q3``."""
        table = {k: v for k, v in self.analysis.table.items() if np.ndim(v) == 1}
        q = np.asarray(self.analysis.table["mean_orientation"])
        for i, name in enumerate(("q0", "q1", "q2", "q3")):
            table[f"mean_orientation_{name}"] = q[:, i] if len(q) else np.zeros(0)
        return table

    @property
    def text(self) -> str:
        from microseg.report.ebsd_report import summary_text

        return summary_text(self.summary)

    def files(self) -> list[tuple[str, Writer]]:
        from microseg.grains import write_grain_table
        from microseg.io import write_json
        from microseg.report.ebsd_report import plot_ebsd_summary
        from microseg.report.figures import save_figure

        return [("summary.json", lambda p: write_json(p, self.summary, force=True)),
                ("grains.csv", lambda p: write_grain_table(p, self.table, force=True)),
                ("ebsd.png", lambda p: save_figure(plot_ebsd_summary(self.analysis), p, force=True))]


def parse_quality(items: Mapping[str, float] | Iterable[str] | None, *,
                  what: str = "min_quality") -> dict[str, float] | None:
    """Quality thresholds as ``{field: value}``: ``["ci=0.1", "iq=500"]`` (the CLI's form)
    or a mapping; field names in lower case.

    >>> parse_quality(["CI=0.1", "iq=500"], what="--min-quality")
    {'ci': 0.1, 'iq': 500.0}
    >>> parse_quality({"mad": 1})
    {'mad': 1.0}
    """
    if not items:
        return None
    if isinstance(items, str):
        items = [items]
    pairs = items.items() if isinstance(items, Mapping) else (_split(item, what) for item in items)
    out: dict[str, float] = {}
    for name, value in pairs:
        try:
            out[str(name).strip().lower()] = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{what}: the value of {name!r} must be a number, got {value!r}") from None
    return out


def _split(item: Any, what: str) -> tuple[str, str]:
    name, sep, value = str(item).partition("=")
    if not sep or not name.strip():
        raise InputError(f"{what}: expected FIELD=VALUE such as ci=0.1, got {item!r}")
    try:
        float(value)
    except ValueError:
        raise InputError(f"{what}: expected FIELD=VALUE such as ci=0.1, got {item!r}") from None
    return name, value


def ebsd(ebsd_map: EBSDMap | str | os.PathLike, *, min_grain_size: int = 5,
         min_quality: Mapping[str, float] | Iterable[str] | None = None,
         max_quality: Mapping[str, float] | Iterable[str] | None = None, fill: bool = False,
         max_hole: int = 50, merge_phases: bool = False, lagb: float = 2.0, hagb: float = 15.0,
         csl: Iterable[str] = ("3",), output: str | os.PathLike | None = None, force: bool = False,
         progress: bool = False) -> EbsdResult:
    """Clean an EBSD map as asked, classify its boundaries, reconstruct its grains, summarise.

    Parameters
    ----------
    ebsd_map : EBSDMap or path
        The map, or a file :func:`microseg.io.read_ebsd` reads (.ang, .ctf, .cpr/.crc,
        .h5oina, EDAX .h5).
    min_grain_size : int
        Smallest grain in EBSD points.
    min_quality, max_quality : mapping or list of "FIELD=VALUE", optional
        Points below / above become non-indexed, e.g. ``{"ci": 0.1}`` or ``["mad=1.0"]``.
    fill : bool
        Fill non-indexed holes of at most ``max_hole`` points from their neighbours.
    merge_phases : bool
        Treat phases with the same point group as one (γ and γ′).
    lagb, hagb : float
        Smallest boundary angle and the high-angle threshold, degrees.
    csl : iterable of str
        CSL boundaries to classify (Brandon criterion; cubic phases only).
    output : path, optional
        Folder to write ``summary.json``, ``grains.csv`` and ``ebsd.png`` to (checked first).
    force : bool
        Overwrite existing outputs.
    progress : bool
        Accepted like every task's (this one has no long loop to show).

    Examples
    --------
    >>> from microseg import synth, tasks
    >>> poly = synth.make_polycrystal((48, 48), mean_diameter_px=16, twin_fraction=0.0, seed=1)
    >>> result = tasks.ebsd(synth.make_ebsd_map(poly, step_px=1.0, seed=1), min_grain_size=1)
    >>> result.summary["n_grains"] > 0, sorted(result.output_names())
    (True, ['ebsd.png', 'grains.csv', 'summary.json'])
    """
    min_quality = parse_quality(min_quality, what="min_quality")   # bad options fail first
    max_quality = parse_quality(max_quality, what="max_quality")
    if output is not None:
        check_outputs(output, OUTPUTS, force=force)
    if isinstance(ebsd_map, EBSDMap):
        m = ebsd_map
    else:
        from microseg.io import read_ebsd

        m = read_ebsd(ebsd_map)
    analysis = analyse_ebsd(m, min_quality=min_quality, max_quality=max_quality, fill=fill,
                            max_hole=max_hole, merge_phases=merge_phases, lagb=lagb, hagb=hagb,
                            csl=tuple(csl), min_grain_size=min_grain_size)
    result = EbsdResult(analysis)
    if output is not None:
        result.write(output, force=force)
        log.info("wrote %s/ (%s)", Path(output), ", ".join(OUTPUTS))
    return result
