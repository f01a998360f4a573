from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from microseg._util import InputError, OutputExistsError
from microseg.grains import volume_stats
from microseg.report.volume_figures import (fig_orthogonal_views, fig_phase_fraction, save_orthogonal_views,
                                            save_phase_fraction)
from microseg.synth import make_porous_volume


@pytest.fixture
def volume():
    phases = make_porous_volume((12, 40, 56), porosity=0.3, pore_size_px=8, seed=7)
    image = np.where(phases == 0, 40, 200).astype(np.uint8)
    return image, phases == 1


def _png_size(path):
    assert path.stat().st_size > 2000
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_orthogonal_views_figure_to_scale(tmp_path, volume):
    image, mask = volume
    fig = fig_orthogonal_views(image, mask, z=4, spacing=(0.1, 0.02, 0.02))
    xy, xz, yz = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["XY (z = 4)", "XZ (y = 20)", "YZ (x = 28)"]
    # extents in µm: the XZ panel is 56 x 0.02 wide and 12 x 0.1 high
    np.testing.assert_allclose(xz.images[0].get_extent(), [0, 56 * 0.02, 12 * 0.1, 0])
    np.testing.assert_allclose(yz.images[0].get_extent(), [0, 40 * 0.02, 12 * 0.1, 0])
    assert xz.get_ylabel() == "z (µm)" and xy.get_xlabel() == "x (µm)"
    # the mask's outline is drawn in the section's pixels, nowhere else
    rgb = xy.images[0].get_array()
    assert rgb.shape == (40, 56, 3)
    red = np.isclose(rgb, [1.0, 0.25, 0.1]).all(axis=-1)
    assert red.any() and not red[~mask[4]].any()
    size = _png_size(save_orthogonal_views(image, tmp_path / "views.png", mask, spacing=(0.1, 0.02, 0.02)))
    assert 400 < size[0] < 3000 and 150 < size[1] < 1500
    with pytest.raises(OutputExistsError):
        save_orthogonal_views(image, tmp_path / "views.png", mask)


def test_orthogonal_views_without_mask_or_spacing(volume):
    image, _ = volume
    fig = fig_orthogonal_views(image)
    assert fig.axes[1].get_ylabel() == "z (voxels)"
    np.testing.assert_allclose(fig.axes[1].images[0].get_extent(), [0, 56, 12, 0])
    with pytest.raises(InputError, match="mask: has shape"):
        fig_orthogonal_views(image, np.zeros((2, 2, 2), bool))


def test_phase_fraction_plot(tmp_path, volume):
    _, mask = volume
    stats = volume_stats(mask)[1]
    fig = fig_phase_fraction({"solid": stats, "noisy": np.asarray(stats["per_slice"]) + 0.01})
    ax = fig.axes[0]
    means = [line for line in ax.get_lines() if line.get_gid() == "mean"]
    assert len(means) == 2
    assert np.allclose(means[0].get_ydata(), stats["summary"]["mean"])
    assert np.allclose(means[1].get_ydata(), stats["summary"]["mean"] + 0.01)
    series = ax.get_lines()[0]
    np.testing.assert_allclose(series.get_ydata(), stats["per_slice"])
    np.testing.assert_array_equal(series.get_xdata(), np.arange(12))
    s = stats["summary"]
    assert f"solid {s['mean']:.4f} ± {s['std']:.4f} (12 slices)" in ax.get_title()
    size = _png_size(save_phase_fraction(stats, tmp_path / "fraction.png"))
    assert 300 < size[0] < 2000 and 200 < size[1] < 1500


def test_phase_fraction_skips_nan_slices_and_refuses_bad_input():
    per = np.array([0.5, np.nan, 0.7])
    fig = fig_phase_fraction(per, ddof=1)
    mean = next(line for line in fig.axes[0].get_lines() if line.get_gid() == "mean")
    assert np.allclose(mean.get_ydata(), 0.6)
    assert f"0.6000 ± {np.std([0.5, 0.7], ddof=1):.4f} (2 slices)" in fig.axes[0].get_title()
    with pytest.raises(InputError, match="no finite fraction"):
        fig_phase_fraction(np.full(3, np.nan))
    with pytest.raises(InputError, match="expected \\(Z,\\) fractions"):
        fig_phase_fraction(np.zeros((2, 2)))
    with pytest.raises(InputError, match="without 'per_slice'"):
        fig_phase_fraction({"a": {"summary": {}}})
