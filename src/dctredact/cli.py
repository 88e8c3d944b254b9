"""The ``dctredact`` command line: a thin layer over :mod:`dctredact.api`.

Human output goes to stderr, machine output (``--json``, reports) to stdout. Exit codes:
0 every file succeeded; 1 at least one file failed (it was not written); 2 usage error.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .atomic import write_atomically
from .batch import BatchOptions, BatchSummary, Job, discover, plan_jobs, run_jobs
from .detect.base import Detector
from .errors import DctRedactError
from .geometry import Box, parse_box
from .handlers.base import Fill
from .report import ReportWriter, load_report, record_key, write_report, write_uid_map
from .settings import Settings

app = typer.Typer(
    name="dctredact",
    help="Remove burned-in text from DICOM images without recompressing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    typer.echo(message, err=True)


class StdoutClosed(Exception):
    """Standard output was closed by its reader (``dctredact ... --json | head``)."""


def _out(line: str) -> None:
    """Print `line` on standard output now (a reader sees each record as it comes).

    A closed pipe raises :class:`StdoutClosed`, for the command to stop and say so on
    stderr; standard output is pointed at the null device first, so that nothing else
    (the final flush) fails on it.
    """
    try:
        typer.echo(line)
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        raise StdoutClosed from None


def _stdout_closed(done: int, total: int, hint: str = "") -> NoReturn:
    """Say on stderr that standard output was closed after `done` files; exit 1."""
    _err(f"error: standard output was closed: stopped after {done} of {total} file(s){hint}")
    raise typer.Exit(EXIT_FAILED)


@contextlib.contextmanager
def _stop_if_stdout_closed(done: int, total: int) -> Iterator[None]:
    """Turn :class:`StdoutClosed` in the block into :func:`_stdout_closed`."""
    try:
        yield
    except StdoutClosed:
        _stdout_closed(done, total)


def _boxes(values: list[str] | None) -> list[Box]:
    try:
        return [parse_box(v) for v in values or []]
    except DctRedactError as exc:
        raise typer.BadParameter(exc.reason, param_hint="--box") from None


def _inputs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every DICOM file under `inputs`."""
    from .batch import discover

    return discover(inputs)[0]


OcrOpt = Annotated[
    bool, typer.Option("--ocr/--no-ocr", help="Find text with Tesseract OCR (default on).")
]
RulesOpt = Annotated[
    Path | None,
    typer.Option("--rules", help="CTP DicomPixelAnonymizer script of header-driven regions."),
]
BoxFileOpt = Annotated[
    Path | None,
    typer.Option("--boxes", help="JSON file of boxes keyed by SOP Instance UID or path."),
]
UsOpt = Annotated[
    bool,
    typer.Option(
        "--keep-us-regions", help="Redact everything outside the ultrasound data regions."
    ),
]
BoxOpt = Annotated[
    list[str] | None,
    typer.Option("--box", help="Box to redact in every frame, 'x,y,w,h' (repeatable)."),
]
ConfOpt = Annotated[
    float, typer.Option("--ocr-confidence", help="Minimum OCR word confidence (0-100).")
]
PadOpt = Annotated[int, typer.Option("--ocr-padding", help="Pixels added around OCR words.")]
NetOpt = Annotated[
    bool,
    typer.Option(
        "--textnet/--no-textnet",
        help="With OCR, also run the trained text detection network (default on).",
    ),
]
TextOpt = Annotated[
    bool,
    typer.Option(
        "--report-text", help="Include recognised text in the report (it is patient data)."
    ),
]


class IconChoice(enum.StrEnum):
    """--icon choices."""

    REDACT = "redact"
    REMOVE = "remove"
    KEEP = "keep"


IconOpt = Annotated[
    IconChoice,
    typer.Option(help="Icon Image Sequence thumbnails: redact the boxes scaled, remove, keep."),
]
OverlayOpt = Annotated[
    bool,
    typer.Option("--remove-overlays", help="Remove overlay planes (60xx,3000), not only report."),
]
StripOpt = Annotated[
    bool,
    typer.Option(
        "--strip-markers",
        help="Remove JPEG COM and APPn segments (but JFIF/Adobe) that may carry identity.",
    ),
]


class PolicyChoice(enum.StrEnum):
    """--policy choices."""

    ALL = "all"
    PHI = "phi"


