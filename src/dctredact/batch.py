"""Batch runs: many files, worker processes or a Dask cluster, an audit record per file.

The unit of work is :func:`process_one`: a picklable :class:`Job` and :class:`BatchOptions`
in, a JSON-ready record out. It never raises for a bad file: failures become records.
The same function runs in-process (``-j 1``), in a :class:`~concurrent.futures.
ProcessPoolExecutor` (``-j N``) or on Dask workers (``--dask``), so every backend writes
the same outputs and the same records.

Fail closed: a file that cannot be redacted is not written (optionally copied to a
quarantine folder); outputs appear only through an atomic rename.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .atomic import write_atomically
from .detect.base import Detector
from .errors import DctRedactError, UnsupportedError
from .quiet import quiet_pydicom
from .report import SUCCESS, record_key
from .settings import Settings

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "CLEAN_PIXEL_CODE",
    "BatchOptions",
    "BatchSummary",
    "Job",
    "discover",
    "is_dicom",
    "mark_dataset",
    "new_sop_uid",
    "plan_jobs",
    "process_one",
    "run_local",
]

#: (code value, coding scheme, meaning) of the Clean Pixel Data Option (PS3.16 CID 7050).
CLEAN_PIXEL_CODE = ("113101", "DCM", "Clean Pixel Data Option")


@dataclass(frozen=True)
class BatchOptions:
    """Everything a worker needs besides the file (picklable).

    Attributes
    ----------
    settings : Settings
        Detection and fill policy.
    mark_clean : bool
        Set Burned In Annotation to NO and add the Clean Pixel Data Option code.
    new_uids : bool
        Replace the SOP Instance UID (and Media Storage SOP Instance UID).
    uid_salt : str
        Secret mixed into new UIDs; the same salt gives the same UIDs in every run.
    quarantine : str or None
        Folder that receives a copy of every file that failed or was skipped.
    in_place : bool
        Outputs may replace their inputs.
    """

    settings: Settings = field(default_factory=Settings)
    mark_clean: bool = False
    new_uids: bool = False
    uid_salt: str = ""
    quarantine: str | None = None
    in_place: bool = False

    def digest(self) -> str:
        """Hash of everything that changes output bytes: settings plus header options."""
        salt = hashlib.sha256(self.uid_salt.encode()).hexdigest() if self.new_uids else ""
        parts = {
            "settings": self.settings.digest(),
            "mark_clean": self.mark_clean,
            "new_uids": self.new_uids,
            "salt": salt,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def edits_header(self) -> bool:
        """True when elements other than Pixel Data are changed."""
        return self.mark_clean or self.new_uids


@dataclass(frozen=True)
class Job:
    """One file of a batch.

    Attributes
    ----------
    src : str
        Absolute input path.
    rel : str
        Path relative to its input root (mirrored under the output folder).
    dst : str
        Absolute output path.
    previous : dict or None
        The last successful record for this input (for resuming), if any.
    """

    src: str
    rel: str
    dst: str
    previous: dict[str, Any] | None = None


@dataclass
class BatchSummary:
    """Counts of a finished (or interrupted) run."""

    total: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    resumed: int = 0
    elapsed: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        """Count one record."""
        outcome = str(record.get("outcome"))
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if record.get("resumed"):
            self.resumed += 1
        self.records.append(record)

    @property
    def written(self) -> int:
        """Files whose output exists and is complete."""
        return sum(self.outcomes.get(o, 0) for o in SUCCESS)

    @property
    def failed(self) -> int:
        """Files that could not be redacted."""
        return self.outcomes.get("failed", 0)

    @property
    def skipped(self) -> int:
        """Files this tool does not redact (video, no Pixel Data)."""
        return self.outcomes.get("skipped", 0)


# -- discovery ------------------------------------------------------------------------


def is_dicom(path: Path) -> bool:
    """True when `path` is a DICOM Part 10 file ('DICM' after the 128-byte preamble)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def discover(
    inputs: Sequence[Path], exclude: Iterable[Path] = ()
) -> tuple[list[tuple[Path, Path]], int]:
    """Find the DICOM files under `inputs`, identified by content, not extension.

    Parameters
    ----------
    inputs : sequence of Path
        Files (taken as they are, DICOM or not: they were named explicitly) and folders
        (searched recursively).
    exclude : iterable of Path
        Folders whose contents are never inputs (output, quarantine).

    Returns
    -------
    tuple
        ``(file, path relative to its root)`` pairs in a stable order, and the number of
        files under the folders that were ignored because they are not DICOM.
    """
    excluded = [p.resolve() for p in exclude]
    found: list[tuple[Path, Path]] = []
    ignored = 0
    several = len(inputs) > 1
    for root in inputs:
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                if not p.is_file() or p.name.endswith(".part"):
                    continue
                resolved = p.resolve()
                if any(resolved.is_relative_to(e) for e in excluded):
                    continue
                if not is_dicom(p):
                    ignored += 1
                    continue
                rel = p.relative_to(root)
                found.append((p, Path(root.resolve().name) / rel if several else rel))
        else:
            found.append((root, Path(root.name)))
    return found, ignored


