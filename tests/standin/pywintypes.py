"""Stand-in for pywin32's ``pywintypes`` (tests only; see taskschd_standin.py): the two
things reconcile.py's com backend meets, shaped as pywin32 makes them.

- ``com_error``: ``args`` and attributes ``(hresult, strerror, excepinfo, argerror)``,
  HRESULTs as signed 32-bit integers. An error the COM server raised through IErrorInfo
  arrives as DISP_E_EXCEPTION with the server's code in ``excepinfo[5]`` and its text in
  ``excepinfo[2]``; ``excepinfo`` is ``(wCode, source, description, helpFile,
  helpContext, scode)``.
- ``datetime`` (``TimeType``): what pywin32 returns for a COM DATE, a subclass of
  ``datetime.datetime`` labelled UTC although its fields are the local wall clock
  (mhammond/pywin32 issue #1760)."""
from __future__ import annotations

import datetime as _dt


def signed(hresult: int) -> int:
    """An HRESULT as pywin32 reports it: a signed 32-bit integer."""
    hresult &= 0xFFFFFFFF
    return hresult - (1 << 32) if hresult >= 1 << 31 else hresult


class com_error(Exception):  # noqa: N801 - pywin32's name
    def __init__(self, hresult: int, strerror: str | None = None, excepinfo: tuple | None = None,
                 argerror: int | None = None) -> None:
        super().__init__(signed(hresult), strerror, excepinfo, argerror)
        self.hresult = signed(hresult)
        self.strerror = strerror
        self.excepinfo = excepinfo
        self.argerror = argerror


class datetime(_dt.datetime):  # noqa: N801 - pywin32's name
    """pywin32's COM date type."""


TimeType = datetime


def Time(value: _dt.datetime) -> datetime:  # noqa: N802 - pywin32's name
    """A COM date as pywin32 returns it: the wall clock, labelled UTC."""
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                    tzinfo=_dt.timezone.utc)
