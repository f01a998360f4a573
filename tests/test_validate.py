"""microseg._validate: the data contracts of DESIGN.md, and that the stages refuse alike."""
from __future__ import annotations

import numpy as np
import pytest

from microseg import _validate as V
from microseg._util import InputError


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, np.bool_(True), "1",
                                   None, [1.0], np.ones(2)])
def test_check_positive_refuses(value):
    with pytest.raises(InputError, match=r"^width must be > 0 \(a finite number\); got "):
        V.check_positive(value, "width")


def test_check_positive_accepts_and_words_its_message():
    assert V.check_positive(np.float32(0.5), "w") == 0.5 and type(V.check_positive(3, "w")) is float
    assert V.check_positive(np.array(2.0), "w") == 2.0
    assert V.check_positive(0, "w", allow_zero=True) == 0.0
    with pytest.raises(InputError, match=r"^w must be >= 0 px \(a finite number\); got -1$"):
        V.check_positive(-1, "w", allow_zero=True, unit="px")
    with pytest.raises(InputError, match=r"^step must be a finite EBSD step > 0 µm; got 0$"):
        V.check_positive(0, "step", unit="µm", what="EBSD step")
    with pytest.raises(InputError, match=r"^t must be >= 0 \(a finite number\); got -1; it is a sum$"):
        V.check_positive(-1, "t", allow_zero=True, hint="it is a sum")


def test_check_int():
    assert V.check_int(np.int64(3), "n") == 3 and V.check_int(0, "n") == 0
    for value, low, high, match in [(-1, 0, None, "n must be a non-negative integer; got -1"),
                                    (0, 1, None, "n must be a positive integer; got 0"),
                                    (2.0, 1, None, "n must be a positive integer; got 2.0"),
                                    (True, 0, None, "non-negative integer; got True"),
                                    (8, 0, 7, r"n must be an integer in 0\.\.7; got 8"),
                                    (2, 3, None, "n must be an integer >= 3; got 2")]:
        with pytest.raises(InputError, match=match):
            V.check_int(value, "n", low=low, high=high)


def test_check_pixel_size():
    assert V.check_pixel_size(None) is None and V.check_pixel_size(None, ndim=3) is None
    assert V.check_pixel_size(np.float32(0.25)) == 0.25
    np.testing.assert_array_equal(V.check_pixel_size(0.5, ndim=2), [0.5, 0.5])
    np.testing.assert_array_equal(V.check_pixel_size((2.0, 0.5, 0.5), ndim=3), [2.0, 0.5, 0.5])
    with pytest.raises(InputError, match=r"pixel_size must be a number or one value per axis"):
        V.check_pixel_size((1.0, 1.0), ndim=3)
    with pytest.raises(InputError, match=r"pixel_size must be a number"):
        V.check_pixel_size((1.0, 1.0))  # per-axis sizes need ndim
    for bad in (0.0, -1.0, float("nan"), float("inf"), (1.0, 0.0)):
        with pytest.raises(InputError, match="px must be positive and finite"):
            V.check_pixel_size(bad, "px", ndim=2)
    for bad in (True, "0.5", object()):
        with pytest.raises(InputError, match="px must be a positive finite length"):
            V.check_pixel_size(bad, "px")
    assert V.check_pixel_size(0.5, optional=False) == 0.5
    with pytest.raises(InputError, match=r"^pixel_size must be a positive finite length \(µm per pixel\); got None$"):
        V.check_pixel_size(None, optional=False)
    with pytest.raises(InputError, match=r"^pixel_size must be positive and finite \(µm per pixel\); got 0$"):
        V.check_pixel_size(0, optional=False)


def test_check_ndim_and_same_shape():
    a = V.check_ndim([[1, 2]], (2, 3), "image")
    assert isinstance(a, np.ndarray) and a.shape == (1, 2)
    with pytest.raises(InputError, match=r"^mask must be a 3D \(Z, Y, X\) array; got shape \(2, 2\)$"):
        V.check_ndim(np.zeros((2, 2)), (3,), "mask")
    V.check_ndim(np.zeros((0, 3)), (2,), "a")
    with pytest.raises(InputError, match=r"a is empty \(shape \(0, 3\)\)"):
        V.check_ndim(np.zeros((0, 3)), (2,), "a", allow_empty=False)
    with pytest.raises(InputError, match=r"a and b must have the same shape; got a \(2,\) and b \(3,\)"):
        V.check_same_shape(np.zeros(2), np.zeros(3), ("a", "b"))


