"""Tests of the realistic correlated SEM + EBSD generator and the out-of-distribution set."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import regionprops

from microseg._util import InputError
from microseg.ebsd import boundary_summary, classify_boundaries, clean_ebsd, segment_cells
from microseg.io import EBSDMap, Image, read_ebsd, write_ebsd
from microseg.register import Landmarks, warp_cells
from microseg.synth import (
    CorrelatedPair, SyntheticMicrograph, make_correlated_pair, make_ood_set, make_polycrystal,
)
from microseg.synth import _rotations as rot

SHAPE = (384, 384)
KW = dict(pixel_size=0.015, mean_diameter_um=0.8, wall_fraction=0.5, seed=0)


@pytest.fixture(scope="module")
def se():
    return make_correlated_pair(SHAPE, mode="se", **KW)


@pytest.fixture(scope="module")
def bse():
    return make_correlated_pair(SHAPE, mode="bse", **KW)


def _sample_domains_in_image(pair: CorrelatedPair) -> np.ndarray:
    """The sample's domain under every image pixel, through the exact registration
    (independently of the generator's own warping)."""
    reg, s = pair.registration, pair.sample
    rr, cc = np.indices(pair.cells.shape)
    q = np.stack([cc.ravel(), rr.ravel()], 1).astype(float)
    d = reg.displacement
    xy = reg.transform.inverse(q - np.stack([d[1].ravel(), d[0].ravel()], 1))
    rc = np.rint(s.to_pixels(xy + np.array(pair.metadata["ebsd_origin_um"]))).astype(int)
    rc = np.clip(rc, 0, np.array(s.shape) - 1)
    return s.domains[rc[:, 0], rc[:, 1]].reshape(pair.cells.shape)


def test_types_shapes_and_dtypes(se):
    assert isinstance(se, CorrelatedPair) and isinstance(se, SyntheticMicrograph)
    assert isinstance(se.image, Image) and se.image.data.dtype == np.uint16
    assert se.image.shape == SHAPE and se.image.pixel_size == 0.015
    assert se.boundaries.dtype == np.uint8 and set(np.unique(se.boundaries)) <= {0, 1}
    assert se.classes.dtype == np.uint8 and set(np.unique(se.classes)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(se.classes > 0, se.boundaries > 0)
    assert se.labels.dtype == np.int32 and se.cells.dtype == np.int32
    assert se.valid.dtype == bool and se.valid.shape == SHAPE
    assert isinstance(se.ebsd, EBSDMap) and isinstance(se.landmarks, Landmarks)
    assert se.ebsd.grid == "square" and se.ebsd.step == pytest.approx(0.05)
    assert se.ebsd.phases[1].point_group == "m-3m"
    assert {"ci", "iq"} <= set(se.ebsd.quality)
    assert len(se.landmarks) == 8
    assert se.registration.displacement.shape == (2, *SHAPE)
    drift = np.hypot(*se.registration.displacement)
    assert 10 <= drift.max() <= 15.01


def test_deterministic_per_seed(se):
    again = make_correlated_pair(SHAPE, mode="se", **KW)
    np.testing.assert_array_equal(again.image.data, se.image.data)
    np.testing.assert_array_equal(again.ebsd.rotations, se.ebsd.rotations)
    np.testing.assert_array_equal(again.landmarks.dst_px, se.landmarks.dst_px)
    other = make_correlated_pair(SHAPE, mode="se", **{**KW, "seed": 1})
    assert not np.array_equal(other.image.data, se.image.data)


def test_modes_share_the_sample_and_the_ebsd_map(se, bse):
    np.testing.assert_array_equal(se.cells, bse.cells)
    np.testing.assert_array_equal(se.ebsd.rotations, bse.ebsd.rotations)
    assert not np.array_equal(se.image.data, bse.image.data)


def test_boundaries_are_closed(se):
    comp, n = ndimage.label(se.boundaries == 0)  # 4-connected
    assert n == se.cells.max() == se.labels.max()
    assert np.array_equal(comp > 0, se.labels > 0)
    # one truth label per component and one component per label
    pairs = np.unique(np.stack([comp[comp > 0], se.labels[comp > 0]]), axis=1)
    assert pairs.shape[1] == n


def test_twins_are_sigma3_and_straight(se):
    s = se.sample
    twins = np.flatnonzero(s.kind_of_source == 1)
    assert len(twins) >= 3
    parent = s.grain_of_source[twins]  # a twinned grain keeps its id as its parent source
    dev = np.degrees(rot.sigma3_deviation(s.orientations[twins], s.orientations[parent]))
    np.testing.assert_allclose(dev, 0.0, atol=1e-4)
    lab, n = ndimage.label(se.classes == 3, structure=np.ones((3, 3)))
    rms = []
    for k in range(1, n + 1):
        pts = np.argwhere(lab == k).astype(float)
        if len(pts) >= 15:
            rms.append(np.linalg.svd(pts - pts.mean(0), compute_uv=False)[1] / np.sqrt(len(pts)))
    assert len(rms) >= 5
    assert np.median(rms) < 0.7 and np.max(rms) < 2.0  # straight up to the 1-px raster


def test_walls_are_not_boundaries_but_show_in_bse(bse):
    s = bse.sample
    d = s.domains
    src = s.source_of_domain[d]
    inside = (d[:, :-1] != d[:, 1:]) & (src[:, :-1] == src[:, 1:])
    angle = np.degrees(rot.disorientation_angle(s.domain_orientations[d[:, :-1][inside]],
                                                s.domain_orientations[d[:, 1:][inside]]))
    assert inside.sum() > 100 and angle.max() < 2.0
    dom = _sample_domains_in_image(bse)
    c = bse.cells
    wall = np.zeros(c.shape, bool)
    wall[:, :-1] |= (dom[:, :-1] != dom[:, 1:]) & (c[:, :-1] == c[:, 1:])
    wall[:-1] |= (dom[:-1] != dom[1:]) & (c[:-1] == c[1:])
    assert wall.sum() > 100
    assert (wall & (bse.boundaries > 0)).mean() < 0.2 * wall.mean()  # only where a wall meets a boundary
    img = ndimage.gaussian_filter(bse.image.data.astype(float), 1.0)
    busy = ndimage.binary_dilation((bse.boundaries > 0) | bse.fiducial_mask, iterations=4)
    local = np.abs(img - ndimage.uniform_filter(img, 9))
    control = np.isin(c, np.unique(c[wall])) & (ndimage.distance_transform_edt(~wall) > 6) & ~busy
    assert local[wall & ~busy].mean() > 1.15 * local[control].mean()


def test_ebsd_reconstruction_matches_truth_fractions(se):
    m = clean_ebsd(se.ebsd, min_quality={"ci": 0.1})
    got = boundary_summary(m, classify_boundaries(m))["percent"]
    share = np.bincount(se.classes[se.valid], minlength=4)[1:].astype(float)
    share = 100 * share / share.sum()
    for name, truth in zip(("hagb", "lagb", "sigma3"), share):
        assert got[name] == pytest.approx(truth, abs=6.0), name
    sizes = np.bincount(segment_cells(m).ravel())[1:]
    n_truth = len(np.unique(se.cells[se.valid]))
    assert 0.7 * n_truth <= np.sum(sizes >= 10) <= 1.4 * n_truth  # small ones: misindexed, noise


def test_misindexed_fraction(se):
    truth = se.ebsd_truth
    indexed = se.ebsd.indexed
    assert truth["misindexed"][indexed].mean() == pytest.approx(0.03, abs=0.003)
    # independently: points whose orientation is > 5° from every sample domain nearby
    s, step = se.sample, se.ebsd.step
    x, y = se.ebsd.coordinates()
    xy = np.stack([x, y], -1) + np.array(se.metadata["ebsd_origin_um"])
    q = rot.quat_conjugate(se.ebsd.rotations)  # EBSD (sample -> crystal) to synth convention
    best = np.full(x.shape, np.inf)
    for dy in (-0.5, 0.0, 0.5):
        for dx in (-0.5, 0.0, 0.5):
            rc = np.rint(s.to_pixels((xy + np.array([dx, dy]) * step).reshape(-1, 2))).astype(int)
            dom = s.domains[rc[:, 0], rc[:, 1]].reshape(x.shape)
            angle = np.degrees(rot.disorientation_angle(q, s.domain_orientations[dom]))
            best = np.minimum(best, angle)
    far = (best > 5.0) & indexed
    assert far.mean() / indexed.mean() == pytest.approx(0.03, abs=0.008)
    assert np.mean(se.ebsd.quality["ci"][truth["misindexed"]]) < 0.2
    assert (~indexed).mean() > 0.01  # isolated, clustered and under the Pt marks


def test_landmarks_and_exact_transform_hit_the_fiducials(se, bse):
    for pair in (se, bse):
        exact = pair.ebsd_to_image(pair.landmarks.src_um)
        assert np.all(np.hypot(*(pair.landmarks.dst_px - exact).T) < 4.0)
        img = ndimage.gaussian_filter(pair.image.data.astype(float), 1.0)
        r = int(np.ceil(0.75 * pair.metadata["fiducial_size_um"] / pair.image.pixel_size))
        for q in exact:
            c0, r0 = int(round(q[0])), int(round(q[1]))
            win = img[r0 - r:r0 + r + 1, c0 - r:c0 + r + 1]
            lab, n = ndimage.label(win > 0.6 * np.percentile(win, 97) + 0.4 * np.median(win))
            brightest = 1 + int(np.argmax(ndimage.mean(win, lab, np.arange(1, n + 1))))
            cy, cx = ndimage.center_of_mass(lab == brightest)
            assert np.hypot(cy - r + r0 - q[1], cx - r + c0 - q[0]) < 1.5


def test_registration_warps_ebsd_onto_the_truth(se):
    sources = se.sample.source_of_domain[se.ebsd_truth["domain"]].astype(np.int32)
    warped = warp_cells(sources, se.registration, SHAPE, step_um=se.ebsd.step)
    np.testing.assert_array_equal(warped > 0, se.valid)
    truth = se.sample.source_of_domain[_sample_domains_in_image(se)]
    assert np.mean(warped[se.valid] == truth[se.valid]) > 0.95


def _step_and_groove(pair):
    img = pair.image.data.astype(float)
    img = (img - img.mean()) / img.std()
    inner = (pair.labels > 0) & ~ndimage.binary_dilation(pair.boundaries > 0, iterations=2)
    inner &= ~ndimage.binary_dilation(pair.fiducial_mask, iterations=3)
    n = int(pair.cells.max())
    count = np.bincount(pair.cells[inner], minlength=n + 1)
    mean = np.bincount(pair.cells[inner], img[inner], minlength=n + 1) / np.maximum(count, 1)
    a, b = pair.cells[:, :-1], pair.cells[:, 1:]
    edge = (a != b) & (pair.classes[:, :-1] == 1) & (count[a] > 50) & (count[b] > 50)
    step = np.median(np.abs(mean[a[edge]] - mean[b[edge]]))
    hagb = (pair.classes == 1) & ~ndimage.binary_dilation(pair.fiducial_mask, iterations=3)
    return step, img[inner].mean() - img[hagb].mean()


def test_bse_shows_steps_and_se_shows_grooves(se, bse):
    se_step, se_groove = _step_and_groove(se)
    bse_step, bse_groove = _step_and_groove(bse)
    assert bse_step > 0.5 and se_groove > 0.3  # in units of the image's standard deviation
    # BSE: the boundary is where the grey level steps; SE: a dark line between similar greys
    assert abs(bse_groove) / bse_step < 0.35
    assert se_groove / se_step > 3 * abs(bse_groove) / bse_step


def test_contrast_marks_the_boundaries_the_image_shows(se):
    """The contrast map lives on the truth boundaries only, and a boundary it calls strong
    shows a larger local image gradient than one it calls faint (an independent check:
    measured on the rendered image, not on the generator's numbers)."""
    c, b = se.contrast, se.boundaries > 0
    assert c.shape == se.boundaries.shape and c.dtype == np.float32
    assert (c[~b] == 0).all() and (c[b] >= 0).all()
    floor = se.image.metadata["contrast_floor"]
    assert 0.002 < floor < 0.05
    share = se.metadata["hidden_boundaries"]["invisible_pixel_share"]
    assert share == pytest.approx(((c < floor) & b).sum() / b.sum())
    grey = ndimage.gaussian_filter(se.image.data.astype(float), 1.5)
    grad = ndimage.maximum_filter(np.hypot(*np.gradient(grey)), size=5)
    inside = b & ~ndimage.binary_dilation(se.fiducial_mask, iterations=10)
    faint, strong = inside & (c < np.percentile(c[b], 20)), inside & (c > np.percentile(c[b], 80))
    assert faint.sum() > 50 and strong.sum() > 50
    assert np.median(grad[strong]) > 1.5 * np.median(grad[faint])


def test_curved_lamellae_can_end_inside_and_grains_sit_inside_grains():
    from microseg.synth._curved import GRAIN, TWIN, make_curved_microstructure

    def parent_left_whole(m):
        """Per lamella set: is its grain without it still one piece (it ends inside)?"""
        src = m.sources()
        grain = m.grain_of_source[src]
        return [ndimage.label((grain == m.grain_of_source[s]) & (src != s))[1] == 1
                for s in np.unique(src) if m.kind_of_source[s] == TWIN]

    base, ended = [], []
    for seed in (4, 5, 6):
        plain = make_curved_microstructure((384, 384), mean_diameter_um=1.0, seed=seed)
        same = make_curved_microstructure((384, 384), mean_diameter_um=1.0, seed=seed, twin_end_fraction=0.0)
        np.testing.assert_array_equal(plain.domains, same.domains)   # off by default: the same map
        base += parent_left_whole(plain)
        ended += parent_left_whole(make_curved_microstructure((384, 384), mean_diameter_um=1.0, seed=seed,
                                                              twin_end_fraction=1.0))
    assert np.mean(ended) >= 0.3 and np.mean(ended) > np.mean(base) + 0.2
    m = make_curved_microstructure((384, 384), mean_diameter_um=1.0, seed=4, island_fraction=0.5)
    src = m.sources()
    grain = m.grain_of_source[src]
    first_new = make_curved_microstructure((384, 384), mean_diameter_um=1.0, seed=4).grain_of_source.max() + 1
    inside = [len(np.unique(grain[ndimage.binary_dilation(src == s) & (src != s)])) == 1
              for s in np.unique(src) if m.kind_of_source[s] == GRAIN and m.grain_of_source[s] >= first_new]
    assert len(inside) >= 5 and all(inside)                 # each island lies wholly inside one grain


def test_grains_are_curved_and_non_convex(se):
    def solidity(labels):
        return np.mean([r.solidity for r in regionprops(labels) if r.area > 100])
    laguerre = make_polycrystal(SHAPE, mean_diameter_px=0.8 / 0.015, seed=0)
    assert solidity(se.labels) < solidity(laguerre.labels) - 0.03


@pytest.mark.parametrize("coverage", [0.5, 0.65])
def test_valid_covers_the_asked_fraction(coverage):
    pair = make_correlated_pair((256, 256), coverage=coverage, pixel_size=0.02, mean_diameter_um=1.0)
    assert pair.valid.mean() == pytest.approx(coverage, abs=0.04)
    assert pair.metadata["valid_fraction"] == pytest.approx(pair.valid.mean())


def test_ang_round_trip(se, tmp_path):
    path = write_ebsd(tmp_path / "pair.ang", se.ebsd)
    back = read_ebsd(path)
    assert back.shape == se.ebsd.shape and back.step == pytest.approx(se.ebsd.step)
    np.testing.assert_array_equal(back.indexed, se.ebsd.indexed)
    ok = se.ebsd.indexed
    angle = rot.disorientation_angle(back.rotations[ok], se.ebsd.rotations[ok])
    assert np.degrees(angle).max() < 0.01
    np.testing.assert_allclose(back.quality["ci"][ok], se.ebsd.quality["ci"][ok], atol=1e-5)
    np.testing.assert_allclose(back.quality["iq"], se.ebsd.quality["iq"], rtol=1e-6)


def test_ood_set():
    ood = make_ood_set(2, shape=(192, 192), mean_diameters_um=(1.5, 3.0), seed=3)
    assert len(ood) == 2 and all(isinstance(o, SyntheticMicrograph) for o in ood)
    for o in ood:
        assert o.image.data.dtype == np.uint16 and o.image.pixel_size == 0.027
        assert o.image.metadata["mode"] == "bse"
        assert ndimage.label(o.boundaries == 0)[1] == o.labels.max()
        assert not o.fiducial_mask.any()
        assert o.contrast.shape == o.boundaries.shape and (o.contrast[o.boundaries == 0] == 0).all()
    assert ood[0].metadata["n_cells"] > ood[1].metadata["n_cells"]


def test_bad_options():
    with pytest.raises(InputError, match="did you mean 'bse'"):
        make_correlated_pair((128, 128), mode="bsee")
    with pytest.raises(InputError, match="coverage"):
        make_correlated_pair((128, 128), coverage=0.99)
    with pytest.raises(InputError, match="ebsd_step_um"):
        make_correlated_pair((128, 128), ebsd_step_um=0.001)
    with pytest.raises(InputError, match="mean_diameters_um"):
        make_ood_set(3, mean_diameters_um=(1.0, 2.0))
    with pytest.raises(InputError, match="shape"):
        make_correlated_pair((32, 32))
