"""Exact statistics of arrays too large for memory: spill files and order statistics.

A :class:`Spill` keeps a (Y, X) array in a temporary file (written by regions, read by
whole rows); :func:`order_statistics` finds exact k-th smallest values over any stream of
blocks by a radix select on the float64 bit patterns; :class:`SpillStats` gives what the
hysteresis thresholds of :mod:`microseg.classic._ridge` need (median, MAD, Otsu,
quantiles), bit for bit as numpy and scikit-image compute them on the whole array.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

#: Pixels per band of the passes over whole rows (hysteresis, statistics of the spill).
BAND_PIXELS = 2**21

_TOP = np.uint64(1 << 63)


def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integers that sort as the float64 ``values`` do."""
    bits = np.ascontiguousarray(values, dtype=np.float64).ravel().view(np.uint64)
    return np.where(bits & _TOP, ~bits, bits | _TOP)


def _value(key: int) -> float:
    key = np.uint64(key)
    bits = key & ~_TOP if key & _TOP else ~key
    return float(np.array([bits], np.uint64).view(np.float64)[0])


def order_statistics(blocks: Callable[[], Iterable[np.ndarray]], ranks: Sequence[int], *,
                     collect: int = 2**20) -> dict[int, float]:
    """The ``k``-th smallest (0-based) of all values ``blocks()`` yields, for each ``k`` in ``ranks``.

    Exact, in memory independent of the number of values: a radix select on the float64
    bit patterns, 16 bits per pass over the blocks (at most four passes), finishing with
    a sort once the candidates are fewer than ``collect``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=10001)
    >>> stats = order_statistics(lambda: np.array_split(x, 7), [0, 5000, 10000])
    >>> [stats[k] == float(v) for k, v in zip([0, 5000, 10000], np.sort(x)[[0, 5000, 10000]])]
    [True, True, True]
    """
    todo = {int(k): (0, 0, 0, None) for k in ranks}   # prefix, bits known, values below, candidates
    done: dict[int, float] = {}
    while todo:
        groups: dict[tuple[int, int], list[int]] = {}
        for k, (prefix, nbits, _, _) in todo.items():
            groups.setdefault((prefix, nbits), []).append(k)
        small = {g for g, ks in groups.items() if todo[ks[0]][3] is not None and todo[ks[0]][3] <= collect}
        hist = {g: np.zeros(65536, np.int64) for g in groups if g not in small}
        picked: dict[tuple[int, int], list[np.ndarray]] = {g: [] for g in small}
        for block in blocks():
            key = _keys(block)
            for prefix, nbits in groups:
                sel = key if nbits == 0 else key[(key >> np.uint64(64 - nbits)) == np.uint64(prefix)]
                if (prefix, nbits) in small:
                    picked[(prefix, nbits)].append(sel)
                else:
                    digit = ((sel >> np.uint64(48 - nbits)) & np.uint64(0xFFFF)).astype(np.intp)
                    hist[(prefix, nbits)] += np.bincount(digit, minlength=65536)
        for g, ks in groups.items():
            prefix, nbits = g
            if g in small:
                found = np.sort(np.concatenate(picked[g]))
                for k in ks:
                    done[k] = _value(int(found[k - todo.pop(k)[2]]))
                continue
            cum = np.cumsum(hist[g])
            for k in ks:
                below = todo[k][2]
                digit = int(np.searchsorted(cum, k - below, side="right"))
                below += int(cum[digit - 1]) if digit else 0
                prefix2, nbits2 = (prefix << 16) | digit, nbits + 16
                if nbits2 == 64:
                    done[k] = _value(prefix2)
                    del todo[k]
                else:
                    todo[k] = (prefix2, nbits2, below, int(hist[g][digit]))
    return done


def quantile_from(n: int, q: float, order: Callable[[Sequence[int]], dict[int, float]]) -> float:
    """``np.quantile`` (linear) of ``n`` values from their order statistics, bit for bit."""
    virtual = (n - 1) * np.float64(q)
    previous = np.floor(virtual)
    i = int(previous)
    j = min(i + 1, n - 1)
    got = order([i, j])
    a, b = np.float64(got[i]), np.float64(got[j])
    gamma = float(virtual - previous)
    diff = b - a
    return float(b - diff * (1 - gamma)) if gamma >= 0.5 else float(a + diff * gamma)


