package dev.marketpipe.bars;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The oracle-comparison harness (tests/unit/bars_java.py drives it, and the Python engine with the same
 * events): JSON lines on stdin, one JSON line of output per event on stdout.
 *
 * <p>Input: {@code {"config": {...}}} starts a section (a new {@link Reference}, no engines); then events,
 * each naming a {@code symbol} (its context) and optionally a {@code key} (the engine; default the symbol):
 * <ul>
 *   <li>{@code {"op":"add","trade":{ts_ns,price,size,exchange,conditions,seq,source,trade_id},"wm":ns|null}}</li>
 *   <li>{@code {"op":"advance","wm":ns}}, {@code {"op":"finish"}}</li>
 *   <li>{@code {"op":"snapshot"}}: the engine's state goes through toBytes/fromBytes (a checkpoint restore)</li>
 *   <li>{@code {"op":"batch","trades":[...]}}: {@link BarEngine#runBatch}, timed ({@code elapsed_ns})</li>
 * </ul>
 * Output per event: {@code {"bars":[[BarRow fields in Python order]],"rejected":[[trade fields...,reason]]}},
 * plus {@code next_wakeup_ns} after add/advance, or {@code {"error":"..."}} if the call raised.
 */
public final class Cli {
    private static final JsonFactory OUT = JsonFactory.builder()
            .enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER).build();

    private Cli() {
    }

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
        Writer w = new OutputStreamWriter(System.out, StandardCharsets.UTF_8);
        JsonGenerator g = OUT.createGenerator(w);
        g.setRootValueSeparator(null);
        Reference ref = null;
        Map<String, BarEngine> engines = new HashMap<>();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> ev = Json.object(Json.parse(line), "an event");
            if (ev.containsKey("config")) {
                ref = Reference.fromMap(Json.object(ev.get("config"), "config"));
                engines = new HashMap<>();
                continue;
            }
            if (ref == null) {
                throw new IllegalArgumentException("the first line must be {\"config\": ...}");
            }
            try {
                handle(ev, ref, engines, g);
            } catch (RuntimeException e) {
                g.writeStartObject();
                g.writeStringField("error", e.toString());
                g.writeEndObject();
            }
            g.flush();
            w.write('\n');
        }
        g.flush();
        w.flush();
    }

    private static void handle(Map<String, Object> ev, Reference ref, Map<String, BarEngine> engines, JsonGenerator g)
            throws IOException {
        String op = Json.string(ev.get("op"), "op");
        String symbol = Json.string(ev.get("symbol"), "symbol");
        String key = ev.containsKey("key") ? String.valueOf(ev.get("key")) : symbol;
        EngineContext ctx = ref.context(symbol);
        if (op.equals("batch")) {
            List<Trade> trades = new ArrayList<>();
            for (Object t : (List<?>) ev.get("trades")) {
                trades.add(trade(Json.object(t, "trade")));
            }
            long t0 = System.nanoTime();
            Output out = BarEngine.runBatch(symbol, trades, ctx);
            long elapsed = System.nanoTime() - t0;
            write(g, out, null, false, elapsed);
            return;
        }
        BarEngine engine = engines.computeIfAbsent(key, k -> new BarEngine(symbol, ctx));
        switch (op) {
            case "add": {
                Output out = engine.add(trade(Json.object(ev.get("trade"), "trade")), Json.integer(ev.get("wm"), "wm"));
                write(g, out, engine.nextWakeupNs(), true, -1);
                break;
            }
            case "advance": {
                Output out = engine.advance(Json.integer(ev.get("wm"), "wm"));
                write(g, out, engine.nextWakeupNs(), true, -1);
                break;
            }
            case "finish":
                write(g, engine.finish(), null, false, -1);
                break;
            case "snapshot":
                engines.put(key, new BarEngine(ctx, EngineState.fromBytes(engine.state().toBytes())));
                write(g, new Output(), null, false, -1);
                break;
            default:
                throw new IllegalArgumentException("unknown op '" + op + "'");
        }
    }

    private static Trade trade(Map<String, Object> t) {
        return new Trade(Json.integer(t.get("ts_ns"), "ts_ns"), Json.number(t.get("price"), "price"),
                Json.integer(t.get("size"), "size"), Json.string(t.get("exchange"), "exchange"),
                Json.string(t.get("conditions"), "conditions"), Json.integer(t.get("seq"), "seq"),
                Json.string(t.get("source"), "source"), Json.string(t.get("trade_id"), "trade_id"));
    }

    private static void write(JsonGenerator g, Output out, Long wakeup, boolean withWakeup, long elapsedNs)
            throws IOException {
        g.writeStartObject();
        g.writeArrayFieldStart("bars");
        for (BarRow b : out.bars) {
            array(g, b.values());
        }
        g.writeEndArray();
        g.writeArrayFieldStart("rejected");
        for (Rejected r : out.rejected) {
            Trade t = r.trade;
            array(g, t.tsNs, t.price, t.size, t.exchange, t.conditions, t.seq, t.source, t.tradeId, r.reason);
        }
        g.writeEndArray();
        if (withWakeup) {
            g.writeFieldName("next_wakeup_ns");
            value(g, wakeup);
        }
        if (elapsedNs >= 0) {
            g.writeNumberField("elapsed_ns", elapsedNs);
        }
        g.writeEndObject();
    }

    private static void array(JsonGenerator g, Object... values) throws IOException {
        g.writeStartArray();
        for (Object v : values) {
            value(g, v);
        }
        g.writeEndArray();
    }

    /** A row value as Python's {@code json} writes it; a date as ISO text (the harness encodes it so). */
    private static void value(JsonGenerator g, Object v) throws IOException {
        if (v == null) {
            g.writeNull();
        } else if (v instanceof String s) {
            g.writeString(s);
        } else if (v instanceof Double d) {
            g.writeNumber(d);
        } else if (v instanceof Boolean b) {
            g.writeBoolean(b);
        } else if (v instanceof Number n) {
            g.writeNumber(n.longValue());
        } else if (v instanceof LocalDate d) {
            g.writeString(d.toString());
        } else {
            throw new IllegalArgumentException("no JSON for " + v.getClass());
        }
    }
}
