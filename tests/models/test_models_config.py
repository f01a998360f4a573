"""The model section of a run configuration."""
from __future__ import annotations

import pytest

from microseg._util import InputError
from microseg.models import ModelConfig


@pytest.mark.parametrize("changes, match", [
    ({"in_channels": 0}, "model.in_channels must be an integer >= 1"),
    ({"classes": 1.5}, "model.classes must be an integer >= 1"),
    ({"arch": ""}, "model.arch must be an architecture name"),
])
def test_bad_values_name_the_key(changes, match):
    ModelConfig().check()
    with pytest.raises(InputError, match=match):
        ModelConfig(**changes).check()
