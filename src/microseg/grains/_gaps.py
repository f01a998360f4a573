"""Gap closing by marker watershed: split components that are grains joined through a neck."""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from microseg.grains._runs import nonconvex_labels

logger = logging.getLogger(__name__)


def _padded_box(sl: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(sl, shape))


def split_joined_grains(labels: np.ndarray, n_labels: int, *, h: float, prob: np.ndarray | None = None,
                        connectivity: int = 1) -> tuple[np.ndarray, int]:
    """Split labelled components that are several grains joined through gaps, in place.

    Each component that is not orthogonally convex (see
    :func:`microseg.grains._runs.nonconvex_labels`) is examined in its bounding box: the
    Euclidean distance transform of the component (the outside and the image edge count as
    boundary) gets one marker per h-dome, i.e. per maximum that rises at least ``h`` pixels
    above the saddle joining it to a higher one. With two or more, a marker watershed splits the
    component: on the boundary probability ``prob`` (ties broken by the distance) when given,
    else on the negated distance. Orthogonally convex components are never split, so a
    complete map of convex cells comes back unchanged.

    Returns ``(labels, n_labels)``; new grains get the labels ``n_labels + 1, ...``.
    """
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    candidates = np.flatnonzero(nonconvex_labels(labels, n_labels))
    if candidates.size == 0:
        return labels, n_labels
    boxes = ndi.find_objects(labels, max_label=n_labels)
    full = ndi.generate_binary_structure(labels.ndim, labels.ndim)
    next_label = n_labels + 1
    n_split = 0
    for label in candidates:
        box = _padded_box(boxes[label - 1], labels.shape)
        view = labels[box]
        mask = np.pad(view == label, 1)
        dist = ndi.distance_transform_edt(mask)
        # h-domes: the reconstruction of (dist - h) under dist is flat at (peak - h) over
        # each maximum of dynamics >= h; its regional maxima are one marker per such dome
        # (h_maxima would give one per top pixel, splitting ridges of equal height)
        domes = reconstruction(dist - h, dist, method="dilation")
        tops = local_maxima(domes, connectivity=labels.ndim, allow_borders=True) & mask
        markers, n_markers = ndi.label(tops, structure=full)
        if n_markers < 2:
            continue
        if prob is None:
            elevation = -dist
        else:
            elevation = np.pad(prob[box].astype(np.float64), 1) - 1e-3 * dist / dist.max()
        pieces = watershed(elevation, markers, mask=mask, connectivity=connectivity)
        inner = tuple(slice(1, -1) for _ in range(labels.ndim))
        pieces = pieces[inner]
        inside = pieces > 0
        new = np.where(pieces[inside] == 1, label, next_label + pieces[inside] - 2)
        view[inside] = new.astype(labels.dtype)
        next_label += n_markers - 1
        n_split += 1
    logger.debug("watershed gap closing: %d of %d candidate components split into %d grains more",
                 n_split, candidates.size, next_label - 1 - n_labels)
    return labels, next_label - 1
