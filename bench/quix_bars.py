"""The peer of ``make bench-pipeline``: idiomatic Quix Streams 1-minute OHLCV over ``ticks.raw``.

Not part of the product: a plain Quix Streams app (its own venv, ``.venv-bench``) that reads the same
topic, keeps trades with a usable time, price and size, and builds event-time tumbling one-minute
bars per symbol (``.final()``: one row per closed window). It applies none of marketpipe's market
rules (conditions, sessions, auctions, revisions): it is the floor a rule-free stream processor
reaches on this machine. Prints one JSON line: records, seconds, records/s, bars.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from typing import Any

from quixstreams import Application


def _event_ms(value: Any, headers: Any, timestamp: float, timestamp_type: Any) -> int:
    ts = value.get("ts_ns") if isinstance(value, dict) else None
    return ts // 1_000_000 if isinstance(ts, int) else int(timestamp)


def _is_trade(value: Any) -> bool:
    if not isinstance(value, dict) or value.get("kind", "trade") != "trade":
        return False
    px, size = value.get("price"), value.get("size")
    return (isinstance(value.get("ts_ns"), int) and bool(value.get("symbol"))
            and isinstance(px, (int, float)) and px > 0 and isinstance(size, int) and size > 0)


def _init(value: dict[str, Any]) -> dict[str, Any]:
    px = value["price"]
    return {"open": px, "high": px, "low": px, "close": px, "volume": value["size"]}


def _reduce(bar: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    px = value["price"]
    bar["high"] = max(bar["high"], px)
    bar["low"] = min(bar["low"], px)
    bar["close"] = px
    bar["volume"] += value["size"]
    return bar


def main() -> int:
    """Consume ``--records`` records (or until ``--timeout``) and report the rate."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="ticks.raw")
    p.add_argument("--records", type=int, required=True, help="stop after this many records")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()

    app = Application(
        broker_address=args.bootstrap, consumer_group=f"bench-quix-{time.time_ns()}",
        auto_offset_reset="earliest", state_dir=f"/tmp/bench-quix-state-{time.time_ns()}",
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, value_deserializer="json", timestamp_extractor=_event_ms)
    seen = {"records": 0, "bars": 0}
    started = time.perf_counter()
    first: list[float] = []  # the clock starts at the first record: group join and start-up excluded

    def count(value: Any) -> bool:
        if not first:
            first.append(time.perf_counter())
        seen["records"] += 1
        if seen["records"] >= args.records or time.perf_counter() - started > args.timeout:
            app.stop()
        return True

    def bar(value: Any) -> Any:
        seen["bars"] += 1
        return value

    sdf = app.dataframe(topic)
    sdf = sdf.filter(count).filter(_is_trade)
    sdf = sdf.tumbling_window(timedelta(minutes=1)).reduce(reducer=_reduce, initializer=_init).final()
    sdf = sdf.apply(bar)
    app.run()
    seconds = time.perf_counter() - (first[0] if first else started)
    print(json.dumps({"records": seen["records"], "bars": seen["bars"], "seconds": round(seconds, 2),
                      "per_s": round(seen["records"] / seconds)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
