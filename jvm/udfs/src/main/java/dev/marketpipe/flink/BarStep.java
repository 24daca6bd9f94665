package dev.marketpipe.flink;

import dev.marketpipe.bars.BarColumn;
import dev.marketpipe.bars.BarEngine;
import dev.marketpipe.bars.BarRow;
import dev.marketpipe.bars.ConfigFields;
import dev.marketpipe.bars.EngineContext;
import dev.marketpipe.bars.EngineState;
import dev.marketpipe.bars.Output;
import dev.marketpipe.bars.Reference;
import dev.marketpipe.bars.Rejected;
import dev.marketpipe.bars.Trade;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;

/**
 * The bar step of flink_sql/12_bars.sql in the JVM: clean ticks, keyed by symbol, through the bar
 * engine ({@link BarEngine}, a port of udfs/bars/ that tests/unit/test_bars_java.py holds identical to
 * the Python reference), one engine state per symbol in Flink keyed state, woken by event-time timers
 * so a minute closes when the watermark passes its end even if the symbol trades no more. Trades the
 * engine rejects (late, market closed, ...) leave on a side output, returned beside the bars (12_bars.sql
 * registers the two as {@code bars_all} and {@code ticks_unbarred}). Called from udfs/flink/bars.py:build_bars (the {@code -- @python} line of
 * 12_bars.sql); rows in and out have the columns that module names (the bars', in the config it passes).
 */
public final class BarStep {

    /** Input columns, in this order (udfs/flink/bars.py INPUT_COLUMNS). */
    public static final List<String> INPUT_COLUMNS = List.of(
            "symbol", "ts_ns", "price", "size", "exchange", "conditions", "trade_id",
            "kafka_partition", "kafka_offset", "source", "event_time");

    /** The DataStream type of each Flink SQL type a {@link BarColumn} has. */
    static final Map<String, TypeInformation<?>> FLINK_TYPES = Map.of(
            "STRING", Types.STRING, "BIGINT", Types.LONG, "DOUBLE", Types.DOUBLE, "INT", Types.INT,
            "BOOLEAN", Types.BOOLEAN);
    /** The config key of the trades in no bar: udfs/schema.py's UNBARRED row, [[name, Flink type], ...]. */
    static final String UNBARRED_KEY = "unbarred_fields";
    /** The trades in no bar as the step fills them, in this order; the config's UNBARRED row must match. */
    static final String[][] REJECT_FIELDS = {
        {"kafka_partition", "INT"}, {"kafka_offset", "BIGINT"}, {"reason", "STRING"}, {"symbol", "STRING"},
        {"ts_ns", "BIGINT"}, {"price", "DOUBLE"}, {"size", "BIGINT"}, {"exchange", "STRING"},
        {"conditions", "STRING"}, {"trade_id", "STRING"},
    };
    static final TypeInformation<Row> REJECT_TYPE = rowType(REJECT_FIELDS);
    static final OutputTag<Row> REJECTED = new OutputTag<>("rejected", REJECT_TYPE);
    /** Reason of a trade the step raised on (a bug or bad reference data): dead-lettered, not fatal. */
    static final String STEP_ERROR = "bar_step_error";
    static final long NS_PER_MS = 1_000_000L;

    private BarStep() {}

    /**
     * Bars of every timeframe from clean ticks ({@link #INPUT_COLUMNS}, {@code event_time} the
     * rowtime), and the trades in no bar with the reason: {@code {bars, unbarred}}. The bars have the
     * columns the config names ({@link BarColumn#fromConfig}: the bar row of udfs/schema.py).
     */
    public static Table[] build(StreamTableEnvironment tEnv, Table ticks, String configJson) {
        List<String> names = ticks.getResolvedSchema().getColumnNames();
        if (!names.equals(INPUT_COLUMNS)) {
            throw new IllegalArgumentException("ticks must have columns " + INPUT_COLUMNS + ", got " + names);
        }
        // A bad table, rule or bar column fails the job build, with a clear error.
        Reference.fromJson(configJson);
        BarColumn[] columns = BarColumn.fromConfig(configJson).toArray(new BarColumn[0]);
        ConfigFields.require(configJson, UNBARRED_KEY, REJECT_FIELDS, "the trades in no bar");
        DataStream<Row> rows = tEnv.toDataStream(ticks);
        SingleOutputStreamOperator<Row> bars = rows
                .keyBy(new BySymbol())
                .process(new BarFunction(configJson, columns), barType(columns))
                .name("bars by market rules (dev.marketpipe.flink.BarStep)")
                .uid("marketpipe-bar-step-java");
        return new Table[] {tEnv.fromDataStream(bars), tEnv.fromDataStream(bars.getSideOutput(REJECTED))};
    }

    /** The key: the tick's symbol. */
    static final class BySymbol implements KeySelector<Row, String> {
        @Override
        public String getKey(Row row) {
            return (String) row.getField(0);
        }
    }

    /** Keyed by symbol: trades in, bars out (rejected trades on {@link #REJECTED}). */
    static final class BarFunction extends KeyedProcessFunction<String, Row, Row> {
        private static final Logger LOG = LoggerFactory.getLogger(BarFunction.class);

        private final String configJson;
        private final BarColumn[] columns;
        private transient Reference reference;
        private transient ValueState<EngineState> engineState;
        private transient ValueState<Long> timerState;

