package dev.marketpipe.bars;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Rules plus reference data, built from the job configuration; one {@link EngineContext} per symbol.
 * Mirrors Python {@code udfs.bars.config.Reference}, with the same config JSON
 * ({@code marketpipe/jobs/pipeline.py:bar_config}) plus the keys that Python
 * {@code udfs.market.calendar_export.java_config} adds:
 * <ul>
 *   <li>{@code calendar_file}: the calendar export (Java has no {@code exchange_calendars});</li>
 *   <li>{@code shipped_conditions_file}, {@code shipped_symbols_file}: the package's default tables, used
 *       where the config says null (Python's {@code ConditionTable.default()} /
 *       {@code SymbolReference.default()}; the shipped symbols table defaults to XNYS, as in Python).</li>
 * </ul>
 * Calendars are shared by the contexts of one Reference (Python shares them per process). Not
 * thread-safe: one per operator instance.
 */
public final class Reference {
    private final BarRules rules;
    private final ConditionTable conditions;
    private final Map<String, ConditionTable> feedConditions;
    private final SymbolReference symbols;
    private final Map<String, MarketCalendar> calendars = new HashMap<>();
    private final Map<String, EngineContext> contexts = new HashMap<>();

    private Reference(Map<String, Object> config) {
        Object rulesValue = config.get("rules");
        rules = BarRules.fromMap(rulesValue == null ? Map.of() : Json.object(rulesValue, "rules"));
        String shippedConditions = Json.string(config.get("shipped_conditions_file"), "shipped_conditions_file");
        Map<String, ConditionTable> loaded = new HashMap<>();
        conditions = table(Json.string(config.get("conditions_file"), "conditions_file"), shippedConditions, loaded);
        feedConditions = new LinkedHashMap<>();
        Object feeds = config.get("feed_conditions_files");
        if (feeds != null) {
            for (Map.Entry<String, Object> e : Json.object(feeds, "feed_conditions_files").entrySet()) {
                feedConditions.put(e.getKey(), table(Json.string(e.getValue(), "feed_conditions_files"),
                        shippedConditions, loaded));
            }
        }
        String symbolsFile = Json.string(config.get("symbols_file"), "symbols_file");
        String calendar = config.containsKey("calendar") ? Json.string(config.get("calendar"), "calendar") : "XNYS";
        if (symbolsFile != null && !symbolsFile.isEmpty()) {
            symbols = SymbolReference.fromCsv(symbolsFile, calendar);
        } else {
            symbols = SymbolReference.fromCsv(required(config, "shipped_symbols_file"), "XNYS");
        }
        for (MarketCalendar cal : MarketCalendar.load(required(config, "calendar_file"))) {
            if (cal.preOpen().equals(rules.preOpen) && cal.postClose().equals(rules.postClose)) {
                calendars.putIfAbsent(cal.name(), cal);
            }
        }
    }

    /** Python {@code Reference(json.loads(configJson))} (plus the Java keys above). */
    public static Reference fromJson(String configJson) {
        return fromMap(Json.object(Json.parse(configJson), "the bar config"));
    }

    /** {@link #fromJson} of an already parsed config object. */
    static Reference fromMap(Map<String, Object> config) {
        return new Reference(config);
    }

    public BarRules rules() {
        return rules;
    }

    /** Python {@code Reference.context}: the symbol's context (cached per symbol). */
    public EngineContext context(String symbol) {
        EngineContext ctx = contexts.get(symbol);
        if (ctx == null) {
            SymbolReference.Info info = symbols.lookup(symbol);
            MarketCalendar cal = calendars.get(info.calendar);
            if (cal == null) {
                throw new IllegalArgumentException("calendar '" + info.calendar + "' with pre_open " + rules.preOpen
                        + " and post_close " + rules.postClose + " is not in the calendar_file "
                        + "(udfs.market.calendar_export.write_for_config writes it)");
            }
            ctx = new EngineContext(rules, conditions, cal, info.listingExchange, feedConditions);
            contexts.put(symbol, ctx);
        }
        return ctx;
    }

    private static ConditionTable table(String path, String shipped, Map<String, ConditionTable> loaded) {
        String p = path != null && !path.isEmpty() ? path : shipped;
        if (p == null) {
            throw new IllegalArgumentException("the shipped condition table is needed: the config lacks "
                    + "shipped_conditions_file (udfs.market.calendar_export.java_config adds it)");
        }
        return loaded.computeIfAbsent(p, ConditionTable::fromCsv);
    }

    private static String required(Map<String, Object> config, String key) {
        String v = Json.string(config.get(key), key);
        if (v == null) {
            throw new IllegalArgumentException("the bar config lacks " + key
                    + " (udfs.market.calendar_export.java_config adds it)");
        }
        return v;
    }
}
