package dev.marketpipe.flink;

import dev.marketpipe.tick.TickJson;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.time.Instant;

/**
 * {@code mp_tick_event_time(payload, min_ms, max_future_s)}: the event time the watermark may trust
 * (flink_sql/10_ticks_source.sql). A record's {@code ts_ns} (a JSON integer of epoch nanoseconds)
 * when it lies in [{@code min_ms}, now + {@code max_future_s}] ms; otherwise — no time, a malformed
 * record, a 1970 or a 2100 stamp — epoch 0, which can never move the watermark.
 */
public final class TickEventTime extends ScalarFunction {

    private static final Instant NEVER = Instant.ofEpochMilli(0);

    public @DataTypeHint("TIMESTAMP_LTZ(3)") Instant eval(String payload, long minMs, long maxFutureS) {
        Long ts = TickJson.parse(payload).tsNs();
        if (ts == null) {
            return NEVER;
        }
        long ms = ts / 1_000_000L;
        if (ms < minMs || ms > System.currentTimeMillis() / 1000L * 1000L + maxFutureS * 1000L) {
            return NEVER;
        }
        return Instant.ofEpochMilli(ms);
    }

    @Override
    public boolean isDeterministic() {
        return false; // reads the wall clock
    }
}
