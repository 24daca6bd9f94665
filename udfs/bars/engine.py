"""Bars of one symbol by market rules: event time, grace period, auctions, sessions, rollups.

One :class:`BarEngine` per symbol. The caller feeds trades (:meth:`add`) and the current
watermark (:meth:`advance`); the engine answers with emitted bars (1m and rollups, revisions
included) and rejected trades. The same engine runs in the streaming job (a Flink
KeyedProcessFunction: watermark from Flink, wake-ups as event-time timers) and in batch backfill
(every trade first, then ``advance(FOREVER)``), so both produce the same bars. Every rule is
written down, with its reason, in docs/bars.md.

Timing rules, with ``wm`` the watermark (all event time, nanoseconds):

* a minute [T, T+60s) is *due* when ``wm >= T+60s - 1ms`` (every tick up to its end has arrived
  by the watermark's promise). The session's last regular minute of a symbol whose listing
  exchange is known waits up to ``closing_print_wait`` longer for the closing auction print;
* after it is emitted, a minute accepts trades for ``grace`` more: each one re-emits the bar with
  ``revision`` + 1 (and every rollup containing it); later trades are rejected as ``late``;
* a rollup bucket is emitted once its end is due and every minute inside it has been emitted.

The checkpointed state and the per-symbol context are udfs/bars/state.py, the rollup buckets
udfs/bars/rollup.py, the price-outlier rule udfs/bars/outlier.py.
"""

from __future__ import annotations

import pickle

from udfs.bars.minute import Minute
from udfs.bars.model import (
    DUPLICATE,
    EXTENDED_HOURS,
    LATE,
    MARKET_CLOSED,
    MINUTE_NS,
    NS_PER_MS,
    OFFICIAL_REPORT,
    OUTSIDE_CALENDAR,
    PRICE_OUTLIER,
    UNKNOWN_CONDITION,
    BarRow,
    Output,
    Rejected,
    Trade,
)
from udfs.bars.outlier import is_outlier, remember_price
from udfs.bars.rollup import Bucket, bucket_row, bucket_span, fold
from udfs.bars.state import STATE_VERSION, Context, State
from udfs.market.calendar import SessionSlot

# State, Bucket and Context are importable from here too: snapshots taken before they moved name them.
__all__ = ["FOREVER", "STATE_VERSION", "BarEngine", "Bucket", "Context", "State", "latest", "run_batch"]

NO_EFFECT = "no_effect"  # a trade whose conditions let it change nothing in a bar
FOREVER = 2**62  # a watermark past everything: batch end of input



