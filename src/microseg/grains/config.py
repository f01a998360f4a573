"""The ``grains`` section of a run configuration (composed by :mod:`microseg.config`).

The defaults are those of :func:`microseg.grains.analyse_grains` and of the CLI's
``microseg grains`` (which reads them from :class:`GrainsConfig`), so a run without a
``grains`` section measures grains as the command does.

Examples
--------
>>> GrainsConfig().min_diameter_um, GrainsConfig().close_gaps
(0.0, 'merge')
>>> GrainsConfig(close_gaps="watershd").check()
Traceback (most recent call last):
...
microseg._util.InputError: unknown grains.close_gaps 'watershd'; valid: none, watershed, hysteresis, merge. did you mean 'watershed'?
"""
from __future__ import annotations

from dataclasses import dataclass

from microseg._util import InputError, look_up_option
from microseg.grains.label import CLOSE_GAPS


@dataclass(frozen=True)
class GrainsConfig:
    """Grain analysis of predicted maps (:func:`microseg.grains.analyse_grains`).

    ``min_diameter_um``: smallest grain kept, as equivalent circle diameter in µm; it
    applies only where the map has a pixel size (a length in µm means nothing on a map
    in px). The default 0 keeps every grain; seed 000 measured with 0.4 µm
    (``configs/unetpp_columns.yaml``). ``exclude_border``: drop grains cut by the image
    edge. ``close_gaps``: how open boundaries become closed grains (:data:`CLOSE_GAPS`);
    ``merge_threshold``: for ``merge``, ``None`` takes the library's default.
    """

    min_diameter_um: float = 0.0
    exclude_border: bool = True
    close_gaps: str = "merge"
    merge_threshold: float | None = None

    def check(self) -> None:
        """Raise :class:`~microseg._util.InputError` naming ``grains.<key>`` for a bad value."""
        look_up_option(self.close_gaps, CLOSE_GAPS, what="grains.close_gaps")
        if not self.min_diameter_um >= 0:
            raise InputError(f"grains.min_diameter_um must be >= 0 (0 keeps every grain); got {self.min_diameter_um}")
        if self.merge_threshold is not None and not self.merge_threshold >= 0:
            raise InputError(f"grains.merge_threshold must be >= 0 or null; got {self.merge_threshold}")