def test_masks_boundaries_and_probabilities():
    np.testing.assert_array_equal(V.as_mask(np.array([0.0, 1.0]), "m"), [False, True])
    with pytest.raises(InputError, match=r"m must be a binary mask .*got values in \[0, 2\]; try this"):
        V.as_mask([0, 2], "m", hint="try this")
    with pytest.raises(InputError, match="m contains NaN"):
        V.as_mask([0.0, np.nan], "m")
    with pytest.raises(InputError, match="m must be a numeric or boolean array"):
        V.as_mask(np.array(["a"]), "m")
    with pytest.raises(InputError, match="threshold must be a finite number"):
        V.as_mask([0.2], "m", threshold=float("nan"))
    b = V.as_boundaries(np.array([[True, False]]))
    assert b.dtype == np.uint8 and b.tolist() == [[1, 0]]
    with pytest.raises(InputError, match="boundaries must be a binary mask.*image > 127"):
        V.as_boundaries(np.full((2, 2), 255, np.uint8))
    p = V.as_prob(np.array([0.0, 0.5, 1.0]))
    assert p.dtype == np.float32
    assert V.as_prob(np.array([True])).dtype == np.float32
    with pytest.raises(InputError, match=r"prob must be a probability map in \[0, 1\]; got values in \[0, 1.5\]"):
        V.as_prob([0.0, 1.5])
    with pytest.raises(InputError, match="divide an 8-bit map by 255"):
        V.as_prob(np.zeros(3, np.uint8))
    with pytest.raises(InputError, match="prob contains NaN"):
        V.as_prob([np.nan, 0.5])
    arr, is_prob = V.as_boundary_map(np.array([0.2, 0.9]))
    assert is_prob and arr.dtype == np.float64  # kept in its dtype
    assert V.as_boundary_map(np.array([0, 1], np.int16))[1] is False
    with pytest.raises(InputError, match=r"boundaries must hold only 0 and 1 .*got values in \[0, 2\]"):
        V.as_boundary_map(np.array([0, 2]))


def test_area_mask():
    np.testing.assert_array_equal(V.as_area_mask(np.array([0, 7], np.uint16)), [False, True])
    colour = np.zeros((2, 3, 3), np.uint8)
    colour[0, 1, 2] = 255  # any non-black pixel of a colour image is analysed
    assert V.as_area_mask(colour, shape=(2, 3)).tolist() == [[False, True, False], [False, False, False]]
    assert V.as_area_mask(colour, shape=(2, 3, 3)).shape == (2, 3, 3)  # a volume's mask is not colour
    with pytest.raises(InputError, match=r"^m has shape \(2, 3\) but the map has shape \(3, 3\); "):
        V.as_area_mask(np.ones((2, 3)), "m", shape=(3, 3))
    with pytest.raises(InputError, match=r"^a.tif: the mask is empty \(no nonzero pixel\)"):
        V.as_area_mask(np.zeros((2, 2)), "a.tif: the mask")


def test_classes_and_labels():
    assert V.as_classes(np.array([0, 1, 2, 3], np.int64)).dtype == np.uint8
    with pytest.raises(InputError, match=r"classes must hold boundary classes 0..3 .*got values in \[0, 4\]"):
        V.as_classes([0, 4])
    with pytest.raises(InputError, match=r"classes must hold boundary classes 0..3 .*got values in \[-1, 1\]"):
        V.as_classes([-1, 1])
    with pytest.raises(InputError, match="classes must hold integer labels"):
        V.as_classes([0.5])
    lab = np.array([[0, 3], [7, 7]], np.uint16)
    assert V.as_labels(lab) is lab  # integers pass unchanged
    assert V.as_labels(np.array([True, False])).dtype == np.int32
    f = V.as_labels(np.array([0.0, 2.0]))
    assert f.dtype == np.int32 and f.tolist() == [0, 2]
    assert V.as_labels(np.array([0.0, 2.0 ** 40])).dtype == np.int64
    for bad, match in [(np.array([0.5]), "non-integral floats"), (np.array([np.inf]), "infinite"),
                       (np.array([np.nan]), "contains NaN"), (np.array([-1, 2]), r"non-negative.*minimum -1")]:
        with pytest.raises(InputError, match=f"labels must .*{match}|labels contains NaN"):
            V.as_labels(bad)
    assert V.as_labels(np.array([-1, 2]), allow_negative=True).tolist() == [-1, 2]


