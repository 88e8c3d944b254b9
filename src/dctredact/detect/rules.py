"""Rules detector: CTP ``DicomPixelAnonymizer`` scripts.

A pixel-anonymizer script (johnperry/CTP, ``org.rsna.ctp.stdstages.anonymizer.dicom``)
is free text holding *signatures*::

    { Manufacturer.containsIgnoreCase("GE MEDICAL") * Rows.equals("512") }
    (0,0,512,25) (0,487,512,25)

The first signature whose condition is true for a dataset gives the regions to blank.
This module reproduces CTP's semantics, read from its Java sources:

* ``PixelScript.getSignatures``: conditions are found with ``\\{[^\\}]*\\}``; the regions of
  a condition are the ``\\([^\\)]*\\)`` matches in the text between it and the next
  condition. Everything else is ignored free text.
* ``Signature.addRegion``: a region is split on commas (Java ``String.split``, which drops
  trailing empty fields); it needs exactly four fields, else it is skipped with a warning.
* ``DicomObject.matches``: the condition language (tokenizer, operator-precedence parser
  and evaluator) including its quirks; a malformed condition is never true (CTP logs the
  exception and returns false).
* ``DicomObject.getElementValue``: element specifiers (keywords, ``[gggg,eeee]``,
  ``gggg[creator]ee``, ``A::B`` sequence paths); a missing element reads as ``""`` and a
  multi-valued element as its values joined with ``\\``.
* ``Regions.getAdjustedRegions``: a negative x (y) counts from the right (bottom) edge and
  regions are clipped to the image.

See ``docs/rules.md`` for the language and for the (few, documented) deviations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.charset import decode_bytes
from pydicom.datadict import get_entry, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from ..errors import InvalidDicomError, RulesSyntaxError
from ..geometry import Box
from .base import Detection, FrameSource

__all__ = [
    "FUNCTIONS",
    "Condition",
    "PixelScript",
    "Region",
    "Rule",
    "RulesDetector",
    "element_value",
    "load_script",
    "parse_script",
]

#: The functions a condition may call (``Tag.function("value")``).
FUNCTIONS = frozenset(
    {
        "equals",
        "equalsIgnoreCase",
        "matches",
        "contains",
        "containsIgnoreCase",
        "startsWith",
        "startsWithIgnoreCase",
        "endsWith",
        "endsWithIgnoreCase",
        "isLessThan",
        "isGreaterThan",
    }
)

_CONDITION_RE = re.compile(r"\{[^}]*\}")
_REGION_RE = re.compile(r"\([^)]*\)")
# Integer.parseInt after trim(): optional sign, then digits (Java accepts Unicode digits).
_INT_RE = re.compile(r"[+-]?\d+")
_JAVA_INT_MIN, _JAVA_INT_MAX = -(2**31), 2**31 - 1

# Java Character.isWhitespace: Unicode space separators except no-break spaces, plus
# \t \n \x0b \f \r and \x1c-\x1f.
_NOT_JAVA_WS = frozenset("\u00a0\u2007\u202f\u0085")

# DicomObject.getElementTag / getPrivateElementTag patterns (ASCII hex digits).
_HEX_RE = re.compile(r"[0-9a-fA-F]{1,8}")
_HEX_COMMA_RE = re.compile(r"([0-9a-fA-F]{0,4}),([0-9a-fA-F]{1,4})")
_PRIVATE_RE = re.compile(r"([0-9a-fA-F]{1,4}),?\[([^\]]*)\],?([0-9a-fA-F]{1,2})?")

# dcm4che-1.4 ``Tags`` names that are not pydicom keywords and that the algorithmic
# aliases below ("...Seq" -> "...Sequence", "Ref..." -> "Referenced...") do not cover.
# Taken from dcm4che-1.4's src/etc/dictionary.xml (the ``key`` attribute).
_DCM4CHE_NAMES: dict[str, int] = {
    "SoftwareVersion": 0x00181020,
    "AcquisitionDatetime": 0x0008002A,
    "RetrieveAET": 0x00080054,
    "StationAET": 0x00080055,
    "SendingAET": 0x00020017,
    "ReceivingAET": 0x00020018,
    "ReferringPhysicianPhoneNumbers": 0x00080094,
    "ConsultingPhysicianName": 0x0008009C,
    "PhysicianOfRecord": 0x00081048,
    "PerformingPhysicianName": 0x00081050,
    "NameOfPhysicianReadingStudy": 0x00081060,
    "OperatorName": 0x00081070,
    "AdmittingDiagnosisDescription": 0x00081080,
    "AdmittingDiagnosisCodeSeq": 0x00081084,
    "RefPPSSeq": 0x00081111,
    "RefSOPTransferSyntaxUIDInFile": 0x00041512,
    "OffsetOfFirstRootDirectoryRecord": 0x00041200,
    "OffsetOfLastRootDirectoryRecord": 0x00041202,
    "OffsetOfLowerLevelDirectoryEntity": 0x00041420,
    "StudiesContainingOtherRefInstancesSeq": 0x00081200,
    "EventElapsedTime": 0x00082130,
    "EventTimerName": 0x00082132,
}

_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


# --------------------------------------------------------------------------------------
# Element access (DicomObject.getElementValue)
# --------------------------------------------------------------------------------------


def _keyword_tag(name: str) -> int | None:
    """Resolve a keyword: pydicom keyword, then dcm4che-1.4 ``Tags`` name."""
    tag = tag_for_keyword(name)
    if tag is not None:
        return int(tag)
    if name in _DCM4CHE_NAMES:
        return _DCM4CHE_NAMES[name]
    candidates = []
    if name.endswith("Seq"):
        candidates.append(name[:-3] + "Sequence")
    for cand in [name, *candidates]:
        expanded = re.sub(r"Ref(?=[A-Z])", "Referenced", cand)
        if expanded != cand:
            candidates.append(expanded)
    for cand in candidates:
        tag = tag_for_keyword(cand)
        if tag is not None:
            return int(tag)
    return None


def _element_tag(name: str) -> int:
    """``DicomObject.getElementTag``: keyword or hex tag; 0 when it is neither."""
    name = name.strip()
    if len(name) >= 2 and name[0] == "{" and name[-1] == "}":
        name = name[1:-1]
    elif len(name) >= 2 and (
        (name[0] == "[" and name[-1] == "]") or (name[0] == "(" and name[-1] == ")")
    ):
        name = name[1:-1].strip()
    tag = _keyword_tag(name)
    if tag is not None:
        return tag
    if _HEX_RE.fullmatch(name):
        return int(name, 16)
    m = _HEX_COMMA_RE.fullmatch(name)
    if m:
        group = int(m.group(1), 16) if m.group(1) else 0
        return (group << 16) | int(m.group(2), 16)
    return 0


def _private_spec(name: str) -> tuple[int, str, int] | None:
    """Parse ``gggg[creator]ee`` into (group, creator, element offset), or None."""
    if len(name) >= 2 and (
        (name[0] == "[" and name[-1] == "]") or (name[0] == "(" and name[-1] == ")")
    ):
        name = name[1:-1].strip()
    m = _PRIVATE_RE.fullmatch(name)
    if not m:
        return None
    group = int(m.group(1), 16)
    if group & 1 == 0:
        return None
    # CTP: getHexInt(null) is 0, so "gggg[creator]" names element (gggg,bb00).
    offset = int(m.group(3), 16) if m.group(3) else 0
    return group, m.group(2).strip(), offset


def _private_tag(ds: Dataset, name: str) -> int:
    """``DicomObject.getPrivateElementTag``: find the block reserved by the creator."""
    spec = _private_spec(name)
    if spec is None:
        return 0
    group, creator, offset = spec
    for block in range(1, 256):
        tag = (group << 16) | block
        if tag in ds:
            try:
                owner = _first_string(ds[tag])
            except Exception:
                continue
            if owner == creator:
                return (group << 16) | (block << 8) | offset
    return 0


def _first_string(elem: DataElement) -> str | None:
    value = elem.value
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return str(value[0]) if len(value) else None
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip(" \x00")
    return str(value)


def _java_float(value: float, single: bool) -> str:
    """Format like Java ``Float.toString`` / ``Double.toString``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    text = str(np.float32(value)) if single else repr(float(value))
    sign, digit_tuple, exponent = Decimal(text).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple)
    e10 = exponent + len(digits) - 1
    neg = "-" if sign else ""
    if -3 <= e10 < 7:
        if e10 >= 0:
            whole = digits[: e10 + 1].ljust(e10 + 1, "0")
            frac = digits[e10 + 1 :] or "0"
        else:
            whole, frac = "0", "0" * (-e10 - 1) + digits
        return f"{neg}{whole}.{frac}"
    return f"{neg}{digits[0]}.{digits[1:] or '0'}E{e10}"


