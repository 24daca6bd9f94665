package dev.marketpipe.bars;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.LocalDate;
import java.util.List;

/**
 * Mutable running state of one 1m bar, and the merge of 1m bars into rollups; mirrors Python
 * {@code udfs.bars.minute} ({@code Minute}, {@code merge}). Prices that Python keeps as
 * {@code float | None} are a double plus a "set" flag here; keys {@code (ts_ns, seq)} are two longs.
 */
final class Minute {
    final long startNs;
    final String session;
    final LocalDate sessionDate;
    final long segmentStartNs;
    final long segmentEndNs;
    final long regularOpenNs;
    final long regularCloseNs;
    long openTs;
    long openSeq;
    boolean hasOpen;
    double open;
    long closeTs;
    long closeSeq;
    boolean hasClose;
    double close;
    long openingTs;
    long openingSeq;
    boolean hasOpening;
    double openingPrint;
    long closingTs;
    long closingSeq;
    boolean hasClosing;
    double closingPrint;
    boolean hasHighLow;
    double high;
    double low;
    long volume;
    double pvSum;
    long tradeCount;
    Long firstNs;
    Long lastNs;
    int revision;
    boolean emitted;

    Minute(long startNs, String session, LocalDate sessionDate, long segmentStartNs, long segmentEndNs,
           long regularOpenNs, long regularCloseNs) {
        this.startNs = startNs;
        this.session = session;
        this.sessionDate = sessionDate;
        this.segmentStartNs = segmentStartNs;
        this.segmentEndNs = segmentEndNs;
        this.regularOpenNs = regularOpenNs;
        this.regularCloseNs = regularCloseNs;
    }

    /** Python {@code Minute.end_ns}. */
    long endNs() {
        return startNs + BarEngine.MINUTE_NS;
    }

    /** Python {@code Minute.has_price}: whether any trade may set this minute's open and close. */
    boolean hasPrice() {
        return hasOpen || hasOpening || hasClosing;
    }

    private static boolean less(long ts, long seq, long kts, long kseq) {
        return ts < kts || (ts == kts && seq < kseq);
    }

    /** Python {@code Minute.add}: apply one trade; returns whether it changed anything. */
    boolean add(Trade trade, Eligibility elig, boolean opening, boolean closing) {
        long ts = trade.tsNs;
        long seq = trade.seq;
        double price = trade.price;
        boolean changed = false;
        if (opening) {
            if (!hasOpening || less(ts, seq, openingTs, openingSeq)) {
                openingTs = ts;
                openingSeq = seq;
                openingPrint = price;
                hasOpening = true;
            }
            extend(price);
            changed = true;
        }
        if (closing) {
            if (!hasClosing || !less(ts, seq, closingTs, closingSeq)) {
                closingTs = ts;
                closingSeq = seq;
                closingPrint = price;
                hasClosing = true;
            }
            extend(price);
            changed = true;
        }
        if (elig.openClose) {
            if (!hasOpen || less(ts, seq, openTs, openSeq)) {
                openTs = ts;
                openSeq = seq;
                open = price;
                hasOpen = true;
            }
            if (!hasClose || !less(ts, seq, closeTs, closeSeq)) {
                closeTs = ts;
                closeSeq = seq;
                close = price;
                hasClose = true;
            }
            extend(price);
            changed = true;
        }
        if (elig.highLow) {
            extend(price);
            changed = true;
        }
        if (elig.volume) {
            volume += trade.size;
            pvSum += price * trade.size;
            changed = true;
        }
        if (changed) {
            tradeCount += 1;
            firstNs = firstNs == null ? ts : Math.min(firstNs, ts);
            lastNs = lastNs == null ? ts : Math.max(lastNs, ts);
        }
        return changed;
    }

    /** Python {@code Minute._extend} (builtin max/min: the first argument unless the second is beyond it). */
    private void extend(double price) {
        if (!hasHighLow) {
            high = price;
            low = price;
            hasHighLow = true;
            return;
        }
        high = price > high ? price : high;
        low = price < low ? price : low;
    }

    /** Python {@code Minute.absorb}: add volume carried over from a minute without a price. */
    void absorb(long v, double pv, long trades, Long first, Long last) {
        volume += v;
        pvSum += pv;
        tradeCount += trades;
        if (first != null) {
            firstNs = firstNs == null ? first : Math.min(firstNs, first);
        }
        if (last != null) {
            lastNs = lastNs == null ? last : Math.max(lastNs, last);
        }
    }

