"""The README reference figures on the real maps in ../shared/data/ebsd (skipped when absent).

Choices as in the reference: CI >= 0.1 (.ang) or indexed (.ctf), 4-neighbour
misorientation, no clean-up, grains = connected regions at or below 15°, counted at >= 5 and
>= 20 points without merging; the three phases of the .ctf are treated as one (γ/γ′ are
cube-on-cube, and the reference does not separate phases).
"""
from __future__ import annotations

import numpy as np
import pytest

from microseg import ebsd
from microseg.io import EBSDMap, Phase

pytestmark = pytest.mark.realdata

REFERENCE = {  # grains >= 5, >= 20 points; LAGB, HAGB, Σ3 in % of all boundaries >= 2°
    "ni_annealed_edax.ang": (276, 184, 8.4, 91.6, 54.0),
    "in100_slice1.ang": (205, 163, 11.7, 88.3, 38.3),
    "u720_superalloy.ctf": (151, 67, 10.3, 89.7, 46.3),
}


def load(path) -> EBSDMap:
    """An EBSDMap from orix's reader (square grids)."""
    from orix import io

    xm = io.load(str(path))
    shape = xm.shape
    phases = {i: Phase(i, p.name, p.point_group.name) for i, p in xm.phases if i > 0}
    ids = xm.phase_id.reshape(shape).astype(np.int32)
    quality = {k.lower(): np.asarray(v, np.float32).reshape(shape) for k, v in xm.prop.items()}
    return EBSDMap(xm.rotations.data.reshape(*shape, 4), np.where(ids > 0, ids, -1).astype(np.int32),
                   phases, step=float(xm.dx), quality=quality, source=str(path))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_figures(shared_data, name):
    path = shared_data / "ebsd" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    m = load(path)
    m = ebsd.clean_ebsd(m, min_quality={"ci": 0.1} if "ci" in m.quality else None, fill=False)
    m = ebsd.merge_phases(m)
    nm = ebsd.neighbour_misorientation(m)
    s = ebsd.boundary_summary(m, ebsd.classify_boundaries(m, misorientation=nm))
    sizes = np.bincount(ebsd.reconstruct_grains(m, misorientation=nm).ravel())[1:]
    n5, n20, lagb, hagb, s3 = REFERENCE[name]
    assert (sizes >= 5).sum() == pytest.approx(n5, rel=0.03)
    assert (sizes >= 20).sum() == pytest.approx(n20, rel=0.03)
    assert s["percent_by_angle"]["lagb"] == pytest.approx(lagb, abs=1.0)
    assert s["percent_by_angle"]["hagb"] == pytest.approx(hagb, abs=1.0)
    assert s["percent"]["sigma3"] == pytest.approx(s3, abs=1.0)
