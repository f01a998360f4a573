"""The infer section of a run configuration: only keys that something reads."""
from __future__ import annotations

import dataclasses

import pytest

from microseg._util import InputError
from microseg.infer.config import InferConfig


def test_keys_are_the_ones_read():
    assert [f.name for f in dataclasses.fields(InferConfig)] == [
        "threshold", "ensemble_threshold", "tile", "overlap", "batch", "tta", "precision", "backend"]
    assert set(InferConfig.REMOVED) == {"ensemble"}
    InferConfig().check()
    InferConfig(threshold=0.0, ensemble_threshold=2.5).check()  # a sum of 3 models may pass 1


@pytest.mark.parametrize("changes, match", [
    ({"threshold": 1.5}, r"infer.threshold must be in \[0, 1\]"),
    ({"ensemble_threshold": 0.0}, "infer.ensemble_threshold must be > 0"),
    ({"tile": -1}, "infer.tile must be 'auto', 0"),
    ({"tile": "big"}, "infer.tile must be 'auto', 0"),
    ({"overlap": -0.5}, "infer.overlap"),
    ({"batch": 0}, "infer.batch"),
    ({"tta": "rotate"}, "infer.tta"),
    ({"precision": "int8"}, "infer.precision"),
    ({"backend": "tensorrt"}, "infer.backend"),
])
def test_bad_values_name_the_key(changes, match):
    with pytest.raises(InputError, match=match):
        InferConfig(**changes).check()