def plan_jobs(
    files: Sequence[tuple[Path, Path]],
    output: Path,
    *,
    single: bool,
    previous: dict[str, dict[str, Any]] | None = None,
) -> list[Job]:
    """Map discovered files onto output paths (mirroring the tree) and earlier records.

    Raises
    ------
    DctRedactError
        When two inputs would be written to the same output.
    """
    previous = previous or {}
    jobs: list[Job] = []
    seen: dict[str, str] = {}
    for src, rel in files:
        dst = os.path.abspath(output if single else output / rel)
        key = record_key(src)
        if dst in seen and seen[dst] != key:
            raise DctRedactError(f"{seen[dst]} and {key} would both be written to {dst}")
        seen[dst] = key
        prev = previous.get(key)
        jobs.append(
            Job(key, rel.as_posix(), dst, prev if prev and prev.get("outcome") in SUCCESS else None)
        )
    return jobs


# -- header edits -----------------------------------------------------------------------


def new_sop_uid(old: str, salt: str) -> str:
    """The replacement SOP Instance UID: deterministic in (`salt`, `old`)."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[salt, old]))


def mark_dataset(ds: Dataset, options: BatchOptions) -> dict[str, str]:
    """Apply the requested header edits to an output dataset in place.

    Returns
    -------
    dict
        What was changed (keyword -> short description), for the record.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import UID

    changes: dict[str, str] = {}
    if options.mark_clean:
        ds.BurnedInAnnotation = "NO"
        changes["BurnedInAnnotation"] = "NO"
        seq = ds.get("DeidentificationMethodCodeSequence")
        items = list(seq) if seq is not None else []
        code, scheme, meaning = CLEAN_PIXEL_CODE
        if not any(
            str(i.get("CodeValue", "")) == code
            and str(i.get("CodingSchemeDesignator", "")) == scheme
            for i in items
        ):
            item = Dataset()
            item.CodeValue = code
            item.CodingSchemeDesignator = scheme
            item.CodeMeaning = meaning
            items.append(item)
            changes["DeidentificationMethodCodeSequence"] = f"+({code}, {scheme})"
        ds.DeidentificationMethodCodeSequence = DicomSequence(items)
    if options.new_uids:
        old = str(ds.get("SOPInstanceUID", ""))
        if not old:
            raise DctRedactError("--new-uids: the file has no (0008,0018) SOP Instance UID")
        new = new_sop_uid(old, options.uid_salt)
        ds.SOPInstanceUID = new
        ds.file_meta.MediaStorageSOPInstanceUID = UID(new)
        changes["SOPInstanceUID"] = new
    return changes


def _rewrite_with_edits(tmp: Path, dst: Path, options: BatchOptions) -> dict[str, str]:
    import pydicom

    from .dicomio import dataset_bytes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(tmp)
    changes = mark_dataset(ds, options)
    write_atomically(dst, dataset_bytes(ds))
    return changes


# -- the unit of work -----------------------------------------------------------------

_DETECTORS: dict[str, list[Detector]] = {}