    /** Python {@code Minute.row}: the bar as emitted; without a price the prices are {@code previousClose}. */
    BarRow row(String symbol, Double previousClose, boolean filled) {
        double o;
        double c;
        double hi;
        double lo;
        if (hasPrice()) {
            o = hasOpening ? openingPrint : hasOpen ? open : closingPrint;
            c = hasClosing ? closingPrint : hasClose ? close : openingPrint;
            hi = high;
            lo = low;
        } else {
            if (previousClose == null) {
                throw new IllegalStateException("a bar without a price needs a previous close");
            }
            double pc = previousClose;
            o = pc;
            c = pc;
            hi = !hasHighLow ? pc : (pc > high ? pc : high);
            lo = !hasHighLow ? pc : (pc < low ? pc : low);
        }
        double vwap = volume > 0 ? pvSum / volume : c;
        return new BarRow("1m", symbol, startNs, endNs(), o, hi, lo, c, volume, vwap, tradeCount, session,
                sessionDate, firstNs, lastNs, pvSum, filled, revision);
    }

    /**
     * Python {@code minute.merge}: a rollup bar from its 1m bars (in time order). Flat-filled minutes
     * count only when every minute is filled. Sums run left to right from 0, like Python 3.11's
     * {@code sum} (3.12+ compensates float sums: the pv_sum of a rollup would then differ in the last bits).
     */
    static BarRow merge(String timeframe, long startNs, long endNs, List<BarRow> bars, int revision) {
        List<BarRow> real = new java.util.ArrayList<>(bars.size());
        boolean allFilled = true;
        for (BarRow b : bars) {
            if (!b.filled) {
                real.add(b);
                allFilled = false;
            }
        }
        if (real.isEmpty()) {
            real = bars;
        }
        BarRow first = real.get(0);
        BarRow last = real.get(real.size() - 1);
        long volume = 0;
        double pvSum = 0;
        long trades = 0;
        double high = first.high;
        double low = first.low;
        Long firstNs = null;
        Long lastNs = null;
        for (BarRow b : real) {
            volume += b.volume;
            pvSum += b.pvSum;
            trades += b.tradeCount;
            if (b.high > high) {
                high = b.high;
            }
            if (b.low < low) {
                low = b.low;
            }
            if (b.firstTradeNs != null && (firstNs == null || b.firstTradeNs < firstNs)) {
                firstNs = b.firstTradeNs;
            }
            if (b.lastTradeNs != null && (lastNs == null || b.lastTradeNs > lastNs)) {
                lastNs = b.lastTradeNs;
            }
        }
        double vwap = volume > 0 ? pvSum / volume : last.close;
        return new BarRow(timeframe, first.symbol, startNs, endNs, first.open, high, low, last.close, volume, vwap,
                trades, first.session, first.sessionDate, firstNs, lastNs, pvSum, allFilled, revision);
    }

    void write(DataOutputStream out) throws IOException {
        out.writeLong(startNs);
        out.writeUTF(session);
        out.writeLong(sessionDate.toEpochDay());
        out.writeLong(segmentStartNs);
        out.writeLong(segmentEndNs);
        out.writeLong(regularOpenNs);
        out.writeLong(regularCloseNs);
        out.writeLong(openTs);
        out.writeLong(openSeq);
        out.writeBoolean(hasOpen);
        out.writeDouble(open);
        out.writeLong(closeTs);
        out.writeLong(closeSeq);
        out.writeBoolean(hasClose);
        out.writeDouble(close);
        out.writeLong(openingTs);
        out.writeLong(openingSeq);
        out.writeBoolean(hasOpening);
        out.writeDouble(openingPrint);
        out.writeLong(closingTs);
        out.writeLong(closingSeq);
        out.writeBoolean(hasClosing);
        out.writeDouble(closingPrint);
        out.writeBoolean(hasHighLow);
        out.writeDouble(high);
        out.writeDouble(low);
        out.writeLong(volume);
        out.writeDouble(pvSum);
        out.writeLong(tradeCount);
        StateIO.writeLong(out, firstNs);
        StateIO.writeLong(out, lastNs);
        out.writeInt(revision);
        out.writeBoolean(emitted);
    }

    static Minute read(DataInputStream in) throws IOException {
        Minute m = new Minute(in.readLong(), in.readUTF().intern(), LocalDate.ofEpochDay(in.readLong()), in.readLong(),
                in.readLong(), in.readLong(), in.readLong());
        m.openTs = in.readLong();
        m.openSeq = in.readLong();
        m.hasOpen = in.readBoolean();
        m.open = in.readDouble();
        m.closeTs = in.readLong();
        m.closeSeq = in.readLong();
        m.hasClose = in.readBoolean();
        m.close = in.readDouble();
        m.openingTs = in.readLong();
        m.openingSeq = in.readLong();
        m.hasOpening = in.readBoolean();
        m.openingPrint = in.readDouble();
        m.closingTs = in.readLong();
        m.closingSeq = in.readLong();
        m.hasClosing = in.readBoolean();
        m.closingPrint = in.readDouble();
        m.hasHighLow = in.readBoolean();
        m.high = in.readDouble();
        m.low = in.readDouble();
        m.volume = in.readLong();
        m.pvSum = in.readDouble();
        m.tradeCount = in.readLong();
        m.firstNs = StateIO.readLong(in);
        m.lastNs = StateIO.readLong(in);
        m.revision = in.readInt();
        m.emitted = in.readBoolean();
        return m;
    }
}
