"""A problem found in a planning: what a person needs to find the cell and fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One problem in one cell (or one row, or the header).

    ``row`` is the spreadsheet row number a person sees; ``column`` the header as written in
    the file (None for a problem about the whole row); ``kind`` a stable code that groups
    problems of the same sort (``date_format``, ``duplicate_id``...).
    """

    row: int | None
    column: str | None
    value: Any
    message: str
    severity: Severity
    kind: str
    cell: str | None = None  # A1-style reference, when the column is known

    @property
    def is_error(self) -> bool:
        return self.severity == "error"
