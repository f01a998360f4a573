"""Damaged .ang and .ctf files: the readers return a valid EBSDMap or raise FileFormatError /
InputError — never another exception (property-based, hypothesis)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microseg._util import FileFormatError, InputError
from microseg.io import EBSDMap, Phase, read_ebsd, write_ebsd

JUNK = ["", "abc", "nan", "-inf", "1e999", "-1", "0", "2", "99", "4.5", "12.566371", "1,5",
        "\x00", "ü", "# Phase 2", "1e308", "-0"]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _base_files() -> dict[str, bytes]:
    rng = np.random.default_rng(11)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, grid in ((".ang", "square"), (".ang", "hexagonal"), (".ctf", "square")):
            shape = (4, 3)
            q = rng.normal(size=shape + (4,))
            q /= np.linalg.norm(q, axis=-1, keepdims=True)
            ids = rng.integers(1, 3, shape).astype(np.int32)
            ids[0, -1] = -1
            q[ids < 0] = (1, 0, 0, 0)
            phases = {1: Phase(1, "Ni", "m-3m"), 2: Phase(2, "Ti", "6/mmm")}
            m = EBSDMap(q, ids, phases, 0.5, grid=grid,
                        quality={"ci": np.where(ids > 0, 0.5, -1).astype(np.float32)})
            path = Path(tmp) / f"{grid}{suffix}"
            write_ebsd(path, m)
            out[f"{grid}{suffix}"] = path.read_bytes()
    return out


BASES = _base_files()


def _check(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"damaged{suffix}"
        path.write_bytes(data)
        try:
            result = read_ebsd(path)
        except (FileFormatError, InputError) as exc:
            assert str(path) in str(exc)
            return
        assert isinstance(result, EBSDMap)
        assert result.rotations.shape == result.shape + (4,)
        assert np.all(np.isfinite(result.rotations))
        np.testing.assert_allclose(np.linalg.norm(result.rotations, axis=-1), 1.0, atol=1e-6)


@st.composite
def damaged(draw):
    name = draw(st.sampled_from(sorted(BASES)))
    lines = BASES[name].decode().splitlines(keepends=True)
    kind = draw(st.sampled_from(["truncate", "delete", "duplicate", "junk", "swap"]))
    if kind == "truncate":
        raw = BASES[name]
        return name, raw[:draw(st.integers(0, len(raw) - 1))]
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        sep = "\t" if "\t" in lines[i] else " "
        fields = lines[i].rstrip("\n").split(sep)
        k = draw(st.integers(0, len(fields) - 1))
        fields[k] = draw(st.sampled_from(JUNK))
        lines[i] = sep.join(fields) + "\n"
    return name, "".join(lines).encode()


@SETTINGS
@given(damaged())
def test_damaged_files_give_map_or_file_format_error(case):
    name, data = case
    _check(data, Path(name).suffix)


@SETTINGS
@given(st.binary(min_size=0, max_size=300), st.sampled_from([".ang", ".ctf"]))
def test_random_bytes(data, suffix):
    _check(data, suffix)


@pytest.mark.parametrize("name", sorted(BASES))
def test_undamaged_bases_read(name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"ok{Path(name).suffix}"
        path.write_bytes(BASES[name])
        assert read_ebsd(path).shape == (4, 3)
