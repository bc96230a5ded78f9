"""Worker processes for the independent pieces of one large analysis.

Speed-uncertainty draws and chunks of access searches are independent of each other, and
SciPy's Dijkstra holds the GIL, so threads cannot share the work but processes can. Pieces
run in joblib's reusable ``loky`` processes (started once, then kept for the run's other
stages) and come back in order, so a result never depends on the number of workers.

Starting workers costs about a second, so a piece of work runs in parallel only when it is
large: at least :data:`MIN_PARALLEL_VISITS` node visits (searches × road nodes). A whole
task can also run beside the main process (:func:`in_background`: a scenario writes its
baseline's folder while it draws its own) in a process of its own, started early
(:func:`warm_up`) so its imports overlap the main process's work. The
``GAPMAP_WORKERS`` environment variable sets the number of processes (``1``: never in
parallel); by default all cores, at most :data:`MAX_AUTO_WORKERS`, are used for large work.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from geo.errors import InputError

log = logging.getLogger(__name__)

WORKERS_ENV = "GAPMAP_WORKERS"
# About ten seconds of single-process search on this class of machine (SciPy settles some
# 4 million nodes a second): well above the ~1 s it takes to start the workers.
MIN_PARALLEL_VISITS = 4e7
MAX_AUTO_WORKERS = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


def requested_workers() -> int | None:
    """The ``GAPMAP_WORKERS`` setting (None when unset).

    Raises
    ------
    InputError
        If it is not a whole number of at least 1.
    """
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return None
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise InputError(
            f"{WORKERS_ENV}={text!r} is not a number of worker processes: set a whole number "
            "of at least 1 (1 runs everything in this process), or unset it"
        )
    return workers


def workers_for(node_visits: float) -> int:
    """How many processes should share work of ``node_visits`` (searches × road nodes)."""
    requested = requested_workers()
    if requested is not None:
        return requested
    if node_visits < MIN_PARALLEL_VISITS:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def ordered_map(
    function: Callable[[Item], Result], items: Sequence[Item], *, workers: int
) -> list[Result]:
    """``[function(item) for item in items]``, on up to ``workers`` processes.

    ``function`` may be a closure (it is sent to the workers with cloudpickle); what it
    captures is copied to every worker, so give each worker one item holding many pieces
    rather than many small items.
    """
    workers = min(workers, len(items))
    if workers <= 1:
        return [function(item) for item in items]
    from joblib import Parallel, delayed

    log.info("sharing %d pieces of work between %d worker processes", len(items), workers)
    run: Any = Parallel(n_jobs=workers, backend="loky")
    return list(run(delayed(function)(item) for item in items))


_BACKGROUND_ENABLED: list[bool] = []  # set by the command line (see allow_background)


def allow_background() -> None:
    """Let :func:`in_background` start a worker process (the ``gapmap`` command does).

    The worker is a fresh interpreter ("spawn") that imports the caller's main module again;
    the command line's entry points guard theirs, but an analyst's script calling the library
    may not (it would run again in the worker), so library calls stay in one process unless
    this is called.
    """
    _BACKGROUND_ENABLED.append(True)


def background_allowed() -> bool:
    """Whether :func:`in_background` may start a worker process beside this one."""
    if not _BACKGROUND_ENABLED:
        return False
    requested = requested_workers()
    if requested is not None:
        return requested > 1
    return (os.cpu_count() or 1) > 1


_BACKGROUND: list[Any] = []  # the one background executor of this process, once started


def _executor() -> Any:
    """A one-process pool of its own ("spawn": a fresh interpreter, never a fork of this
    threaded one; separate from joblib's, whose executor it must not resize)."""
    if not _BACKGROUND:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(max_workers=1, mp_context=context)
        # Shut down before the interpreter tears modules down (else the pool's clean-up
        # callback runs without them and prints an ignored exception at exit).
        atexit.register(executor.shutdown, wait=True, cancel_futures=True)
        _BACKGROUND.append(executor)
    return _BACKGROUND[0]


def _import(module: str) -> None:
    importlib.import_module(module)
    # What the imports made lives as long as the worker: keep it out of the collector's
    # scans, above all the one at shutdown, which the command waits for (see geo.cli.console).
    gc.freeze()


def warm_up(module: str) -> None:
    """Start the background worker and import ``module`` in it (nothing with one process).

    A worker needs a second or more to import the scientific stack; started early, that
    overlaps the main process's own work instead of delaying :func:`in_background`.
    """
    if background_allowed():
        _executor().submit(_import, module)


def in_background(function: Callable[..., Result], /, *args: Any, **kwargs: Any) -> Future | None:
    """Run ``function(*args, **kwargs)`` in a worker process beside this one.

    Returns
    -------
    concurrent.futures.Future or None
        The pending result (``.result()`` waits and re-raises the worker's error); None
        when only one process may be used (one core, ``GAPMAP_WORKERS=1``, or a library
        call without :func:`allow_background`): the caller then runs the function itself.
    """
    if not background_allowed():
        return None
    log.info("running %s in a worker process", getattr(function, "__name__", function))
    return _executor().submit(function, *args, **kwargs)
