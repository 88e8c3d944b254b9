"""Keep pydicom from quoting header values (patient data) on a terminal or in logs.

pydicom warns about malformed element values by quoting them. A process that reads
DICOM for dctredact calls :func:`quiet_pydicom` first. The command line asks for it
before it knows whether this process will read a file at all (a Dask client or a
``-j N`` parent only plans and reports), so the request is remembered and
:mod:`dctredact.dicomio` applies it when it loads pydicom; the warnings filter itself
needs no import and is installed at once.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["apply_if_requested", "quiet_pydicom"]

_requested = False


def quiet_pydicom(*, load: bool = True) -> None:
    """Silence pydicom's reading warnings and skip its value validation on reading.

    Malformed values are still refused where they matter (the handlers validate what
    they use); a warning on stderr would only leak the value into logs.

    Parameters
    ----------
    load : bool
        Import pydicom now to configure it. With ``False`` it is configured now only if
        it is already loaded, otherwise when :mod:`dctredact.dicomio` loads it.
    """
    global _requested
    _requested = True
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    if load or "pydicom.config" in sys.modules:
        import pydicom.config

        pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


def apply_if_requested() -> None:
    """Configure pydicom now if :func:`quiet_pydicom` was asked for before it loaded."""
    if _requested:
        quiet_pydicom()
