package dev.marketpipe.bars;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

/**
 * A rollup bar being collected; mirrors Python {@code udfs.bars.engine.Bucket}: the 1m rows that can
 * still be revised, by minute start, and the merge of the earlier ones that cannot ({@code frozen}).
 */
final class Bucket {
    final String timeframe;
    final long startNs;
    final long endNs;
    final long regularCloseNs;
    final TreeMap<Long, BarRow> minutes = new TreeMap<>();
    BarRow frozen;
    long frozenUntil;
    boolean emitted;
    int revision;
    boolean dirty;

    Bucket(String timeframe, long startNs, long endNs, long regularCloseNs) {
        this.timeframe = timeframe;
        this.startNs = startNs;
        this.endNs = endNs;
        this.regularCloseNs = regularCloseNs;
    }

    void write(DataOutputStream out) throws IOException {
        out.writeUTF(timeframe);
        out.writeLong(startNs);
        out.writeLong(endNs);
        out.writeLong(regularCloseNs);
        out.writeInt(minutes.size());
        for (Map.Entry<Long, BarRow> e : minutes.entrySet()) {
            out.writeLong(e.getKey());
            StateIO.writeRow(out, e.getValue());
        }
        out.writeBoolean(frozen != null);
        if (frozen != null) {
            StateIO.writeRow(out, frozen);
        }
        out.writeLong(frozenUntil);
        out.writeBoolean(emitted);
        out.writeInt(revision);
        out.writeBoolean(dirty);
    }

    static Bucket read(DataInputStream in) throws IOException {
        Bucket b = new Bucket(in.readUTF().intern(), in.readLong(), in.readLong(), in.readLong());
        int n = in.readInt();
        for (int i = 0; i < n; i++) {
            long start = in.readLong();
            b.minutes.put(start, StateIO.readRow(in));
        }
        if (in.readBoolean()) {
            b.frozen = StateIO.readRow(in);
        }
        b.frozenUntil = in.readLong();
        b.emitted = in.readBoolean();
        b.revision = in.readInt();
        b.dirty = in.readBoolean();
        return b;
    }
}
