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
from .api import FileResult, redact_file
from .errors import DctRedactError
from .geometry import Box, parse_box
from .handlers.base import Fill

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
    for root in inputs:
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                if p.is_file() and _is_dicom(p):
                    found.append((p, p.relative_to(root)))
        else:
            found.append((root, Path(root.name)))
    return found


@app.command()
def redact(
    inputs: Annotated[
        list[Path], typer.Argument(help="DICOM files or folders (searched recursively).")
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output file, or folder for several inputs.")
    ],
    box: Annotated[
        list[str] | None,
        typer.Option("--box", help="Box to redact in every frame, 'x,y,w,h' (repeatable)."),
    ] = None,
    fill: Annotated[Fill, typer.Option(help="What the redacted area becomes.")] = Fill.BLACK,
    keep_syntax: Annotated[
        bool, typer.Option(help="Refuse files whose transfer syntax would have to change.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON record per file on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only print errors.")] = False,
) -> None:
    """Redact boxes in DICOM files; the output keeps its transfer syntax where possible."""
    boxes = _boxes(box)
    files = _inputs(inputs)
    if not files:
        _err("error: no DICOM files found in the inputs")
        raise typer.Exit(EXIT_USAGE)
    single = len(files) == 1 and not inputs[0].is_dir() and not output.is_dir()
    for src, _ in files:
        if src.resolve() == (output.resolve() if single else None):
            _err(f"error: {src}: output is the input; refusing to overwrite it")
            raise typer.Exit(EXIT_USAGE)
    failed = 0
    for src, rel in files:
        dst = output if single else output / rel
        try:
            result = redact_file(src, dst, boxes, fill=fill)
        except DctRedactError as exc:
            failed += 1
            result = FileResult(input=str(src), output=None, outcome="failed", error=exc.reason)
            _err(f"FAILED {exc}")
        else:
            if not quiet:
                _err(
                    f"{result.outcome:9s} {src} -> {dst} ({result.handler}, "
                    f"{result.changed} {result.unit})"
                )
        if json_out:
            typer.echo(json.dumps(result.to_json()))
    if not quiet:
        _err(f"{len(files) - failed} of {len(files)} file(s) written; {failed} failed")
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
