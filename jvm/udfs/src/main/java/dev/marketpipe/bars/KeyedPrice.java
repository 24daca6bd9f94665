package dev.marketpipe.bars;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;

/**
 * A price picked among trades by their key {@code (ts_ns, seq)}: the earliest or the latest of them, so
 * the result does not depend on arrival order. Python {@code Minute} keeps each as a key and a
 * {@code float | None} ({@code open_key, open}, ...); here the price is a double plus a "set" flag.
 */
final class KeyedPrice {
    long ts;
    long seq;
    boolean set;
    double price;

    /** Take the trade's price if it is the first one or comes before the kept one (Python {@code key < kept}). */
    void earliest(Trade trade) {
        if (!set || before(trade)) {
            take(trade);
        }
    }

    /** Take the trade's price if it is the first one or does not come before the kept one ({@code key >= kept}). */
    void latest(Trade trade) {
        if (!set || !before(trade)) {
            take(trade);
        }
    }

    private boolean before(Trade trade) {
        return trade.tsNs < ts || (trade.tsNs == ts && trade.seq < seq);
    }

    private void take(Trade trade) {
        ts = trade.tsNs;
        seq = trade.seq;
        price = trade.price;
        set = true;
    }

    /** Python {@code _first}: the price of the first of {@code prices} that is set, else the last one's. */
    static double first(KeyedPrice... prices) {
        for (KeyedPrice p : prices) {
            if (p.set) {
                return p.price;
            }
        }
        return prices[prices.length - 1].price;
    }

    /** In the {@link EngineState} encoding: key, flag, price. */
    void write(DataOutputStream out) throws IOException {
        out.writeLong(ts);
        out.writeLong(seq);
        out.writeBoolean(set);
        out.writeDouble(price);
    }

    void read(DataInputStream in) throws IOException {
        ts = in.readLong();
        seq = in.readLong();
        set = in.readBoolean();
        price = in.readDouble();
    }
}
