"""The audit report of a batch run: one JSON record per file, appended line by line.

A record is flushed as soon as its file is finished, so a killed run keeps every record
it completed and a re-run can resume from them. At the end of a run the report is
rewritten (atomically) with the latest record of every input, sorted by input path.

Records never contain recognised text or header values other than the SOP Instance UID
unless ``--report-text`` was given.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from .atomic import write_atomically

__all__ = [
    "SUCCESS",
    "ReportWriter",
    "load_report",
    "record_key",
    "write_report",
    "write_uid_map",
]

#: Outcomes after which the output file exists and is complete.
SUCCESS = frozenset({"redacted", "no-text"})


def record_key(path: str | os.PathLike[str]) -> str:
    """The key records are matched by: the absolute, normalised input path."""
    return os.path.abspath(os.fspath(path))


def load_report(path: str | os.PathLike[str] | None) -> dict[str, dict[str, Any]]:
    """Read a JSONL report; the last record of each input wins.

    Lines that are not complete JSON objects (a run killed mid-line) are ignored.

    Parameters
    ----------
    path : path or None
        The report; a missing file (or None) gives an empty mapping.

    Returns
    -------
    dict
        Input key (see :func:`record_key`) to its latest record.
    """
    records: dict[str, dict[str, Any]] = {}
    if path is None or not Path(path).is_file():
        return records
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("input"), str):
                records[record_key(record["input"])] = record
    return records


class ReportWriter:
    """Append records to a JSONL report, one flushed line each.

    Parameters
    ----------
    path : path
        The report file (its folder is created).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record and flush it to the operating system."""
        if self._fh is None:
            raise ValueError("report is closed")
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_report(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> None:
    """Rewrite a report atomically with `records` sorted by input path."""
    ordered = sorted(records, key=lambda r: str(r.get("input", "")))
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in ordered)
    write_atomically(path, text.encode("utf-8"))


def write_uid_map(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write the old -> new SOP Instance UID mapping of a run as CSV.

    Returns
    -------
    int
        The number of rows written.
    """
    rows = sorted(
        {
            (str(r["sop_instance_uid"]), str(r["sop_instance_uid_out"]), str(r.get("output")))
            for r in records
            if r.get("sop_instance_uid_out") and r.get("sop_instance_uid")
        }
    )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["old_sop_instance_uid", "new_sop_instance_uid", "output"])
    writer.writerows(rows)
    write_atomically(path, buf.getvalue().encode("utf-8"))
    return len(rows)
