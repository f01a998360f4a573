"""microseg: electron micrographs to measured microstructure.

The package is organised as a pipeline, one sub-package per stage::

    io        images with pixel size, stacks, label and probability maps
    synth     synthetic polycrystals and porous volumes with exact truth
    classic   Otsu / Sauvola thresholding behind the segmenter interface
    grains    boundary map -> grain labels -> properties -> distributions
    metrics   pixel, distance, cluster, topology and grain-level metrics
    report    figures

Importing :mod:`microseg` is light: it never imports torch.
"""
from __future__ import annotations

__version__ = "0.1.0"

from microseg._util import MicrosegError

__all__ = ["__version__", "MicrosegError"]
