"""Landmark CSV reader: good files, damaged files (named errors), hypothesis fuzzing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microseg._util import FileFormatError, InputError
from microseg.register import Landmarks, estimate_transform, read_landmarks

GOOD = "id,x_um,y_um,col,row,note\nA,0,0,10,12,x\nB,5.5,0,110,12,\nC,0,5,10,112,y\n"


def write(tmp_path, text, name="points.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_columns_in_any_order_with_extras(tmp_path):
    p = write(tmp_path, " Row ,col, y_um ,x_um,name\n12,10,0,0,A\n\n# comment\n12,110,0,5.5,B\n")
    lm = read_landmarks(p)
    np.testing.assert_array_equal(lm.src_um, [[0, 0], [5.5, 0]])
    np.testing.assert_array_equal(lm.dst_px, [[10, 12], [110, 12]])
    assert lm.names == ("A", "B")


def test_default_names_and_bom(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffx_um,y_um,col,row\n0,0,1,1\n1,0,2,1\n".encode("utf-8"))
    lm = read_landmarks(p)
    assert lm.names == ("1", "2") and len(lm) == 2


def test_good_file_gives_transform(tmp_path):
    lm = read_landmarks(write(tmp_path, GOOD), min_pairs=3)
    t = estimate_transform(lm, kind="affine")
    np.testing.assert_allclose(t(lm.src_um), lm.dst_px, atol=1e-9)


@pytest.mark.parametrize("text, match", [
    ("x_um,y_um,col\n0,0,1\n", r"lacks column\(s\) row"),
    ("x_um,y_um,col,row\n0,zero,1,1\n1,1,1,1\n", r"line 2, column 'y_um': 'zero' is not a number"),
    ("x_um,y_um,col,row\n0,0,1,1\n1,1,nan,1\n", r"line 3, column 'col': 'nan' is not a finite"),
    ("x_um,y_um,col,row\n0,0,1\n", r"line 2: no value in column 'row'"),
    ("x_um,y_um,col,row\n0,0,1,1\n", r"1 landmark pair\(s\), at least 2 needed"),
    ("", "empty"),
])
def test_damaged_files_name_file_line_column(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(FileFormatError, match=match) as info:
        read_landmarks(p)
    assert str(p) in str(info.value)


def test_not_utf8(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(b"x_um,y_um,col,row\n\xff\xfe,0,0,0\n")
    with pytest.raises(FileFormatError, match="not UTF-8"):
        read_landmarks(p)


def test_landmarks_validation():
    with pytest.raises(InputError, match="non-finite"):
        Landmarks([[0, 0], [np.nan, 1]], [[0, 0], [1, 1]])
    with pytest.raises(InputError, match="same number"):
        Landmarks([[0, 0]], [[0, 0], [1, 1]])
    with pytest.raises(InputError, match=r"shape \(N, 2\)"):
        Landmarks([0, 0, 1], [0, 0, 1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_csv_never_crashes(tmp_path, data):
    raw = bytearray(GOOD.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        pos = data.draw(st.integers(0, len(raw) - 1))
        if op == "delete":
            del raw[pos]
        else:
            byte = data.draw(st.sampled_from(list(b",;\n\"x.-e9 \x00\xff") + [ord("a")]))
            if op == "insert":
                raw.insert(pos, byte)
            else:
                raw[pos] = byte
    p = tmp_path / "fuzz.csv"
    p.write_bytes(bytes(raw))
    try:
        lm = read_landmarks(p)
    except FileFormatError as exc:
        assert str(p) in str(exc)
    else:
        assert np.isfinite(lm.src_um).all() and np.isfinite(lm.dst_px).all()
        assert lm.src_um.shape == lm.dst_px.shape == (len(lm), 2) and len(lm) >= 2
