package dev.marketpipe.bars;

/**
 * One clean trade tick; mirrors Python {@code udfs.bars.model.Trade}. {@code seq} orders ticks with
 * equal timestamps (the Kafka offset); {@code source} selects the feed's condition table;
 * {@code tradeId} (per exchange) identifies duplicates. The String fields may be null.
 */
public final class Trade {
    public final long tsNs;
    public final double price;
    public final long size;
    public final String exchange;
    public final String conditions;
    public final long seq;
    public final String source;
    public final String tradeId;

    public Trade(long tsNs, double price, long size, String exchange, String conditions, long seq,
                 String source, String tradeId) {
        this.tsNs = tsNs;
        this.price = price;
        this.size = size;
        this.exchange = exchange;
        this.conditions = conditions;
        this.seq = seq;
        this.source = source;
        this.tradeId = tradeId;
    }

    @Override
    public String toString() {
        return "Trade(" + tsNs + ", " + price + ", " + size + ", " + exchange + ", " + conditions + ", "
                + seq + ", " + source + ", " + tradeId + ")";
    }
}
