package dev.marketpipe.flink;

import dev.marketpipe.tick.TickJson;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * {@code mp_parse_tick(payload)}: the fields of a raw tick record and their JSON types, in one
 * parse (flink_sql/11_ticks_clean.sql applies the cleaning rules to them). Always exactly one row,
 * so a lateral join keeps every record; see {@link TickJson} for how each field is read.
 */
@FunctionHint(output = @DataTypeHint(
        "ROW<is_object BOOLEAN, kind STRING, symbol STRING, symbol_type STRING, ts_ns BIGINT, ts_type STRING, "
        + "price DOUBLE, price_type STRING, size BIGINT, size_type STRING, exchange STRING, conditions STRING, "
        + "trade_id STRING, source STRING>"))
public final class ParseTick extends TableFunction<Row> {

    public void eval(String payload) {
        TickJson t = TickJson.parse(payload);
        collect(Row.of(
                t.isObject(), t.kind(), t.symbol(), t.symbolType(), t.tsNs(), t.tsType(), t.price(),
                t.priceType(), t.size(), t.sizeType(), t.exchange(), t.conditions(), t.tradeId(),
                t.source()));
    }
}