class Spill:
    """A (Y, X) array in a temporary file, written by regions and read by whole rows."""

    def __init__(self, shape: tuple[int, int], dtype: Any) -> None:
        self.shape, self.dtype = shape, np.dtype(dtype)
        self._fh = tempfile.TemporaryFile(prefix="microseg-spill-")
        self._row = shape[1] * self.dtype.itemsize

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()

    def write(self, r0: int, c0: int, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, self.dtype)
        if c0 == 0 and block.shape[1] == self.shape[1]:
            self._fh.seek(r0 * self._row)
            self._fh.write(block.tobytes())
            return
        for i, row in enumerate(block):
            self._fh.seek((r0 + i) * self._row + c0 * self.dtype.itemsize)
            self._fh.write(row.tobytes())

    def read(self, r0: int, r1: int) -> np.ndarray:
        out = np.empty((r1 - r0, self.shape[1]), self.dtype)
        self._fh.seek(r0 * self._row)
        if self._fh.readinto(memoryview(out).cast("B")) != out.nbytes:
            raise OSError("a temporary spill file came back short (disk full?)")
        return out

    def bands(self, rows: int | None = None) -> Iterator[tuple[int, int]]:
        rows = rows or band_rows(self.shape[1])
        for r0 in range(0, self.shape[0], rows):
            yield r0, min(r0 + rows, self.shape[0])

    def values(self, transform: Callable[[np.ndarray], np.ndarray] | None = None) -> Iterator[np.ndarray]:
        for r0, r1 in self.bands():
            band = self.read(r0, r1)
            yield band if transform is None else transform(band)


def band_rows(width: int) -> int:
    return max(1, BAND_PIXELS // max(width, 1))


class SpillStats:
    """The statistics ``_thresholds_from`` asks for, of a response in a :class:`Spill`."""

    def __init__(self, spill: Spill, moments: Moments, quantiles: Sequence[float | None]) -> None:
        self.spill, self.moments = spill, moments
        self.n = moments.n
        self._quantiles = [q for q in quantiles if q is not None]
        self._order: dict[int, float] = {}

    def _ranks(self, ranks: Sequence[int]) -> dict[int, float]:
        missing = [k for k in ranks if k not in self._order]
        if missing:
            self._order.update(order_statistics(self.spill.values, missing))
        return {k: self._order[k] for k in ranks}

    def _median_ranks(self) -> list[int]:
        half = self.n // 2
        return [half - 1, half] if self.n % 2 == 0 else [half]

    def median(self) -> float:
        ranks = self._median_ranks()
        extra = []
        for q in self._quantiles:   # the quantiles' ranks in the same passes
            i = int(np.floor((self.n - 1) * np.float64(q)))
            extra += [i, min(i + 1, self.n - 1)]
        got = self._ranks(sorted(set(ranks + extra)))
        return float(np.mean(np.array([got[k] for k in ranks])))

    def mad(self, median: float) -> float:
        ranks = self._median_ranks()
        got = order_statistics(lambda: self.spill.values(lambda band: np.abs(band - median)), ranks)
        return float(np.mean(np.array([got[k] for k in ranks])))

    def std(self) -> float:
        return self.moments.std()

    def spans(self) -> bool:
        return float(self.moments.max) > float(self.moments.min)

    def otsu(self) -> float:
        from skimage.filters import threshold_otsu

        lo, hi = self.moments.min, self.moments.max
        counts = np.zeros(256, np.int64)
        for band in self.spill.values():
            counts += np.histogram(band, bins=256, range=(lo, hi))[0]
        edges = np.histogram(np.array([lo, hi]), bins=256, range=(lo, hi))[1]
        return float(threshold_otsu(hist=(counts, (edges[:-1] + edges[1:]) / 2.0)))

    def quantile(self, q: float) -> float:
        return quantile_from(self.n, q, self._ranks)
