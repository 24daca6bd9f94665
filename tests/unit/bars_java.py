"""Run the same bar-engine calls through the Python engine (the oracle, udfs/bars/) and the Java port
(jvm/udfs, ``dev.marketpipe.bars.Cli``) and compare every output row, bit for bit.

A :class:`Session` is one bar config plus the calls made under it: each call runs on the Python engine
at once (so a generator can react to its answers, e.g. wake-up times) and is recorded with its encoded
output. :func:`run_java` replays every session in ONE ``java`` process and :func:`mismatches` lists
where the two differ. :class:`Recorder` captures the calls that existing tests (golden cases, property
tests) make, by standing in for their ``BarEngine`` / ``run_batch``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from udfs.bars.config import Reference
from udfs.bars.engine import STATE_VERSION, BarEngine, Context, run_batch
from udfs.bars.model import BarRow, Output, Trade
from udfs.market.calendar_export import java_config

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "jvm" / "udfs" / "pom.xml"
JAR = ROOT / "jvm" / "udfs" / "target" / "lib" / "marketpipe-udfs.jar"
SOURCES = ROOT / "jvm" / "udfs" / "src" / "main" / "java"
CLI = "dev.marketpipe.bars.Cli"

Encoded = dict[str, Any]


def ensure_jar() -> Path:
    """The shaded jar, built with Maven when missing or older than a Java source or the POM."""
    newest = max(p.stat().st_mtime for p in [POM, *SOURCES.rglob("*.java")])
    if not JAR.exists() or JAR.stat().st_mtime < newest:
        subprocess.run(["mvn", "-B", "-q", "-f", str(POM), "package"], check=True, cwd=ROOT)
    return JAR


# ---- encoding (the Java CLI's output format; Python outputs are encoded the same way)


def trade_json(t: Trade) -> dict[str, Any]:
    return {"ts_ns": t.ts_ns, "price": float(t.price), "size": t.size, "exchange": t.exchange,
            "conditions": t.conditions, "seq": t.seq, "source": t.source, "trade_id": t.trade_id}


def bar_tuple(b: BarRow) -> tuple[Any, ...]:
    """A bar as the CLI writes it (floats as floats, the date as ISO text)."""
    return (b.timeframe, b.symbol, b.bar_start_ns, b.bar_end_ns, float(b.open), float(b.high), float(b.low),
            float(b.close), b.volume, float(b.vwap), b.trade_count, b.session, b.session_date.isoformat(),
            b.first_trade_ns, b.last_trade_ns, float(b.pv_sum), b.filled, b.revision)


def encode(out: Output, wakeup: Any = ..., elapsed_ns: int | None = None) -> Encoded:
    enc: Encoded = {
        "bars": [bar_tuple(b) for b in out.bars],
        "rejected": [(r.trade.ts_ns, float(r.trade.price), r.trade.size, r.trade.exchange, r.trade.conditions,
                      r.trade.seq, r.trade.source, r.trade.trade_id, r.reason) for r in out.rejected],
    }
    if wakeup is not ...:
        enc["next_wakeup_ns"] = wakeup
    if elapsed_ns is not None:
        enc["elapsed_ns"] = elapsed_ns
    return enc


def decode(line: str) -> Encoded:
    """A CLI output line, with rows as tuples (comparable to :func:`encode`)."""
    enc: dict[str, Any] = json.loads(line)
    for key in ("bars", "rejected"):
        if key in enc:
            enc[key] = [tuple(row) for row in enc[key]]
    return enc


# ---- sessions


class Session:
    """One bar config and the calls made under it, run on the Python engine as they are recorded."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.ref = Reference(config)
        self.engines: dict[str, BarEngine] = {}
        self.events: list[dict[str, Any]] = []
        self.outputs: list[Encoded] = []
        self.python_batch_ns = 0

    def engine(self, symbol: str, key: str | None = None) -> BarEngine:
        key = key or symbol
        e = self.engines.get(key)
        if e is None:
            e = self.engines[key] = BarEngine(symbol, self.ref.context(symbol))
        return e

    def _record(self, event: dict[str, Any], enc: Encoded) -> None:
        self.events.append(event)
        self.outputs.append(enc)

    def add(self, symbol: str, trade: Trade, wm: int | None, key: str | None = None) -> Output:
        e = self.engine(symbol, key)
        out = e.add(trade, wm)
        self._record({"op": "add", "symbol": symbol, "key": key or symbol, "trade": trade_json(trade), "wm": wm},
                     encode(out, e.next_wakeup_ns()))
        return out

    def advance(self, symbol: str, wm: int, key: str | None = None) -> Output:
        e = self.engine(symbol, key)
        out = e.advance(wm)
        self._record({"op": "advance", "symbol": symbol, "key": key or symbol, "wm": wm},
                     encode(out, e.next_wakeup_ns()))
        return out

    def finish(self, symbol: str, key: str | None = None) -> Output:
        out = self.engine(symbol, key).finish()
        self._record({"op": "finish", "symbol": symbol, "key": key or symbol}, encode(out))
        return out

    def snapshot(self, symbol: str, key: str | None = None) -> BarEngine:
        """A checkpoint round trip of the engine's state (Python: pickle; Java: toBytes/fromBytes)."""
        key = key or symbol
        e = self.engines[key] = BarEngine.loads(self.engine(symbol, key).dumps(), self.ref.context(symbol))
        self._record({"op": "snapshot", "symbol": symbol, "key": key}, encode(Output()))
        return e

    def batch(self, symbol: str, trades: list[Trade]) -> Output:
        t0 = time.perf_counter_ns()
        out = run_batch(symbol, trades, self.ref.context(symbol))
        elapsed = time.perf_counter_ns() - t0
        self.python_batch_ns += elapsed
        self._record({"op": "batch", "symbol": symbol, "trades": [trade_json(t) for t in trades]},
                     encode(out, elapsed_ns=elapsed))
        return out


