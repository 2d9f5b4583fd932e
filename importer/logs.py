"""Log output for people (the default) or for machines (``--log-format json``).

Both go to stderr. The JSON form is one object per line: ``time``, ``level``, ``event`` (the
message), ``logger``, and whatever the call passed in ``extra`` (``file``, ``feed``,
``counts``, ``duration``, ``exit_code``...), so that a log shipper can index them. A dozen
lines of the standard library; no formatter library is needed for that.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

FORMATS = ("human", "json")

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = str(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False, default=str)


# Control characters in a line of the human log (a file named with a line break would forge a
# line of its own): shown escaped, as Python writes them in a string.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


class HumanFormatter(logging.Formatter):
    """One line per record: its message's control characters escaped (a traceback, asked for
    at -vv, keeps its own lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_CONTROL)


def configure_logging(verbose: int = 0, quiet: bool = False, log_format: str = "human") -> None:
    """Route the library's logs to stderr, at a level set by -v / -q."""
    if quiet:
        level = logging.WARNING
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            HumanFormatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    root = logging.getLogger()
    # Replace our own handler if a previous command installed one; leave any other alone.
    for installed in [h for h in root.handlers if getattr(h, "ocean_import", False)]:
        root.removeHandler(installed)
    handler.ocean_import = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx says each request at INFO: a line per mission is for -vv, not for -v.
    httpx_level = logging.NOTSET if level == logging.DEBUG else logging.WARNING
    logging.getLogger("httpx").setLevel(httpx_level)
