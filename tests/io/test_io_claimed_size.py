"""A TIFF whose header claims more data than the file holds is refused before any pixel is read."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

from microseg._util import FileFormatError
from microseg.io import read_image, read_labels, read_prob, read_stack
from microseg.io._files import check_claimed_size
from microseg.io.lazy import open_image


def crafted(path: Path, width: int, height: int, **kwargs) -> Path:
    """A small TIFF whose ImageWidth/ImageLength tags were patched to ``width`` x ``height``."""
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8), **kwargs)
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        where = [(tags[name].valueoffset, int(tags[name].dtype)) for name in ("ImageWidth", "ImageLength")]
    with open(path, "r+b") as fh:
        for (offset, dtype), value in zip(where, (width, height)):
            fh.seek(offset)
            fh.write(struct.pack("<I" if dtype == 4 else "<H", value))
    return path


@pytest.mark.parametrize("reader", [read_image, open_image, read_prob, read_labels])
def test_uncompressed_claim_past_the_end_is_refused(tmp_path: Path, reader, caplog) -> None:
    path = crafted(tmp_path / "huge.tif", 100000, 90000)
    kwargs = {"pixel_size": 1.0} if reader in (read_image, open_image) else {}
    with pytest.raises(FileFormatError) as info:
        reader(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "90000 x 100000" in message and "uncompressed" in message and "file holds" in message


def test_compressed_absurd_claim_is_refused(tmp_path: Path, caplog) -> None:
    path = crafted(tmp_path / "zip.tif", 100000, 100000, compression="zlib")
    for reader in (read_image, open_image):
        with pytest.raises(FileFormatError, match=r"zip\.tif: .*compressed 100000 x 100000 uint8 .*over 1000x"):
            reader(path, pixel_size=1.0)


def test_stack_claim_is_refused(tmp_path: Path, caplog) -> None:
    path = crafted(tmp_path / "stack.tif", 50000, 50000)
    with pytest.raises(FileFormatError, match="stack.tif"):
        read_stack(path, pixel_size=1.0)


def test_honest_files_pass(tmp_path: Path) -> None:
    path = tmp_path / "ok.tif"
    data = np.random.default_rng(0).integers(0, 255, (300, 200), dtype=np.uint8)
    tifffile.imwrite(path, data, compression="zlib")
    with tifffile.TiffFile(path) as tif:
        check_claimed_size(path, [tif.series[0]])          # no error
    np.testing.assert_array_equal(read_image(path, pixel_size=1.0).data, data)
    zeros = tmp_path / "zeros.tif"                        # compresses > 1000x, but a small claim
    tifffile.imwrite(zeros, np.zeros((3000, 3000), np.uint8), compression="zlib")
    assert read_image(zeros, pixel_size=1.0).shape == (3000, 3000)