def test_grains_and_metrics_agree_on_labels():
    """Integral-valued float labels are labels for both; non-integral ones are refused by both alike."""
    from microseg import metrics
    from microseg.grains import grain_size_planimetric, measure_grains

    rows, cols = np.indices((40, 40))
    lab = (rows // 10 * 4 + cols // 10 + 1).astype(np.int32)
    as_float = lab.astype(np.float32)
    t_int, t_float = measure_grains(lab, pixel_size=0.5), measure_grains(as_float, pixel_size=0.5)
    assert t_int.keys() == t_float.keys()
    for k in t_int:
        np.testing.assert_array_equal(t_int[k], t_float[k])
    assert grain_size_planimetric(as_float, pixel_size=1.0).g == grain_size_planimetric(lab, pixel_size=1.0).g
    assert metrics.mean_ecd(as_float, pixel_size=0.5) == metrics.mean_ecd(lab, pixel_size=0.5)
    assert metrics.mean_ecd(lab, pixel_size=0.5) == pytest.approx(np.mean(t_int["ecd_um"]))
    bad = as_float + 0.5
    messages = set()
    for call in (lambda: measure_grains(bad), lambda: metrics.mean_ecd(bad), lambda: metrics.grain_count(bad)):
        with pytest.raises(InputError) as info:
            call()
        messages.add(str(info.value))
    assert messages == {"labels must hold integer labels (0 = background, 1..N grains); got non-integral floats"}
    for call in (lambda: measure_grains(-lab), lambda: metrics.mean_ecd(-lab)):
        with pytest.raises(InputError, match=r"^labels must hold non-negative labels \(>= 0, 0 = background\); "
                                             r"got minimum -16$"):
            call()


def test_stages_refuse_a_bad_pixel_size_and_a_non_positive_number_alike():
    from microseg import classic, grains, metrics
    from microseg.register import boundary_evidence

    from microseg import io, synth
    from microseg.ebsd import rasterize_cells

    lab = np.ones((8, 8), np.int32)
    ebsd = io.EBSDMap(np.tile([1.0, 0, 0, 0], (2, 2, 1)), np.ones((2, 2), np.int32),
                      {1: io.Phase(1, "Ni", "m-3m")}, step=1.0)
    for call in (lambda: grains.measure_grains(lab, pixel_size=-1.0),
                 lambda: metrics.mean_ecd(lab, pixel_size=-1.0),
                 lambda: metrics.hausdorff_distance(lab, lab, pixel_size=-1.0),
                 lambda: synth.make_polycrystal((32, 32), pixel_size=-1.0),
                 lambda: rasterize_cells(ebsd, np.ones((2, 2), np.int32), pixel_size=-1.0),
                 lambda: io.read_prob_image("unused.tif", pixel_size=-1.0)):
        with pytest.raises(InputError, match=r"^pixel_size must be positive and finite \(µm per pixel"):
            call()
    image = np.random.default_rng(0).random((16, 16))
    for call, name in ((lambda: classic.otsu(image, softness=-0.1), "softness"),
                       (lambda: classic.ridge(image, softness=0), "softness"),
                       (lambda: boundary_evidence(image, sigma=0), "sigma"),
                       (lambda: grains.label_grains(np.eye(8, dtype=np.uint8), h=0), "h")):
        with pytest.raises(InputError, match=rf"^{name} must be > 0( px)? \(a finite number\); got "):
            call()


def test_check_fraction_refuses_what_is_no_fraction():
    from microseg._validate import check_fraction

    assert check_fraction(0, "f") == 0.0 and check_fraction(np.float32(1.0), "f") == 1.0
    for bad in (-0.01, 1.01, float("nan"), True, "0.5", [0.5]):
        with pytest.raises(InputError, match=r"f must be in \[0, 1\]"):
            check_fraction(bad, "f")