def _detectors(settings: Settings) -> list[Detector]:
    """Detectors for `settings`, built once per process (workers rebuild them)."""
    key = settings.digest() + str(settings.report_text)
    if key not in _DETECTORS:
        _DETECTORS[key] = settings.detectors()
    return _DETECTORS[key]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _resumable(job: Job, digest: str, input_sha: str) -> bool:
    prev = job.previous
    if not prev or prev.get("settings_digest") != digest or prev.get("output") != job.dst:
        return False
    out_sha = prev.get("output_sha256")
    if not out_sha or not os.path.isfile(job.dst):
        return False
    same_input = prev.get("input_sha256") == input_sha
    done_in_place = job.src == job.dst and input_sha == out_sha
    if not (same_input or done_in_place):
        return False
    return done_in_place or sha256_file(job.dst) == out_sha


def _header_info(path: str) -> dict[str, Any]:
    """Transfer syntax, SOP Instance UID and handler of a file that failed (best effort)."""
    info: dict[str, Any] = {}
    try:
        import pydicom

        from .handlers import lookup

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        ts = str(ds.file_meta.get("TransferSyntaxUID", "")) or None
        info["transfer_syntax_in"] = ts
        info["sop_instance_uid"] = str(ds.get("SOPInstanceUID", "")) or None
        if ts:
            with contextlib.suppress(DctRedactError):
                info["handler"] = lookup(ts).name
    except Exception:  # the file is already known to be bad
        pass
    return info


def _quarantine(job: Job, options: BatchOptions) -> str | None:
    if not options.quarantine:
        return None
    target = Path(options.quarantine) / job.rel
    try:
        write_atomically(target, Path(job.src).read_bytes())
    except OSError:
        return None
    return str(target)


def process_one(job: Job, options: BatchOptions) -> dict[str, Any]:
    """Redact one file of a batch and return its audit record (never raises for the file).

    Parameters
    ----------
    job : Job
        The file, its output path and its previous record.
    options : BatchOptions
        Policy; detectors are built from ``options.settings`` once per process.

    Returns
    -------
    dict
        The record: ``outcome`` is ``redacted``, ``no-text``, ``skipped`` or ``failed``;
        ``resumed`` is true when an earlier identical run's output was kept.
    """
    quiet_pydicom()  # also in Dask workers, which never ran _worker_init
    from .api import FileResult, redact_file

    started = time.perf_counter()
    digest = options.digest()
    settings = options.settings
    base: dict[str, Any] = {"input": job.src, "rel": job.rel, "settings_digest": digest}
    try:
        input_sha = sha256_file(job.src)
    except OSError as exc:
        return {
            **base,
            "output": None,
            "outcome": "failed",
            "error": f"cannot read file: {exc.strerror}",
            "error_type": "OSError",
            "duration_s": round(time.perf_counter() - started, 4),
        }
    base["input_sha256"] = input_sha
    if _resumable(job, digest, input_sha):
        assert job.previous is not None
        return {**job.previous, "resumed": True}
    dst = Path(job.dst)
    tmp = dst.with_name(f".{dst.name}.redact.part") if options.edits_header else dst
    record: dict[str, Any]
    try:
        detectors = _detectors(settings)
        result = redact_file(
            job.src,
            tmp,
            settings.boxes,
            fill=settings.fill,
            detectors=detectors,
            keep_syntax=settings.keep_syntax,
            keep_text=settings.report_text,
            extras=settings.extras(),
        )
        changes: dict[str, str] = {}
        if options.edits_header:
            try:
                changes = _rewrite_with_edits(tmp, dst, options)
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        record = result.to_json()
        record["output"] = job.dst
        record["output_sha256"] = sha256_file(dst)
        record["header_changes"] = sorted(changes)
        if "SOPInstanceUID" in changes:
            record["sop_instance_uid_out"] = changes["SOPInstanceUID"]
    except DctRedactError as exc:
        outcome = "skipped" if isinstance(exc, UnsupportedError) else "failed"
        failed = FileResult(input=job.src, output=None, outcome=outcome, error=exc.reason)
        record = failed.to_json()
        record.update(_header_info(job.src))
        record["error_type"] = type(exc).__name__
        record["quarantined"] = _quarantine(job, options)
    except Exception as exc:  # a bug: still fail closed, never kill the batch
        failed = FileResult(
            input=job.src,
            output=None,
            outcome="failed",
            error=f"internal error ({type(exc).__name__}); please report it",
        )
        record = failed.to_json()
        record.update(_header_info(job.src))
        record["error_type"] = type(exc).__name__
        record["quarantined"] = _quarantine(job, options)
    record.update(base)
    record["input"] = job.src
    record["box_sources"] = _box_sources(record)
    record["dctredact_version"] = __version__
    record["duration_s"] = round(time.perf_counter() - started, 4)
    return record