        BarFunction(String configJson, BarColumn[] columns) {
            this.configJson = configJson;
            this.columns = columns;
        }

        @Override
        public void open(OpenContext openContext) {
            reference = Reference.fromJson(configJson);
            engineState = getRuntimeContext().getState(
                    new ValueStateDescriptor<>("bar_engine", new EngineStateSerializer()));
            timerState = getRuntimeContext().getState(new ValueStateDescriptor<>("bar_timer_ms", Types.LONG));
        }

        private BarEngine engine(String symbol) throws Exception {
            EngineContext ctx = reference.context(symbol);
            EngineState saved = engineState.value();
            return saved == null ? new BarEngine(symbol, ctx) : new BarEngine(ctx, saved);
        }

        @Override
        public void processElement(Row value, Context ctx, Collector<Row> out) throws Exception {
            String symbol = (String) value.getField(0);
            Output result;
            BarEngine engine;
            Trade trade;
            try {
                engine = engine(symbol);
                trade = tradeOf(value);
                long wm = ctx.timerService().currentWatermark();
                result = engine.add(trade, wm > 0 ? toNs(wm) : null);
                finish(engine, ctx.timerService(), result, out, ctx, trade, value);
            } catch (Exception e) { // errors are data: one bad trade must not stop the job
                LOG.error("bar step failed on {}; dead-lettered", value, e);
                ctx.output(REJECTED, Row.of(value.getField(7), value.getField(8),
                        STEP_ERROR + ": " + e.getClass().getSimpleName(), symbol, value.getField(1),
                        value.getField(2), value.getField(3), value.getField(4), value.getField(5),
                        value.getField(6)));
            }
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<Row> out) throws Exception {
            try {
                BarEngine engine = engine(ctx.getCurrentKey());
                Long timer = timerState.value();
                if (timer != null && timer == timestamp) {
                    timerState.clear();
                }
                long wm = Math.max(ctx.timerService().currentWatermark(), timestamp);
                finish(engine, ctx.timerService(), engine.advance(toNs(wm)), out, ctx, null, null);
            } catch (Exception e) { // nothing to dead-letter; the next trade or timer retries
                LOG.error("bar step timer failed for {} at {}", ctx.getCurrentKey(), timestamp, e);
            }
        }

        private void finish(BarEngine engine, org.apache.flink.streaming.api.TimerService timers, Output result,
                            Collector<Row> out, KeyedProcessFunction<String, Row, Row>.Context ctx,
                            Trade trade, Row source) throws Exception {
            Long wake = engine.nextWakeupNs();
            if (wake != null) {
                long wakeMs = Math.floorDiv(wake, NS_PER_MS);
                Long registered = timerState.value();
                // Flink keeps one timer per key and time; an earlier one that fires is harmless.
                if ((registered == null || registered != wakeMs) && wakeMs > timers.currentWatermark()) {
                    timers.registerEventTimeTimer(wakeMs);
                    timerState.update(wakeMs);
                }
            }
            engineState.update(engine.state());
            for (BarRow bar : result.bars) {
                out.collect(barRow(columns, bar));
            }
            for (Rejected rej : result.rejected) {
                boolean ours = rej.trade == trade && source != null;
                Trade t = rej.trade;
                ctx.output(REJECTED, Row.of(
                        ours ? source.getField(7) : null, ours ? source.getField(8) : null, rej.reason,
                        engine.state().symbol(), t.tsNs, t.price, t.size, t.exchange, t.conditions,
                        ours ? source.getField(6) : null));
            }
        }
    }

    /**
     * A watermark in ms as the engine's ns, saturating: the end-of-input watermark (Long.MAX_VALUE ms)
     * becomes {@link BarEngine#FOREVER} instead of overflowing (Python's ints never overflow).
     */
    static long toNs(long ms) {
        return ms >= BarEngine.FOREVER / NS_PER_MS ? BarEngine.FOREVER : ms * NS_PER_MS;
    }

    static Trade tradeOf(Row v) {
        Long offset = (Long) v.getField(8);
        return new Trade((Long) v.getField(1), (Double) v.getField(2), (Long) v.getField(3),
                (String) v.getField(4), (String) v.getField(5), offset == null ? 0L : offset,
                (String) v.getField(9), (String) v.getField(6));
    }

    /** The row type of {@code [name, Flink SQL type]} pairs. */
    static TypeInformation<Row> rowType(String[][] fields) {
        String[] names = new String[fields.length];
        TypeInformation<?>[] types = new TypeInformation<?>[fields.length];
        for (int i = 0; i < fields.length; i++) {
            names[i] = fields[i][0];
            types[i] = FLINK_TYPES.get(fields[i][1]);
        }
        return Types.ROW_NAMED(names, types);
    }

    /** The bars' row type: the columns' names and types. */
    static TypeInformation<Row> barType(BarColumn[] columns) {
        String[][] fields = new String[columns.length][];
        for (int i = 0; i < columns.length; i++) {
            fields[i] = new String[] {columns[i].column(), columns[i].type()};
        }
        return rowType(fields);
    }

    static Row barRow(BarColumn[] columns, BarRow bar) {
        Row row = new Row(columns.length);
        for (int i = 0; i < columns.length; i++) {
            row.setField(i, columns[i].of(bar));
        }
        return row;
    }
}
