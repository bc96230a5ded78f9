"""One way to get a Dask client: a local cluster of worker processes, or a running scheduler.

Batches of regions (:mod:`geo.batch`) and tiles of a partitioned national run
(:mod:`geo.partition`) both run as tasks on :mod:`distributed`. Without an address a
:class:`distributed.LocalCluster` of ``n_workers`` single-threaded worker *processes* is started
(travel-time searches hold the GIL in places and each task wants a core of its own); with an
address (``tcp://host:8786``) the client connects to a scheduler started with ``dask scheduler``
and its ``dask worker`` processes, which must see the same files at the same paths.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from geo.errors import InputError

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 5.0


def connect(address: str, *, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> Any:
    """Connect to a running Dask scheduler, failing fast when it cannot be reached.

    Parameters
    ----------
    address
        Scheduler address, e.g. ``tcp://10.0.0.5:8786``.
    timeout_s
        Give up after this many seconds.

    Returns
    -------
    distributed.Client

    Raises
    ------
    InputError
        Nothing answers at ``address`` within ``timeout_s`` (or the address is malformed).
    """
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout_s:g}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"cannot reach Dask scheduler at {address} ({exc}); start one with `dask scheduler` "
            "and workers with `dask worker ADDRESS`, or leave out the scheduler address to run "
            "on a local cluster"
        ) from None


@contextlib.contextmanager
def dask_client(
    scheduler_address: str | None = None,
    *,
    n_workers: int = 2,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    memory_limit: str | float | None = "auto",
) -> Iterator[Any]:
    """A Dask client for the duration of a ``with`` block.

    Parameters
    ----------
    scheduler_address
        A running scheduler to use; None starts a local cluster (closed at the end).
    n_workers
        Worker processes of the local cluster (one thread each).
    connect_timeout_s
        Seconds to wait for ``scheduler_address``.
    memory_limit
        Per-worker memory limit of the local cluster (Dask's ``memory_limit``; ``"auto"``
        shares the machine's memory between the workers).

    Yields
    ------
    distributed.Client

    Raises
    ------
    InputError
        ``scheduler_address`` cannot be reached, or ``n_workers`` is not positive.
    """
    if scheduler_address:
        client = connect(scheduler_address, timeout_s=connect_timeout_s)
        try:
            yield client
        finally:
            client.close()
        return
    if n_workers < 1:
        raise InputError(f"the number of workers must be at least 1 (got {n_workers})")
    from distributed import Client, LocalCluster

    log.info("starting a local Dask cluster of %d worker processes", n_workers)
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: clusters started side by side never clash
            memory_limit=memory_limit,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client
