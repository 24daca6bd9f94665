"""The bars a tick file must give, computed with DuckDB straight from the CSV: independent of the
replay code, of Flink and of the bar engine (the oracle of test_pipeline.py and crash_checks.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

# The rules of 11_ticks_clean.sql and of the bar rules the fixture exercises (docs/bars.md), restated
# in DuckDB SQL: the fixture trades 09:30-14:30 of a regular session with conditions @, F and I, and
# odd lots (I) count for volume only (docs/conditions.md); open/high/low/close come from the others.
EXPECTED_BARS_SQL = """
WITH raw AS (
    SELECT row_number() OVER () AS seq, * FROM read_csv(?, all_varchar = true, header = true)
), parsed AS (
    SELECT seq,
           upper(trim(symbol)) AS symbol,
           CASE WHEN regexp_matches(ts, '^[0-9]+$') THEN epoch_ms(CAST(ts AS BIGINT) // 1000000)
                WHEN regexp_matches(ts, '(Z|[+-][0-9]{2}:?[0-9]{2})$') THEN TRY_CAST(ts AS TIMESTAMPTZ)
           END AS ts,
           TRY_CAST(price AS DOUBLE) AS price,
           TRY_CAST(size AS BIGINT) AS size,
           NOT coalesce(regexp_matches(conditions, '(^|[ ,])I([ ,]|$)'), false) AS priced
    FROM raw
), clean AS (
    SELECT * FROM parsed
    WHERE symbol <> '' AND ts IS NOT NULL AND price > 0 AND price < 1e9 AND size > 0
)
SELECT symbol,
       epoch_ms(time_bucket(INTERVAL 1 MINUTE, ts)) AS bar_start_ms,
       arg_min(price, (epoch_ns(ts), seq)) FILTER (WHERE priced) AS open,
       max(price) FILTER (WHERE priced) AS high, min(price) FILTER (WHERE priced) AS low,
       arg_max(price, (epoch_ns(ts), seq)) FILTER (WHERE priced) AS close,
       sum(size) AS volume,
       sum(price * size) / sum(size) AS vwap,
       count(*) AS trade_count
FROM clean
GROUP BY ALL
ORDER BY symbol, bar_start_ms
"""


def expected_bars(path: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        minutes = con.execute(EXPECTED_BARS_SQL, [str(path)]).fetchall()
    # A minute with only odd lots is a bar at the previous close (MARKETPIPE_BARS_INELIGIBLE_MINUTES
    # previous_close); before any priced trade of the symbol its volume is carried to the next bar.
    bars: list[tuple[Any, ...]] = []
    prev_close: dict[str, float] = {}
    carry: dict[str, tuple[int, float, int]] = {}
    for sym, start, o, h, lo, c, vol, vwap, n in minutes:
        if o is None:
            if sym not in prev_close:
                cv, cpv, cn = carry.get(sym, (0, 0.0, 0))
                carry[sym] = (cv + vol, cpv + vwap * vol, cn + n)
                continue
            o = h = lo = c = prev_close[sym]
        elif sym in carry:
            cv, cpv, cn = carry.pop(sym)
            vwap = (vwap * vol + cpv) / (vol + cv)
            vol, n = vol + cv, n + cn
        prev_close[sym] = c
        bars.append((sym, start, o, h, lo, c, vol, vwap, n))
    return bars
