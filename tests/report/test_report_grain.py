"""The figures and lines of ``microseg grains`` (report.grain_report)."""
from __future__ import annotations

import numpy as np
import pytest

from microseg.report.grain_report import astm_text, plot_grain_overlay


def _pixels(fig) -> list[int]:
    return [int(round(v)) for v in fig.get_size_inches() * fig.dpi]


def test_the_overlay_is_one_figure_pixel_per_map_pixel():
    labels = np.zeros((30, 70), np.int32)
    labels[2:14, 2:30], labels[16:28, 35:68] = 1, 2
    assert _pixels(plot_grain_overlay(labels)) == [70, 30]
    assert _pixels(plot_grain_overlay(labels, image=np.ones((30, 70, 3)))) == [140, 30]
    assert len(plot_grain_overlay(labels, image=np.ones((30, 70))).axes) == 2


def test_a_huge_map_is_drawn_scaled_down_to_the_longest_side():
    labels = np.ones((50, 400), np.int32)
    assert _pixels(plot_grain_overlay(labels, max_side=100)) == [100, 12]
    assert _pixels(plot_grain_overlay(labels, image=np.zeros((50, 400)), max_side=100)) == [200, 12]


def test_the_overlay_refuses_an_image_of_other_pixels_and_draws_no_grains():
    with pytest.raises(ValueError, match=r"image: has shape \(5, 5\) but the labels \(6, 6\)"):
        plot_grain_overlay(np.zeros((6, 6), np.int32), image=np.zeros((5, 5)))
    fig = plot_grain_overlay(np.zeros((6, 6), np.int32))
    assert fig.axes[0].texts[0].get_text() == "grains (n = 0)"


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
