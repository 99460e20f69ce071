"""CSV writing that spreadsheets cannot turn into formulas."""

import csv
from collections.abc import Iterable
from typing import Any

# Spreadsheet programs evaluate cells that begin with these characters (CWE-1236).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """Returns the value with a leading apostrophe when a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def write_rows(stream, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
    """Writes a header and rows to a text stream, every string cell neutralised."""
    writer = csv.writer(stream)
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise_cell(value) for value in row])


class Echo:
    """A write-only pseudo-file for StreamingHttpResponse: write() returns what it was given."""

    def write(self, value: str) -> str:
        return value


def stream_rows(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterable[str]:
    """Yields CSV lines (header first) for a streaming download, every cell neutralised."""
    writer = csv.writer(Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise_cell(value) for value in row])