PolicyOpt = Annotated[
    PolicyChoice,
    typer.Option(help="Redact all detected text, or only text matching identifying header values."),
]
KeepWordOpt = Annotated[
    list[str] | None,
    typer.Option("--keep-word", help="A word never redacted (e.g. a scanner label); repeatable."),
]

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="TOML file of options (same names as the flags; flags override it)."
    ),
]

_PATH_PARAMS = frozenset({"rules", "boxes", "report", "quarantine", "uid_map", "html"})


def _with_config(ctx: typer.Context, config: Path | None, values: dict[str, Any]) -> dict[str, Any]:
    """Fill parameters not given on the command line from the TOML `config`."""
    values.pop("ctx", None)
    if config is None:
        return values
    from .config import load_config

    try:
        conf = load_config(config)
    except DctRedactError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    for key, value in conf.items():
        if key not in values:
            _err(f"error: {config}: {key.replace('_', '-')} does not apply to this command")
            raise typer.Exit(EXIT_USAGE)
        source = ctx.get_parameter_source(key)
        if source is None or getattr(source, "name", "") == "DEFAULT":
            values[key] = Path(value) if key in _PATH_PARAMS else value
    return values


def _settings(
    box: list[str] | None,
    fill: Fill,
    ocr: bool,
    rules: Path | None,
    boxes: Path | None,
    us_regions: bool,
    ocr_confidence: float,
    ocr_padding: int,
    keep_syntax: bool,
    report_text: bool,
    icon: str = "redact",
    remove_overlays: bool = False,
    strip_markers: bool = False,
    policy: str = "all",
    keep_words: tuple[str, ...] = (),
    textnet: bool = True,
) -> Settings:
    return Settings(
        boxes=tuple(_boxes(box)),
        fill=fill,
        ocr=ocr,
        ocr_confidence=ocr_confidence,
        ocr_padding=ocr_padding,
        textnet=textnet,
        rules=str(rules) if rules else None,
        box_file=str(boxes) if boxes else None,
        us_regions=us_regions,
        keep_syntax=keep_syntax,
        report_text=report_text,
        icon=icon,
        remove_overlays=remove_overlays,
        strip_markers=strip_markers,
        policy=policy,
        keep_words=keep_words,
    )