def _one_string(value: Any, vr: str) -> str:
    if vr == "FL":
        return _java_float(float(value), single=True)
    if vr in ("FD", "OD", "OF"):
        return _java_float(float(value), single=False)
    if vr == "AT":
        return f"{int(value):08X}"
    return str(value)


def _value_string(elem: DataElement, ds: Dataset) -> str:
    """CTP ``getElementValue(DcmElement, DcmObject)`` for one element."""
    vr = str(elem.VR)
    value = elem.value
    private = bool(elem.tag.group & 1) and (elem.tag.element & 0xFF00) != 0
    if vr == "SQ":
        return ""  # dcm4che cannot give strings for a sequence
    if isinstance(value, (bytes, bytearray)):
        if private:
            # CTP decodes the raw bytes of private elements (no trimming).
            encodings = getattr(ds, "_character_set", None) or ["iso8859"]
            if isinstance(encodings, str):
                encodings = [encodings]
            try:
                return decode_bytes(bytes(value), list(encodings), set())
            except Exception:
                return bytes(value).decode("latin-1")
        if vr in _BINARY_VRS:
            return ""
        return bytes(value).decode("latin-1")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        parts = [_one_string(v, vr) for v in value]
        if elem.tag.group < 8:
            return parts[0] if parts else ""  # FileMetaInfo: getString (first value)
        return "\\".join(parts)
    return _one_string(value, vr)


