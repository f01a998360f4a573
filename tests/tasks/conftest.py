"""What several task tests share: tiny models and a grain map with its micrograph."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_unet():
    """``tiny_unet(seed)``: an untrained 2-channel, depth-2 plain U-Net (fast; its output is noise)."""
    import torch

    from microseg import models

    def build(seed: int):
        torch.manual_seed(seed)
        return models.build("unet_plain", base_channels=2, depth=2)

    return build


#: The grain map's shape: not square, so rows and columns cannot be swapped unseen.
GRAIN_SHAPE = (192, 288)


@pytest.fixture(scope="session")
def grain_files(tmp_path_factory):
    """A synthetic polycrystal's boundaries (``map``) and SE micrograph (``image``, ``pixels``), 0.05 µm/px."""
    from microseg import io, synth

    root = tmp_path_factory.mktemp("grains")
    poly = synth.make_polycrystal(GRAIN_SHAPE, mean_diameter_px=28.0, pixel_size=0.05, seed=5)
    image = np.round(np.clip(synth.render_sem(poly, mode="se", seed=5).data, 0, 1) * 255).astype(np.uint8)
    io.write_image(root / "boundaries.tif", poly.boundaries, pixel_size=0.05)
    io.write_image(root / "image.tif", image, pixel_size=0.05)
    return {"map": root / "boundaries.tif", "image": root / "image.tif", "poly": poly, "pixels": image}


@pytest.fixture(scope="session")
def cluster():
    """A dask LocalCluster of two single-threaded worker processes, as ``--dask --workers 2`` starts them."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c
