"""The grains section of a run configuration: defaults of the library, checked values."""
from __future__ import annotations

import pytest

from microseg._util import InputError
from microseg.grains import CLOSE_GAPS, GrainsConfig


def test_defaults_keep_every_grain_and_close_gaps_by_merging():
    g = GrainsConfig()
    g.check()
    assert (g.min_diameter_um, g.exclude_border, g.close_gaps, g.merge_threshold) == (0.0, True, "merge", None)
    for method in CLOSE_GAPS:
        GrainsConfig(close_gaps=method).check()


@pytest.mark.parametrize("changes, match", [
    ({"close_gaps": "watershd"}, "unknown grains.close_gaps 'watershd'.*did you mean 'watershed'"),
    ({"min_diameter_um": -0.4}, "grains.min_diameter_um must be >= 0"),
    ({"merge_threshold": -0.1}, "grains.merge_threshold must be >= 0 or null"),
])
def test_bad_values_name_the_key(changes, match):
    with pytest.raises(InputError, match=match):
        GrainsConfig(**changes).check()
