from __future__ import annotations

import pytest

from microseg._util import InputError, OutputExistsError, atomic_path, look_up_option, write_text_atomic


def test_look_up_option_suggests_nearest():
    assert look_up_option("otsu", ["otsu", "sauvola"]) == "otsu"
    assert look_up_option("OTSU", ["otsu", "sauvola"]) == "otsu"
    with pytest.raises(InputError, match="did you mean 'sauvola'"):
        look_up_option("sauvolla", ["otsu", "sauvola"], what="method")


def test_atomic_write_refuses_overwrite_and_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "one")
    with pytest.raises(OutputExistsError, match="out.txt.*--force"):
        write_text_atomic(target, "two")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError):
        with atomic_path(target, force=True) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("interrupted")
    assert target.read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    write_text_atomic(target, "three", force=True)
    assert target.read_text() == "three"


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, microseg, microseg.io; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
