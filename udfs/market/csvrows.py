"""Read the small reference CSV files with line numbers, so a bad row names its file and line.

Blank lines and lines starting with ``#`` are skipped (the shipped tables cite their sources in
``#`` comments). Fields are comma separated with CSV quoting; a field may not span lines.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path


def read_rows(path: str | Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, {column: stripped value})`` for each data row of ``path``.

    The first non-comment line is the header; it must name every column in ``required`` (other
    columns are allowed and passed through). Raises :class:`ValueError` naming ``file:line`` for a
    missing header column or a row with the wrong number of fields, and if the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    header: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in next(csv.reader([line]))]
        if header is None:
            header = fields
            missing = [c for c in required if c not in header]
            if missing:
                raise ValueError(f"{path}:{lineno}: header lacks column(s) {', '.join(missing)}")
            continue
        if len(fields) != len(header):
            raise ValueError(f"{path}:{lineno}: expected {len(header)} fields, got {len(fields)}")
        yield lineno, dict(zip(header, fields, strict=True))
    if header is None:
        raise ValueError(f"{path}: no header row")
