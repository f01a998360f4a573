"""Extension dispatch: every reader is registered, and an extension microseg does not read
gets one line naming the formats it reads and, where one exists, the converter to use."""
from __future__ import annotations

import re

import numpy as np
import pytest

from microseg._util import FileFormatError, InputError
from microseg.io import EBSDMap, Phase, read_ebsd, write_ebsd
from microseg.io.ebsd import CONVERTERS, EBSD_READERS, EBSD_WRITERS, read_cpr, write_cpr

READ = (".ang", ".ctf", ".cpr", ".crc", ".h5oina", ".h5")


def test_registries():
    assert tuple(EBSD_READERS) == READ
    assert EBSD_READERS[".cpr"] is EBSD_READERS[".crc"] is read_cpr
    assert EBSD_WRITERS[".cpr"] is EBSD_WRITERS[".crc"] is write_cpr
    assert not set(CONVERTERS) & set(EBSD_READERS)


@pytest.mark.parametrize(("suffix", "hint"), [
    (".osc", r"\.osc is an EDAX OIM binary scan: export it as \.ang from OIM Analysis"),
    (".OSC", r"\.osc is an EDAX OIM binary scan"),
    (".h5ebsd", r"\.h5ebsd is HDF5 EBSD .*: load it with orix \(orix\.io\.load\) or kikuchipy "
                r"and save the map as \.ang \(orix\.io\.save\)"),
    (".bcf", r"\.bcf is a Bruker Esprit project: export the map as \.ctf from Esprit"),
    (".edaxh5", r"export the scan as \.ang"),
    (".oip", r"\.oip is an Oxford AZtec project: export the map as \.h5oina or \.ctf"),
])
def test_unknown_extension_names_formats_and_converter(tmp_path, suffix, hint):
    path = tmp_path / f"scan{suffix}"
    path.write_bytes(b"\x00data")
    with pytest.raises(FileFormatError) as info:
        read_ebsd(path)
    message = str(info.value)
    assert message.startswith(f"{path}: unknown EBSD format '{suffix.lower()}'; supported: ")
    assert "\n" not in message
    for ext, name in ((".ang", "EDAX/TSL"), (".ctf", "Oxford text"),
                      (".cpr/.crc", "Oxford Channel 5"), (".h5oina", "Oxford AZtec"),
                      (".h5", "EDAX OIM")):
        assert f"{ext} ({name}" in message
    assert re.search(hint, message)


@pytest.mark.parametrize("name", ["scan.xyz", "scan"])
def test_extension_without_converter_lists_formats_only(tmp_path, name):
    with pytest.raises(FileFormatError, match=r"unknown EBSD format .*; supported: .ang \(EDAX"
                                              r"/TSL text\), .*\(EDAX OIM HDF5\)$"):
        read_ebsd(tmp_path / name)


def test_write_unknown_extension(tmp_path):
    m = EBSDMap(np.tile([1.0, 0, 0, 0], (2, 2, 1)), np.ones((2, 2), np.int32),
                {1: Phase(1, "Ni", "m-3m")}, 0.5)
    with pytest.raises(InputError, match=r"cannot write EBSD format '.osc'; writable: .ang, .ctf, "
                                         r".cpr, .crc"):
        write_ebsd(tmp_path / "m.osc", m)


def test_formats_are_one_registry_with_writer_capability(tmp_path):
    from microseg._registry import Registry
    from microseg.io.ebsd import FORMAT_NAMES, read_ang, write_ang

    assert isinstance(EBSD_READERS, Registry)
    assert EBSD_READERS.describe(".ang") == {
        "name": ".ang", "description": "EDAX/TSL text", "capabilities": {"writer": write_ang},
        "options": {"phase_names": None}, "required": []}
    assert EBSD_READERS.available(writer=None) == [".h5oina", ".h5"]
    assert tuple(EBSD_WRITERS) == (".ang", ".ctf", ".cpr", ".crc")
    assert FORMAT_NAMES[".h5oina"] == "Oxford AZtec HDF5" and EBSD_READERS.get(".ANG") is read_ang
    m = EBSDMap(np.tile([1.0, 0, 0, 0], (2, 3, 1)), np.ones((2, 3), np.int32),
                {1: Phase(1, "Nickel", "m-3m")}, 0.5)
    write_ebsd(tmp_path / "scan.ang", m)
    (tmp_path / "scan.ang").rename(tmp_path / "SCAN.ANG")
    assert read_ebsd(tmp_path / "SCAN.ANG", phase_names=["Ni"]).phases[1].name == "Ni"
