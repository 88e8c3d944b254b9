"""Type stubs for the compiled baseline entropy codec (see _entropy.c)."""

from collections.abc import Sequence
from typing import Any

class Error(ValueError): ...
class MissingSymbol(KeyError): ...
class Mismatch(Error): ...

_Table = tuple[bytes, bytes] | None

def decode_scan(
    data: Any,
    comps: Sequence[tuple[Any, int, int, int, int, int, int, int, int]],
    dc_tables: Sequence[_Table],
    ac_tables: Sequence[_Table],
    mcus_wide: int,
    mcus_high: int,
    restart: int,
    compare: bool = False,
    /,
) -> None: ...
def encode_scan(
    comps: Sequence[tuple[Any, int, int, int, int, int, int, int, int]],
    dc_tables: Sequence[_Table],
    ac_tables: Sequence[_Table],
    mcus_wide: int,
    mcus_high: int,
    restart: int,
    /,
) -> bytes: ...
def count_symbols(
    comps: Sequence[tuple[Any, int, int, int, int, int, int, int, int]],
    mcus_wide: int,
    mcus_high: int,
    restart: int,
    dc_only: bool = False,
    /,
) -> tuple[bytes, bytes]: ...
def recode_scan(
    data: Any,
    masks: Sequence[tuple[Any, int, int, int, int, int, int, int, int]],
    dc_tables: Sequence[_Table],
    ac_tables: Sequence[_Table],
    mcus_wide: int,
    mcus_high: int,
    restart: int,
    fills: Sequence[tuple[int, int]],
    verify: bool = ...,
    single_symbol: bool = ...,
    /,
) -> bytes: ...