def _java_split_double_colon(spec: str) -> list[str]:
    parts = spec.split("::")
    while len(parts) > 1 and parts[-1] == "":
        parts.pop()
    return parts


def element_value(ds: Dataset, specifier: str) -> str:
    """Read an element the way a CTP condition does.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The dataset (its ``file_meta``, if any, supplies group 0002 elements).
    specifier : str
        A keyword (pydicom keyword or dcm4che-1.4 ``Tags`` name), a tag
        (``[gggg,eeee]``, ``(gggg,eeee)``, ``ggggeeee``), a private element
        ``gggg[creator]ee``, or a ``::``-separated path through the first item of
        sequences (``A::B``).

    Returns
    -------
    str
        The value; multiple values are joined with ``\\``; ``""`` when the element is
        missing, empty, binary, a sequence, or the specifier names no element.
    """
    spec = specifier.strip()
    if not spec:
        return ""
    if spec.startswith("root:"):
        spec = spec[5:].strip()
    file_meta = getattr(ds, "file_meta", None)
    cur = ds
    elem: DataElement | None = None
    specs = _java_split_double_colon(spec)
    try:
        for k, part in enumerate(specs):
            tag = _element_tag(part)
            if tag == 0:
                tag = _private_tag(cur, part)
            if tag == 0:
                return ""
            if file_meta is not None and (tag & 0x7FFFFFFF) < 0x80000 and tag in file_meta:
                elem = file_meta[tag]
            elif tag in cur:
                elem = cur[tag]
            else:
                return ""
            if k < len(specs) - 1:
                if elem.VR != "SQ" or not elem.value:
                    return ""
                cur = elem.value[0]
        assert elem is not None
        return _value_string(elem, cur)
    except Exception:
        return ""  # CTP: "Unable to obtain value" -> default ""


# --------------------------------------------------------------------------------------
# Conditions (DicomObject.matches)
# --------------------------------------------------------------------------------------

# Token kinds, as in CTP's Token class.
_OPERATOR, _OPERAND, _LP, _RP, _END, _UNKNOWN = "OPERATOR", "OPERAND", "LP", "RP", "END", "UNKNOWN"
_PRECEDENCE = {"?": 0, "+": 1, "*": 2, "!": 3}


