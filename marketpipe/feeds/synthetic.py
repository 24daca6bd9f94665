"""Synthetic US-equity trade feed: realistic-looking prints for demos, load and tests.

Model, per print:
- arrivals are a Poisson process of ``rate`` prints per wall-clock second over all symbols (exponential
  inter-arrival times); the more prominent names trade more often;
- event time runs ``accelerate`` times faster than wall time, on a :class:`SessionClock`: it starts at a
  session time and, when it passes 16:00 New York, continues at the next weekday's 09:30;
- each symbol's mid follows a geometric random walk in *trading* time (annual volatility per name) with
  occasional jumps, and prints bounce around it by about a basis point; prices are rounded to cents;
- sizes are mostly round lots (multiples of 100) with some odd lots, which carry condition ``I``;
  conditions are mostly ``@`` (regular sale), sometimes empty, sometimes ``F`` (intermarket sweep);
- trade ids increase per symbol.
Everything is drawn from one seeded generator, so a seed and an explicit ``start`` give the same ticks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from tqdm import tqdm

from marketpipe.exceptions import FeedError
from marketpipe.feeds.session import NEW_YORK, SessionClock, default_start, from_ns
from marketpipe.feeds.tick import HeartbeatSchedule, Tick, TickSink
from marketpipe.rules.ticks import TickRules, end_heartbeat_ns, looks_valid, minute_start_ms, trade_of
from udfs.bars.model import Trade

# (symbol, plausible start price, annual volatility); earlier names trade more often.
UNIVERSE: tuple[tuple[str, float, float], ...] = (
    ("AAPL", 190.0, 0.25), ("MSFT", 420.0, 0.22), ("NVDA", 120.0, 0.50), ("AMZN", 185.0, 0.30),
    ("GOOGL", 175.0, 0.28), ("META", 500.0, 0.35), ("TSLA", 180.0, 0.60), ("JPM", 200.0, 0.22),
    ("XOM", 115.0, 0.25), ("AMD", 160.0, 0.50), ("AVGO", 1400.0, 0.40), ("NFLX", 650.0, 0.40),
    ("BAC", 39.0, 0.28), ("INTC", 31.0, 0.40), ("V", 275.0, 0.18), ("UNH", 490.0, 0.25),
    ("MA", 450.0, 0.20), ("COST", 850.0, 0.20), ("WMT", 66.0, 0.18), ("HD", 340.0, 0.22),
    ("CVX", 155.0, 0.25), ("ORCL", 125.0, 0.30), ("CRM", 240.0, 0.35), ("ADBE", 480.0, 0.35),
    ("PG", 167.0, 0.15), ("JNJ", 147.0, 0.15), ("KO", 62.0, 0.14), ("PEP", 170.0, 0.16),
    ("DIS", 100.0, 0.28), ("CSCO", 46.0, 0.20), ("PFE", 28.0, 0.25), ("PLTR", 24.0, 0.65),
    ("T", 17.0, 0.22), ("F", 12.0, 0.35), ("SPY", 540.0, 0.13), ("QQQ", 470.0, 0.18),
)
EXCHANGES = ("Q", "N", "P", "Z", "K", "D")  # Nasdaq, NYSE, Arca, Cboe BZX, Cboe EDGX, FINRA TRF
EXCHANGE_P = (0.22, 0.16, 0.14, 0.12, 0.08, 0.28)
LOT_MULTIPLES = (1, 2, 3, 4, 5, 10, 20, 50)
LOT_P = (0.45, 0.20, 0.10, 0.08, 0.07, 0.06, 0.03, 0.01)
ODD_LOT_P = 0.15
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
JUMP_EVERY_S = 1800.0  # mean trading seconds between jumps of one symbol
JUMP_SIGMA = 0.008  # log-size of a jump (~0.8%)
HALF_SPREAD = 1e-4  # prints bounce within about a basis point of the mid
_BLOCK = 4096


class SyntheticFeed:
    """Seeded synthetic trade generator; ``run`` paces it in wall time into a :class:`TickSink`.

    ``symbols`` is a count (the first N of :data:`UNIVERSE`) or explicit tickers (unknown ones get a
    seeded price). ``rate`` is prints per wall second over all symbols, ``duration`` bounds ``ticks()``
    and ``run()`` in wall seconds, ``start`` (aware; default :func:`default_start`) is the first event time.
    """

    def __init__(
        self,
        symbols: int | Sequence[str] = 5,
        rate: float = 50.0,
        duration: float = 60.0,
        accelerate: float = 1.0,
        seed: int | None = None,
        start: datetime | None = None,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise FeedError(f"rate must be a positive number of ticks per second, got {rate!r}")
        if not (accelerate > 0 and math.isfinite(accelerate)):
            raise FeedError(f"accelerate must be positive, got {accelerate!r}")
        if not duration >= 0:
            raise FeedError(f"duration must be >= 0 seconds, got {duration!r}")
        if start is not None and start.tzinfo is None:
            raise FeedError(f"start {start!r} is naive: pass an aware datetime")
        self.symbols = _pick_symbols(symbols)
        self.rate = float(rate)
        self.duration = float(duration)
        self.accelerate = float(accelerate)
        self.seed = seed
        self.start = start if start is not None else default_start()

    def timed_ticks(self) -> Iterator[tuple[float, Tick]]:
        """Endless ``(wall offset in seconds, tick)`` pairs; restarts from the seed on every call."""
        rng = np.random.default_rng(self.seed)
        known = {sym: (price, vol) for sym, price, vol in UNIVERSE}
        k = len(self.symbols)
        mids = np.empty(k)
        vols = np.empty(k)
        for i, sym in enumerate(self.symbols):
            mids[i], vols[i] = known[sym] if sym in known else (float(rng.uniform(20, 500)), 0.35)
        mids *= rng.uniform(0.97, 1.03, k)
        mid: list[float] = mids.tolist()
        vol: list[float] = vols.tolist()
        weights = 1.0 / np.sqrt(np.arange(1, k + 1))
        weights /= weights.sum()
        last_trade_s: list[float | None] = [None] * k  # trading seconds since start at each symbol's last print
        counters = [0] * k
        clock = SessionClock(self.start)
        elapsed_ns = 0
        wall = 0.0
        while True:
            # Draw a block at a time (fast), then walk it as plain Python numbers.
            gaps = rng.exponential(1.0 / self.rate, _BLOCK).tolist()
            which = rng.choice(k, _BLOCK, p=weights).tolist()
            moves = rng.standard_normal(_BLOCK).tolist()
            jump_u = rng.random(_BLOCK).tolist()
            jumps = rng.standard_normal(_BLOCK).tolist()
            bounce = rng.uniform(-1.0, 1.0, _BLOCK).tolist()
            size_u = rng.random(_BLOCK).tolist()
            lots = rng.choice(LOT_MULTIPLES, _BLOCK, p=LOT_P).tolist()
            odd = rng.integers(1, 100, _BLOCK).tolist()
            cond_u = rng.random(_BLOCK).tolist()
            venue = rng.choice(len(EXCHANGES), _BLOCK, p=EXCHANGE_P).tolist()
            for j in range(_BLOCK):
                wall += gaps[j]
                target_ns = int(wall * self.accelerate * 1e9)
                ts_ns = clock.advance(target_ns - elapsed_ns)
                elapsed_ns = target_ns
                s = which[j]
                now_s = elapsed_ns / 1e9
                last = last_trade_s[s]
                if last is not None:
                    dt = now_s - last
                    sd = vol[s] * math.sqrt(dt / TRADING_SECONDS_PER_YEAR)
                    mid[s] *= math.exp(sd * moves[j] - 0.5 * sd * sd)
                    if jump_u[j] < -math.expm1(-dt / JUMP_EVERY_S):
                        mid[s] *= math.exp(JUMP_SIGMA * jumps[j])
                last_trade_s[s] = now_s
                price = max(0.01, round(mid[s] * (1.0 + HALF_SPREAD * bounce[j]), 2))
                if size_u[j] < ODD_LOT_P:
                    size = odd[j]
                    conditions: str | None = "@ I"
                else:
                    size = 100 * lots[j]
                    u = cond_u[j]
                    conditions = "@" if u < 0.8 else (None if u < 0.9 else "@ F")
                counters[s] += 1
                symbol = self.symbols[s]
                yield wall, Tick(
                    symbol=symbol,
                    ts_ns=ts_ns,
                    price=price,
                    size=size,
                    exchange=EXCHANGES[venue[j]],
                    conditions=conditions,
                    trade_id=f"{symbol}-{counters[s]:08d}",
                    source="synthetic",
                )

    def ticks(self) -> Iterator[Tick]:
        """The ticks due within ``duration`` wall seconds, without pacing."""
        for offset, tick in self.timed_ticks():
            if offset > self.duration:
                return
            yield tick

    def generate(self, n: int) -> list[Tick]:
        """The first ``n`` ticks, ignoring ``duration`` and without pacing (deterministic with a seed)."""
        out: list[Tick] = []
        if n <= 0:
            return out
        for _, tick in self.timed_ticks():
            out.append(tick)
            if len(out) == n:
                break
        return out

    def run(
        self,
        producer: TickSink,
        progress: bool = True,
        *,
        flush_timeout: float | None = None,
        heartbeats: HeartbeatSchedule | None = None,
        rules: TickRules | None = None,
    ) -> dict[str, Any]:
        """Send ticks when due in wall time for at most ``duration`` seconds, with heartbeats along the
        way (``heartbeats``; default every second and every 10,000 ticks, at the last event time sent),
        then the end heartbeats (:func:`~marketpipe.rules.ticks.end_heartbeat_ns` of the last event time)
        so the last minute's bars close, then flush (``flush_timeout`` None: the producer's delivery
        timeout). ``rules`` (default: the settings' defaults) are the job's.

        A tick still behind schedule when the wall deadline passes is not sent. Returns
        ``{"ticks", "symbols" (sorted list), "first_ts", "last_ts", "heartbeat_ts", "wall_seconds",
        "expected_bars" (set of (symbol, minute start epoch ms) of every tick the job cleans),
        "trades" (those ticks per symbol)}``.
        """
        rules = rules or TickRules()
        sent = 0
        seen: set[str] = set()
        bars: set[tuple[str, int]] = set()
        trades: dict[str, list[Trade]] = {}
        first_ts: int | None = None
        last_ts: int | None = None
        bar = tqdm(total=self.duration, unit="s", desc="synthetic", disable=None if progress else True,
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s {postfix}")
        t0 = time.monotonic()
        next_refresh = 0.0
        schedule = heartbeats if heartbeats is not None else HeartbeatSchedule()
        heartbeat_ts: int | None = None
        try:
            for offset, tick in self.timed_ticks():
                now = time.monotonic() - t0
                if offset > self.duration or now > self.duration:
                    break
                # Sleep in slices, so a slow feed still heartbeats every partition on time (ticks are
                # sent in event-time order: the last one sent is the event clock).
                for _ in range(1_000_000):
                    wait = offset - (time.monotonic() - t0)
                    if wait <= 0.001:
                        break
                    time.sleep(min(wait, max(0.01, schedule.seconds_to_next())))
                    due = schedule.due()
                    if due is not None:
                        producer.send_heartbeats(due)
                now = time.monotonic() - t0
                producer.send(tick)
                sent += 1
                schedule.observe(tick.ts_ns)
                seen.add(tick.symbol or "")
                if looks_valid(tick, rules):
                    assert tick.symbol is not None and tick.ts_ns is not None
                    bars.add((tick.symbol, minute_start_ms(tick.ts_ns)))
                    trades.setdefault(tick.symbol, []).append(trade_of(tick, sent))
                if first_ts is None:
                    first_ts = tick.ts_ns
                last_ts = tick.ts_ns
                due = schedule.due()
                if due is not None:
                    producer.send_heartbeats(due)
                if now >= next_refresh:
                    next_refresh = now + 0.25
                    bar.n = min(now, self.duration)
                    event = from_ns(last_ts or 0).astimezone(NEW_YORK)
                    bar.set_postfix_str(f"ticks={sent} event={event:%Y-%m-%d %H:%M:%S} NY")
            if last_ts is not None:
                heartbeat_ts = end_heartbeat_ns(last_ts, rules)
                producer.send_heartbeats(heartbeat_ts)
            producer.flush() if flush_timeout is None else producer.flush(flush_timeout)
            bar.n = min(time.monotonic() - t0, self.duration)
            bar.set_postfix_str(f"ticks={sent}")
        finally:
            bar.close()
        return {
            "ticks": sent,
            "symbols": sorted(seen),
            "first_ts": first_ts,
            "last_ts": last_ts,
            "heartbeat_ts": heartbeat_ts,
            "wall_seconds": time.monotonic() - t0,
            "expected_bars": bars,
            "trades": trades,  # per symbol, for the bars the bar rules make of them (demo)
        }


def _pick_symbols(symbols: int | Sequence[str]) -> list[str]:
    if isinstance(symbols, int):
        if not 1 <= symbols <= len(UNIVERSE):
            raise FeedError(f"symbols must be between 1 and {len(UNIVERSE)}, got {symbols}")
        return [sym for sym, _, _ in UNIVERSE[:symbols]]
    if isinstance(symbols, str):
        symbols = symbols.replace(",", " ").split()
    picked = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not picked:
        raise FeedError("no symbols given")
    return picked
