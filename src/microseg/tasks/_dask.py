"""``--dask [ADDRESS]``: the tasks' work on a dask.distributed cluster.

:func:`dask_client` opens a client: a :class:`distributed.LocalCluster` on this machine
(``"local"``, what ``--dask`` alone means: one single-threaded worker process per core), or
the scheduler at an address (``tcp://host:8786``). :func:`map_inputs` runs one task per
image and :func:`compute` a collection (a volume's ``dask.array`` graph), both with a
progress bar fed by the cluster; the dashboard's address is logged (the CLI shows it). dask, not microseg, schedules, retries and moves the work: a worker that dies
has its task run again elsewhere (up to ``distributed.scheduler.allowed-failures`` times);
when it keeps dying the run fails with :class:`ClusterError`, and the task's staged
outputs are removed with the rest (:class:`~microseg.tasks._base.Staging`).

Workers read inputs and write outputs by path, so on a cluster of several machines the
input and output folders must be on a file system they all see.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from microseg._util import InputError, MicrosegError

log = logging.getLogger(__name__)

__all__ = ["LOCAL", "ClusterError", "dask_client", "map_inputs", "compute"]

#: What ``--dask`` without an address means: a LocalCluster on this machine.
LOCAL = "local"
#: Seconds to wait for a scheduler given by address.
CONNECT_TIMEOUT = 10
#: glibc malloc settings of the local cluster's workers. distributed starts workers with
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's mmap threshold at 128 KiB: every
#: slice-sized temporary is then a fresh mmap, page-faulted in and unmapped again, and a
#: worker ran Otsu on a 768² slice 2.3x slower than this process (49.7 vs 21.5 ms). Big
#: allocations from the heap (threshold 256 MiB) take it back to 23.7 ms; memory above
#: 256 MiB free at the top of the heap is still returned. Workers of a cluster started
#: elsewhere (``dask worker``) gain the same from these variables in their environment.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(256 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}


class ClusterError(MicrosegError, RuntimeError):
    """The cluster could not finish the work (a worker kept dying, the scheduler went away)."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise InputError('--dask needs dask.distributed: pip install "microseg[dask]"') from exc
    return distributed