def _translate_java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Java regex for Python (named groups and ``\\z`` translated).

    Java's ``\\d``, ``\\w``, ``\\s``, ``\\b`` and ``(?i)`` are ASCII-only by default, so the
    pattern is compiled with :data:`re.ASCII`.
    """
    out = re.sub(r"\(\?<([A-Za-z][A-Za-z0-9]*)>", r"(?P<\1>", pattern)
    out = re.sub(r"\\k<([A-Za-z][A-Za-z0-9]*)>", r"(?P=\1)", out)
    out = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", out)
    return re.compile(out, re.ASCII)


def _java_equals_ignore_case(a: str, b: str) -> bool:
    if len(a) != len(b):
        return False
    for ca, cb in zip(a, b, strict=True):
        if ca == cb:
            continue
        ua, ub = ca.upper(), cb.upper()
        if ua == ub or ua.lower() == ub.lower():
            continue
        return False
    return True


def _java_number(text: str) -> float | None:
    digits = re.sub(r"[^0-9.]", "", text)
    if not re.fullmatch(r"\d+\.?\d*|\.\d+", digits):
        return None
    return float(digits)


@dataclass(frozen=True)
class _Operand:
    """One ``identifier.function("value")`` test (or a bare ``true``/``false``)."""

    identifier: str
    function: str
    argument: str | None  # None when the argument is not a quoted string
    constant: bool | None = None  # bare true/false
    regex: re.Pattern[str] | None = None

    def evaluate(self, ds: Dataset) -> bool:
        if self.constant is not None:
            return self.constant
        if self.argument is None or self.function not in FUNCTIONS:
            return False
        element = element_value(ds, self.identifier)
        match = self.argument
        fn = self.function
        if fn == "equals":
            return element == match
        if fn == "equalsIgnoreCase":
            return _java_equals_ignore_case(element, match)
        if fn == "matches":
            return self.regex is not None and self.regex.fullmatch(element) is not None
        if fn == "contains":
            return match in element
        if fn == "containsIgnoreCase":
            return match.lower() in element.lower()
        if fn == "startsWith":
            return element.startswith(match)
        if fn == "startsWithIgnoreCase":
            return element.lower().startswith(match.lower())
        if fn == "endsWith":
            return element.endswith(match)
        if fn == "endsWithIgnoreCase":
            return element.lower().endswith(match.lower())
        d1, d2 = _java_number(element.lower()), _java_number(match.lower())
        if d1 is None or d2 is None:
            return False
        return d1 < d2 if fn == "isLessThan" else d1 > d2


class _ConditionError(Exception):
    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class _Token:
    kind: str
    index: int  # position in the condition text
    op: str = ""
    operand: _Operand | None = None


class _Compiler:
    """A port of CTP's ``DicomObject`` Tokenizer and parser, emitting postfix code.

    CTP evaluates operands while it tokenizes; the token stream and the parse do not
    depend on element values, so compiling once to postfix and evaluating per dataset
    with CTP's ``unstack`` gives the same results.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        # (message, position, is_syntax): syntax problems raise in strict mode.
        self.problems: list[tuple[str, int, bool]] = []
        self.next_token = _Token(_END, 0)

    # --- tokenizer -----------------------------------------------------------------
    def _get_char(self) -> str:
        if self.index < len(self.text):
            c = self.text[self.index]
            self.index += 1
            return c
        return ""

    def _skip_whitespace(self) -> None:
        text = self.text
        in_comment = False
        while self.index < len(text):
            c = text[self.index]
            if in_comment:
                if c == "\n":
                    in_comment = False
                self.index += 1
            elif c == "/":
                if self.index + 1 < len(text) and text[self.index + 1] == "/":
                    in_comment = True
                    self.index += 2
                else:
                    return
            elif c.isspace() and c not in _NOT_JAVA_WS:
                self.index += 1
            else:
                return

    def _get_field(self, delim: str) -> str:
        chars = []
        in_quote = False
        while (c := self._get_char()) != "":
            if c == '"':
                in_quote = not in_quote
            if not in_quote and c == delim:
                break
            chars.append(c)
        return "".join(chars)

    def _get_token(self) -> _Token:
        self._skip_whitespace()
        start = self.index
        if start >= len(self.text):
            return _Token(_END, start)
        c = self.text[start]
        if c == "[" or c.isalpha():
            return _Token(_OPERAND, start, operand=self._operand(start))
        if c == "(":
            self.index += 1
            return _Token(_LP, start)
        if c == ")":
            self.index += 1
            return _Token(_RP, start)
        if c in "+*!":
            self.index += 1
            return _Token(_OPERATOR, start, op=c)
        return _Token(_UNKNOWN, start)

    def _operand(self, start: int) -> _Operand:
        identifier = self._get_field(".").strip()
        if identifier == "true":
            return _Operand(identifier, "", None, constant=True)
        if identifier == "false":
            return _Operand(identifier, "", None, constant=False)
        function = self._get_field("(").strip()
        argument = self._get_field(")").strip()
        if len(argument) > 1 and argument[0] == '"' and argument[-1] == '"':
            arg: str | None = argument[1:-1]
        else:
            arg = None
            self.problems.append(
                (
                    f"the argument of {identifier}.{function}(...) is not a quoted string; "
                    "the test is always false",
                    start,
                    True,
                )
            )
        regex = None
        if function not in FUNCTIONS:
            self.problems.append(
                (
                    f"unknown function {function!r} (expected one of "
                    f"{', '.join(sorted(FUNCTIONS))}); the test is always false",
                    start,
                    True,
                )
            )
        elif function == "matches" and arg is not None:
            try:
                regex = _translate_java_regex(arg)
            except re.error as exc:
                raise _ConditionError(f"invalid regular expression: {exc}", start) from None
        if arg is not None and function in FUNCTIONS:
            self._check_identifier(identifier, start)
        return _Operand(identifier, function, arg, regex=regex)

    def _check_identifier(self, identifier: str, start: int) -> None:
        spec = identifier.strip()
        if spec.startswith("root:"):
            spec = spec[5:].strip()
        for part in _java_split_double_colon(spec):
            tag = _element_tag(part)
            if tag == 0:
                if _private_spec(part) is None:
                    self.problems.append(
                        (
                            f'{part.strip()!r} names no DICOM element; it always reads as ""',
                            start,
                            False,
                        )
                    )
                    return
                continue
            group = tag >> 16
            if not group & 1 and not _known_tag(tag):
                self.problems.append(
                    (
                        f"{part.strip()!r} is not a known DICOM element "
                        f"({group:04X},{tag & 0xFFFF:04X})",
                        start,
                        False,
                    )
                )

    def _consume(self) -> _Token:
        tok = self.next_token
        self.next_token = self._get_token()
        return tok

    def _expect(self, kind: str) -> None:
        if self.next_token.kind != kind:
            raise _ConditionError(
                f"{kind} expected, but {self.next_token.kind} found", self.next_token.index
            )
        self._consume()

    # --- parser --------------------------------------------------------------------
    def compile(self) -> list[_Operand | str]:
        """Tokenize and parse the whole condition into postfix code."""
        self.next_token = self._get_token()
        ops: list[str] = ["?"]
        toks: list[_Operand | str] = []
        self._expression(ops, toks)
        self._expect(_END)
        return toks

    def _expression(self, ops: list[str], toks: list[_Operand | str]) -> None:
        self._parse(ops, toks)
        while self.next_token.kind == _OPERATOR and self.next_token.op in "+*":
            self._push_operator(self.next_token.op, ops, toks)
            self._consume()
            self._parse(ops, toks)
        while ops[-1] != "?":
            toks.append(ops.pop())

    def _parse(self, ops: list[str], toks: list[_Operand | str]) -> None:
        tok = self.next_token
        if tok.kind == _OPERAND:
            assert tok.operand is not None
            toks.append(tok.operand)
            self._consume()
        elif tok.kind == _LP:
            self._consume()
            ops.append("?")
            self._expression(ops, toks)
            self._expect(_RP)
            ops.pop()
        elif tok.kind == _OPERATOR and tok.op == "!":
            self._push_operator("!", ops, toks)
            self._consume()
            self._parse(ops, toks)
        else:
            raise _ConditionError(
                f"an operand, '(' or '!' expected, but {tok.kind} found", tok.index
            )

    @staticmethod
    def _push_operator(op: str, ops: list[str], toks: list[_Operand | str]) -> None:
        while _PRECEDENCE[ops[-1]] >= _PRECEDENCE[op]:
            toks.append(ops.pop())
        ops.append(op)


