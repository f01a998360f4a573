"""volume_stats / VolumeStats (streamed slice by slice) against the whole-array functions."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage as ndi

from microseg._util import InputError
from microseg.grains import (VolumeStats, connected_components_3d, orthogonal_views, percolates,
                             phase_fraction_per_slice, phase_fraction_summary, view_positions, volume_stats)
from microseg.synth import make_porous_volume


class SliceReader:
    """A volume that can only be read a slice at a time, and counts the reads."""

    def __init__(self, volume: np.ndarray) -> None:
        self._volume = volume
        self.shape = volume.shape
        self.reads: list[int] = []

    def __getitem__(self, z: int) -> np.ndarray:
        if not isinstance(z, (int, np.integer)):
            raise TypeError("only integer slices")
        self.reads.append(int(z))
        return self._volume[z].copy()


def _reference(mask: np.ndarray, connectivity: int) -> tuple[list[int], dict[str, bool]]:
    """Sorted component sizes and percolation flags from scipy on the whole array."""
    labels, n = ndi.label(mask, structure=ndi.generate_binary_structure(3, connectivity))
    sizes = sorted(np.bincount(labels.ravel(), minlength=n + 1)[1:].tolist(), reverse=True)
    flags = {}
    for axis, name in enumerate("zyx"):
        first, last = np.take(labels, 0, axis=axis), np.take(labels, -1, axis=axis)
        flags[name] = bool(np.intersect1d(first[first > 0], last[last > 0]).size)
    return sizes, flags


@settings(max_examples=60, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7))),
       connectivity=st.integers(1, 3))
def test_streamed_components_equal_whole_array(mask, connectivity):
    result = volume_stats(mask, phases=(1, 0), connectivity=connectivity)
    for phase, m in ((1, mask), (0, ~mask)):
        got = result[phase]
        sizes, flags = _reference(m, connectivity)
        assert got["components"]["sizes_vox"] == sizes
        assert got["components"]["count"] == len(connected_components_3d(m, connectivity=connectivity)[1])
        assert got["percolates"] == flags
        assert got["percolates"] == {name: percolates(m, axis=a, connectivity=connectivity)
                                     for a, name in enumerate("zyx")}
        assert got["n_voxels"] == int(m.sum())
        np.testing.assert_allclose(got["per_slice"], phase_fraction_per_slice(m))


@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_porous_volume_both_phases(connectivity):
    vol = make_porous_volume((24, 48, 40), porosity=0.3, pore_size_px=6, seed=3)
    solid = vol == 1
    reader = SliceReader(solid)
    result = volume_stats(reader, phases=(1, 0), connectivity=connectivity, spacing=(0.04, 0.02, 0.02))
    assert reader.reads == list(range(24))                # one pass, in order
    for phase, m in ((1, solid), (0, ~solid)):
        got = result[phase]
        sizes, flags = _reference(m, connectivity)
        assert got["components"]["sizes_vox"] == sizes and got["percolates"] == flags
        assert got["components"]["largest_fraction"] == pytest.approx(sizes[0] / m.sum())
        np.testing.assert_allclose(got["components"]["sizes_um3"], np.array(sizes) * 0.04 * 0.02 * 0.02)
        summary = phase_fraction_summary(m)
        assert got["summary"] == pytest.approx(summary)
        assert got["volume_fraction"] == pytest.approx(m.mean()) == pytest.approx(summary["mean"])
    assert result[1]["volume_fraction"] + result[0]["volume_fraction"] == pytest.approx(1.0)
    json.loads(json.dumps(result))                        # JSON-serialisable as it is


def test_accumulator_equals_function_and_tracks_merges():
    # a U: two columns along Z that meet only in the last slice, a bridge closed late
    m = np.zeros((5, 4, 6), bool)
    m[:, 1, 1] = m[:, 1, 4] = True
    m[4, 1, 1:5] = True
    acc = VolumeStats(phases=(1,))
    for z in range(5):
        acc.add(z, m[z])
        assert acc.n_slices == z + 1
    got = acc.result()[1]
    assert got["components"]["sizes_vox"] == [int(m.sum())]
    assert got == volume_stats(m)[1]
    before = VolumeStats()
    for z in range(4):
        before.add(z, m[z])
    assert before.result()[1]["components"]["count"] == 2   # result() is a snapshot: adding goes on
    before.add(4, m[4])
    assert before.result()[1]["components"]["count"] == 1


def test_caller_may_reuse_its_slice_buffer():
    mask = make_porous_volume((10, 20, 24), porosity=0.4, pore_size_px=5, seed=8) == 0
    acc = VolumeStats()
    buffer = np.empty(mask.shape[1:], bool)
    for z in range(10):
        buffer[...] = mask[z]                              # as a predictor writing into one array
        acc.add(z, buffer)
    assert acc.result()[1]["components"]["sizes_vox"] == _reference(mask, 1)[0]


def test_area_restricts_fractions_and_components():
    rng = np.random.default_rng(4)
    mask = rng.random((6, 10, 12)) < 0.5
    area = np.zeros((10, 12), bool)
    area[2:8, 3:10] = True
    got = volume_stats(mask, area=area, phases=(1, 0))
    np.testing.assert_allclose(got[1]["per_slice"], phase_fraction_per_slice(mask, area=area))
    assert got[1]["summary"] == pytest.approx(phase_fraction_summary(mask, area=area))
    inside = mask & area
    assert got[1]["components"]["sizes_vox"] == _reference(inside, 1)[0]
    assert got[0]["components"]["sizes_vox"] == _reference(~mask & area, 1)[0]
    assert got[1]["n_voxels_total"] == 6 * area.sum()
    # a (Z, Y, X) area read a slice at a time; a slice without area is NaN and left out
    area3 = np.broadcast_to(area, mask.shape).copy()
    area3[2] = False
    per = volume_stats(mask, area=SliceReader(area3))[1]["per_slice"]
    assert np.isnan(per[2])
    np.testing.assert_allclose(np.delete(per, 2), np.delete(phase_fraction_per_slice(mask, area=area), 2))


def test_volume_fraction_is_voxels_over_voxels_not_mean_of_fractions():
    mask = np.zeros((2, 4, 4), bool)
    mask[0] = True                                         # slice 0: 16/16, slice 1: 2/4 inside its area
    mask[1, 0, :2] = True
    area = np.zeros((2, 4, 4), bool)
    area[0] = True
    area[1, 0] = True
    got = volume_stats(mask, area=area)[1]
    assert got["summary"]["mean"] == pytest.approx(0.75)
    assert got["volume_fraction"] == pytest.approx(18 / 20)


def test_empty_phase_and_single_slice():
    got = volume_stats(np.zeros((1, 3, 3), bool), phases=(1, 0))
    assert got[1]["components"]["count"] == 0 and got[1]["components"]["sizes_vox"] == []
    assert np.isnan(got[1]["components"]["largest_fraction"])
    assert got[1]["percolates"] == {"z": False, "y": False, "x": False}
    assert got[0]["percolates"] == {"z": True, "y": True, "x": True}
    assert got[0]["components"]["largest_fraction"] == 1.0


def test_bad_input():
    acc = VolumeStats()
    with pytest.raises(InputError, match="expected slice 0"):
        acc.add(1, np.zeros((3, 3), bool))
    acc.add(0, np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="mask slice 1: has shape .*every slice"):
        acc.add(1, np.zeros((3, 4), bool))
    with pytest.raises(InputError, match="mask slice 1 must be a binary mask"):
        acc.add(1, np.full((3, 3), 0.5))
    with pytest.raises(InputError, match="no slice was added"):
        VolumeStats().result()
    with pytest.raises(InputError, match="phases"):
        VolumeStats(phases=(2,))
    with pytest.raises(InputError, match="phases"):
        VolumeStats(phases=(1, 1))
    with pytest.raises(InputError, match="connectivity"):
        volume_stats(np.zeros((2, 2, 2), bool), connectivity=4)
    with pytest.raises(InputError, match="spacing"):
        volume_stats(np.zeros((2, 2, 2), bool), spacing=(0, 1, 1))
    with pytest.raises(InputError, match="mask must be a 3D"):
        volume_stats(np.zeros((2, 2), bool))
    with pytest.raises(InputError, match="area: slice 0 has shape"):
        volume_stats(np.zeros((2, 2, 2), bool), area=np.ones((3, 3), bool))
    with pytest.raises(InputError, match="no slice has a pixel inside the area"):
        volume_stats(np.zeros((2, 2, 2), bool), area=np.zeros((2, 2), bool))


def test_orthogonal_views_one_pass():
    vol = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    reader = SliceReader(vol)
    views = orthogonal_views(reader, z=-1, y=2, x=6)
    assert reader.reads == list(range(5))
    np.testing.assert_array_equal(views["xy"], vol[-1])
    np.testing.assert_array_equal(views["xz"], vol[:, 2, :])
    np.testing.assert_array_equal(views["yz"], vol[:, :, 6])
    mid = orthogonal_views(vol)
    assert {k: v.shape for k, v in mid.items()} == {"xy": (6, 7), "xz": (5, 7), "yz": (5, 6)}
    np.testing.assert_array_equal(mid["yz"], vol[:, :, 3])
    assert view_positions(vol.shape) == {"z": 2, "y": 3, "x": 3}
    with pytest.raises(InputError, match="y must be an integer in -6..5"):
        orthogonal_views(vol, y=6)
