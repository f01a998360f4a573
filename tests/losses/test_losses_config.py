"""The loss section of a run configuration."""
from __future__ import annotations

import pytest

from microseg._util import InputError
from microseg.losses import LossConfig


def test_unset_weights_are_allowed():
    LossConfig().check()
    LossConfig(pos_weight=None, topo_lambda=None).check()
    LossConfig(topo_lambda=0.0).check()


@pytest.mark.parametrize("changes, match", [
    ({"pos_weight": 0.0}, "loss.pos_weight must be > 0 or null"),
    ({"topo_lambda": -0.04}, "loss.topo_lambda must be >= 0 or null"),
])
def test_bad_values_name_the_key(changes, match):
    with pytest.raises(InputError, match=match):
        LossConfig(**changes).check()
