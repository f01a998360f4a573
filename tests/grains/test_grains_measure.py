from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk, ellipse
from skimage.measure import regionprops
from sklearn.decomposition import PCA

from microseg._util import InputError, OutputExistsError
from microseg.grains import grain_summary, measure_grains, read_grain_table, write_grain_table


def shapes():
    lab = np.zeros((120, 160), np.int32)
    lab[ellipse(40, 50, 12, 30, rotation=0.6)] = 3
    lab[disk((90, 120), 20)] = 7
    lab[10:20, 110:150] = 4
    lab[100:103, 10:13] = 9
    lab[60, 140] = 11                      # a single pixel
    return lab


def test_matches_regionprops_and_pca():
    lab = shapes()
    t = measure_grains(lab)
    assert t["label"].tolist() == [3, 4, 7, 9, 11]
    for i, rp in enumerate(regionprops(lab)):
        assert t["area_px"][i] == rp.area
        np.testing.assert_allclose([t["centroid_row"][i], t["centroid_col"][i]], rp.centroid, atol=1e-9)
        np.testing.assert_allclose(t["major_axis_px"][i], rp.axis_major_length, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(t["minor_axis_px"][i], rp.axis_minor_length, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(t["ecd_px"][i], rp.equivalent_diameter_area, rtol=1e-12)
        if rp.area > 1 and rp.axis_major_length - rp.axis_minor_length > 1e-6:
            # skimage measures from the row axis, ours from the +col axis counter-clockwise on
            # screen: they differ by 90 degrees (mod 180)
            expected = np.degrees(rp.orientation) + 90
            assert abs((t["orientation_deg"][i] - expected + 90) % 180 - 90) < 1e-6
        if rp.area > 2:
            pca = PCA(n_components=2).fit(np.argwhere(lab == rp.label))
            ev = pca.explained_variance_
            np.testing.assert_allclose(t["aspect_ratio"][i], np.sqrt(ev[1] / ev[0]), rtol=1e-9)
    assert np.isnan(t["aspect_ratio"][-1])                    # one pixel: undefined
    assert t["aspect_ratio"][3] == pytest.approx(1.0, abs=1e-9)                       # a 3x3 square is isotropic


def test_orientation_convention():
    lab = np.zeros((50, 50), np.int32)
    idx = np.arange(5, 45)
    lab[idx, idx] = 1                     # down-right on screen: -45 degrees
    lab[idx, 49 - idx] = 0
    t = measure_grains(lab)
    assert t["orientation_deg"][0] == pytest.approx(-45.0)
    lab2 = np.zeros((50, 50), np.int32)
    lab2[idx[::-1], idx] = 1              # up-right on screen: +45
    assert measure_grains(lab2)["orientation_deg"][0] == pytest.approx(45.0)
    lab3 = np.zeros((50, 50), np.int32)
    lab3[5:45, 20:23] = 1                 # vertical bar
    assert measure_grains(lab3)["orientation_deg"][0] == pytest.approx(-90.0)


@pytest.mark.parametrize("r", [10, 25, 60])
def test_disk_ecd_and_perimeter(r):
    lab = np.zeros((2 * r + 10, 2 * r + 10), np.int32)
    yy, xx = np.indices(lab.shape)
    lab[(yy - r - 5) ** 2 + (xx - r - 5) ** 2 <= r * r] = 1        # pixel centres within r
    t = measure_grains(lab, pixel_size=0.2)
    assert t["ecd_px"][0] == pytest.approx(2 * r, rel=0.01)
    assert t["ecd_um"][0] == pytest.approx(0.4 * r, rel=0.01)
    assert t["perimeter_px"][0] == pytest.approx(2 * np.pi * r, rel=0.06)
    assert t["perimeter_um"][0] == pytest.approx(0.2 * t["perimeter_px"][0])
    assert t["aspect_ratio"][0] == pytest.approx(1.0, abs=0.01)


def test_perimeter_hand_counted_and_image_edge():
    lab = np.zeros((10, 10), np.int32)
    lab[2:5, 3:7] = 1                     # 3 x 4: 14 exposed edges
    lab[0:2, 0:2] = 2                     # in the corner: image edges count too -> 8
    lab[2:5, 7] = 3                       # touching 1: the shared edges count for both
    t = measure_grains(lab)
    np.testing.assert_allclose(t["perimeter_px"], np.pi / 4 * np.array([14, 8, 8]))


def test_anisotropic_pixel_size():
    lab = np.zeros((20, 20), np.int32)
    lab[5:9, 2:12] = 1                    # 4 rows x 10 cols
    t = measure_grains(lab, pixel_size=(2.0, 0.5))   # 8 x 5 µm
    assert t["area_um2"][0] == pytest.approx(40.0)
    assert t["perimeter_um"][0] == pytest.approx(np.pi / 4 * 26.0)
    assert t["major_axis_um"][0] == pytest.approx(4 * np.sqrt((16 - 1) / 12 * 4))   # rows, 2 µm each


def test_3d_volume_esd_and_moments():
    z, y, x = np.indices((40, 40, 40))
    lab = np.zeros((40, 40, 40), np.int32)
    lab[(z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 <= 15 ** 2] = 2
    lab[2:5, 2:12, 30:33] = 5
    t = measure_grains(lab, pixel_size=0.5)
    assert t["label"].tolist() == [2, 5]
    assert t["esd_px"][0] == pytest.approx(30, rel=0.01)
    assert t["esd_um"][0] == pytest.approx(15, rel=0.01)
    assert t["volume_px"][1] == 90
    assert t["surface_area_px"][0] == pytest.approx(4 * np.pi * 15 ** 2, rel=0.06)
    pts = np.argwhere(lab == 5).astype(float)
    lam = np.linalg.eigvalsh(np.cov(pts.T, bias=True))
    assert t["major_axis_px"][1] == pytest.approx(4 * np.sqrt(lam[-1]))
    assert t["aspect_ratio"][1] == pytest.approx(np.sqrt(lam[0] / lam[-1]))
    np.testing.assert_allclose([t["centroid_plane"][1], t["centroid_row"][1], t["centroid_col"][1]],
                               pts.mean(0))


def test_empty_labels_and_errors():
    t = measure_grains(np.zeros((5, 5), np.int32), pixel_size=1.0)
    assert all(len(v) == 0 for v in t.values()) and "ecd_um" in t
    s = grain_summary(t)
    assert s["n_grains"] == 0 and np.isnan(s["mean_ecd_px"])
    with pytest.raises(InputError, match="labels.*integer"):
        measure_grains(np.full((5, 5), 0.5))  # integral-valued floats are labels; these are not
    with pytest.raises(InputError, match="labels.*>= 0"):
        measure_grains(-np.ones((5, 5), np.int32))
    with pytest.raises(InputError, match="pixel_size"):
        measure_grains(np.zeros((5, 5), np.int32), pixel_size=-1)


def test_summary_values():
    lab = np.zeros((50, 50), np.int32)
    lab[0:10, 0:10] = 1
    lab[20:40, 20:40] = 2
    t = measure_grains(lab, pixel_size=0.5)
    s = grain_summary(t)
    d = 2 * np.sqrt(np.array([100, 400]) / np.pi)
    assert s["n_grains"] == 2
    assert s["mean_ecd_px"] == pytest.approx(d.mean())
    assert s["std_ecd_px"] == pytest.approx(d.std(ddof=1))
    assert s["area_weighted_mean_ecd_px"] == pytest.approx((100 * d[0] + 400 * d[1]) / 500)
    assert s["mean_ecd_um"] == pytest.approx(0.5 * d.mean())
    assert s["mean_aspect_ratio"] == pytest.approx(1.0)


def test_csv_round_trip_and_force(tmp_path):
    t = measure_grains(shapes(), pixel_size=0.25)
    path = write_grain_table(tmp_path / "grains.csv", t)
    back = read_grain_table(path)
    assert list(back) == list(t)
    for k in t:
        np.testing.assert_array_equal(back[k], t[k])
    assert back["label"].dtype == np.int64
    with pytest.raises(OutputExistsError, match="grains.csv"):
        write_grain_table(path, t)
    write_grain_table(path, t, force=True)
