package dev.marketpipe.bars;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.LocalDate;
import java.util.List;

/**
 * Mutable running state of one 1m bar, and the merge of 1m bars into rollups; mirrors Python
 * {@code udfs.bars.minute} ({@code Minute}, {@code merge}). The open, close and auction prints are
 * {@link KeyedPrice}s (Python's key and price pairs); high and low, a double each plus a "set" flag.
 */
final class Minute {
    final long startNs;
    final String session;
    final LocalDate sessionDate;
    final long segmentStartNs;
    final long segmentEndNs;
    final long regularOpenNs;
    final long regularCloseNs;
    final KeyedPrice open = new KeyedPrice();
    final KeyedPrice close = new KeyedPrice();
    final KeyedPrice openingPrint = new KeyedPrice();
    final KeyedPrice closingPrint = new KeyedPrice();
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
        return open.set || openingPrint.set || closingPrint.set;
    }

    /** Python {@code Minute.add}: apply one trade; returns whether it changed anything. */
    boolean add(Trade trade, Eligibility elig, boolean opening, boolean closing) {
        double price = trade.price;
        boolean changed = false;
        // Two auction prints in one minute (a correction, a re-print): the earliest opening and the
        // latest closing print win.
        if (opening) {
            openingPrint.earliest(trade);
            extend(price);
            changed = true;
        }
        if (closing) {
            closingPrint.latest(trade);
            extend(price);
            changed = true;
        }
        if (elig.openClose) {
            open.earliest(trade);
            close.latest(trade);
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
            firstNs = firstNs == null ? trade.tsNs : Math.min(firstNs, trade.tsNs);
            lastNs = lastNs == null ? trade.tsNs : Math.max(lastNs, trade.tsNs);
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
            o = KeyedPrice.first(openingPrint, open, closingPrint);
            c = KeyedPrice.first(closingPrint, close, openingPrint);
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
        open.write(out);
        close.write(out);
        openingPrint.write(out);
        closingPrint.write(out);
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
        m.open.read(in);
        m.close.read(in);
        m.openingPrint.read(in);
        m.closingPrint.read(in);
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
