"""Measurement 0: the bar engine (udfs/bars/) per tick against a pandas groupby over the same ticks.

The engine applies the market rules (sale conditions, sessions, auctions, grace, rollups) one tick at a
time, as the streaming job does; pandas only buckets the ticks by minute with first/max/min/last/sum
(no rules, vectorized). The ratio says what the rules and the per-tick Python cost, not that pandas
would make correct bars.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from marketpipe.rules.ticks import TickRules
from udfs.bars.config import Reference
from udfs.bars.engine import BarEngine
from udfs.bars.model import Output, Trade

NY = ZoneInfo("America/New_York")
CONDITIONS = ("@", "@", "@", "@ I", "F", "@ F", "T")


def ticks(n: int, seed: int = 3) -> list[Trade]:
    """``n`` trades of one symbol from 2024-06-13 09:30 New York, ~2 per second, in time order."""
    rng = np.random.default_rng(seed)
    t0 = int(datetime(2024, 6, 13, 9, 30, tzinfo=NY).timestamp()) * 10**9
    ts = t0 + np.cumsum(rng.integers(1, 10**9, n))
    px = np.round(100 * np.exp(np.cumsum(rng.normal(0, 2e-4, n))), 2)
    size = rng.integers(1, 10, n) * 100
    cond = rng.choice(len(CONDITIONS), n)
    return [Trade(int(ts[i]), float(px[i]), int(size[i]), "N", CONDITIONS[cond[i]], i) for i in range(n)]


def run(n: int, repeats: int = 3) -> dict[str, Any]:
    """µs per tick of ``BarEngine.add`` (streaming-style, with a watermark) and of a pandas groupby."""
    trades = ticks(n)
    ctx = Reference({}).context("IBM")
    ctx.calendar.slot(trades[0].ts_ns)  # load the calendar outside the timed loop
    delay_ns = TickRules().watermark_delay_ms * 1_000_000  # the job's watermark, behind each trade
    engine_s = []
    bars = 0
    for _ in range(repeats):
        engine = BarEngine("IBM", ctx)
        out = Output()
        t0 = time.perf_counter()
        for trade in trades:
            out.extend(engine.add(trade, trade.ts_ns - delay_ns))
        out.extend(engine.finish())
        engine_s.append(time.perf_counter() - t0)
        bars = len(out.bars)
    df = pd.DataFrame({"ts": [t.ts_ns for t in trades], "price": [t.price for t in trades],
                       "size": [t.size for t in trades]})
    pandas_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        g = df.groupby(df["ts"] // 60_000_000_000)
        g.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"),
              close=("price", "last"), volume=("size", "sum"))
        pandas_s.append(time.perf_counter() - t0)
    eng = sorted(engine_s)[len(engine_s) // 2] / n * 1e6
    pdx = sorted(pandas_s)[len(pandas_s) // 2] / n * 1e6
    return {"ticks": n, "repeats": repeats, "bars_all_timeframes": bars, "engine_us_per_tick": eng,
            "engine_ticks_per_second": 1e6 / eng, "pandas_us_per_tick": pdx, "ratio_vs_pandas": eng / pdx}


def run_java(n: int, repeats: int = 3) -> dict[str, Any]:
    """ticks/s of the Java port (``runBatch``, in one JVM, median of ``repeats`` after one warm-up) beside
    the Python reference's ``run_batch`` on the same trades, and whether their rows are identical."""
    import tempfile
    from pathlib import Path

    from tests.unit.bars_java import Session, mismatches
    from tests.unit.bars_java import run_java as run_in_java

    trades = ticks(n)
    session = Session({})
    for _ in range(repeats + 1):
        session.batch("IBM", trades)
    with tempfile.TemporaryDirectory(prefix="bench-java-") as tmp:
        java = run_in_java([session], Path(tmp))
    py_ns = sorted(o["elapsed_ns"] for o in session.outputs[1:])[repeats // 2]
    java_ns = sorted(o["elapsed_ns"] for o in java[0][1:])[repeats // 2]
    return {"ticks": n, "repeats": repeats, "python_ticks_per_s": round(n / py_ns * 1e9),
            "java_ticks_per_s": round(n / java_ns * 1e9), "java_vs_python": round(py_ns / java_ns, 2),
            "identical": not mismatches([session], java)}