def _known_tag(tag: int) -> bool:
    try:
        get_entry(tag)
    except KeyError:
        return False
    return True


def _unstack(code: list[_Operand | str], ds: Dataset) -> bool:
    """CTP's ``unstack``: evaluate postfix code from its end (leftovers are ignored)."""
    pos = len(code)

    def pop() -> bool:
        nonlocal pos
        if pos == 0:
            return False
        pos -= 1
        tok = code[pos]
        if isinstance(tok, _Operand):
            return tok.evaluate(ds)
        if tok == "!":
            return not pop()
        v1 = pop()
        v2 = pop()
        return (v1 or v2) if tok == "+" else (v1 and v2)

    return pop()


@dataclass(frozen=True)
class Condition:
    """A compiled condition (the text between ``{`` and ``}``).

    Attributes
    ----------
    text : str
        The condition as written.
    error : str or None
        Why the condition cannot be parsed; such a condition is never true (as in CTP).
    """

    text: str
    error: str | None = None
    _code: tuple[_Operand | str, ...] = field(default=(), repr=False, compare=False)

    def evaluate(self, ds: Dataset) -> bool:
        """True when the condition holds for `ds`."""
        if self.error is not None:
            return False
        return _unstack(list(self._code), ds)


def _compile_condition(text: str) -> tuple[Condition, list[tuple[str, int, bool]]]:
    compiler = _Compiler(text)
    try:
        code = compiler.compile()
    except _ConditionError as exc:
        problems = [*compiler.problems, (f"{exc}; the rule never matches", exc.index, True)]
        return Condition(text, error=str(exc)), problems
    return Condition(text, None, tuple(code)), compiler.problems


