"""The figures and lines of ``microseg grains`` (report.grain_report)."""
from __future__ import annotations

import numpy as np
import pytest

from microseg.report.grain_report import astm_text, grain_overlay_image


def test_the_overlay_is_one_image_pixel_per_map_pixel():
    labels = np.zeros((30, 70), np.int32)
    labels[2:14, 2:30], labels[16:28, 35:68] = 1, 2
    assert grain_overlay_image(labels).shape == (30, 70, 3)
    image = np.random.default_rng(0).random((30, 70))
    both = grain_overlay_image(labels, image=image)
    assert both.shape == (30, 140, 3) and both.dtype == np.uint8
    # right panel: one colour per grain; left panel: grey micrograph with red outlines
    right = both[:, 70:]
    assert len({tuple(right[y, x]) for y, x in ((20, 40), (25, 60))}) == 1
    assert tuple(right[20, 40]) != tuple(right[8, 20])
    outline = both[22, 67]                                 # the right edge of grain 2, under no label
    assert outline[0] > 200 and outline[1] < 80
    inside = both[25, 50]
    assert inside[0] == inside[1] == inside[2]             # grey where no outline is


def test_the_overlay_refuses_an_image_of_other_pixels_and_draws_no_grains():
    with pytest.raises(ValueError, match=r"image: has shape \(5, 5\) but the labels \(6, 6\)"):
        grain_overlay_image(np.zeros((6, 6), np.int32), image=np.zeros((5, 5)))
    empty = grain_overlay_image(np.zeros((40, 300), np.int32))
    assert empty.shape == (40, 300, 3) and empty[30:].max() == 0 and empty.max() > 150   # only the label


def test_astm_text_of_a_single_field_has_no_confidence_interval():
    one = {"g": 11.9, "p_l": 190.5, "p_l_ci95": None, "relative_accuracy_pct": None, "n_fields": 1,
           "field_size_px": 22, "density_unit": "1/mm", "mean_intercept": 5.25, "length_unit": "µm",
           "note": "1 field(s): E112 asks for at least 5"}
    many = {**one, "p_l_ci95": 4.2, "relative_accuracy_pct": 2.2, "n_fields": 6}
    text = astm_text({"pixel_size_um": 0.5, "planimetric": None, "intercept_lines": one,
                      "intercept_circles": many, "notes": []}).splitlines()
    assert text[0] == "ASTM E112 (pixel size 0.5 µm)"
    assert text[1] == ("  3 circles:    G 11.9   P_L 190 ± 4.2 1/mm (95 % CI, RA 2.2 %, 6 fields of 22 px)"
                       "   mean intercept 5.25 µm")
    assert text[3] == "  line grid:    G 11.9   P_L 190 1/mm (1 field of 22 px: no CI)   mean intercept 5.25 µm"
    assert text[4] == "    note: 1 field(s): E112 asks for at least 5"
