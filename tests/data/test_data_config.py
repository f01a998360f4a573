"""The data section of a run configuration: its checks name data.<key>."""
from __future__ import annotations

import pytest

from microseg._util import InputError
from microseg.data import DataConfig


def test_defaults_are_valid_and_lists_become_tuples():
    DataConfig().check()
    assert DataConfig(positive=[1, 2]).positive == (1, 2)


@pytest.mark.parametrize("changes, match", [
    ({"split": "colums"}, "unknown data.split 'colums'.*did you mean 'columns'"),
    ({"target": "phases"}, "unknown data.target 'phases'.*did you mean 'phase'"),
    ({"label_width": 2}, "data.label_width must be an odd number"),
    ({"min_valid": 1.5}, r"data.min_valid must be in \[0, 1\]"),
    ({"val_fraction": 1.0}, r"data.val_fraction must be in \[0, 1\)"),
    ({"patch": 4}, "data.patch and data.chip must be >= 8 px"),
    ({"noise": -0.1}, "data.noise must be >= 0"),
    ({"positive": 1, "mask_threshold": 128}, "exclude each other"),
])
def test_bad_values_name_the_key(changes, match):
    with pytest.raises(InputError, match=match):
        DataConfig(**changes).check()
