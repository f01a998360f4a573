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


def merge_weak_boundaries(elevation: np.ndarray, interior: np.ndarray, *, h: float,
                          merge_threshold: float, connectivity: int = 1) -> tuple[np.ndarray, int]:
    """Over-segment by a marker watershed, then merge regions across weak boundaries.

    Markers are the h-domes of the Euclidean distance transform of ``interior`` (one or more
    per grain, so that two grains joined through a gap get one each); the watershed of
    ``elevation`` (the boundary probability, ties broken by the distance) from them tiles
    the image. Adjacent regions are then merged greedily, weakest first, while the mean
    strength along their shared boundary is below ``merge_threshold``
    (:func:`skimage.graph.merge_hierarchical`); a merged boundary pools its pixels. The
    strength of a boundary is the mean, over the neighbour pairs (face neighbours) that it
    separates, of the larger ``elevation`` of the pair: a drawn 1-px boundary has 1, a missing
    one 0, and a narrow neck inside a grain 0 however close to its boundary. A
    boundary with gaps keeps a high mean and stays closed; the watershed lines that cross a
    grain's interior have a low mean and go.

    Returns ``(labels, n)``: a tessellation of the whole image, labels 1..n.
    """
    from skimage import graph
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    dist = ndi.distance_transform_edt(interior)
    domes = reconstruction(dist - h, dist, method="dilation")
    tops = local_maxima(domes, connectivity=interior.ndim, allow_borders=True) & interior
    # a component too small for a dome of its own (a few px) is its own marker
    components, n_comp = ndi.label(interior, structure=ndi.generate_binary_structure(interior.ndim, connectivity))
    seeded = np.zeros(n_comp + 1, dtype=bool)
    seeded[components[tops]] = True
    seeded[0] = True
    tops |= ~seeded[components]
    # one marker per connected top within one component: the tops of two components that
    # touch across a diagonal of an 8-connected boundary line stay two markers
    full = ndi.generate_binary_structure(interior.ndim, interior.ndim)
    clusters, n_clusters = ndi.label(tops, structure=full)
    key = components[tops].astype(np.int64) * (n_clusters + 1) + clusters[tops]
    markers = np.zeros(interior.shape, dtype=np.int32)
    uniq, markers[tops] = np.unique(key, return_inverse=True)
    markers[tops] += 1
    n_markers = int(uniq.size)
    if n_markers == 0:
        return np.ones(interior.shape, dtype=np.int32), 1
    elev = elevation.astype(np.float64) - 1e-3 * dist / max(float(dist.max()), 1.0)
    regions = watershed(elev, markers, connectivity=connectivity).astype(np.int32)
    if n_markers > 1:
        rag = _boundary_graph(regions, elevation)
        regions = graph.merge_hierarchical(regions, rag, thresh=merge_threshold, rag_copy=False,
                                           in_place_merge=True, merge_func=_no_op,
                                           weight_func=_pooled_boundary_mean).astype(np.int32)
    regions, n = raster_order(regions + 1)   # merge_hierarchical numbers from 0
    logger.debug("merge gap closing: %d watershed regions -> %d", n_markers, n)
    return regions.astype(np.int32, copy=False), n


def _boundary_graph(regions: np.ndarray, elevation: np.ndarray):
    """Region adjacency graph: ``weight`` = mean over separated face-neighbour pairs of the pair's
    larger elevation, ``count`` = number of pairs (cf. :func:`skimage.graph.rag_boundary`, which
    averages the pixels on both sides instead: 1/2 for a drawn 1-px boundary)."""
    from skimage.graph import RAG

    n = int(regions.max()) + 1
    keys, values = [], []
    for axis in range(regions.ndim):
        lo = [slice(None)] * regions.ndim
        hi = [slice(None)] * regions.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = regions[tuple(lo)], regions[tuple(hi)]
        cut = a != b
        la, lb = a[cut].astype(np.int64), b[cut].astype(np.int64)
        keys.append(np.minimum(la, lb) * n + np.maximum(la, lb))
        values.append(np.maximum(elevation[tuple(lo)][cut], elevation[tuple(hi)][cut]).astype(np.float64))
    key, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    count = np.bincount(inverse)
    mean = np.bincount(inverse, weights=np.concatenate(values)) / count
    rag = RAG()
    rag.add_nodes_from(range(1, n))
    rag.add_edges_from((int(k // n), int(k % n), {"weight": float(w), "count": int(c)})
                       for k, w, c in zip(key, mean, count))
    for node in rag.nodes():
        rag.nodes[node]["labels"] = [node]
    return rag


def _no_op(graph, src, dst) -> None:
    return None


def _pooled_boundary_mean(graph, src: int, dst: int, n: int) -> dict:
    """Weight of the edge (merged node, n): the pixel-weighted mean of both old boundaries."""
    none = {"weight": 0.0, "count": 0}
    a, b = graph[src].get(n, none), graph[dst].get(n, none)
    count = a["count"] + b["count"]
    return {"count": count, "weight": (a["count"] * a["weight"] + b["count"] * b["weight"]) / count}


def raster_order(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber labels 1..n in raster order of first appearance, as :func:`scipy.ndimage.label`
    numbers components (0 stays 0)."""
    found, first = np.unique(labels.ravel(), return_index=True)
    first, found = first[found != 0], found[found != 0]
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    lut[found[np.argsort(first)]] = np.arange(1, found.size + 1, dtype=np.int32)
    return lut[labels], int(found.size)
