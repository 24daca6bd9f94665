"""marketpipe.rules.ticks: the end-of-stream heartbeat follows the watermark delay and the bar rules, and
the expected bars of a feed's ticks are the valid ones' minutes. (Tick validity against the SQL itself:
tests/unit/test_ticks_clean_sql.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

from marketpipe.feeds.tick import Tick
from marketpipe.rules.ticks import TickRules, end_heartbeat_ns, looks_valid, minute_start_ms
from marketpipe.settings import Settings

S = 1_000_000_000
OPEN_NS = 1_718_285_400_000_000_000  # 2024-06-13 09:30 New York


def _ns(h: int, m: int, s: int = 0) -> int:
    return int(datetime(2024, 6, 13, h, m, s, tzinfo=UTC).timestamp()) * S


def test_the_end_heartbeat_is_a_bar_plus_the_watermark_delay_past_the_last_trade() -> None:
    assert end_heartbeat_ns(OPEN_NS + 7 * S) == OPEN_NS + 7 * S + 65 * S  # 60 s + 2 s delay + 3 s headroom
    slow = TickRules.from_settings(Settings(watermark_delay_ms=10_000))
    assert end_heartbeat_ns(OPEN_NS, slow) == OPEN_NS + 73 * S
    assert slow.watermark_delay_s == "10.000"


def test_the_last_regular_minute_waits_for_the_closing_print() -> None:
    close = _ns(20, 0)  # 16:00 New York (EDT)
    assert end_heartbeat_ns(close - 30 * S) == close - 30 * S + 125 * S  # + closing_print_wait_ms
    assert end_heartbeat_ns(close - 90 * S) == close - 90 * S + 65 * S
    assert end_heartbeat_ns(close + 30 * S) == close + 30 * S + 65 * S  # post-market: its bar is held anyway
    assert end_heartbeat_ns(5 * S) == 70 * S  # outside the calendar: no session to wait for


def test_expected_bars_are_the_valid_ticks_minutes() -> None:
    assert minute_start_ms(OPEN_NS + 59 * S) == OPEN_NS // 1_000_000
    assert looks_valid(Tick(" aapl ", OPEN_NS, 1.5, 100))
    assert not looks_valid(Tick("AAPL", OPEN_NS, 20_000_000.0, 100))  # invalid_price with the default bound
    assert looks_valid(Tick("AAPL", OPEN_NS, 20_000_000.0, 100),
                       TickRules.from_settings(Settings(max_price=50_000_000)))
