"""Run a batch on an existing Dask distributed cluster.

Files go to the workers in small work units (:func:`dctredact.batch.chunked`), each a
task of :func:`dctredact.batch.process_many`, the function the local runner uses, so
outputs and records are the same. The options are sent to every worker once. Workers
must have dctredact installed and see the input and output paths at the same locations
(a shared file system).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from .batch import BatchOptions, Job, chunked, process_many
from .errors import DctRedactError

__all__ = ["run_dask"]


def run_dask(address: str, jobs: Sequence[Job], options: BatchOptions) -> Iterator[dict[str, Any]]:
    """Yield the record of every job, computed on the cluster at `address`.

    Parameters
    ----------
    address : str
        Scheduler address, e.g. ``tcp://scheduler:8786``.
    jobs : sequence of Job
        The files.
    options : BatchOptions
        The policy (scattered to every worker once).

    The connection timeout is ``$DCTREDACT_DASK_TIMEOUT`` (default ``20s``).

    Raises
    ------
    DctRedactError
        When ``distributed`` is not installed or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise DctRedactError(
            "--dask needs the 'distributed' package: pip install 'dctredact[dask]'"
        ) from None
    try:
        timeout = os.environ.get("DCTREDACT_DASK_TIMEOUT", "20s")
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DctRedactError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
    futures = []
    try:
        if jobs:
            workers = max(1, len(client.scheduler_info().get("workers", {})))
            shared = client.scatter(options, broadcast=True)
            units = chunked(jobs, workers)
            futures = client.map(process_many, units, options=shared, pure=False)
        for future in as_completed(futures, loop=client.loop):
            yield from future.result()
    finally:
        for future in futures:
            future.cancel()
        client.close()
