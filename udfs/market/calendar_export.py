"""Export exchange calendars for the JVM bar engine (jvm/udfs, ``dev.marketpipe.bars``).

Java cannot run ``exchange_calendars``, so the Python :class:`~udfs.market.calendar.MarketCalendar`
writes its own numbers to a file that ``dev.marketpipe.bars.MarketCalendar.load`` reads: every trading
day's session segments (as :meth:`MarketCalendar.day` builds them) and the calendar's valid range (where
:meth:`MarketCalendar.slot` raises ValueError, the Java engine rejects a trade as ``outside_calendar``).

Format (text, comma separated, one record a line)::

    version,1
    calendar,XNYS,04:00:00,20:00:00,1990-01-02,2026-12-31      name, pre_open, post_close, first, last
    2024-11-29,1732890600000000000,1732903200000000000,pre,...,...,regular,...,...,post,...,...
        session date, regular open ns, regular close ns, then (segment, start ns, end ns) per segment

Days without a line are closed. ``python -m udfs.market.calendar_export CONFIG.json OUT`` writes the
calendars a bar config needs (:func:`write_for_config`).
"""

from __future__ import annotations

import json
import sys
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from udfs.market import conditions, reference
from udfs.market.calendar import MarketCalendar, get_calendar

VERSION = 1


def export_calendars(names: list[str], pre_open: time, post_close: time, path: str | Path) -> None:
    """Write every trading day of each calendar in ``names`` (with these extended-hours bounds) to ``path``."""
    lines = [f"version,{VERSION}"]
    for name in dict.fromkeys(names):
        lines.extend(_calendar_lines(get_calendar(name, pre_open, post_close)))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _calendar_lines(cal: MarketCalendar) -> list[str]:
    cal._load()  # the valid range is the class's own (where day() raises ValueError)
    first, last = cal._first, cal._last
    out = [f"calendar,{cal.name},{cal.pre_open.isoformat()},{cal.post_close.isoformat()},{first},{last}"]
    d = first
    while d <= last:
        slots = cal.day(d)
        if slots:
            segs = ",".join(f"{s.session},{s.start_ns},{s.end_ns}" for s in slots)
            out.append(f"{d},{slots[0].regular_open_ns},{slots[0].regular_close_ns},{segs}")
        d += timedelta(days=1)
    return out


def calendars_for_config(config: dict[str, Any]) -> list[str]:
    """The calendar names a bar config can ask for: its symbols table's calendars and default calendar."""
    from udfs.bars.config import Reference

    symbols = Reference(config).symbols
    names = [info.calendar for info in symbols._symbols.values()]
    return list(dict.fromkeys([*names, symbols.default_calendar]))


def _rule_time(config: dict[str, Any], key: str, default: time) -> time:
    value = (config.get("rules") or {}).get(key, default)
    return time.fromisoformat(value) if isinstance(value, str) else value


def write_for_config(config: dict[str, Any], path: str | Path) -> None:
    """Export every calendar the config refers to, with the config's pre_open / post_close rules."""
    export_calendars(
        calendars_for_config(config),
        _rule_time(config, "pre_open", time(4, 0)),
        _rule_time(config, "post_close", time(20, 0)),
        path,
    )


def java_config(config: dict[str, Any], calendar_path: str | Path, *, write: bool = True) -> dict[str, Any]:
    """The config for ``dev.marketpipe.bars.Reference.fromJson``: ``config`` plus the calendar export (written
    here unless ``write`` is false: the caller has it already) and the paths of the shipped default tables
    (Java has no package data). Python's Reference ignores the extra keys, so the same JSON serves both
    engines."""
    if write:
        write_for_config(config, calendar_path)
    return {
        **config,
        "calendar_file": str(calendar_path),
        "shipped_conditions_file": str(conditions.DEFAULT_PATH),
        "shipped_symbols_file": str(reference.DEFAULT_PATH),
    }


def main(argv: list[str]) -> int:
    """``python -m udfs.market.calendar_export CONFIG.json OUT``: write the calendars of a bar config."""
    if len(argv) != 2:
        print("usage: python -m udfs.market.calendar_export CONFIG.json OUT", file=sys.stderr)
        return 2
    write_for_config(json.loads(Path(argv[0]).read_text(encoding="utf-8")), argv[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
