package dev.marketpipe.bars;

import java.time.LocalDate;

/**
 * One emitted bar of any timeframe; mirrors Python {@code udfs.bars.model.BarRow}. Re-emitted with
 * {@code revision} + 1 when revised. {@code firstTradeNs}/{@code lastTradeNs} are null for a bar
 * without trades (a flat-filled minute).
 */
public final class BarRow {
    public final String timeframe;
    public final String symbol;
    public final long barStartNs;
    public final long barEndNs;
    public final double open;
    public final double high;
    public final double low;
    public final double close;
    public final long volume;
    public final double vwap;
    public final long tradeCount;
    public final String session;
    public final LocalDate sessionDate;
    public final Long firstTradeNs;
    public final Long lastTradeNs;
    public final double pvSum;
    public final boolean filled;
    public final int revision;

    public BarRow(String timeframe, String symbol, long barStartNs, long barEndNs, double open, double high,
                  double low, double close, long volume, double vwap, long tradeCount, String session,
                  LocalDate sessionDate, Long firstTradeNs, Long lastTradeNs, double pvSum, boolean filled,
                  int revision) {
        this.timeframe = timeframe;
        this.symbol = symbol;
        this.barStartNs = barStartNs;
        this.barEndNs = barEndNs;
        this.open = open;
        this.high = high;
        this.low = low;
        this.close = close;
        this.volume = volume;
        this.vwap = vwap;
        this.tradeCount = tradeCount;
        this.session = session;
        this.sessionDate = sessionDate;
        this.firstTradeNs = firstTradeNs;
        this.lastTradeNs = lastTradeNs;
        this.pvSum = pvSum;
        this.filled = filled;
        this.revision = revision;
    }

    /** The fields in this order (Python {@code dataclasses.astuple}): the engine's own values, times in ns. */
    public Object[] values() {
        return new Object[] {timeframe, symbol, barStartNs, barEndNs, open, high, low, close, volume, vwap, tradeCount,
            session, sessionDate, firstTradeNs, lastTradeNs, pvSum, filled, revision};
    }

    @Override
    public String toString() {
        return "BarRow(" + timeframe + ", " + symbol + ", " + barStartNs + ", " + open + ", " + high + ", " + low
                + ", " + close + ", " + volume + ", rev " + revision + ")";
    }
}
