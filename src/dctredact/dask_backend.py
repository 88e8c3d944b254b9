"""Run a batch on an existing Dask distributed cluster.

Files go to the workers in small work units (:func:`dctredact.batch.chunked`), each a
task of :func:`dctredact.batch.process_many`, the function the local runner uses, so
outputs and records are the same. The options are sent to every worker once. Workers
must have dctredact installed and see the input and output paths at the same locations
(a shared file system).

Workers for dctredact batches are best started with :data:`BATCH_WORKER_CONFIG`: their
tasks are CPU-bound and take milliseconds to seconds per file, and Dask's defaults
(event-loop tick every 20 ms, a statistical profiler sampling the task thread every
10 ms, memory and system monitors several times a second) cost a 2-worker cluster about
0.15 of a core while idle, taken from the work when the workers fill the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from .batch import BatchOptions, Job, chunked, process_many
from .errors import DctRedactError

__all__ = ["BATCH_WORKER_CONFIG", "run_dask"]

#: Dask settings for clusters that run dctredact batches; pass to ``dask.config.set``
#: before starting the scheduler and workers (or put them in a Dask YAML config file).
#: Idle cost of a 2-worker LocalCluster: 0.15 of a core with Dask's defaults, 0.02 with
#: these (measured). Nothing here changes results; the dashboard's task profiles and
#: event-loop latency warnings are what is given up.
BATCH_WORKER_CONFIG: dict[str, Any] = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


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
