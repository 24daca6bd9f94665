"""Deterministic replay fixtures with known answers, for pipeline and integration tests.

:func:`write_fixture` writes a CSV in replay format whose bars are computed here, independently of
the replay code and of Flink: ``Fixture.bars`` is what ``bars.1m`` must contain, and the bad rows are
what the dead-letter topic must receive.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from marketpipe.feeds.session import NEW_YORK, to_ns
from marketpipe.feeds.synthetic import UNIVERSE

DEFAULT_START = datetime(2024, 6, 13, 9, 30, tzinfo=NEW_YORK)  # a Thursday session open (13:30 UTC)
COLUMNS = ("ts", "symbol", "price", "size", "exchange", "conditions", "trade_id")
NS_PER_MINUTE = 60_000_000_000
GAP_P = 0.1  # chance that a symbol has no trade in a minute
# Deliberately bad rows and the reason 02_clean.sql gives them.
BAD_KINDS = {
    "negative_price": "invalid_price",
    "zero_size": "invalid_size",
    "bad_timestamp": "bad_timestamp",
    "naive_timestamp": "bad_timestamp",
    "empty_symbol": "missing_symbol",
    "text_price": "bad_price",
}


@dataclass(frozen=True)
class FixtureBar:
    """The one-minute bar a symbol must get for one minute (open/close by event time)."""

    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_count: int
    vwap: float


@dataclass(frozen=True)
class Fixture:
    """A written fixture and its known answers."""

    path: Path
    rows: int
    valid_rows: int
    bad_rows: dict[str, int]  # reason (as 02_clean.sql names it) -> count
    symbols: tuple[str, ...]
    bars: dict[tuple[str, int], FixtureBar]  # (symbol, minute start epoch ms) -> bar

    @property
    def expected_bars(self) -> set[tuple[str, int]]:
        """Keys of :attr:`bars`, comparable with ``ReplaySummary.expected_bars``."""
        return set(self.bars)


BURST_MINUTES = 15  # how long the open's burst of trades lasts in write_fixture


def _format_ts(ts_ns: int, style: str) -> str:
    if style == "ns":
        return str(ts_ns)
    seconds, frac = divmod(ts_ns, 1_000_000_000)
    utc = datetime.fromtimestamp(seconds, UTC)
    if style == "z":
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{frac:09d}Z"
    local = utc.astimezone(NEW_YORK)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%dT%H:%M:%S}.{frac:09d}{offset[:3]}:{offset[3:]}"


def _symbols(symbols: int | Sequence[str]) -> tuple[str, ...]:
    if isinstance(symbols, int):
        return tuple(sym for sym, _, _ in UNIVERSE[:symbols])
    return tuple(symbols)


def write_fixture(
    path: str | Path,
    symbols: int | Sequence[str] = 5,
    minutes: int = 300,
    seed: int = 0,
    *,
    start: datetime = DEFAULT_START,
    bad_per_kind: int = 2,
    open_burst: float = 1.0,
) -> Fixture:
    """Write a replay CSV of ``symbols`` over ``minutes`` minutes from ``start``, sorted by event time.

    Each symbol trades 1-6 times in most minutes and not at all in about one in ten. Timestamps mix ISO
    with the New York offset, ISO ``Z`` and epoch nanoseconds; conditions mix space and comma
    separators. ``bad_per_kind`` rows of each :data:`BAD_KINDS` kind are spread through the file.
    ``open_burst`` > 1 multiplies the trades per minute at the start, fading linearly to normal over the
    first :data:`BURST_MINUTES` minutes (the rush of the open; the benchmarks use it).
    """
    rng = random.Random(seed)
    names = _symbols(symbols)
    start_ns = to_ns(start)
    prices = {sym: px for sym, px, _ in UNIVERSE}
    price = {sym: prices.get(sym, 50.0 + 10 * i) for i, sym in enumerate(names)}
    counters = dict.fromkeys(names, 0)
    trades: list[tuple[int, int, str, float, int]] = []  # (ts_ns, order, symbol, price, size)
    for minute in range(minutes):
        base = start_ns + minute * NS_PER_MINUTE
        for sym in names:
            if rng.random() < GAP_P:
                continue
            burst = 1.0 + (open_burst - 1.0) * max(0.0, 1.0 - minute / BURST_MINUTES)
            for _ in range(round(rng.randint(1, 6) * burst)):
                # Now and then exactly on the minute boundary, to pin down window edges.
                offset = 0 if rng.random() < 0.03 else rng.randrange(NS_PER_MINUTE)
                price[sym] = max(0.01, round(price[sym] * math.exp(rng.gauss(0.0, 0.0008)), 2))
                size = rng.randint(1, 99) if rng.random() < 0.15 else 100 * rng.choice((1, 1, 1, 2, 3, 5, 10))
                trades.append((base + offset, len(trades), sym, price[sym], size))
    trades.sort()

    rows: list[tuple[str, ...]] = []
    bars: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for ts_ns, _, sym, px, size in trades:
        counters[sym] += 1
        style = rng.choices(("ny", "z", "ns"), weights=(8, 1, 1))[0]
        exchange = rng.choice(("Q", "N", "P", "Z", "K", "D", ""))
        conditions = rng.choice(("@", "@", "@", "", "@ F", "@,I", "F,I"))
        rows.append((_format_ts(ts_ns, style), sym, f"{px:.2f}", str(size), exchange, conditions,
                     f"{sym}-{counters[sym]}"))
        bars.setdefault((sym, ts_ns // NS_PER_MINUTE * 60_000), []).append((px, size))
    valid_rows = len(rows)

    # Bad rows go next to a valid row and share its time, so the file stays in event-time order.
    bad: dict[str, int] = {}
    kinds = [kind for kind in BAD_KINDS for _ in range(bad_per_kind)]
    if rows:
        positions = sorted(rng.sample(range(len(rows)), min(len(kinds), len(rows))), reverse=True)
        for position, kind in zip(positions, kinds, strict=False):
            ts, row_sym, row_px, row_size, exchange, conditions, _ = rows[position]
            ts_ns = trades[position][0]
            if kind == "negative_price":
                row_px = f"-{row_px}"
            elif kind == "zero_size":
                row_size = "0"
            elif kind == "bad_timestamp":
                ts = "2024-06-13T25:61:00Z"
            elif kind == "naive_timestamp":
                ts = f"{datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC):%Y-%m-%dT%H:%M:%S}"
            elif kind == "empty_symbol":
                row_sym = ""
            elif kind == "text_price":
                row_px = f"{row_px}x"
            rows.insert(position + 1, (ts, row_sym, row_px, row_size, exchange, conditions, f"BAD-{kind}"))
            bad[BAD_KINDS[kind]] = bad.get(BAD_KINDS[kind], 0) + 1

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return Fixture(
        path=path,
        rows=len(rows),
        valid_rows=valid_rows,
        bad_rows=bad,
        symbols=names,
        bars={key: _bar(prints) for key, prints in bars.items()},
    )


def _bar(prints: list[tuple[float, int]]) -> FixtureBar:
    volume = sum(size for _, size in prints)
    return FixtureBar(
        open=prints[0][0],
        high=max(px for px, _ in prints),
        low=min(px for px, _ in prints),
        close=prints[-1][0],
        volume=volume,
        trade_count=len(prints),
        vwap=sum(px * size for px, size in prints) / volume,
    )
