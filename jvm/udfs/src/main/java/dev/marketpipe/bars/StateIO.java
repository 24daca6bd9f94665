package dev.marketpipe.bars;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.time.LocalDate;

/** Nullable values and bar rows in the {@link EngineState} encoding (a presence byte, then the value). */
final class StateIO {
    private StateIO() {
    }

    static void writeLong(DataOutputStream out, Long v) throws IOException {
        out.writeBoolean(v != null);
        if (v != null) {
            out.writeLong(v);
        }
    }

    static Long readLong(DataInputStream in) throws IOException {
        return in.readBoolean() ? in.readLong() : null;
    }

    static void writeDouble(DataOutputStream out, Double v) throws IOException {
        out.writeBoolean(v != null);
        if (v != null) {
            out.writeDouble(v);
        }
    }

    static Double readDouble(DataInputStream in) throws IOException {
        return in.readBoolean() ? in.readDouble() : null;
    }

    static void writeDate(DataOutputStream out, LocalDate v) throws IOException {
        writeLong(out, v == null ? null : v.toEpochDay());
    }

    static LocalDate readDate(DataInputStream in) throws IOException {
        Long d = readLong(in);
        return d == null ? null : LocalDate.ofEpochDay(d);
    }

    static void writeRow(DataOutputStream out, BarRow r) throws IOException {
        out.writeUTF(r.timeframe);
        out.writeUTF(r.symbol);
        out.writeLong(r.barStartNs);
        out.writeLong(r.barEndNs);
        out.writeDouble(r.open);
        out.writeDouble(r.high);
        out.writeDouble(r.low);
        out.writeDouble(r.close);
        out.writeLong(r.volume);
        out.writeDouble(r.vwap);
        out.writeLong(r.tradeCount);
        out.writeUTF(r.session);
        out.writeLong(r.sessionDate.toEpochDay());
        writeLong(out, r.firstTradeNs);
        writeLong(out, r.lastTradeNs);
        out.writeDouble(r.pvSum);
        out.writeBoolean(r.filled);
        out.writeInt(r.revision);
    }

    static BarRow readRow(DataInputStream in) throws IOException {
        return new BarRow(in.readUTF().intern(), in.readUTF(), in.readLong(), in.readLong(), in.readDouble(),
                in.readDouble(), in.readDouble(), in.readDouble(), in.readLong(), in.readDouble(), in.readLong(),
                in.readUTF().intern(), LocalDate.ofEpochDay(in.readLong()), readLong(in), readLong(in),
                in.readDouble(), in.readBoolean(), in.readInt());
    }
}
