"""The ``dctredact`` command line: a thin layer over :mod:`dctredact.api`.

Human output goes to stderr, machine output (``--json``, reports) to stdout. Exit codes:
0 every file succeeded; 1 at least one file failed (it was not written); 2 usage error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from .api import FileResult, redact_file, scan_file
from .detect.base import Detector
from .errors import DctRedactError
from .geometry import Box, parse_box
from .handlers.base import Fill
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


def _boxes(values: list[str] | None) -> list[Box]:
    try:
        return [parse_box(v) for v in values or []]
    except DctRedactError as exc:
        raise typer.BadParameter(exc.reason, param_hint="--box") from None


def _is_dicom(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _inputs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every DICOM file under `inputs`."""
    found: list[tuple[Path, Path]] = []
    several = len(inputs) > 1
    for root in inputs:
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                if p.is_file() and _is_dicom(p):
                    rel = p.relative_to(root)
                    found.append((p, Path(root.name) / rel if several else rel))
        else:
            found.append((root, Path(root.name)))
    return found


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
TextOpt = Annotated[
    bool,
    typer.Option(
        "--report-text", help="Include recognised text in the report (it is patient data)."
    ),
]


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
) -> Settings:
    return Settings(
        boxes=tuple(_boxes(box)),
        fill=fill,
        ocr=ocr,
        ocr_confidence=ocr_confidence,
        ocr_padding=ocr_padding,
        rules=str(rules) if rules else None,
        box_file=str(boxes) if boxes else None,
        us_regions=us_regions,
        keep_syntax=keep_syntax,
        report_text=report_text,
    )


def _detectors(settings: Settings) -> list[Detector]:
    try:
        return settings.detectors()
    except DctRedactError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def redact(
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
    ocr_padding: PadOpt = 3,
    keep_syntax: Annotated[
        bool, typer.Option(help="Refuse files whose transfer syntax would have to change.")
    ] = False,
    report_text: TextOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON record per file on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only print errors.")] = False,
) -> None:
    """Find and redact burned-in text; the output keeps its transfer syntax where possible.

    Text is found by OCR, by CTP rules and from explicit boxes; the union is redacted.
    A file that cannot be redacted is not written, and the exit code is 1.
    """
    settings = _settings(
        box,
        fill,
        ocr,
        rules,
        boxes,
        keep_us_regions,
        ocr_confidence,
        ocr_padding,
        keep_syntax,
        report_text,
    )
    files = _inputs(inputs)
    if not files:
        _err("error: no DICOM files found in the inputs")
        raise typer.Exit(EXIT_USAGE)
    single = len(files) == 1 and not inputs[0].is_dir() and not output.is_dir()
    if single and files[0][0].resolve() == output.resolve():
        _err(f"error: {output}: output is the input; refusing to overwrite it")
        raise typer.Exit(EXIT_USAGE)
    detectors = _detectors(settings)
    failed = 0
    for src, rel in files:
        dst = output if single else output / rel
        try:
            result = redact_file(
                src,
                dst,
                settings.boxes,
                fill=settings.fill,
                detectors=detectors,
                keep_syntax=settings.keep_syntax,
                keep_text=settings.report_text,
            )
        except DctRedactError as exc:
            failed += 1
            result = FileResult(input=str(src), output=None, outcome="failed", error=exc.reason)
            _err(f"FAILED {exc}")
        else:
            if not quiet:
                _err(
                    f"{result.outcome:9s} {src} -> {dst} ({result.handler}, "
                    f"{len(result.boxes)} box(es), {result.changed} {result.unit})"
                )
        if json_out:
            typer.echo(json.dumps(result.to_json()))
    if not quiet:
        _err(f"{len(files) - failed} of {len(files)} file(s) written; {failed} failed")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command()
def scan(
    inputs: Annotated[list[Path], typer.Argument(help="DICOM files or folders.")],
    box: BoxOpt = None,
    ocr: OcrOpt = True,
    rules: RulesOpt = None,
    boxes: BoxFileOpt = None,
    keep_us_regions: UsOpt = False,
    ocr_confidence: ConfOpt = 30.0,
    ocr_padding: PadOpt = 3,
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
    )
    detectors = _detectors(settings)
    failed = 0
    for src, _ in _inputs(inputs):
        try:
            record = scan_file(src, settings.boxes, detectors, keep_text=report_text)
        except DctRedactError as exc:
            failed += 1
            record = {"input": str(src), "outcome": "failed", "error": exc.reason}
            _err(f"FAILED {exc}")
        if json_out:
            typer.echo(json.dumps(record))
        elif record.get("outcome") != "failed":
            frame_boxes = record["frame_boxes"]
            typer.echo(
                f"{src}: {len(record['boxes'])} box(es) on every frame, "
                f"{sum(len(v) for v in frame_boxes.values())} on single frames"
            )
            for b in record["boxes"]:
                typer.echo(f"  {b['x']},{b['y']},{b['w']},{b['h']}  {b['source']}")
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        _err("interrupted")
        sys.exit(130)