# --------------------------------------------------------------------------------------
# Scripts, rules and regions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """A region as written in the script: ``(x, y, w, h)``.

    A negative `x` (`y`) counts from the right (bottom) edge of the image.
    """

    x: int
    y: int
    w: int
    h: int
    line: int = 0

    def box(self, rows: int, columns: int) -> Box | None:
        """The region on a ``columns`` x ``rows`` image (CTP ``getAdjustedRegions``).

        Returns
        -------
        Box or None
            The clipped box (source ``"rules"``), or None when nothing of it is inside.
        """
        x = self.x + columns if self.x < 0 else self.x
        y = self.y + rows if self.y < 0 else self.y
        x, y = max(x, 0), max(y, 0)
        x1 = min(x + self.w, columns)
        y1 = min(y + self.h, rows)
        if x1 <= x or y1 <= y:
            return None
        return Box(x, y, x1 - x, y1 - y, source="rules")


@dataclass(frozen=True)
class Rule:
    """One signature: a condition and the regions blanked when it is the first match.

    Attributes
    ----------
    index : int
        1-based position in the script.
    line : int
        Line of the opening ``{``.
    condition : Condition
        The compiled condition.
    regions : tuple of Region
        Valid regions, in script order.
    warnings : tuple of str
        Problems found in this rule (skipped regions, suspicious tests).
    """

    index: int
    line: int
    condition: Condition
    regions: tuple[Region, ...]
    warnings: tuple[str, ...] = ()

    def matches(self, ds: Dataset) -> bool:
        """True when the rule's condition holds for `ds`."""
        return self.condition.evaluate(ds)

    def boxes(self, rows: int, columns: int) -> list[Box]:
        """The rule's regions on a ``columns`` x ``rows`` image, clipped; empty ones dropped."""
        out = []
        for region in self.regions:
            box = region.box(rows, columns)
            if box is not None:
                out.append(box)
        return out


@dataclass
class PixelScript:
    """A parsed DicomPixelAnonymizer script.

    Attributes
    ----------
    rules : list of Rule
        The signatures, in script order.
    warnings : list of str
        Everything suspicious found while parsing (each names the line).
    name : str
        Script name used in messages.
    """

    rules: list[Rule]
    warnings: list[str] = field(default_factory=list)
    name: str = "<script>"

    def match(self, ds: Dataset) -> Rule | None:
        """The first rule whose condition holds for `ds` (CTP ``getRegionsFor``), or None."""
        for rule in self.rules:
            if rule.matches(ds):
                return rule
        return None

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


def _parse_region(body: str) -> tuple[int, int, int, int] | None:
    """``Signature.addRegion``: 4 comma-separated integers, else None."""
    fields = body.split(",")
    while fields and fields[-1] == "":  # Java String.split drops trailing empty fields
        fields.pop()
    if len(fields) != 4:
        return None
    values = []
    for f in fields:
        f = f.strip()
        if not _INT_RE.fullmatch(f):
            return None
        v = int(f)
        if not _JAVA_INT_MIN <= v <= _JAVA_INT_MAX:
            return None
        values.append(v)
    return values[0], values[1], values[2], values[3]


def parse_script(text: str, *, name: str = "<script>", strict: bool = False) -> PixelScript:
    """Parse a DicomPixelAnonymizer script.

    Parameters
    ----------
    text : str
        The script.
    name : str
        Name used in warnings, notes and errors (e.g. the file name).
    strict : bool
        When False (the default, as CTP), problems become warnings: a malformed condition
        never matches, an unknown function or unquoted argument is a false test, a bad
        region is skipped. When True, any problem in a condition raises.

    Returns
    -------
    PixelScript

    Raises
    ------
    RulesSyntaxError
        Only when `strict` and a condition has a problem; the message names the line.
    """
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        lo, hi = 0, len(line_starts)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid
        return lo + 1

    matches = list(_CONDITION_RE.finditer(text))
    rules: list[Rule] = []
    warnings: list[str] = []
    for i, m in enumerate(matches):
        index = i + 1
        line = line_of(m.start())
        body = m.group()[1:-1]
        condition, problems = _compile_condition(body)
        rule_warnings = []
        for message, pos, is_syntax in problems:
            where = line_of(m.start() + 1 + pos)
            if strict and is_syntax:
                raise RulesSyntaxError(f"line {where}: rule {index}: {message}", path=name)
            rule_warnings.append(f"{name}:{where}: rule {index}: {message}")
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        regions = []
        for rm in _REGION_RE.finditer(text, m.end(), end):
            parsed = _parse_region(rm.group()[1:-1])
            rline = line_of(rm.start())
            if parsed is None:
                rule_warnings.append(
                    f"{name}:{rline}: rule {index}: skipping region {rm.group()!r}: "
                    "expected four comma-separated integers (x,y,w,h)"
                )
                continue
            x, y, w, h = parsed
            if w < 0 or h < 0:
                rule_warnings.append(
                    f"{name}:{rline}: rule {index}: region {rm.group()!r} has a negative "
                    "size and covers nothing"
                )
            regions.append(Region(x, y, w, h, rline))
        if not regions:
            rule_warnings.append(f"{name}:{line}: rule {index} has no regions")
        warnings.extend(rule_warnings)
        rules.append(Rule(index, line, condition, tuple(regions), tuple(rule_warnings)))
    return PixelScript(rules, warnings, name)


def load_script(path: str | PathLike[str], *, strict: bool = False) -> PixelScript:
    """Read and parse a script file (UTF-8, as CTP reads it).

    Parameters
    ----------
    path : str or os.PathLike
        The script file.
    strict : bool
        See :func:`parse_script`.

    Returns
    -------
    PixelScript
        Named after the file.

    Raises
    ------
    RulesSyntaxError
        When the file cannot be read, or (with `strict`) a condition is malformed; the
        message names the file (and line).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RulesSyntaxError(
            f"cannot read the script: {exc.strerror or exc}", path=str(p)
        ) from None
    text = data.decode("utf-8", errors="replace")
    script = parse_script(text, name=str(p), strict=strict)
    if "\ufffd" in text and b"\xef\xbf\xbd" not in data:
        script.warnings.insert(0, f"{p}: the script is not valid UTF-8; bad bytes replaced")
    return script


# --------------------------------------------------------------------------------------
# Detector
# --------------------------------------------------------------------------------------


class RulesDetector:
    """Detector that applies a CTP pixel-anonymizer script.

    Parameters
    ----------
    script : PixelScript
        The parsed script.
    """

    name = "rules"

    def __init__(self, script: PixelScript) -> None:
        self.script = script

    def detect(self, ds: Dataset, frames: FrameSource) -> Detection:
        """Boxes of the first matching rule, for every frame (`frames` is not used).

        Raises
        ------
        InvalidDicomError
            When a rule matches but Rows or Columns is missing or not positive.
        """
        rule = self.script.match(ds)
        if rule is None:
            return Detection(notes=[f"no rule of {self.script.name} matched"])
        rows = _positive_int(ds, "Rows")
        columns = _positive_int(ds, "Columns")
        if rows is None or columns is None:
            raise InvalidDicomError(
                f"rule {rule.index} (line {rule.line}) of {self.script.name} matched, but "
                "Rows/Columns is missing or not positive; expected the image size"
            )
        boxes = rule.boxes(rows, columns)
        notes = [f"rule {rule.index} (line {rule.line}) of {self.script.name} matched"]
        if len(boxes) < len(rule.regions):
            notes.append(
                f"{len(rule.regions) - len(boxes)} of {len(rule.regions)} regions of rule "
                f"{rule.index} fall outside the {columns}x{rows} image"
            )
        notes.extend(rule.warnings)
        return Detection(boxes=boxes, notes=notes)


def _positive_int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = int(getattr(ds, keyword))
    except (AttributeError, TypeError, ValueError):
        return None
    return value if value > 0 else None
