"""The columns of a ``CREATE TABLE`` among rendered Flink SQL statements (for tests that compare them)."""

from __future__ import annotations

import re

from marketpipe.jobs.sql import Statement


def table_columns(statements: list[Statement], table: str) -> list[tuple[str, str]]:
    """``(name, Flink type)`` of each physical column of ``CREATE TABLE [IF NOT EXISTS] table``."""
    pattern = re.compile(rf"CREATE TABLE\s+(IF NOT EXISTS\s+)?{re.escape(table)}\s*\(", re.IGNORECASE)
    for statement in statements:
        match = pattern.match(statement.sql)
        if match:
            break
    else:
        raise AssertionError(f"no CREATE TABLE {table}")
    text, body, depth, i = statement.sql, [], 1, match.end()
    while depth:
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth:
            body.append(text[i])
        i += 1
    columns = []
    for part in split_top_level("".join(body)):
        words = part.split()
        if words[0].upper() in ("PRIMARY", "WATERMARK", "CONSTRAINT") or " AS " in f" {part.upper()} ":
            continue
        columns.append((words[0].strip("`"), " ".join(words[1:]).upper()))
    return columns


def split_top_level(body: str) -> list[str]:
    """``body`` split on the commas outside parentheses, each part stripped."""
    parts: list[str] = []
    buf: list[str] = []
    depth = 0
    for ch in body:
        if ch == "," and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        buf.append(ch)
    parts.append("".join(buf).strip())
    return [p for p in parts if p]