def _box_sources(record: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    boxes = list(record.get("boxes") or [])
    for frame_list in (record.get("frame_boxes") or {}).values():
        boxes.extend(frame_list)
    for b in boxes:
        counts[b["source"]] = counts.get(b["source"], 0) + 1
    return dict(sorted(counts.items()))


# -- local execution --------------------------------------------------------------------


#: Modules that run native thread pools a forked child would inherit without their
#: threads (an onnxruntime session or OpenCV's pool built in the parent could hang there).
_THREAD_POOL_MODULES = ("onnxruntime", "cv2", "torch")


def _fork_is_safe() -> bool:
    """True when this process can be forked: Linux, no other Python thread (a lock held
    by one would stay locked in the child) and no native thread pool loaded.

    OpenBLAS (NumPy) keeps an idle thread; it shuts it down itself around ``fork``.
    """
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and not any(name in sys.modules for name in _THREAD_POOL_MODULES)
    )


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` when it is safe: the workers start in ~0.05 s with every module already
    imported. Otherwise a forkserver that preloads the package (each start then costs
    the imports, ~0.6-1 s on a 2-core machine), or ``spawn``."""
    if _fork_is_safe():
        return multiprocessing.get_context("fork")
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["dctredact.batch", "dctredact.api"])
        return ctx
    return multiprocessing.get_context("spawn")


#: Environment that keeps Tesseract (OpenMP) to one thread: processes are the parallelism.
_ONE_THREAD_ENV = {"OMP_THREAD_LIMIT": "1"}


def _one_thread_env() -> None:
    """Set :data:`_ONE_THREAD_ENV` in this process (values the user set are kept)."""
    for key, value in _ONE_THREAD_ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def _one_thread_env_scoped() -> Iterator[None]:
    """:func:`_one_thread_env` for the duration of an in-process run, then restored."""
    saved = {key: os.environ.get(key) for key in _ONE_THREAD_ENV}
    _one_thread_env()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's default mmap threshold, in effect once a trim threshold was set explicitly.
_DEFAULT_MMAP_THRESHOLD = 128 * 1024
_roomy_lock = threading.Lock()
_roomy_units = 0


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (has ``mallopt`` and ``malloc_trim``), else None."""
    import ctypes
    import platform

    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


@contextlib.contextmanager
def _roomy_malloc(libc: Any = None) -> Iterator[None]:
    """Let glibc reuse freed frame buffers during a work unit, then give memory back.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes
    the mmap threshold at 128 KiB: every frame-sized array is then a fresh ``mmap``,
    page-faulted in and unmapped again (3-4x the page faults, 10-15 % more CPU per file,
    measured on the benchmark batch). Only where that variable is set, the thresholds
    are raised for the unit and restored afterwards, followed by ``malloc_trim``, so the
    worker returns its memory between units as its operator asked (with units running
    side by side in several threads, when the last of them ends).
    """
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    libc = libc if libc is not None else (_glibc() if trim else None)
    if not trim or libc is None:
        yield
        return
    try:
        restore_trim = int(trim)
        restore_mmap = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", _DEFAULT_MMAP_THRESHOLD))
    except ValueError:
        yield
        return
    global _roomy_units
    with _roomy_lock:  # a worker with several threads runs units side by side
        if _roomy_units == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
            libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
        _roomy_units += 1
    try:
        yield
    finally:
        with _roomy_lock:
            _roomy_units -= 1
            if _roomy_units == 0:  # the last unit running restores and trims
                libc.mallopt(_M_TRIM_THRESHOLD, restore_trim)
                libc.mallopt(_M_MMAP_THRESHOLD, restore_mmap)
                libc.malloc_trim(0)


def _worker_init() -> None:
    """Pool worker set-up: one core per worker, quiet pydicom, own detectors.

    A forked worker inherits the parent's detector cache; it builds its own instead.
    """
    _one_thread_env()
    quiet_pydicom()
    _DETECTORS.clear()


def process_many(jobs: Sequence[Job], options: BatchOptions) -> list[dict[str, Any]]:
    """:func:`process_one` for several jobs in one task (fewer round trips to a pool).

    Runs in pool and Dask workers: Tesseract is kept to one thread there (Dask workers
    never run :func:`_worker_init`), and glibc's allocator keeps freed buffers for
    the unit (:func:`_roomy_malloc`).
    """
    _one_thread_env()
    with _roomy_malloc():
        return [process_one(job, options) for job in jobs]


#: Per-file cost that does not grow with the file (open, parse, hash, write, fsync),
#: as bytes of JPEG data that take as long to re-code (measured: ~8 ms vs ~25 ms/MB).
FILE_OVERHEAD_BYTES = 256 * 1024


def job_weight(job: Job) -> int:
    """Expected cost of `job` in bytes-equivalent: the input's size plus a fixed part.

    A job with a previous record is usually only hashed (about 1/16 of the work).
    """
    try:
        size = os.stat(job.src).st_size
    except OSError:
        size = 0
    if job.previous:
        size //= 16
    return size + FILE_OVERHEAD_BYTES


def chunked(
    jobs: Sequence[Job],
    workers: int,
    per_worker: int = 4,
    most: int = 16,
    weight: Callable[[Job], int] = job_weight,
) -> list[list[Job]]:
    """Split `jobs` into work units, largest files first, units shrinking to the end.

    Jobs are sorted by :func:`job_weight`, heaviest first (stable), so a large file
    never starts last. Each unit takes files until it would weigh more than the
    remaining weight divided by ``workers * per_worker`` (guided scheduling: large
    units while there is much left, single small files at the end, so the workers
    finish together), but never less than 1/16 of that at the start (too many tiny
    tasks cost round trips) and at most `most` files. A unit of several files thus
    never weighs more than ``total / (workers * per_worker)``.
    """
    weighted = sorted(
        ((weight(job), i, job) for i, job in enumerate(jobs)), key=lambda t: (-t[0], t[1])
    )
    slots = max(1, workers * per_worker)
    remaining = sum(w for w, _, _ in weighted)
    floor = remaining / (slots * 16)
    units: list[list[Job]] = []
    i = 0
    while i < len(weighted):
        target = max(remaining / slots, floor)
        unit: list[Job] = []
        load = 0
        while i < len(weighted) and len(unit) < most:
            w = weighted[i][0]
            if unit and load + w > target:
                break
            unit.append(weighted[i][2])
            load += w
            i += 1
        remaining -= load
        units.append(unit)
    return units


def run_local(jobs: Sequence[Job], options: BatchOptions, workers: int) -> Iterator[dict[str, Any]]:
    """Yield the record of every job as it finishes (in-process when ``workers <= 1``).

    Jobs go to the pool in small work units (:func:`chunked`); records come in
    completion order. Closing the iterator early (or an interrupt) cancels the units
    not yet started.
    """
    if workers <= 1 or len(jobs) <= 1:
        with _one_thread_env_scoped():  # one core, as each worker of a pool
            for job in jobs:
                yield process_one(job, options)
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=_mp_context(), initializer=_worker_init
    )
    try:
        futures = [pool.submit(process_many, unit, options) for unit in chunked(jobs, workers)]
        for future in cf.as_completed(futures):
            yield from future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_jobs(
    jobs: Sequence[Job],
    options: BatchOptions,
    *,
    workers: int = 1,
    dask_address: str | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Run `jobs` locally or on a Dask cluster and summarise them.

    Parameters
    ----------
    jobs : sequence of Job
        The files.
    options : BatchOptions
        The policy.
    workers : int
        Local worker processes (ignored with `dask_address`).
    dask_address : str, optional
        A Dask scheduler address (``tcp://host:8786``).
    on_record : callable, optional
        Called with each record as soon as it is available (report, progress).
    """
    started = time.perf_counter()
    summary = BatchSummary(total=len(jobs))
    if dask_address:
        from .dask_backend import run_dask

        records: Iterable[dict[str, Any]] = run_dask(dask_address, jobs, options)
    else:
        records = run_local(jobs, options, workers)
    try:
        for record in records:
            summary.add(record)
            if on_record is not None:
                on_record(record)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
        summary.elapsed = time.perf_counter() - started
    return summary
