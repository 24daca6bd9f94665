package dev.marketpipe.bars;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * All mutable per-symbol state of a {@link BarEngine}; mirrors Python {@code udfs.bars.engine.State}.
 * What Flink checkpoints: {@link #toBytes()} / {@link #fromBytes(byte[])} (a DataOutputStream
 * encoding with a leading version int; the round trip is exact).
 *
 * <p>Iteration order: Python dicts iterate in insertion order. Minutes are only ever iterated
 * sorted (advance) or where order cannot change a result (min, any, deletions), so they are a
 * {@link TreeMap}; buckets and seen trade ids keep insertion order ({@link LinkedHashMap}) like Python.
 */
public final class EngineState {
    /** Version of the {@link #toBytes()} encoding. */
    public static final int VERSION = 1;

    /** Python's {@code State.carry} tuple: volume (and its trades) carried forward to the next bar with a price. */
    static final class Carry {
        final long volume;
        final double pvSum;
        final long trades;
        final Long first;
        final Long last;

        Carry(long volume, double pvSum, long trades, Long first, Long last) {
            this.volume = volume;
            this.pvSum = pvSum;
            this.trades = trades;
            this.first = first;
            this.last = last;
        }
    }

    /** Python's bucket key {@code (timeframe, start_ns)}. */
    record BucketKey(String timeframe, long startNs) {
    }

    final String symbol;
    final TreeMap<Long, Minute> minutes = new TreeMap<>();
    final LinkedHashMap<BucketKey, Bucket> buckets = new LinkedHashMap<>();
    Double lastClose;
    Long lastStart;
    Long lastSegmentEnd;
    Carry carry;
    Long timerMs;
    long purgedMinute = -1;
    final LinkedHashMap<Long, Set<String>> seenIds = new LinkedHashMap<>();
    final List<Double> recentPrices = new ArrayList<>(6);
    LocalDate recentDay;

    public EngineState(String symbol) {
        this.symbol = symbol;
    }

    public String symbol() {
        return symbol;
    }

    /** The wake-up (epoch ms) the Flink wrapper last registered, or null (Python {@code State.timer_ms}). */
    public Long timerMs() {
        return timerMs;
    }

    public void setTimerMs(Long timerMs) {
        this.timerMs = timerMs;
    }

    /** Number of minutes held (to check that state stays bounded). */
    public int minuteCount() {
        return minutes.size();
    }

    /** Number of rollup buckets held. */
    public int bucketCount() {
        return buckets.size();
    }

    /** A deep copy. */
    public EngineState copy() {
        return fromBytes(toBytes());
    }

    /** The state as bytes (what Flink checkpoints). */
    public byte[] toBytes() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeInt(VERSION);
            out.writeUTF(symbol);
            out.writeInt(minutes.size());
            for (Minute m : minutes.values()) {
                m.write(out);
            }
            out.writeInt(buckets.size());
            for (Bucket b : buckets.values()) {
                b.write(out);
            }
            StateIO.writeDouble(out, lastClose);
            StateIO.writeLong(out, lastStart);
            StateIO.writeLong(out, lastSegmentEnd);
            out.writeBoolean(carry != null);
            if (carry != null) {
                out.writeLong(carry.volume);
                out.writeDouble(carry.pvSum);
                out.writeLong(carry.trades);
                StateIO.writeLong(out, carry.first);
                StateIO.writeLong(out, carry.last);
            }
            StateIO.writeLong(out, timerMs);
            out.writeLong(purgedMinute);
            out.writeInt(seenIds.size());
            for (Map.Entry<Long, Set<String>> e : seenIds.entrySet()) {
                out.writeLong(e.getKey());
                out.writeInt(e.getValue().size());
                for (String id : e.getValue()) {
                    out.writeUTF(id);
                }
            }
            out.writeInt(recentPrices.size());
            for (double p : recentPrices) {
                out.writeDouble(p);
            }
            StateIO.writeDate(out, recentDay);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** The state written by {@link #toBytes()}; another encoding version raises (start the job fresh). */
    public static EngineState fromBytes(byte[] data) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
            int version = in.readInt();
            if (version != VERSION) {
                throw new IllegalArgumentException(
                        "bar state version " + version + " is not " + VERSION + ": start the job fresh");
            }
            EngineState st = new EngineState(in.readUTF());
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                Minute m = Minute.read(in);
                st.minutes.put(m.startNs, m);
            }
            n = in.readInt();
            for (int i = 0; i < n; i++) {
                Bucket b = Bucket.read(in);
                st.buckets.put(new BucketKey(b.timeframe, b.startNs), b);
            }
            st.lastClose = StateIO.readDouble(in);
            st.lastStart = StateIO.readLong(in);
            st.lastSegmentEnd = StateIO.readLong(in);
            if (in.readBoolean()) {
                st.carry = new Carry(in.readLong(), in.readDouble(), in.readLong(), StateIO.readLong(in),
                        StateIO.readLong(in));
            }
            st.timerMs = StateIO.readLong(in);
            st.purgedMinute = in.readLong();
            n = in.readInt();
            for (int i = 0; i < n; i++) {
                long start = in.readLong();
                int k = in.readInt();
                Set<String> ids = new LinkedHashSet<>();
                for (int j = 0; j < k; j++) {
                    ids.add(in.readUTF());
                }
                st.seenIds.put(start, ids);
            }
            n = in.readInt();
            for (int i = 0; i < n; i++) {
                st.recentPrices.add(in.readDouble());
            }
            st.recentDay = StateIO.readDate(in);
            return st;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
