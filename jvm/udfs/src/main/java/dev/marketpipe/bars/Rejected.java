package dev.marketpipe.bars;

/** A trade that is in no bar, and why; mirrors Python {@code udfs.bars.model.Rejected}. */
public final class Rejected {
    public final Trade trade;
    public final String reason;

    public Rejected(Trade trade, String reason) {
        this.trade = trade;
        this.reason = reason;
    }
}
