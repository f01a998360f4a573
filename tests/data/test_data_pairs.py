"""Pairing images with masks: suffixes, same names in two folders, CSV lists, and what did not pair."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microseg._util import InputError
from microseg.data import find_pairs, load_pair_list, load_samples, read_pair_list
from microseg.io import MissingFileError
from microseg.config import load_config


def _write(folder, names, *, value=255, shape=(8, 8)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        data = np.zeros(shape, np.uint8)
        data[: shape[0] // 2] = value
        tifffile.imwrite(folder / name, data)


def _pairs(pairs):
    return [(i.name, m.name) for i, m in pairs]


def test_suffixes_pair_x_sem_with_x_th(tmp_path):
    _write(tmp_path / "img", ["a_sem.tif", "b_sem.tif"])
    _write(tmp_path / "msk", ["a_th.tif", "b_th.tif"])
    got = find_pairs(tmp_path / "img", tmp_path / "msk", image_suffix="_sem", mask_suffix="_th")
    assert _pairs(got) == [("a_sem.tif", "a_th.tif"), ("b_sem.tif", "b_th.tif")]
    samples = load_samples(f"{tmp_path / 'img'}:{tmp_path / 'msk'}", image_suffix="_sem", mask_suffix="_th",
                           positive="nonzero")
    assert [s.name for s in samples] == ["a_sem", "b_sem"] and samples[0].mask.sum() == 32


def test_images_and_masks_in_one_folder(tmp_path):
    _write(tmp_path / "both", ["a_sem.tif", "a_th.tif", "b_sem.tif", "b_th.tif"])
    got = find_pairs(tmp_path / "both", tmp_path / "both", image_suffix="_sem", mask_suffix="_th")
    assert _pairs(got) == [("a_sem.tif", "a_th.tif"), ("b_sem.tif", "b_th.tif")]
    _write(tmp_path / "plain", ["a.tif", "a_mask.tif"])
    assert _pairs(find_pairs(tmp_path / "plain", tmp_path / "plain")) == [("a.tif", "a_mask.tif")]
    with pytest.raises(InputError, match="one folder need a mask_suffix or an image_suffix"):
        find_pairs(tmp_path / "plain", tmp_path / "plain", mask_suffix="")


def test_same_name_in_a_masks_folder_pairs_by_default(tmp_path):
    _write(tmp_path / "images", ["a.tif", "b10.tif", "b2.tif"])
    _write(tmp_path / "masks", ["a.tif", "b10.tif", "b2.tif"])
    got = find_pairs(tmp_path / "images", tmp_path / "masks")
    assert _pairs(got) == [("a.tif", "a.tif"), ("b2.tif", "b2.tif"), ("b10.tif", "b10.tif")]
    assert all(i.parent.name == "images" and m.parent.name == "masks" for i, m in got)
    # <stem>_mask wins over the same name; an explicit mask_suffix takes only that
    _write(tmp_path / "masks", ["a_mask.tif"], value=1)
    assert find_pairs(tmp_path / "images", tmp_path / "masks")[0][1].name == "a_mask.tif"
    with pytest.raises(MissingFileError, match=r"b2.tif: no mask for this image; .*2 of 3 images have no mask: "
                                               r"b2.tif, b10.tif.*did you mean image_suffix='', mask_suffix=''"):
        find_pairs(tmp_path / "images", tmp_path / "masks", mask_suffix="_mask")


def test_errors_name_what_did_not_pair_and_guess_the_suffixes(tmp_path):
    _write(tmp_path / "img", ["x1_sem.tif", "x2_sem.tif", "x3_sem.tif"])
    _write(tmp_path / "msk", ["x1_th.tif", "x2_th.tif", "x3_th.tif", "x3_mask.tif"])
    with pytest.raises(MissingFileError) as info:
        find_pairs(tmp_path / "img", tmp_path / "msk")
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'img' / 'x1_sem.tif'}: no mask for this image; looked for ")
    assert "x1_sem_mask.* or " in text and "(mask_suffix=None: ['_mask', ''], image_suffix='')" in text
    assert "3 of 3 images have no mask: x1_sem.tif, x2_sem.tif, x3_sem.tif" in text
    assert "masks that pair with no image: x1_th.tif, x2_th.tif, x3_mask.tif, x3_th.tif" in text
    assert "did you mean image_suffix='_sem', mask_suffix='_th'?" in text
    assert "data.mask_suffix, data.image_suffix" in text and "CSV with the columns image,mask" in text
    assert len(find_pairs(tmp_path / "img", tmp_path / "msk", image_suffix="_sem", mask_suffix="_th")) == 3


def test_csv_pair_list_relative_to_the_csv(tmp_path):
    _write(tmp_path / "data" / "sem", ["one.tif", "two.tif"])
    _write(tmp_path / "data" / "labels", ["1.tif", "2.tif"], value=1)
    csv = tmp_path / "data" / "pairs.csv"
    csv.write_text("\ufeffImage, Mask ,note\nsem/one.tif,labels/1.tif,first\n\nsem/two.tif,labels/2.tif,\n",
                   encoding="utf-8")
    assert _pairs(read_pair_list(csv)) == [("one.tif", "1.tif"), ("two.tif", "2.tif")]
    samples = load_pair_list(csv, positive=1)
    assert [s.name for s in samples] == ["one", "two"] and all(s.mask.sum() == 32 for s in samples)
    assert [s.name for s in load_samples(csv, positive=1)] == ["one", "two"]
    cfg = load_config(None, overrides=[f"data.pairs={csv}", "data.positive=1"])
    assert cfg.data.pairs == str(csv)


def test_csv_errors_name_the_lines(tmp_path):
    _write(tmp_path, ["a.tif", "a_m.tif"])
    csv = tmp_path / "pairs.csv"
    csv.write_text("image,mask\na.tif,a_m.tif\nb.tif,a_m.tif\nc.tif,c_m.tif\n")
    with pytest.raises(MissingFileError, match=r"pairs.csv: 2 of 3 listed pairs name missing files \(line 3: "
                                               r".*b.tif; line 4: .*c.tif and .*c_m.tif\)"):
        read_pair_list(csv)
    csv.write_text("picture,label\na.tif,a_m.tif\n")
    with pytest.raises(InputError, match="pairs.csv: a pair list needs a header with the columns image,mask; "
                                         "found picture,label"):
        read_pair_list(csv)
    csv.write_text("image,mask\n")
    with pytest.raises(InputError, match="holds no pairs"):
        read_pair_list(csv)
    csv.write_text("image,mask\na.tif,\n")
    with pytest.raises(InputError, match="line 2: needs an image and a mask"):
        read_pair_list(csv)


def test_folder_mapping_source(tmp_path):
    _write(tmp_path / "images", ["a.tif"])
    _write(tmp_path / "masks", ["a.tif"])
    (s,) = load_samples({"images": tmp_path / "images", "masks": tmp_path / "masks"}, positive="nonzero")
    assert s.mask.sum() == 32
    with pytest.raises(InputError, match="keys images and masks"):
        load_samples({"images": tmp_path / "images"})
