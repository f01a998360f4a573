"""Gap closing: split components that are grains joined through gaps, where the evidence says so."""
from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from microseg.grains._runs import nonconvex_labels

logger = logging.getLogger(__name__)


def _padded_box(sl: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(sl, shape))


def split_joined_grains(labels: np.ndarray, n_labels: int, *, h: float, prob: np.ndarray | None = None,
                        connectivity: int = 1, merge_threshold: float | None = None,
                        boundary: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Split labelled components that are several grains joined through gaps, in place.

    Each component that is not orthogonally convex (see
    :func:`microseg.grains._runs.nonconvex_labels`) is examined in its bounding box: the
    Euclidean distance transform of the component (the outside and the image edge count as
    boundary) gets one marker per h-dome, i.e. per maximum that rises at least ``h`` pixels
    above the saddle joining it to a higher one. With two or more, a marker watershed splits the
    component: on the boundary probability ``prob`` (ties broken by the distance) when given,
    else on the negated distance. Orthogonally convex components are never split, so a
    complete map of convex cells comes back unchanged.

    With ``merge_threshold`` (and ``prob``, the boundary strength, and ``boundary``, the boundary
    pixels), the watershed divides the component and the boundary pixels of its box into pieces, and the pieces are merged again,
    weakest first, while the mean strength along their shared boundary is below
    ``merge_threshold`` (:func:`skimage.graph.merge_hierarchical`; a merged boundary pools its
    pixels). The strength of a shared boundary is the mean, over the face-neighbour pairs it
    separates, of the larger ``prob`` of the pair, less an allowance of ``END_PAIRS`` strong
    pairs for the two ends where a line across a grain meets the grain's boundary: a drawn
    1-px boundary has ~1, a gap 0, a narrow neck inside a grain 0. So a boundary with gaps
    stays closed, and the watershed lines that cross one grain (a necked or curved grain) go.

    Only gaps are closed: a gap leaves open ends in the boundary network (:func:`open_ends`),
    a grain whose boundary is whole (a neck, a bend, the parent around a lamella that ends
    inside it) has none, so a complete map comes back exactly as it was labelled. Without
    ``merge_threshold`` a cut survives only where an open end lies within ``OPEN_END_REACH``
    px of it (:func:`_cuts_at_open_ends`); with it, components with no open end within that
    reach are left whole and the merge decides the rest (a per-cut test there would also
    judge the pieces' contacts along boundary crests, measured worse on predicted maps).

    Returns ``(labels, n_labels)``; new grains get the labels ``n_labels + 1, ...``.
    """
    from skimage.morphology import local_maxima, reconstruction
    from skimage.segmentation import watershed

    merge = merge_threshold is not None
    if merge and (prob is None or boundary is None):
        raise ValueError("merge_threshold needs prob (the boundary strength) and boundary")
    candidates = np.flatnonzero(nonconvex_labels(labels, n_labels))
    if candidates.size == 0:
        return labels, n_labels
    boxes = ndi.find_objects(labels, max_label=n_labels)
    full = ndi.generate_binary_structure(labels.ndim, labels.ndim)
    inner = tuple(slice(1, -1) for _ in range(labels.ndim))
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
            strength = np.pad(prob[box].astype(np.float64), 1)
            elevation = strength - 1e-3 * dist / dist.max()
        if merge:
            ends = open_ends(_boundary_around(boundary, box))
            if not (ends & (ndi.distance_transform_edt(~mask) <= OPEN_END_REACH)).any():
                continue         # a component whose boundary has no open end has no gap to close
            # the boundary pixels nearer to this component than to any other take part, so that
            # pieces on both sides of a thick boundary meet on its crest
            pieces = watershed(elevation, markers, mask=mask | np.pad(_owned_boundary(view, label, boundary[box]), 1),
                               connectivity=connectivity)
            pieces = _merge_pieces(pieces, strength, merge_threshold)
            pieces = np.where(mask, pieces, 0)[inner]
            ids = np.unique(pieces[pieces > 0])
            if ids.size < 2:
                continue
            lut = np.zeros(int(ids[-1]) + 1, dtype=labels.dtype)
            lut[ids] = np.concatenate([[label], np.arange(next_label, next_label + ids.size - 1)])
            inside = pieces > 0
            view[inside] = lut[pieces[inside]]
            next_label += ids.size - 1
        else:
            pieces = watershed(elevation, markers, mask=mask, connectivity=connectivity)
            pieces, n_pieces = _cuts_at_open_ends(pieces, _boundary_around(boundary, box), reach=OPEN_END_REACH)
            if n_pieces < 2:
                continue
            pieces = pieces[inner]
            inside = pieces > 0
            new = np.where(pieces[inside] == 1, label, next_label + pieces[inside] - 2)
            view[inside] = new.astype(labels.dtype)
            next_label += n_pieces - 1
        n_split += 1
    logger.debug("%s gap closing: %d of %d candidate components split into %d grains more",
                 "merge" if merge else "watershed", n_split, candidates.size, next_label - 1 - n_labels)
    return labels, next_label - 1


#: Pruning passes before open ends are read (2D): a boundary drawn by "right or lower
#: neighbour differs" has 1-2 px bumps wherever a cell pokes one pixel into another.
SPUR = 3
#: Pixels between a watershed cut and an open boundary end for the cut to close a gap: the
#: pruned end of a thinned boundary lies ``SPUR`` px plus up to half the boundary's width
#: back from the gap's edge.
OPEN_END_REACH = 6.0


def _boundary_around(boundary: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """The boundary over ``box`` padded by one pixel, the pad taken from the image where it
    has one (outside the image: boundary), so that lines crossing the box edge stay lines."""
    out = np.ones(tuple(s.stop - s.start + 2 for s in box), dtype=bool)
    src = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, boundary.shape))
    dst = tuple(slice(a.start - (s.start - 1), a.stop - (s.start - 1)) for a, s in zip(src, box))
    out[dst] = boundary[src]
    return out


def _cuts_at_open_ends(pieces: np.ndarray, boundary: np.ndarray, *, reach: float) -> tuple[np.ndarray, int]:
    """Keep the watershed cuts that close a gap, merge the pieces across the others.

    A gap leaves open ends in the boundary network: in 2D the end points of its skeleton, in
    3D the rim voxels of a hole in a (thin) wall, i.e. boundary pixels whose neighbourhood
    outside the boundary is one connected piece (:func:`open_ends`). A cut with such an end
    within ``reach`` pixels of it closes a gap; a cut without one crosses a grain (a neck, a
    bend) and goes. On a complete boundary map there are no open ends, so no cut is kept.
    Returns pieces numbered ``1..n`` (0 outside) and ``n``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids = np.unique(pieces)
    pieces = np.searchsorted(ids, pieces) if ids[0] == 0 else np.searchsorted(ids, pieces) + 1
    n = int(pieces.max())
    cut = np.zeros(pieces.shape, dtype=bool)
    pairs = []
    for axis in range(pieces.ndim):
        lo = [slice(None)] * pieces.ndim
        hi = [slice(None)] * pieces.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = pieces[tuple(lo)], pieces[tuple(hi)]
        sep = (a != b) & (a > 0) & (b > 0)
        cut[tuple(lo)] |= sep
        cut[tuple(hi)] |= sep
        pairs.append((a, b, sep, tuple(lo), tuple(hi)))
    near_cut = ndi.distance_transform_edt(~cut) <= reach
    ends = open_ends(boundary, candidates=near_cut & boundary)
    near_end = ndi.distance_transform_edt(~ends) <= reach if ends.any() else np.zeros(cut.shape, bool)
    key, strong = [], []
    for a, b, sep, lo, hi in pairs:
        la, lb = a[sep].astype(np.int64), b[sep].astype(np.int64)
        key.append(np.minimum(la, lb) * (n + 1) + np.maximum(la, lb))
        strong.append(near_end[lo][sep] | near_end[hi][sep])
    key, inverse = np.unique(np.concatenate(key), return_inverse=True)
    evidence = np.bincount(inverse, weights=np.concatenate(strong), minlength=key.size)
    weak = key[evidence == 0]              # cuts with no open end near them: merge across
    graph = coo_matrix((np.ones(weak.size), (weak // (n + 1), weak % (n + 1))), shape=(n + 1, n + 1))
    k, group = connected_components(graph, directed=False)
    # number the groups 1.. in the order of their first piece (piece 1's group first)
    order = np.unique(group[1:], return_index=True)[1]
    lut = np.zeros(k, dtype=np.int64)
    lut[group[1:][np.sort(order)]] = np.arange(1, order.size + 1)
    out = np.where(pieces > 0, lut[group[pieces]], 0)
    return out, int(order.size)


def _background_pieces_2d() -> np.ndarray:
    """For each of the 256 codes of a pixel's 8 neighbours (bit set = boundary), the number of
    4-connected pieces the non-boundary neighbours form around it."""
    out = np.zeros(256, dtype=np.int8)
    window = np.zeros((3, 3), dtype=bool)
    for code in range(256):
        window[:] = True
        for bit, (dr, dc) in enumerate(_RING):
            window[1 + dr, 1 + dc] = bool(code >> bit & 1)
        out[code] = ndi.label(~window)[1]
    return out


_PIECES_2D: np.ndarray | None = None
_RING = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]


def _neighbour_code(mask: np.ndarray) -> np.ndarray:
    """8-bit code of each pixel's 8 neighbours in ``mask`` (bit set = in the mask; outside
    the image counts as in the mask)."""
    framed = np.pad(mask, 1, constant_values=True)
    code = np.zeros(mask.shape, dtype=np.uint8)
    h, w = mask.shape
    for bit, (dr, dc) in enumerate(_RING):
        code |= framed[1 + dr:1 + dr + h, 1 + dc:1 + dc + w].astype(np.uint8) << bit
    return code


def open_ends(boundary: np.ndarray, *, candidates: np.ndarray | None = None, spur: int = SPUR) -> np.ndarray:
    """Open ends of a boundary network: where it stops instead of separating two regions.

    In 2D the boundary is thinned (:func:`skimage.morphology.thin`, which keeps the ends of
    one-pixel staircase lines that ``skeletonize`` eats away) and a thinned
    pixel is an open end when the non-boundary pixels among its 8 neighbours form at most one
    4-connected piece (a line end, an isolated pixel; a pixel inside a line has two pieces, a
    junction three), after ``spur`` passes that prune such pixels: the bumps of a staircase
    line and fragments shorter than ``2 * spur`` go, and a real end comes back ``spur``
    pixels short. In 3D the same test runs on the 26 neighbours with 6-connectivity,
    without thinning, for ``candidates`` only (the rim of a hole in a one-voxel wall; a
    thicker wall shows no rim, and no gap is closed there). The image edge counts as boundary,
    so lines that run out of the image are not open ends.
    """
    global _PIECES_2D
    if boundary.ndim == 2:
        from skimage.morphology import thin

        skel = thin(boundary)
        if _PIECES_2D is None:
            _PIECES_2D = _background_pieces_2d()
        for _ in range(spur):        # prune spurs: a bump of a staircase line is no open end
            ends = skel & (_PIECES_2D[_neighbour_code(skel)] <= 1)
            skel &= ~ends
        return skel & (_PIECES_2D[_neighbour_code(skel)] <= 1)
    framed = np.pad(boundary, 1, constant_values=True)
    six = ndi.generate_binary_structure(boundary.ndim, 1)
    ends = np.zeros(boundary.shape, dtype=bool)
    where = np.argwhere(boundary if candidates is None else candidates & boundary)
    for idx in where:
        window = framed[tuple(slice(i, i + 3) for i in idx)]
        ends[tuple(idx)] = ndi.label(~window, structure=six)[1] <= 1
    return ends


def _owned_boundary(view: np.ndarray, label: int, boundary: np.ndarray) -> np.ndarray:
    """Boundary pixels of a box whose nearest labelled pixel belongs to ``label``."""
    if not (view > 0).all() and (view > 0).any():
        nearest = ndi.distance_transform_edt(view == 0, return_distances=False, return_indices=True)
        return boundary & (view[tuple(nearest)] == label)
    return np.zeros(view.shape, dtype=bool)


def _merge_pieces(pieces: np.ndarray, strength: np.ndarray, merge_threshold: float) -> np.ndarray:
    """Watershed pieces (0 = outside) merged across weak boundaries; labels 1.., 0 kept."""
    from skimage import graph

    rag = _boundary_graph(pieces, strength)
    merged = graph.merge_hierarchical(pieces, rag, thresh=merge_threshold, rag_copy=False,
                                      in_place_merge=True, merge_func=_no_op,
                                      weight_func=_pooled_boundary_mean)
    return np.where(pieces > 0, merged + 1, 0)   # merge_hierarchical numbers its nodes from 0


def _boundary_graph(regions: np.ndarray, elevation: np.ndarray):
    """Region adjacency graph: ``sum`` over separated face-neighbour pairs of the pair's larger
    elevation, ``count`` = number of pairs, ``weight`` their mean less ``END_PAIRS`` (cf. :func:`skimage.graph.rag_boundary`, which
    averages the pixels on both sides instead: 1/2 for a drawn 1-px boundary)."""
    from skimage.graph import RAG

    n = int(regions.max()) + 1
    keys, values = [], []
    for axis in range(regions.ndim):
        lo = [slice(None)] * regions.ndim
        hi = [slice(None)] * regions.ndim
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        a, b = regions[tuple(lo)], regions[tuple(hi)]
        cut = (a != b) & (a > 0) & (b > 0)
        la, lb = a[cut].astype(np.int64), b[cut].astype(np.int64)
        keys.append(np.minimum(la, lb) * n + np.maximum(la, lb))
        values.append(np.maximum(elevation[tuple(lo)][cut], elevation[tuple(hi)][cut]).astype(np.float64))
    key, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    count = np.bincount(inverse)
    total = np.bincount(inverse, weights=np.concatenate(values))
    rag = RAG()
    rag.add_nodes_from(int(v) for v in np.unique(regions[regions > 0]))
    rag.add_edges_from((int(k // n), int(k % n), {"sum": float(t), "count": int(c), "weight": _weight(t, c)})
                       for k, t, c in zip(key, total, count))
    for node in rag.nodes():
        rag.nodes[node]["labels"] = [node]
    return rag


def _no_op(graph, src, dst) -> None:
    return None


#: Strong pairs a boundary is allowed for free: a watershed line across one grain meets that
#: grain's boundary at its two ends, one pair along the boundary at each, whatever its length.
#: Without it a line across a narrow neck (< 10 px) looks like a boundary (measured: one of
#: four curved complete maps of 1024² split a grain; with it none, benchmarks/bench_closing).
END_PAIRS = 2.0


def _weight(total: float, count: int) -> float:
    """Mean strength of a shared boundary, less the ``END_PAIRS`` allowance."""
    return max(total - END_PAIRS, 0.0) / count


def _pooled_boundary_mean(graph, src: int, dst: int, n: int) -> dict:
    """Weight of the edge (merged node, n): both old boundaries' pairs pooled."""
    none = {"sum": 0.0, "count": 0}
    a, b = graph[src].get(n, none), graph[dst].get(n, none)
    total, count = a["sum"] + b["sum"], a["count"] + b["count"]
    return {"sum": total, "count": count, "weight": _weight(total, count)}