@contextlib.contextmanager
def dask_client(address: str | None = LOCAL, *, workers: int | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` for the run; ``None`` yields None (no dask).

    Parameters
    ----------
    address : str or None
        ``"local"``: start a LocalCluster of ``workers`` single-threaded processes (default:
        one per core) and close it at the end; otherwise a scheduler address
        (``tcp://10.0.0.5:8786``, ``localhost:8786``) reached within :data:`CONNECT_TIMEOUT` s.
    workers : int, optional
        Workers of the LocalCluster.

    Raises
    ------
    InputError
        If the scheduler cannot be reached (one line with the address), or dask is missing.
    """
    if address is None:
        yield None
        return
    distributed = _distributed()
    if str(address).lower() == LOCAL:
        from microseg._validate import check_int

        n = check_int(workers, "workers", low=1) if workers is not None else max(1, os.cpu_count() or 1)
        with _quiet_dask(), _worker_environ(WORKER_MALLOC):
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0")   # a free port: clusters side by side
            client = distributed.Client(cluster)
        where = f"a local dask cluster of {n} worker(s)"
    else:
        cluster = None
        try:
            with _quiet_dask():
                client = distributed.Client(str(address), timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"--dask {address}: cannot reach a dask scheduler there within "
                             f"{CONNECT_TIMEOUT} s ({type(exc).__name__}); start one (`dask scheduler`, then "
                             "`dask worker ADDRESS`) or give --dask without an address for a local cluster") from None
        where = f"the dask scheduler at {address} ({len(client.scheduler_info().get('workers', {}))} worker(s))"
    link = client.dashboard_link if _has_bokeh() or cluster is None else None
    log.info("running on %s%s", where, f"; dashboard {link}" if link else "")
    try:
        with _dask_logs_quiet():
            yield client
    finally:
        with _quiet_dask():
            client.close()
            if cluster is not None:
                cluster.close()


@contextlib.contextmanager
def _worker_environ(values: dict[str, str]) -> Iterator[None]:
    """Environment variables for the workers a LocalCluster spawns now.

    distributed's nanny takes ``distributed.nanny.pre-spawn-environ`` but lets a variable
    already in this process's environment win, and writes its own values there when it
    spawns; so both are set while the cluster starts and this process's environment is put
    back afterwards (a nanny keeps what it read for the workers it restarts).
    """
    import dask

    saved = {k: os.environ.get(k) for k in values}
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", default={}), **values}
    os.environ.update(values)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


#: distributed's loggers: its scheduler, nannies and workers log INFO and WARNING lines (a key
#: cancelled, a worker restarted) that :class:`ClusterError` and the progress bar say for the user.
_DASK_LOGGERS = ("distributed", "distributed.core", "distributed.scheduler", "distributed.nanny",
                 "distributed.worker", "distributed.http.proxy", "distributed.deploy.spec", "distributed.client")


@contextlib.contextmanager
def _dask_logs_quiet() -> Iterator[None]:
    """distributed's own log lines kept out of the user's way while a client is open."""
    saved = {n: logging.getLogger(n).level for n in _DASK_LOGGERS}
    for n in _DASK_LOGGERS:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """distributed's start-up and shut-down chatter (logs, port warnings) kept out of the user's way."""
    import warnings

    with _dask_logs_quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _raise_cluster_error(exc: BaseException, what: str) -> None:
    distributed = _distributed()
    if isinstance(exc, distributed.KilledWorker):
        raise ClusterError(f"{what}: a dask worker died each time it ran it (the task was retried; out of "
                           "memory?); nothing was written") from None
    if isinstance(exc, (distributed.comm.CommClosedError, OSError)) and not isinstance(exc, MicrosegError):
        raise ClusterError(f"{what}: lost the dask cluster ({type(exc).__name__}: {exc}); nothing was written") from None


def map_inputs(client: Any, fn: Callable[..., Any], inputs: Sequence[Any], *, names: Sequence[str],
               progress: bool = False, desc: str = "images", **kwargs: Any) -> list[Any]:
    """``[fn(item, **kwargs) for item in inputs]``, one dask task per item, in order.

    ``names`` name the items in messages (a failure of an item is raised as it was raised on
    the worker, so an :class:`~microseg._util.InputError` about a file stays one). ``kwargs``
    go with every task (they are small: model paths, settings; a worker builds what is heavy
    once, :func:`microseg._util.process_cached`). They are not scattered: scattered data dies with its worker,
    and the task that needs it could then not be run again elsewhere.
    """
    from microseg._util import progress as _progress

    distributed = _distributed()
    futures = client.map(fn, list(inputs), key=[f"microseg-{n}-{os.urandom(4).hex()}" for n in names],
                         pure=False, **kwargs)
    where = dict(zip((f.key for f in futures), names))
    current = None
    try:
        for current in _progress(distributed.as_completed(futures), enabled=progress, desc=desc,
                                 total=len(futures)):
            if current.status == "error":
                current.result()   # raises the worker's exception here
        return client.gather(futures)
    except BaseException as exc:
        for f in futures:
            f.cancel()
        _raise_cluster_error(exc, "the run" if current is None else where[current.key])
        raise


def compute(client: Any, collections: Sequence[Any], *, progress: bool = False, desc: str = "chunks",
            what: str = "the volume", on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Compute dask collections on the cluster; a bar over their chunks (one future each).

    Returns, per collection, the list of its chunks' results (in the order of
    ``to_delayed().ravel()``). ``on_done(i, result)`` is called on this process as each chunk
    finishes (``i`` counts the chunks of all collections in order), e.g. to measure the
    chunks already stored while the cluster computes the others.
    """
    from microseg._util import progress as _progress

    distributed = _distributed()
    pieces = [list(c.to_delayed().ravel()) if hasattr(c, "to_delayed") else [c] for c in collections]
    flat = [d for piece in pieces for d in piece]
    futures = client.compute(flat)
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for future in _progress(distributed.as_completed(futures), enabled=progress, desc=desc,
                                total=len(futures)):
            if future.status == "error":
                future.result()
            if on_done is not None:
                on_done(index[future.key], future.result())
        results = client.gather(futures)
    except BaseException as exc:
        for f in futures:
            f.cancel()
        _raise_cluster_error(exc, what)
        raise
    out, i = [], 0
    for piece in pieces:
        out.append(results[i:i + len(piece)])
        i += len(piece)
    return out