def _detectors(settings: Settings) -> list[Detector]:
    try:
        return settings.detectors()
    except DctRedactError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def redact(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path], typer.Argument(help="DICOM files or folders (searched recursively).")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output file, or folder for several inputs.")
    ],
    box: BoxOpt = None,
    fill: Annotated[Fill, typer.Option(help="What the redacted area becomes.")] = Fill.BLACK,
    ocr: OcrOpt = True,
    rules: RulesOpt = None,
    boxes: BoxFileOpt = None,
    keep_us_regions: UsOpt = False,
    ocr_confidence: ConfOpt = 30.0,
    ocr_padding: PadOpt = 1,
    textnet: NetOpt = True,
    keep_syntax: Annotated[
        bool, typer.Option(help="Refuse files whose transfer syntax would have to change.")
    ] = False,
    report_text: TextOpt = False,
    icon: IconOpt = IconChoice.REDACT,
    remove_overlays: OverlayOpt = False,
    strip_markers: StripOpt = False,
    policy: PolicyOpt = PolicyChoice.ALL,
    keep_word: KeepWordOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON record per file on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only print errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Print a line for every file.")
    ] = False,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=1, help="Worker processes.")] = 1,
    report: Annotated[
        Path | None,
        typer.Option(
            help="JSONL audit report, also used to resume "
            "[default: OUTDIR/dctredact-report.jsonl for folders]."
        ),
    ] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Copy files that failed or were skipped here (never into OUTDIR)."),
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option(
            "--in-place", help="Allow the output to be (inside) an input: inputs are replaced."
        ),
    ] = False,
    mark_clean: Annotated[
        bool,
        typer.Option(
            "--mark-clean",
            help="Set Burned In Annotation to NO and add Clean Pixel Data Option (113101, DCM).",
        ),
    ] = False,
    new_uids: Annotated[
        bool,
        typer.Option(
            "--new-uids", help="Replace SOP Instance UIDs (deterministic from --uid-salt)."
        ),
    ] = False,
    uid_salt: Annotated[
        str | None,
        typer.Option(envvar="DCTREDACT_UID_SALT", help="Secret salt for --new-uids."),
    ] = None,
    uid_map: Annotated[
        Path | None,
        typer.Option(help="CSV of old -> new UIDs [default: OUTDIR-uid-map.csv beside OUTDIR]."),
    ] = None,
    allow_skip: Annotated[
        bool,
        typer.Option(
            "--allow-skip", help="Exit 0 even when files were skipped (video, no Pixel Data)."
        ),
    ] = False,
    dask: Annotated[
        str | None, typer.Option(help="Run on this Dask scheduler (tcp://host:8786).")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write a before/after contact sheet (HTML) here.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Find and redact burned-in text; the output keeps its transfer syntax where possible.

    Folders are searched recursively (DICOM is recognised by content) and mirrored under
    OUTPUT. Text is found by OCR, by CTP rules and from explicit boxes; the union is
    redacted. A file that cannot be redacted is not written. Re-running the same command
    skips files already done (same input bytes, same settings, output intact).

    Exit codes: 0 every file written; 1 a file failed, or was skipped without
    --allow-skip; 2 usage error.
    """
    values = _with_config(ctx, config, dict(locals()))
    box, fill, ocr, rules, boxes = (values[k] for k in ("box", "fill", "ocr", "rules", "boxes"))
    settings = _settings(
        box,
        fill,
        ocr,
        rules,
        boxes,
        values["keep_us_regions"],
        values["ocr_confidence"],
        values["ocr_padding"],
        values["keep_syntax"],
        values["report_text"],
        IconChoice(values["icon"]).value,
        values["remove_overlays"],
        values["strip_markers"],
        PolicyChoice(values["policy"]).value,
        tuple(values["keep_word"] or ()),
        values["textnet"],
    )
    quiet, verbose, jobs = values["quiet"], values["verbose"], values["jobs"]
    report, quarantine, uid_map, html = (
        values[k] for k in ("report", "quarantine", "uid_map", "html")
    )
    if values["new_uids"] and not values["uid_salt"]:
        _err("error: --new-uids needs a secret --uid-salt (or DCTREDACT_UID_SALT)")
        raise typer.Exit(EXIT_USAGE)
    options = BatchOptions(
        settings=settings,
        mark_clean=values["mark_clean"],
        new_uids=values["new_uids"],
        uid_salt=values["uid_salt"] or "",
        quarantine=str(quarantine) if quarantine else None,
        in_place=in_place,
    )
    single = len(inputs) == 1 and not inputs[0].is_dir() and not output.is_dir()
    _check_locations(inputs, output, in_place=in_place, quarantine=quarantine, single=single)
    exclude = [q for q in (quarantine,) if q is not None]
    if not single and not any(output.resolve() == i.resolve() for i in inputs):
        exclude.append(output)
    files, ignored = discover(inputs, exclude)
    if not files:
        _err("error: no DICOM files found in the inputs")
        raise typer.Exit(EXIT_USAGE)
    _detectors(settings)  # validate rule and box files before any work
    _remove_stale_parts(output, single=single)
    if report is None and not single:
        report = output / REPORT_NAME
    previous = load_report(report)
    try:
        job_list = plan_jobs(files, output, single=single, previous=previous)
    except DctRedactError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    summary = _run_with_progress(
        job_list, options, jobs, values["dask"], report, previous, quiet, verbose, json_out
    )
    if options.new_uids:
        map_path = uid_map or output.parent / f"{output.name}-uid-map.csv"
        rows = write_uid_map(map_path, [*previous.values(), *summary.records])
        if not quiet:
            _err(f"UID map: {map_path} ({rows} UID(s))")
    if html is not None:
        from .preview import contact_sheet

        contact_sheet(_latest(previous, summary.records), html)
        if not quiet:
            _err(f"contact sheet: {html}")
    if not quiet:
        _print_summary(summary, ignored, report)
    bad = summary.failed or (summary.skipped and not values["allow_skip"])
    raise typer.Exit(EXIT_FAILED if bad else EXIT_OK)


REPORT_NAME = "dctredact-report.jsonl"


def _remove_stale_parts(output: Path, *, single: bool) -> None:
    """Delete temporary ``.NAME.*.part`` files a killed run left behind (never outputs)."""
    if single:
        stale = list(output.parent.glob(f".{output.name}.*.part"))
    else:
        stale = list(output.rglob(".*.part")) if output.is_dir() else []
    for p in stale:
        if p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()


def _latest(
    previous: dict[str, dict[str, Any]], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    merged = dict(previous)
    for r in records:
        merged[record_key(r["input"])] = r
    return list(merged.values())


def _check_locations(
    inputs: list[Path], output: Path, *, in_place: bool, quarantine: Path | None, single: bool
) -> None:
    out = output.resolve()
    for inp in inputs:
        root = inp.resolve()
        if root == out:
            if not in_place:
                _err(
                    f"error: {output}: output is the input; refusing to overwrite it "
                    "(give --in-place to replace the inputs)"
                )
                raise typer.Exit(EXIT_USAGE)
        elif inp.is_dir() and out.is_relative_to(root) and not in_place:
            _err(
                f"error: {output} is inside the input folder {inp}; choose an output "
                "outside the input tree (or give --in-place)"
            )
            raise typer.Exit(EXIT_USAGE)
    if quarantine is not None and not single:
        q = quarantine.resolve()
        if q == out or q.is_relative_to(out):
            _err(
                f"error: quarantine {quarantine} is inside the output {output}: failed "
                "files are not redacted and must not be mixed with the output"
            )
            raise typer.Exit(EXIT_USAGE)


class _NoBar:
    """No progress display (``--quiet``, or stderr is not a terminal): messages go to
    stderr, and rich (25 ms of import) is never loaded."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, description: str) -> None:
        """Nothing to show."""

    def emit(self, message: str) -> None:
        """Print `message` on stderr."""
        _err(message)


class _Bar(_NoBar):
    """A transient rich progress bar on stderr; messages print above it."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True, highlight=False),
            transient=True,
        )
        self.total = total

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        self.task = self.progress.add_task("redacting", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self, description: str) -> None:
        """One more file done; `description` is the running count."""
        self.progress.update(self.task, advance=1, description=description)

    def emit(self, message: str) -> None:
        """Print `message` above the bar."""
        if self.progress.live.is_started:
            self.progress.console.print(message, markup=False, soft_wrap=True)
        else:
            _err(message)


def _run_with_progress(
    job_list: list[Job],
    options: BatchOptions,
    jobs: int,
    dask: str | None,
    report: Path | None,
    previous: dict[str, dict[str, Any]],
    quiet: bool,
    verbose: bool,
    json_out: bool,
) -> BatchSummary:
    bar = _NoBar() if quiet or not sys.stderr.isatty() else _Bar(len(job_list))
    writer = ReportWriter(report) if report is not None else None
    new_records: list[dict[str, Any]] = []
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    emit = bar.emit

    with bar:

        def on_record(record: dict[str, Any]) -> None:
            outcome = record.get("outcome")
            if writer is not None and not record.get("resumed"):
                writer.write(record)
            new_records.append(record)
            if json_out:
                _out(json.dumps(record, sort_keys=True))
            if outcome == "failed":
                counts["failed"] += 1
                emit(f"FAILED {record['input']}: {record.get('error')}")
            elif outcome == "skipped":
                counts["skipped"] += 1
                emit(f"SKIPPED {record['input']}: {record.get('error')}")
            else:
                counts["ok"] += 1
                if verbose:
                    done = " (already done)" if record.get("resumed") else ""
                    emit(
                        f"{outcome:9s} {record['input']} -> {record['output']} "
                        f"({record.get('handler')}, {len(record.get('boxes') or [])} box(es), "
                        f"{record.get('changed')} {record.get('unit')}){done}"
                    )
            bar.advance(f"ok {counts['ok']} failed {counts['failed']} skipped {counts['skipped']}")

        try:
            summary = run_jobs(
                job_list, options, workers=jobs, dask_address=dask, on_record=on_record
            )
        except DctRedactError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(EXIT_FAILED) from None
        except StdoutClosed:
            # Like a pipe's reader going away mid-run: the files written are whole (each
            # is written atomically) and the report lists them, so a rerun resumes.
            hint = "; every file written is complete"
            if report is not None:
                hint += f" and listed in {report} (rerun to resume)"
            _stdout_closed(len(new_records), len(job_list), hint)
        finally:
            if writer is not None:
                writer.close()
                assert report is not None
                write_report(report, _latest(previous, new_records))
    return summary


def _print_summary(summary: BatchSummary, ignored: int, report: Path | None) -> None:
    o = summary.outcomes
    rate = summary.total / summary.elapsed if summary.elapsed > 0 else 0.0
    parts = [f"{o.get('redacted', 0)} redacted", f"{o.get('no-text', 0)} no-text"]
    if summary.resumed:
        parts.append(f"{summary.resumed} already done")
    _err(
        f"{summary.written} of {summary.total} file(s) written ({', '.join(parts)}); "
        f"{summary.failed} failed, {summary.skipped} skipped in {summary.elapsed:.1f} s "
        f"({rate:.1f} files/s)"
    )
    if ignored:
        _err(f"{ignored} non-DICOM file(s) ignored")
    if report is not None:
        _err(f"report: {report}")


@app.command()
def scan(
    inputs: Annotated[list[Path], typer.Argument(help="DICOM files or folders.")],
    box: BoxOpt = None,
    ocr: OcrOpt = True,
    rules: RulesOpt = None,
    boxes: BoxFileOpt = None,
    keep_us_regions: UsOpt = False,
    ocr_confidence: ConfOpt = 30.0,
    ocr_padding: PadOpt = 1,
    textnet: NetOpt = True,
    report_text: TextOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON record per file on stdout.")
    ] = False,
) -> None:
    """Detect text only: print the boxes each file would get (nothing is written)."""
    settings = _settings(
        box,
        Fill.BLACK,
        ocr,
        rules,
        boxes,
        keep_us_regions,
        ocr_confidence,
        ocr_padding,
        False,
        report_text,
        textnet=textnet,
    )
    from . import api  # the DICOM stack, only where a file is read in this process

    detectors = _detectors(settings)
    failed = 0
    sources = _inputs(inputs)
    for done, (src, _) in enumerate(sources):
        try:
            record = api.scan_file(src, settings.boxes, detectors, keep_text=report_text)
        except DctRedactError as exc:
            failed += 1
            record = {"input": str(src), "outcome": "failed", "error": exc.reason}
            _err(f"FAILED {exc}")
        with _stop_if_stdout_closed(done, len(sources)):
            _print_scan(src, record, json_out)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def _print_scan(src: Path, record: dict[str, Any], json_out: bool) -> None:
    """Print what :func:`scan` found in one file (a JSON record, or lines of boxes)."""
    if json_out:
        _out(json.dumps(record))
    elif record.get("outcome") != "failed":
        frame_boxes = record["frame_boxes"]
        _out(
            f"{src}: {len(record['boxes'])} box(es) on every frame, "
            f"{sum(len(v) for v in frame_boxes.values())} on single frames"
        )
        for b in record["boxes"]:
            _out(f"  {b['x']},{b['y']},{b['w']},{b['h']}  {b['source']}")


@app.command()
def verify(
    original: Annotated[Path, typer.Argument(help="The original file or folder.")],
    redacted: Annotated[Path, typer.Argument(help="The redacted file or folder.")],
    report: Annotated[
        Path | None,
        typer.Option(
            help="Report of the run (boxes and fill) [default: REDACTED/dctredact-report.jsonl]."
        ),
    ] = None,
    box: BoxOpt = None,
    fill: Annotated[
        Fill | None, typer.Option(help="Fill used (default: from the report, else black).")
    ] = None,
    ocr: Annotated[
        bool, typer.Option("--ocr/--no-ocr", help="OCR the output and flag text left.")
    ] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON result per file on stdout.")
    ] = False,
) -> None:
    """Prove a redaction changed only the planned area, and that no text is left.

    DCT path: every coefficient outside the planned blocks identical, planned blocks hold
    the fill. Pixel paths: pixels outside the boxes identical. All other data elements
    unchanged (except what --mark-clean / --new-uids change, to their expected values).
    Boxes come from the report (or --box). Exit 0 verified, 1 a check failed, 2 usage.
    """
    from .verify import boxes_from_record, pair_trees, verify_file

    if original.is_dir() != redacted.is_dir():
        _err("error: ORIGINAL and REDACTED must both be files or both be folders")
        raise typer.Exit(EXIT_USAGE)
    pairs = pair_trees(original, redacted) if original.is_dir() else [(original, redacted)]
    if report is None and redacted.is_dir() and (redacted / REPORT_NAME).is_file():
        report = redacted / REPORT_NAME
    records = load_report(report)
    by_output = {record_key(r["output"]): r for r in records.values() if r.get("output")}
    explicit = _boxes(box)
    failed = 0
    for done, (src, dst) in enumerate(pairs):
        record = records.get(record_key(src)) or by_output.get(record_key(dst))
        if not dst.exists():
            if record and record.get("outcome") in ("failed", "skipped"):
                _err(f"not written {src}: {record.get('outcome')} ({record.get('error')})")
                continue
            failed += 1
            _err(f"FAILED {dst}: missing (no record says why)")
            continue
        every, frames = boxes_from_record(record) if record else ([], {})
        every = [*every, *explicit]
        if not record and not explicit:
            _err(f"warning: {src}: no report record and no --box: checking against no boxes")
        use_fill = fill or Fill((record or {}).get("fill") or "black")
        result = verify_file(src, dst, boxes=every, frame_boxes=frames, fill=use_fill, ocr=ocr)
        if json_out:
            with _stop_if_stdout_closed(done, len(pairs)):
                _out(json.dumps(result.to_json()))
        if result.ok:
            _err(f"ok     {dst}")
        else:
            failed += 1
            _err(f"FAILED {dst}:")
            for problem in result.problems:
                _err(f"  - {problem}")
    _err(f"{len(pairs) - failed} of {len(pairs)} file(s) verified; {failed} failed")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command()
def check(
    fixtures: Annotated[Path, typer.Argument(help="Folder of fixture images (or one file).")],
    expect: Annotated[
        Path, typer.Option("--expect", help="JSON expectations: boxes, golden sha256, settings.")
    ],
    config: ConfigOpt = None,
    ocr: Annotated[
        bool | None,
        typer.Option("--ocr/--no-ocr", help="Override the detection setting of the file."),
    ] = None,
    residual: Annotated[
        bool,
        typer.Option("--residual/--no-residual", help="OCR the outputs for text left."),
    ] = True,
    update_hashes: Annotated[
        bool, typer.Option("--update-hashes", help="Write the outputs' sha256 into --expect.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON result per fixture on stdout.")
    ] = False,
) -> None:
    """CI regression check: redact fixtures, require every expected box covered.

    Also flags text left in the outputs (OCR) and outputs whose sha256 differs from the
    golden hash. Exit 0 all passed, 1 something regressed, 2 usage error.
    """
    from . import check as chk

    try:
        expectations = chk.load_expectations(expect)
        values = dict(expectations["settings"])
        if config is not None:
            from .config import load_config

            values.update(load_config(config))
    except DctRedactError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    if ocr is not None:
        values["ocr"] = ocr
    options = chk.options_from(values)
    _detectors(options.settings)
    results = chk.run_check(fixtures, expectations, options, residual=residual)
    failed = 0
    for done, r in enumerate(results):
        if json_out:
            with _stop_if_stdout_closed(done, len(results)):
                _out(json.dumps(r.to_json()))
        if r.ok:
            _err(f"ok   {r.name}")
            continue
        failed += 1
        _err(f"FAIL {r.name}")
        for problem in r.problems:
            _err(f"  - {problem}")
    if update_hashes:
        changed = chk.update_hashes(expect, expectations["raw"], results)
        _err(f"{expect}: {changed} hash(es) updated")
    _err(f"{len(results) - failed} of {len(results)} fixture(s) passed")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command()
def preview(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None, typer.Argument(help="A DICOM file (omit with --html).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="PNG to write (before | after).")
    ] = None,
    redacted: Annotated[
        Path | None,
        typer.Option(help="The redacted file; default: redact FILE now with the options."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Batch report: boxes for FILE, records for --html.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Write an HTML contact sheet of every --report record.")
    ] = None,
    embed: Annotated[
        bool, typer.Option("--embed", help="Embed the thumbnails in the HTML file.")
    ] = False,
    frames: Annotated[int, typer.Option(min=1, help="Frames sampled from a cine.")] = 4,
    box: BoxOpt = None,
    fill: Annotated[Fill, typer.Option(help="What the redacted area becomes.")] = Fill.BLACK,
    ocr: OcrOpt = True,
    rules: RulesOpt = None,
    boxes: BoxFileOpt = None,
    keep_us_regions: UsOpt = False,
    config: ConfigOpt = None,
) -> None:
    """QA previews: before | after PNG of one file, or an HTML contact sheet of a batch.

    Before: detected boxes outlined (colour by source). After: the redacted area (planned
    8x8 blocks on the DCT path) tinted green. Exit 0 written, 1 failed, 2 usage.
    """
    from . import preview as pv
    from .verify import boxes_from_record

    if html is not None:
        if report is None or not report.is_file():
            _err("error: --html needs --report FILE (the JSONL report of a batch)")
            raise typer.Exit(EXIT_USAGE)
        pv.contact_sheet(load_report(report).values(), html, embed=embed, frames=min(frames, 2))
        _err(f"contact sheet: {html}")
        raise typer.Exit(EXIT_OK)
    if not files or len(files) != 1 or output is None:
        _err("error: give one FILE and -o OUT.png (or --html with --report)")
        raise typer.Exit(EXIT_USAGE)
    src = files[0]
    try:
        if redacted is not None:
            records = load_report(report)
            record = records.get(record_key(src)) or {}
            every, per_frame = boxes_from_record(record)
            every = [*every, *_boxes(box)]
            img = pv.render_preview(
                src, redacted, every, per_frame, handler=record.get("handler"), frames=frames
            )
        else:
            import tempfile

            from .batch import process_one

            values = _with_config(
                ctx,
                config,
                {
                    "box": box,
                    "fill": fill,
                    "ocr": ocr,
                    "rules": rules,
                    "boxes": boxes,
                    "keep_us_regions": keep_us_regions,
                },
            )
            settings = _settings(
                values["box"],
                values["fill"],
                values["ocr"],
                values["rules"],
                values["boxes"],
                values["keep_us_regions"],
                30.0,
                3,
                False,
                False,
            )
            _detectors(settings)
            with tempfile.TemporaryDirectory(prefix="dctredact-preview-") as tmp:
                dst = Path(tmp) / "out.dcm"
                job = Job(record_key(src), src.name, str(dst))
                record = process_one(job, BatchOptions(settings=settings))
                if record["outcome"] not in ("redacted", "no-text"):
                    _err(f"FAILED {src}: {record.get('error')}")
                    raise typer.Exit(EXIT_FAILED)
                img = pv.preview_record(record, frames=frames)
        write_atomically(output, pv.png_bytes(img))
    except DctRedactError as exc:
        _err(f"FAILED {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    _err(f"preview: {output}")


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A DICOM file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show transfer syntax, handler, frames, fragments and JPEG structure of a file."""
    from .inspection import describe_file

    try:
        info = describe_file(file)
    except DctRedactError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    _print_human(info)


def _print_human(info: dict[str, Any], indent: str = "") -> None:
    for key, value in info.items():
        if isinstance(value, dict):
            typer.echo(f"{indent}{key}:")
            _print_human(value, indent + "  ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            typer.echo(f"{indent}{key}:")
            for item in value:
                typer.echo(f"{indent}  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            typer.echo(f"{indent}{key}: {value}")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> NoReturn:
    """Console-script entry point."""
    from .quiet import quiet_pydicom

    # pydicom's warnings quote header values: never on a terminal or in logs. pydicom
    # itself is configured when this process first loads it (a Dask client never does).
    quiet_pydicom(load=False)
    try:
        app()
        status: object = 0
    except SystemExit as exc:
        status = exc.code
    except KeyboardInterrupt:  # pragma: no cover
        _err("interrupted")
        status = 130
    exit_now(status)


def exit_now(status: object) -> NoReturn:
    """End the process with `status`, as :func:`sys.exit` would, without tearing the
    interpreter down.

    Every output file is closed by then (written atomically); what is left to the
    interpreter is freeing the modules one by one: 0.05-0.1 s after a run that loaded
    numpy, pydicom or a Dask client (measured), spent after the work is done. So the
    ``atexit`` handlers run (pool and logging shutdown, temporary files), the standard
    streams are flushed, and :func:`os._exit` ends the process. Only for the console
    script: :func:`main` is never called in-process by tests or library users.
    """
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # sys.exit("message"): printed, status 1
        print(status, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said there
            if code == 0:
                code = 120  # what the interpreter returns when its final flush fails
    os._exit(code)