def run_java(sessions: list[Session], workdir: Path) -> list[list[Encoded]]:
    """Every session's events through the Java CLI in one process: its outputs, per session."""
    lines: list[str] = []
    for s in sessions:
        lines.append(json.dumps({"config": java_config_cached(s.config, workdir)}))
        lines.extend(json.dumps(ev) for ev in s.events)
    proc = subprocess.run(
        ["java", "-Xss8m", "-cp", str(ensure_jar()), CLI], input="\n".join(lines) + "\n",
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"java CLI failed ({proc.returncode}): {proc.stderr[-4000:]}")
    out = [decode(line) for line in proc.stdout.splitlines()]
    result, i = [], 0
    for s in sessions:
        result.append(out[i:i + len(s.events)])
        i += len(s.events)
    if i != len(out):
        raise RuntimeError(f"java CLI wrote {len(out)} lines for {i} events")
    return result


_JAVA_KEYS = ("calendar_file", "shipped_conditions_file", "shipped_symbols_file")
_JAVA_EXTRA: dict[tuple[Any, ...], dict[str, str]] = {}


def java_config_cached(config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """:func:`java_config`, exporting the calendars once per (symbols file, calendar, rule times)."""
    rules = config.get("rules") or {}
    key = (config.get("symbols_file"), config.get("calendar"), rules.get("pre_open"), rules.get("post_close"))
    extra = _JAVA_EXTRA.get(key)
    if extra is None or not Path(extra["calendar_file"]).exists():
        full = java_config(config, workdir / f"calendars-{hashlib.sha1(repr(key).encode()).hexdigest()[:12]}.csv")
        extra = _JAVA_EXTRA[key] = {k: full[k] for k in _JAVA_KEYS}
    return {**config, **extra}


def mismatches(sessions: list[Session], java: list[list[Encoded]], limit: int = 5) -> list[str]:
    """Where Java's output differs from Python's (event, both outputs); empty when identical."""
    found: list[str] = []
    for s, outs in zip(sessions, java, strict=True):
        for ev, py, jv in zip(s.events, s.outputs, outs, strict=True):
            py_cmp = {k: v for k, v in py.items() if k != "elapsed_ns"}
            jv_cmp = {k: v for k, v in jv.items() if k != "elapsed_ns"}
            if py_cmp != jv_cmp:
                brief = {k: v for k, v in ev.items() if k != "trades"}
                found.append(f"config {s.config.get('rules')}\nevent {brief}\npython {py_cmp}\njava   {jv_cmp}")
                if len(found) >= limit:
                    return found
    return found


def java_batch_ns(java: list[list[Encoded]]) -> int:
    return sum(o.get("elapsed_ns", 0) for outs in java for o in outs)


# ---- recording existing tests' calls


def config_for(ctx: Context, symbol: str, workdir: Path) -> dict[str, Any]:
    """A bar config (BarConfig.to_dict form, as marketpipe.rules.bar_config makes) whose Reference gives ``ctx``
    for ``symbol``."""
    rules = dataclasses.asdict(ctx.rules)
    rules["pre_open"] = ctx.rules.pre_open.isoformat()
    rules["post_close"] = ctx.rules.post_close.isoformat()
    rules["rollups"] = list(ctx.rules.rollups)
    if (ctx.calendar.pre_open, ctx.calendar.post_close) != (ctx.rules.pre_open, ctx.rules.post_close):
        raise ValueError("a Context whose calendar hours differ from its rules cannot come from a config")
    row = [symbol, ctx.listing_exchange or "", ctx.calendar.name]
    digest = hashlib.sha1(repr(row).encode()).hexdigest()[:12]
    symbols = workdir / f"symbols-{digest}.csv"
    if not symbols.exists():
        with symbols.open("w", newline="") as f:
            csv.writer(f).writerows([["symbol", "listing_exchange", "calendar"], row])
    return {
        "rules": rules,
        "conditions_file": ctx.conditions.source,
        "feed_conditions_files": {feed: t.source for feed, t in ctx.feed_conditions.items()},
        "symbols_file": str(symbols),
        "calendar": ctx.calendar.name,
    }


class Recorder:
    """Records every engine call a test makes, as sessions, by standing in for ``BarEngine`` and
    ``run_batch`` in the test's module (:meth:`patch`). The engines then run with the context rebuilt
    from the config, so the test's own assertions also check that the config round trip is exact."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sessions: dict[str, Session] = {}
        self._ids = itertools.count()
        self.last_snapshot: tuple[Session, str, str] | None = None

    def session(self, ctx: Context, symbol: str) -> Session:
        config = config_for(ctx, symbol, self.workdir)
        key = json.dumps(config, sort_keys=True)
        s = self.sessions.get(key)
        if s is None:
            s = self.sessions[key] = Session(config)
        return s

    def patch(self, monkeypatch: Any, module: Any) -> None:
        recorder = self

        class RecordingEngine(BarEngine):
            """A BarEngine whose top-level calls are recorded in its session."""

            def __init__(self, symbol: str, ctx: Context, state: Any = None) -> None:
                self._session = recorder.session(ctx, symbol)
                self._key = f"e{next(recorder._ids)}"
                self._depth = 0
                super().__init__(symbol, self._session.ref.context(symbol), state)
                self._session.engines[self._key] = self

            def _call(self, event: dict[str, Any], fn: Any, *args: Any, wakeup: bool) -> Output:
                self._depth += 1
                try:
                    out: Output = fn(*args)
                finally:
                    self._depth -= 1
                if self._depth == 0:
                    event.update(symbol=self.state.symbol, key=self._key)
                    self._session._record(event, encode(out, self.next_wakeup_ns()) if wakeup else encode(out))
                return out

            def add(self, trade: Trade, watermark_ns: int | None = None) -> Output:
                event = {"op": "add", "trade": trade_json(trade), "wm": watermark_ns}
                return self._call(event, super().add, trade, watermark_ns, wakeup=True)

            def advance(self, watermark_ns: int) -> Output:
                return self._call({"op": "advance", "wm": watermark_ns}, super().advance, watermark_ns, wakeup=True)

            def finish(self) -> Output:
                return self._call({"op": "finish"}, super().finish, wakeup=False)

            def snapshot(self) -> tuple[int, Any]:
                recorder.last_snapshot = (self._session, self._key, self.state.symbol)
                return super().snapshot()

            @classmethod
            def restore(cls, snapshot: tuple[int, Any], ctx: Context) -> BarEngine:
                version, state = snapshot
                assert version == STATE_VERSION and recorder.last_snapshot is not None
                session, key, symbol = recorder.last_snapshot
                engine = cls.__new__(cls)
                engine._session, engine._key, engine._depth = session, key, 0
                BarEngine.__init__(engine, symbol, session.ref.context(symbol), state)
                session.engines[key] = engine
                session._record({"op": "snapshot", "symbol": symbol, "key": key}, encode(Output()))
                return engine

        def recording_run_batch(symbol: str, trades: list[Trade], ctx: Context) -> Output:
            return recorder.session(ctx, symbol).batch(symbol, list(trades))

        if hasattr(module, "BarEngine"):
            monkeypatch.setattr(module, "BarEngine", RecordingEngine)
        if hasattr(module, "run_batch"):
            monkeypatch.setattr(module, "run_batch", recording_run_batch)


def cases_of(module: Any, tmp_path: Path) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """Every test function of ``module`` with each of its parametrize cases: (id, function, kwargs)."""
    for name in dir(module):
        fn = getattr(module, name)
        if not name.startswith("test_") or not callable(fn):
            continue
        cases: list[dict[str, Any]] = [{}]
        for mark in getattr(fn, "pytestmark", []):
            if mark.name != "parametrize":
                continue
            argnames = mark.args[0]
            names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
            rows = []
            for v in mark.args[1]:
                if hasattr(v, "marks") and hasattr(v, "values"):  # pytest.param(...)
                    rows.append(tuple(v.values))
                else:
                    rows.append((v,) if len(names) == 1 else tuple(v))
            cases = [{**c, **dict(zip(names, r, strict=True))} for c in cases for r in rows]
        params = fn.__code__.co_varnames[:fn.__code__.co_argcount]
        for i, case in enumerate(cases):
            kwargs = dict(case)
            if "tmp_path" in params:
                kwargs["tmp_path"] = tmp_path
            yield f"{name}[{i}]", fn, kwargs
