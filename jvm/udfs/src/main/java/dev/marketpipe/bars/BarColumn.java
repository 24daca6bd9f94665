package dev.marketpipe.bars;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The columns a bar can leave the JVM bar step with, as the binding carries them (times as epoch ms,
 * named {@code *_ms}; the session date as ISO text), each with its Flink SQL type and its value from an
 * engine {@link BarRow}. The one place in Java that maps a column name to a bar's value; which columns,
 * in which order, is not decided here: udfs/schema.py declares the bar row and udfs/flink/bars.py passes
 * its {@code binding_fields(BAR)} in the job config ({@link #fromConfig}).
 */
public enum BarColumn {
    TIMEFRAME("STRING", b -> b.timeframe),
    SYMBOL("STRING", b -> b.symbol),
    BAR_START_MS("BIGINT", b -> ms(b.barStartNs)),
    BAR_END_MS("BIGINT", b -> ms(b.barEndNs)),
    OPEN("DOUBLE", b -> b.open),
    HIGH("DOUBLE", b -> b.high),
    LOW("DOUBLE", b -> b.low),
    CLOSE("DOUBLE", b -> b.close),
    VOLUME("BIGINT", b -> b.volume),
    VWAP("DOUBLE", b -> b.vwap),
    TRADE_COUNT("BIGINT", b -> b.tradeCount),
    SESSION("STRING", b -> b.session),
    SESSION_DATE("STRING", b -> b.sessionDate.toString()),
    FIRST_TRADE_MS("BIGINT", b -> ms(b.firstTradeNs)),
    LAST_TRADE_MS("BIGINT", b -> ms(b.lastTradeNs)),
    PV_SUM("DOUBLE", b -> b.pvSum),
    FILLED("BOOLEAN", b -> b.filled),
    REVISION("INT", b -> b.revision);

    /** The config key of the output columns: {@code [[name, Flink SQL type], ...]}. */
    public static final String CONFIG_KEY = "bar_fields";

    private final String type;
    private final Function<BarRow, Object> value;

    BarColumn(String type, Function<BarRow, Object> value) {
        this.type = type;
        this.value = value;
    }

    /** The column's name: {@code bar_start_ms}, ... */
    public String column() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The Flink SQL type of its values ({@code STRING}, {@code BIGINT}, {@code DOUBLE}, {@code INT}, {@code BOOLEAN}). */
    public String type() {
        return type;
    }

    /** This column of {@code bar}. */
    public Object of(BarRow bar) {
        return value.apply(bar);
    }

    /** The column called {@code name}; an unknown name fails, naming it and the columns there are. */
    public static BarColumn named(String name) {
        List<String> known = new ArrayList<>();
        for (BarColumn c : values()) {
            if (c.column().equals(name)) {
                return c;
            }
            known.add(c.column());
        }
        throw new IllegalArgumentException("unknown bar column '" + name + "': the JVM bar step has no value for it "
                + "(dev.marketpipe.bars.BarColumn has " + known + ")");
    }

    /**
     * The output columns of a bar config, in order: its {@link #CONFIG_KEY} (udfs/flink/bars.py adds it).
     * A column this step cannot fill, or whose type is not its values', fails (the job build), naming it.
     */
    public static List<BarColumn> fromConfig(String configJson) {
        List<BarColumn> columns = new ArrayList<>();
        for (String[] field : ConfigFields.read(configJson, CONFIG_KEY)) {
            String name = field[0];
            String type = field[1];
            BarColumn column = named(name);
            if (!column.type.equals(type)) {
                throw new IllegalArgumentException("bar column '" + name + "' is " + type
                        + " in the config, but the JVM bar step's values are " + column.type);
            }
            if (columns.contains(column)) {
                throw new IllegalArgumentException("bar column '" + name + "' is twice in " + CONFIG_KEY);
            }
            columns.add(column);
        }
        return columns;
    }

    /** Epoch ns as epoch ms, rounding down (Python's {@code //}); null stays null. */
    private static Long ms(Long ns) {
        return ns == null ? null : Math.floorDiv(ns, BarEngine.NS_PER_MS);
    }
}