class BarEngine:
    """Bars of one symbol (see the module docstring for the timing rules)."""

    def __init__(self, symbol: str, ctx: Context, state: State | None = None) -> None:
        self.ctx = ctx
        self.state = state if state is not None else State(symbol)
        self._grace_ns = ctx.rules.grace_ms * NS_PER_MS
        self._wait_ns = ctx.rules.closing_print_wait_ms * NS_PER_MS

    # ---- state

    def snapshot(self) -> tuple[int, State]:
        """The state, versioned, as Flink ValueState keeps it (the live object, pickled on flush)."""
        return (STATE_VERSION, self.state)

    @classmethod
    def restore(cls, snapshot: tuple[int, State], ctx: Context) -> BarEngine:
        """An engine continuing from :meth:`snapshot`."""
        version, state = snapshot
        if version != STATE_VERSION:
            raise ValueError(f"bar state version {version} is not {STATE_VERSION}: start the job fresh")
        return cls(state.symbol, ctx, state)

    def dumps(self) -> bytes:
        """The snapshot as bytes (a checkpoint round trip)."""
        return pickle.dumps(self.snapshot(), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, data: bytes, ctx: Context) -> BarEngine:
        """An engine restored from :meth:`dumps`."""
        return cls.restore(pickle.loads(data), ctx)  # our own checkpointed state

    # ---- input

    def add(self, trade: Trade, watermark_ns: int | None = None) -> Output:
        """Apply one trade; with a watermark, first emit what is due."""
        out = Output() if watermark_ns is None else self.advance(watermark_ns)
        wm = -FOREVER if watermark_ns is None else watermark_ns
        ctx, st = self.ctx, self.state
        try:
            slot = ctx.calendar.slot(trade.ts_ns)
        except ValueError:  # before the calendar's first session or beyond its last
            out.rejected.append(Rejected(trade, OUTSIDE_CALENDAR))
            return out
        if slot is None:
            out.rejected.append(Rejected(trade, MARKET_CLOSED))
            return out
        table = ctx.table(trade.source)
        if ctx.rules.unknown_conditions == "dead_letter" and table.unknown_codes(trade.conditions):
            out.rejected.append(Rejected(trade, UNKNOWN_CONDITION))
            return out
        elig = table.eligibility(trade.conditions, slot.session)
        if elig.official_report:
            out.rejected.append(Rejected(trade, OFFICIAL_REPORT))
            return out
        listing = ctx.listing_exchange is not None and trade.exchange == ctx.listing_exchange
        opening = elig.opening_print and listing
        closing = elig.closing_print and listing
        start, target = self._target(trade.ts_ns, slot, opening=opening, closing=closing)
        if target.session != "regular" and not ctx.rules.extended_hours:
            out.rejected.append(Rejected(trade, EXTENDED_HOURS))
            return out
        minute = st.minutes.get(start)
        if minute is None:
            end = start + MINUTE_NS
            if wm >= end + self._hold(end, target.regular_close_ns) + self._grace_ns - NS_PER_MS:
                out.rejected.append(Rejected(trade, LATE))
                return out
            minute = self._new_minute(start, target)
        elif minute.emitted and wm >= self._final(minute.end_ns, minute.regular_close_ns) - NS_PER_MS:
            out.rejected.append(Rejected(trade, LATE))
            return out
        # after `late`: late wins
        if elig.high_low and is_outlier(st, trade.price, target.session_date, ctx.rules.outlier_fraction):
            out.rejected.append(Rejected(trade, PRICE_OUTLIER))
            return out
        trade_key = None if trade.trade_id is None else f"{trade.exchange or ''}|{trade.trade_id}"
        if trade_key is not None and trade_key in st.seen_ids.get(start, ()):
            out.rejected.append(Rejected(trade, DUPLICATE))
            return out
        if not minute.add(trade, elig, opening=opening, closing=closing):
            out.rejected.append(Rejected(trade, NO_EFFECT))
            return out
        st.minutes[start] = minute
        if trade_key is not None:
            st.seen_ids.setdefault(start, set()).add(trade_key)
        if elig.high_low:
            remember_price(st, trade.price, target.session_date)
        if minute.emitted:  # a revision within the grace period
            minute.revision += 1
            self._emit_minute(minute, out, wm)
        elif wm >= self._due(minute) - NS_PER_MS:  # first trade of a minute that is already due
            self._emit_minute(minute, out, wm)
        self._emit_buckets(out, wm)
        return out

    def advance(self, watermark_ns: int) -> Output:
        """Emit every minute and rollup that is due at this watermark; forget what is final."""
        out = Output()
        wm = watermark_ns
        st = self.state
        for start in sorted(st.minutes):
            minute = st.minutes[start]
            if not minute.emitted and wm >= self._due(minute) - NS_PER_MS:
                self._fill(start, out, wm)
                self._emit_minute(minute, out, wm)
        self._fill(None, out, wm)
        self._emit_buckets(out, wm)
        if wm // MINUTE_NS != st.purged_minute:  # late checks do not depend on it: only memory does
            st.purged_minute = wm // MINUTE_NS
            self._purge(wm)
        return out

    def finish(self) -> Output:
        """End of a bounded input (batch): emit everything."""
        return self.advance(FOREVER)

    def next_wakeup_ns(self) -> int | None:
        """The next watermark at which :meth:`advance` would do something (for a timer)."""
        st = self.state
        times: list[int] = []
        for start, m in st.minutes.items():
            if not m.emitted:
                times.append(self._due(m))
            elif start != st.last_start:  # the latest minute is kept (flat-fill cursor, carry target)
                times.append(self._final(m.end_ns, m.regular_close_ns))
        for b in st.buckets.values():
            times.append(self._final(b.end_ns, b.regular_close_ns) if b.emitted else b.end_ns)
        if self.ctx.rules.empty_minutes == "flat" and st.last_start is not None:
            nxt = st.last_start + MINUTE_NS
            if st.last_segment_end is not None and nxt < st.last_segment_end:
                times.append(nxt + MINUTE_NS)
        return min(times) - NS_PER_MS if times else None

    # ---- rules

    def _target(
        self, ts_ns: int, slot: SessionSlot, *, opening: bool, closing: bool
    ) -> tuple[int, SessionSlot]:
        """The minute a trade belongs to, and its session segment.

        The listing exchange's closing auction print belongs to the last regular-hours minute even
        when it prints after the close; its opening print to the first regular-hours minute even
        when stamped a moment before the open.
        """
        minute = ts_ns - ts_ns % MINUTE_NS
        if closing and slot.session in ("regular", "post"):
            return slot.regular_close_ns - MINUTE_NS, self._regular(slot)
        if opening and slot.session in ("pre", "regular"):
            return max(minute, slot.regular_open_ns), self._regular(slot)
        return minute, slot

    @staticmethod
    def _regular(slot: SessionSlot) -> SessionSlot:
        if slot.session == "regular":
            return slot
        return SessionSlot(
            "regular", slot.session_date, slot.regular_open_ns, slot.regular_close_ns,
            slot.regular_open_ns, slot.regular_close_ns,
        )

    def _new_minute(self, start: int, slot: SessionSlot) -> Minute:
        return Minute(
            start_ns=start, session=slot.session, session_date=slot.session_date,
            segment_start_ns=slot.start_ns, segment_end_ns=slot.end_ns,
            regular_open_ns=slot.regular_open_ns, regular_close_ns=slot.regular_close_ns,
        )

    def _hold(self, end_ns: int, regular_close_ns: int) -> int:
        """Extra wait of the bar that ends at the regular close, for the closing auction print."""
        if self.ctx.listing_exchange is not None and end_ns == regular_close_ns:
            return self._wait_ns
        return 0

    def _final(self, end_ns: int, regular_close_ns: int) -> int:
        """When a bar (or bucket) ending at ``end_ns`` stops accepting revisions: the grace period
        runs from when it was due, so the last regular bar, held for the closing print, gets it too."""
        return end_ns + self._hold(end_ns, regular_close_ns) + self._grace_ns

    def _due(self, minute: Minute) -> int:
        """When a minute is complete: its end, or later for the closing auction print."""
        end = minute.end_ns
        if (
            self.ctx.listing_exchange is not None
            and minute.session == "regular"
            and end == minute.regular_close_ns
            and minute.closing_print is None
        ):
            return end + self._wait_ns
        return end

    # ---- emission

    def _emit_minute(self, minute: Minute, out: Output, wm: int) -> None:
        st = self.state
        rules = self.ctx.rules
        newest = st.last_start is None or minute.start_ns >= st.last_start
        if not minute.has_price and minute.trade_count > 0 and not minute.emitted:
            # Volume but no price-eligible trade (docs/bars.md, "Ineligible minutes").
            prev = st.minutes.get(st.last_start) if st.last_start is not None else None
            if rules.ineligible_minutes == "carry" and prev is not None and self._can_carry(prev, minute):
                prev.absorb(minute.volume, minute.pv_sum, minute.trade_count, minute.first_ns, minute.last_ns)
                prev.revision += 1
                del st.minutes[minute.start_ns]
                self._emit_minute(prev, out, wm)
                return
            if st.last_close is None or rules.ineligible_minutes == "carry":
                self._carry_forward(minute)
                del st.minutes[minute.start_ns]
                return
        if minute.has_price and st.carry is not None and not minute.emitted:
            minute.absorb(*st.carry)
            st.carry = None
        row = minute.row(st.symbol, st.last_close, filled=minute.trade_count == 0)
        minute.emitted = True
        out.bars.append(row)
        if newest:
            st.last_close = row.close
            st.last_start = minute.start_ns
            st.last_segment_end = minute.segment_end_ns
        self._collect(minute, row)

    def _can_carry(self, prev: Minute, minute: Minute) -> bool:
        """Whether ``minute``'s volume may go into the emitted bar ``prev`` (policy ``carry``).

        That revises ``prev``, so only while it is still within its grace period as of ``minute``'s
        end (its rollups are then still held; a rule on event times, so batch and streaming agree),
        and only inside one session segment (post-market volume stays out of the regular session's
        bars). Otherwise the volume is carried forward into the next bar with a price.
        """
        return (
            prev.emitted
            and prev.segment_start_ns == minute.segment_start_ns
            and minute.end_ns <= self._final(prev.end_ns, prev.regular_close_ns)
        )

    def _carry_forward(self, minute: Minute) -> None:
        st = self.state
        v, pv, n, first, last = st.carry or (0, 0.0, 0, None, None)
        firsts = [x for x in (first, minute.first_ns) if x is not None]
        lasts = [x for x in (last, minute.last_ns) if x is not None]
        st.carry = (
            v + minute.volume, pv + minute.pv_sum, n + minute.trade_count,
            min(firsts) if firsts else None, max(lasts) if lasts else None,
        )

    def _fill(self, before: int | None, out: Output, wm: int) -> None:
        """Flat bars for empty minutes (policy ``flat``) after the latest emitted minute, up to
        ``before`` (exclusive) or as far as the watermark allows, inside the same session segment."""
        st = self.state
        if self.ctx.rules.empty_minutes != "flat" or st.last_start is None or st.last_close is None:
            return
        prev = st.minutes.get(st.last_start)
        if prev is None or st.last_segment_end is None:
            return
        nxt = st.last_start + MINUTE_NS
        while nxt < st.last_segment_end and (before is None or nxt < before):
            if nxt in st.minutes or wm < nxt + MINUTE_NS - NS_PER_MS:
                return
            slot = SessionSlot(
                prev.session, prev.session_date, prev.segment_start_ns, prev.segment_end_ns,
                prev.regular_open_ns, prev.regular_close_ns,
            )
            flat = self._new_minute(nxt, slot)
            st.minutes[nxt] = flat
            self._emit_minute(flat, out, wm)
            nxt += MINUTE_NS

    def _collect(self, minute: Minute, row: BarRow) -> None:
        """Put a 1m row into the rollup buckets it belongs to."""
        for tf in self.ctx.rules.rollups:
            span = bucket_span(tf, minute)
            if span is None:
                continue
            key = (tf, span[0])
            bucket = self.state.buckets.get(key)
            if bucket is None:
                if minute.revision > 0:
                    continue  # the bucket was final and forgotten: never re-create it from one minute
                bucket = self.state.buckets[key] = Bucket(tf, span[0], span[1], minute.regular_close_ns)
            if minute.start_ns < bucket.frozen_until:
                continue  # already folded as final (only a tick later than the watermark bound gets here)
            bucket.minutes[minute.start_ns] = row
            if bucket.emitted:
                bucket.dirty = True

    def _emit_buckets(self, out: Output, wm: int) -> None:
        st = self.state
        for key in sorted(st.buckets, key=lambda k: (st.buckets[k].end_ns, k)):
            b = st.buckets[key]
            if b.emitted:
                if b.dirty:
                    b.revision += 1
                    b.dirty = False
                    out.bars.append(bucket_row(b))
                continue
            if wm < b.end_ns - NS_PER_MS:
                continue
            if any(
                not m.emitted for s, m in st.minutes.items() if b.start_ns <= s < b.end_ns
            ):
                continue
            b.emitted = True
            out.bars.append(bucket_row(b))

    def _purge(self, wm: int) -> None:
        """Forget minutes and buckets that can no longer be revised (bounded state)."""
        st = self.state
        done = wm + NS_PER_MS
        for start in [
            s for s, m in st.minutes.items()
            if m.emitted and self._final(m.end_ns, m.regular_close_ns) <= done
        ]:
            if start != st.last_start:  # the flat-fill cursor and carry target stay
                del st.minutes[start]
        for start in [s for s in st.seen_ids if s not in st.minutes]:
            del st.seen_ids[start]
        for key in [
            k for k, b in st.buckets.items()
            if b.emitted and self._final(b.end_ns, b.regular_close_ns) <= done
        ]:
            del st.buckets[key]
        for b in st.buckets.values():
            fold(b, done, self._final)



def run_batch(symbol: str, trades: list[Trade], ctx: Context) -> Output:
    """All bars of one symbol's whole trade list (any order; sorted by time, then sequence)."""
    engine = BarEngine(symbol, ctx)
    out = Output()
    for trade in sorted(trades, key=lambda t: (t.ts_ns, t.seq)):
        out.extend(engine.add(trade))
    out.extend(engine.finish())
    return out


def latest(rows: list[BarRow]) -> dict[tuple[str, str, int], BarRow]:
    """The last revision of every bar (what the Postgres upsert keeps)."""
    result: dict[tuple[str, str, int], BarRow] = {}
    for row in rows:
        result[row.key()] = row
    return result
