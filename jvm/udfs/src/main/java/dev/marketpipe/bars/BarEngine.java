package dev.marketpipe.bars;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Bars of one symbol by market rules; a line-by-line port of Python {@code udfs.bars.engine.BarEngine}
 * (docs/bars.md), which stays the reference: tests/unit/test_bars_java.py checks that both give the
 * same output, bit for bit.
 *
 * <p>The caller feeds trades ({@link #add}) and the watermark ({@link #advance}); the engine answers with
 * emitted bars (1m and rollups, revisions included) and rejected trades. A minute [T, T+60s) is due
 * when {@code wm >= T+60s - 1ms} (the last regular minute of a symbol with a known listing exchange
 * waits {@code closing_print_wait} longer for the closing print); an emitted minute takes revisions
 * for {@code grace} more, later trades are {@code late}; a rollup is emitted once its end is due and
 * every minute in it was emitted. Not thread-safe: one engine per symbol.
 */
public final class BarEngine {
    /** A watermark past everything: batch end of input (Python {@code FOREVER = 2**62}). */
    public static final long FOREVER = 1L << 62;
    public static final long NS_PER_MS = 1_000_000L;
    public static final long MINUTE_NS = 60_000_000_000L;

    /** Reasons a trade is in no bar: the constants of Python {@code udfs.bars.model} (and engine NO_EFFECT). */
    public static final String LATE = "late";
    public static final String MARKET_CLOSED = "market_closed";
    public static final String EXTENDED_HOURS = "extended_hours";
    public static final String OFFICIAL_REPORT = "official_report";
    public static final String DUPLICATE = "duplicate_trade_id";
    public static final String PRICE_OUTLIER = "price_outlier";
    public static final String OUTSIDE_CALENDAR = "outside_calendar";
    public static final String UNKNOWN_CONDITION = "unknown_condition";
    public static final String NO_EFFECT = "no_effect";

    private static final int OUTLIER_WINDOW = 5;
    private static final int OUTLIER_MIN = 3;
    private static final Comparator<Bucket> BUCKET_ORDER = Comparator.<Bucket>comparingLong(b -> b.endNs)
            .thenComparing(b -> b.timeframe).thenComparingLong(b -> b.startNs);

    private final EngineContext ctx;
    private final EngineState st;
    private final long graceNs;
    private final long waitNs;

    /** A fresh engine (Python {@code BarEngine(symbol, ctx)}). */
    public BarEngine(String symbol, EngineContext ctx) {
        this(ctx, new EngineState(symbol));
    }

    /** An engine continuing from {@code state} (Python {@code BarEngine(state.symbol, ctx, state)}). */
    public BarEngine(EngineContext ctx, EngineState state) {
        this.ctx = ctx;
        this.st = state;
        this.graceNs = ctx.rules.graceMs * NS_PER_MS;
        this.waitNs = ctx.rules.closingPrintWaitMs * NS_PER_MS;
    }

    /** The live state (checkpoint it with {@link EngineState#toBytes()}). */
    public EngineState state() {
        return st;
    }

    // ---- input

    /** Python {@code BarEngine.add}: apply one trade; with a watermark (non-null), first emit what is due. */
    public Output add(Trade trade, Long watermarkNs) {
        Output out = watermarkNs == null ? new Output() : advance(watermarkNs);
        long wm = watermarkNs == null ? -FOREVER : watermarkNs;
        SessionSlot slot;
        try {
            slot = ctx.calendar.slot(trade.tsNs);
        } catch (OutsideCalendarException e) {
            return reject(out, trade, OUTSIDE_CALENDAR);
        }
        if (slot == null) {
            return reject(out, trade, MARKET_CLOSED);
        }
        ConditionTable table = ctx.table(trade.source);
        if (ctx.rules.unknownConditions.equals("dead_letter") && !table.unknownCodes(trade.conditions).isEmpty()) {
            return reject(out, trade, UNKNOWN_CONDITION);
        }
        Eligibility elig = table.eligibility(trade.conditions, slot.session);
        if (elig.officialReport) {
            return reject(out, trade, OFFICIAL_REPORT);
        }
        boolean listing = ctx.listingExchange != null && ctx.listingExchange.equals(trade.exchange);
        boolean opening = elig.openingPrint && listing;
        boolean closing = elig.closingPrint && listing;
        // _target: the minute a trade belongs to, and its session segment
        long start = trade.tsNs - Math.floorMod(trade.tsNs, MINUTE_NS);
        SessionSlot target = slot;
        if (closing && (slot.session.equals("regular") || slot.session.equals("post"))) {
            start = slot.regularCloseNs - MINUTE_NS;
            target = regular(slot);
        } else if (opening && (slot.session.equals("pre") || slot.session.equals("regular"))) {
            start = Math.max(start, slot.regularOpenNs);
            target = regular(slot);
        }
        if (!target.session.equals("regular") && !ctx.rules.extendedHours) {
            return reject(out, trade, EXTENDED_HOURS);
        }
        Minute minute = st.minutes.get(start);
        if (minute == null) {
            long end = start + MINUTE_NS;
            if (wm >= end + hold(end, target.regularCloseNs) + graceNs - NS_PER_MS) {
                return reject(out, trade, LATE);
            }
            minute = newMinute(start, target);
        } else if (minute.emitted && wm >= finalNs(minute.endNs(), minute.regularCloseNs) - NS_PER_MS) {
            return reject(out, trade, LATE);
        }
        if (elig.highLow && outlier(trade.price, target.sessionDate)) { // after `late`: late wins
            return reject(out, trade, PRICE_OUTLIER);
        }
        String tradeKey = trade.tradeId == null ? null
                : (trade.exchange == null ? "" : trade.exchange) + "|" + trade.tradeId;
        if (tradeKey != null) {
            Set<String> seen = st.seenIds.get(start);
            if (seen != null && seen.contains(tradeKey)) {
                return reject(out, trade, DUPLICATE);
            }
        }
        if (!minute.add(trade, elig, opening, closing)) {
            return reject(out, trade, NO_EFFECT);
        }
        st.minutes.put(start, minute);
        if (tradeKey != null) {
            st.seenIds.computeIfAbsent(start, k -> new LinkedHashSet<>()).add(tradeKey);
        }
        if (elig.highLow) {
            rememberPrice(trade.price, target.sessionDate);
        }
        if (minute.emitted) { // a revision within the grace period
            minute.revision += 1;
            emitMinute(minute, out, wm);
        } else if (wm >= due(minute) - NS_PER_MS) { // first trade of a minute that is already due
            emitMinute(minute, out, wm);
        }
        emitBuckets(out, wm);
        return out;
    }

    private static Output reject(Output out, Trade trade, String reason) {
        out.rejected.add(new Rejected(trade, reason));
        return out;
    }

    /** Python {@code BarEngine.advance}: emit every minute and rollup due at this watermark; forget what is final. */
    public Output advance(long watermarkNs) {
        Output out = new Output();
        long wm = watermarkNs;
        // The loop acts only on a minute that is due and not emitted: look for one before copying the
        // keys (this runs before every trade; the answer is the same, the copy is usually skipped).
        boolean anyDue = false;
        for (Minute m : st.minutes.values()) {
            if (!m.emitted && wm >= due(m) - NS_PER_MS) {
                anyDue = true;
                break;
            }
        }
        for (Long start : anyDue ? new ArrayList<>(st.minutes.keySet()) : List.<Long>of()) {
            Minute minute = st.minutes.get(start);
            if (!minute.emitted && wm >= due(minute) - NS_PER_MS) {
                fill(start, out, wm);
                emitMinute(minute, out, wm);
            }
        }
        fill(null, out, wm);
        emitBuckets(out, wm);
        long wmMinute = Math.floorDiv(wm, MINUTE_NS);
        if (wmMinute != st.purgedMinute) { // late checks do not depend on it: only memory does
            st.purgedMinute = wmMinute;
            purge(wm);
        }
        return out;
    }

    /** Python {@code BarEngine.finish}: end of a bounded input (batch), emit everything. */
    public Output finish() {
        return advance(FOREVER);
    }

    /** Python {@code BarEngine.next_wakeup_ns}: the next watermark at which advance would do something; null = none. */
    public Long nextWakeupNs() {
        long min = Long.MAX_VALUE;
        boolean any = false;
        for (Map.Entry<Long, Minute> e : st.minutes.entrySet()) {
            Minute m = e.getValue();
            long t;
            if (!m.emitted) {
                t = due(m);
            } else if (st.lastStart == null || e.getKey().longValue() != st.lastStart) {
                t = finalNs(m.endNs(), m.regularCloseNs);
            } else {
                continue; // the latest minute is kept (flat-fill cursor, carry target)
            }
            min = Math.min(min, t);
            any = true;
        }
        for (Bucket b : st.buckets.values()) {
            min = Math.min(min, b.emitted ? finalNs(b.endNs, b.regularCloseNs) : b.endNs);
            any = true;
        }
        if (ctx.rules.emptyMinutes.equals("flat") && st.lastStart != null) {
            long nxt = st.lastStart + MINUTE_NS;
            if (st.lastSegmentEnd != null && nxt < st.lastSegmentEnd) {
                min = Math.min(min, nxt + MINUTE_NS);
                any = true;
            }
        }
        return any ? min - NS_PER_MS : null;
    }

    /** Python {@code run_batch}: all bars of one symbol's trades (any order; sorted by time, then sequence). */
    public static Output runBatch(String symbol, List<Trade> trades, EngineContext ctx) {
        BarEngine engine = new BarEngine(symbol, ctx);
        List<Trade> sorted = new ArrayList<>(trades);
        sorted.sort(Comparator.<Trade>comparingLong(t -> t.tsNs).thenComparingLong(t -> t.seq));
        Output out = new Output();
        for (Trade t : sorted) {
            out.extend(engine.add(t, null));
        }
        out.extend(engine.finish());
        return out;
    }

    // ---- rules

    /** Python {@code BarEngine._regular}: the regular segment of a slot's day. */
    private static SessionSlot regular(SessionSlot slot) {
        if (slot.session.equals("regular")) {
            return slot;
        }
        return new SessionSlot("regular", slot.sessionDate, slot.regularOpenNs, slot.regularCloseNs,
                slot.regularOpenNs, slot.regularCloseNs);
    }

    private static Minute newMinute(long start, SessionSlot slot) {
        return new Minute(start, slot.session, slot.sessionDate, slot.startNs, slot.endNs, slot.regularOpenNs,
                slot.regularCloseNs);
    }

    /** Python {@code BarEngine._hold}: extra wait of the bar ending at the regular close, for the closing print. */
    private long hold(long endNs, long regularCloseNs) {
        return ctx.listingExchange != null && endNs == regularCloseNs ? waitNs : 0;
    }

    /** Python {@code BarEngine._final}: when a bar (or bucket) ending at {@code endNs} stops taking revisions. */
    private long finalNs(long endNs, long regularCloseNs) {
        return endNs + hold(endNs, regularCloseNs) + graceNs;
    }

    /** Python {@code BarEngine._due}: when a minute is complete (later for the closing print). */
    private long due(Minute minute) {
        long end = minute.endNs();
        if (ctx.listingExchange != null && minute.session.equals("regular") && end == minute.regularCloseNs
                && !minute.closingPrint.set) {
            return end + waitNs;
        }
        return end;
    }

    // ---- emission

    /** Python {@code BarEngine._emit_minute}. */
    private void emitMinute(Minute minute, Output out, long wm) {
        boolean newest = st.lastStart == null || minute.startNs >= st.lastStart;
        if (!minute.hasPrice() && minute.tradeCount > 0 && !minute.emitted) {
            // Volume but no price-eligible trade (docs/bars.md, "Ineligible minutes").
            Minute prev = st.lastStart != null ? st.minutes.get(st.lastStart) : null;
            boolean carryPolicy = ctx.rules.ineligibleMinutes.equals("carry");
            if (carryPolicy && prev != null && canCarry(prev, minute)) {
                prev.absorb(minute.volume, minute.pvSum, minute.tradeCount, minute.firstNs, minute.lastNs);
                prev.revision += 1;
                st.minutes.remove(minute.startNs);
                emitMinute(prev, out, wm);
                return;
            }
            if (st.lastClose == null || carryPolicy) {
                carryForward(minute);
                st.minutes.remove(minute.startNs);
                return;
            }
        }
        if (minute.hasPrice() && st.carry != null && !minute.emitted) {
            EngineState.Carry c = st.carry;
            minute.absorb(c.volume, c.pvSum, c.trades, c.first, c.last);
            st.carry = null;
        }
        BarRow row = minute.row(st.symbol, st.lastClose, minute.tradeCount == 0);
        minute.emitted = true;
        out.bars.add(row);
        if (newest) {
            st.lastClose = row.close;
            st.lastStart = minute.startNs;
            st.lastSegmentEnd = minute.segmentEndNs;
        }
        collect(minute, row);
    }

    /** Python {@code BarEngine._can_carry}: may {@code minute}'s volume go into the emitted bar {@code prev}. */
    private boolean canCarry(Minute prev, Minute minute) {
        return prev.emitted && prev.segmentStartNs == minute.segmentStartNs
                && minute.endNs() <= finalNs(prev.endNs(), prev.regularCloseNs);
    }

    /** Python {@code BarEngine._carry_forward}. */
    private void carryForward(Minute minute) {
        EngineState.Carry c = st.carry;
        long v = c == null ? 0 : c.volume;
        double pv = c == null ? 0.0 : c.pvSum;
        long n = c == null ? 0 : c.trades;
        Long first = c == null ? null : c.first;
        Long last = c == null ? null : c.last;
        Long firsts = first == null ? minute.firstNs
                : minute.firstNs == null ? first : Long.valueOf(Math.min(first, minute.firstNs));
        Long lasts = last == null ? minute.lastNs
                : minute.lastNs == null ? last : Long.valueOf(Math.max(last, minute.lastNs));
        st.carry = new EngineState.Carry(v + minute.volume, pv + minute.pvSum, n + minute.tradeCount, firsts, lasts);
    }

    /**
     * Python {@code BarEngine._fill}: flat bars for empty minutes (policy flat) after the latest emitted
     * minute, up to {@code before} (exclusive, null = no bound) or as far as the watermark allows,
     * inside the same session segment.
     */
    private void fill(Long before, Output out, long wm) {
        if (!ctx.rules.emptyMinutes.equals("flat") || st.lastStart == null || st.lastClose == null) {
            return;
        }
        Minute prev = st.minutes.get(st.lastStart);
        if (prev == null || st.lastSegmentEnd == null) {
            return;
        }
        long nxt = st.lastStart + MINUTE_NS;
        while (nxt < st.lastSegmentEnd && (before == null || nxt < before)) {
            if (st.minutes.containsKey(nxt) || wm < nxt + MINUTE_NS - NS_PER_MS) {
                return;
            }
            Minute flat = new Minute(nxt, prev.session, prev.sessionDate, prev.segmentStartNs, prev.segmentEndNs,
                    prev.regularOpenNs, prev.regularCloseNs);
            st.minutes.put(nxt, flat);
            emitMinute(flat, out, wm);
            nxt += MINUTE_NS;
        }
    }

    /** Python {@code BarEngine._collect}: put a 1m row into the rollup buckets it belongs to. */
    private void collect(Minute minute, BarRow row) {
        for (String tf : ctx.rules.rollups) {
            long spanStart;
            long spanEnd;
            if (tf.equals("1d")) { // rollup.bucket_span: 1d is the regular session
                if (!minute.session.equals("regular")) {
                    continue;
                }
                spanStart = minute.regularOpenNs;
                spanEnd = minute.regularCloseNs;
            } else { // session-aligned, never crossing the segment's end
                long length = BarRules.ROLLUPS.get(tf);
                long seg = minute.segmentStartNs;
                spanStart = seg + Math.floorDiv(minute.startNs - seg, length) * length;
                spanEnd = Math.min(spanStart + length, minute.segmentEndNs);
            }
            EngineState.BucketKey key = new EngineState.BucketKey(tf, spanStart);
            Bucket bucket = st.buckets.get(key);
            if (bucket == null) {
                if (minute.revision > 0) {
                    continue; // the bucket was final and forgotten: never re-create it from one minute
                }
                bucket = new Bucket(tf, spanStart, spanEnd, minute.regularCloseNs);
                st.buckets.put(key, bucket);
            }
            if (minute.startNs < bucket.frozenUntil) {
                continue; // already folded as final
            }
            bucket.minutes.put(minute.startNs, row);
            if (bucket.emitted) {
                bucket.dirty = true;
            }
        }
    }

    /** Python {@code BarEngine._emit_buckets} (in order of end, then key). */
    private void emitBuckets(Output out, long wm) {
        if (st.buckets.isEmpty()) {
            return;
        }
        // Only a revised emitted bucket or one whose end is due can emit: without one, skip the sort
        // (this runs twice per trade; the output is the same).
        boolean candidate = false;
        for (Bucket b : st.buckets.values()) {
            if (b.emitted ? b.dirty : wm >= b.endNs - NS_PER_MS) {
                candidate = true;
                break;
            }
        }
        if (!candidate) {
            return;
        }
        List<Bucket> order = new ArrayList<>(st.buckets.values());
        order.sort(BUCKET_ORDER);
        for (Bucket b : order) {
            if (b.emitted) {
                if (b.dirty) {
                    b.revision += 1;
                    b.dirty = false;
                    out.bars.add(bucketRow(b));
                }
                continue;
            }
            if (wm < b.endNs - NS_PER_MS) {
                continue;
            }
            boolean open = false;
            for (Minute m : st.minutes.subMap(b.startNs, b.endNs).values()) {
                if (!m.emitted) {
                    open = true;
                    break;
                }
            }
            if (open) {
                continue;
            }
            b.emitted = true;
            out.bars.add(bucketRow(b));
        }
    }

    /** Python {@code udfs.bars.rollup.bucket_row}: the frozen merge first, then the held minutes in time order. */
    private static BarRow bucketRow(Bucket b) {
        List<BarRow> rows = new ArrayList<>(b.minutes.size() + 1);
        if (b.frozen != null) {
            rows.add(b.frozen);
        }
        rows.addAll(b.minutes.values());
        return Minute.merge(b.timeframe, b.startNs, b.endNs, rows, b.revision);
    }

    /** Python {@code udfs.bars.outlier.is_outlier}: far from the median of the day's recent high/low prices. */
    private boolean outlier(double price, java.time.LocalDate day) {
        double frac = ctx.rules.outlierFraction;
        List<Double> recent = st.recentPrices;
        if (frac <= 0 || !day.equals(st.recentDay) || recent.size() < OUTLIER_MIN) {
            return false;
        }
        double[] sorted = new double[recent.size()];
        for (int i = 0; i < sorted.length; i++) {
            sorted[i] = recent.get(i);
        }
        java.util.Arrays.sort(sorted);
        double ref = sorted[sorted.length / 2];
        return Math.abs(price - ref) > frac * ref;
    }

    /** Python {@code udfs.bars.outlier.remember_price}. */
    private void rememberPrice(double price, java.time.LocalDate day) {
        if (!day.equals(st.recentDay)) {
            st.recentDay = day;
            st.recentPrices.clear();
        }
        st.recentPrices.add(price);
        if (st.recentPrices.size() > OUTLIER_WINDOW) {
            st.recentPrices.remove(0);
        }
    }

    /** Python {@code BarEngine._purge}: forget minutes and buckets that can no longer be revised. */
    private void purge(long wm) {
        long done = wm + NS_PER_MS;
        st.minutes.entrySet().removeIf(e -> e.getValue().emitted
                && finalNs(e.getValue().endNs(), e.getValue().regularCloseNs) <= done
                && (st.lastStart == null || e.getKey().longValue() != st.lastStart));
        st.seenIds.keySet().removeIf(s -> !st.minutes.containsKey(s));
        st.buckets.values().removeIf(b -> b.emitted && finalNs(b.endNs, b.regularCloseNs) <= done);
        for (Bucket b : st.buckets.values()) {
            fold(b, done);
        }
    }

    /** Python {@code udfs.bars.rollup.fold}: merge a bucket's final minutes (in time order). */
    private void fold(Bucket b, long done) {
        List<Long> finals = new ArrayList<>();
        for (Long s : b.minutes.keySet()) {
            if (finalNs(s + MINUTE_NS, b.regularCloseNs) <= done) {
                finals.add(s);
            }
        }
        if (finals.isEmpty()) {
            return;
        }
        List<BarRow> rows = new ArrayList<>(finals.size() + 1);
        if (b.frozen != null) {
            rows.add(b.frozen);
        }
        for (Long s : finals) {
            rows.add(b.minutes.remove(s));
        }
        b.frozen = Minute.merge(b.timeframe, b.startNs, b.endNs, rows, 0);
        b.frozenUntil = finals.get(finals.size() - 1) + MINUTE_NS;
    }
}
