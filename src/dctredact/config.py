"""TOML configuration files: a site pins its redaction policy in one file.

Keys are the long command-line option names, with dashes or underscores, at the top level
or in a ``[redact]`` table; flags given on the command line override them::

    # dctredact.toml
    fill = "black"
    ocr = true
    ocr-confidence = 35
    rules = "DicomPixelAnonymizer.script"   # relative to this file
    box = ["0,0,640,40"]
    mark-clean = true
    jobs = 4
    report = "/var/log/dctredact/report.jsonl"

``--in-place`` is deliberately not accepted from a file: it must be typed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import DctRedactError
from .geometry import Box
from .handlers.base import Fill
from .settings import Settings

__all__ = ["CONFIG_KEYS", "load_config", "settings_from_mapping"]

#: Config key (CLI parameter name) -> expected Python type(s).
CONFIG_KEYS: dict[str, tuple[type, ...]] = {
    "box": (list,),
    "fill": (str,),
    "ocr": (bool,),
    "rules": (str,),
    "boxes": (str,),
    "keep_us_regions": (bool,),
    "ocr_confidence": (int, float),
    "ocr_padding": (int,),
    "textnet": (bool,),
    "keep_syntax": (bool,),
    "report_text": (bool,),
    "icon": (str,),
    "remove_overlays": (bool,),
    "strip_markers": (bool,),
    "policy": (str,),
    "keep_word": (list,),
    "jobs": (int,),
    "report": (str,),
    "quarantine": (str,),
    "mark_clean": (bool,),
    "new_uids": (bool,),
    "uid_salt": (str,),
    "uid_map": (str,),
    "allow_skip": (bool,),
    "dask": (str,),
    "html": (str,),
    "quiet": (bool,),
    "verbose": (bool,),
}

#: Keys whose values are paths, resolved relative to the config file's folder.
PATH_KEYS = frozenset({"rules", "boxes", "report", "quarantine", "uid_map", "html"})


def _box_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 4 and all(isinstance(v, int) for v in value):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict) and {"x", "y", "w", "h"} <= value.keys():
        return ",".join(str(value[k]) for k in ("x", "y", "w", "h"))
    raise DctRedactError(f"box {value!r}: expected 'x,y,w,h', [x, y, w, h] or a table")


def normalise(
    data: dict[str, Any], base: Path | None = None, where: str = "config"
) -> dict[str, Any]:
    """Check keys and types of a config mapping and return it with CLI parameter names.

    Raises
    ------
    DctRedactError
        On an unknown key or a value of the wrong type.
    """
    merged: dict[str, Any] = {k: v for k, v in data.items() if k != "redact"}
    if isinstance(data.get("redact"), dict):
        merged.update(data["redact"])
    out: dict[str, Any] = {}
    value: Any
    for raw_key, value in merged.items():
        key = raw_key.replace("-", "_")
        if key not in CONFIG_KEYS:
            raise DctRedactError(
                f"{where}: unknown key {raw_key!r}; expected one of "
                + ", ".join(k.replace("_", "-") for k in CONFIG_KEYS)
            )
        types = CONFIG_KEYS[key]
        if isinstance(value, bool) and bool not in types:
            raise DctRedactError(f"{where}: {raw_key} must be {types[0].__name__}, not a boolean")
        if not isinstance(value, types):
            raise DctRedactError(
                f"{where}: {raw_key} must be {' or '.join(t.__name__ for t in types)}"
            )
        if key == "box":
            value = [_box_text(v) for v in list(value)]  # type: ignore[call-overload]
        elif key == "fill":
            try:
                value = Fill(str(value))
            except ValueError:
                raise DctRedactError(
                    f"{where}: fill {value!r}; expected one of {', '.join(f.value for f in Fill)}"
                ) from None
        elif key in PATH_KEYS and base is not None and key != "dask":
            value = str(base / os.path.expanduser(str(value)))
        out[key] = value
    return out


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML config file.

    Returns
    -------
    dict
        CLI parameter name -> value (paths resolved relative to the file).

    Raises
    ------
    DctRedactError
        When the file cannot be read or parsed, or has unknown keys.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DctRedactError(f"cannot read config: {exc.strerror}", path=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise DctRedactError(f"not valid TOML: {exc}", path=str(p)) from None
    return normalise(data, p.parent, where=str(p))


def settings_from_mapping(values: dict[str, Any]) -> Settings:
    """Build :class:`Settings` from normalised config values (defaults for the rest)."""
    from .geometry import parse_box

    boxes: tuple[Box, ...] = tuple(parse_box(b) for b in values.get("box", []))
    return Settings(
        boxes=boxes,
        fill=values.get("fill", Fill.BLACK),
        ocr=values.get("ocr", True),
        ocr_confidence=float(values.get("ocr_confidence", 30.0)),
        ocr_padding=int(values.get("ocr_padding", 1)),
        textnet=values.get("textnet", True),
        rules=values.get("rules"),
        box_file=values.get("boxes"),
        us_regions=values.get("keep_us_regions", False),
        keep_syntax=values.get("keep_syntax", False),
        report_text=values.get("report_text", False),
        icon=values.get("icon", "redact"),
        remove_overlays=values.get("remove_overlays", False),
        strip_markers=values.get("strip_markers", False),
        policy=values.get("policy", "all"),
        keep_words=tuple(str(w) for w in values.get("keep_word", [])),
    )
