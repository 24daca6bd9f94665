package dev.marketpipe.bars;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Symbol to listing exchange and calendar, with a default calendar for symbols not listed; mirrors
 * Python {@code udfs.market.reference.SymbolReference}.
 */
final class SymbolReference {
    /** Python {@code SymbolInfo}: listing exchange (may be null) and calendar name. */
    static final class Info {
        final String symbol;
        final String listingExchange;
        final String calendar;

        Info(String symbol, String listingExchange, String calendar) {
            this.symbol = symbol;
            this.listingExchange = listingExchange;
            this.calendar = calendar;
        }
    }

    private static final List<String> COLUMNS = List.of("symbol", "listing_exchange", "calendar");

    private final Map<String, Info> symbols;
    private final String defaultCalendar;

    private SymbolReference(Map<String, Info> symbols, String defaultCalendar) {
        this.symbols = symbols;
        this.defaultCalendar = defaultCalendar;
    }

    /** Python {@code SymbolReference.from_csv}. */
    static SymbolReference fromCsv(String path, String defaultCalendar) {
        Map<String, Info> symbols = new HashMap<>();
        for (CsvRows.Row row : CsvRows.read(path, COLUMNS)) {
            String symbol = row.name("symbol", "");
            String exchange = row.values.get("listing_exchange");
            if (symbols.containsKey(symbol)) {
                throw row.error("duplicate symbol '" + symbol + "'");
            }
            if (!exchange.isEmpty() && exchange.codePointCount(0, exchange.length()) != 1) {
                throw row.error("listing_exchange must be one participant code letter, got '" + exchange + "'");
            }
            String calendar = row.values.get("calendar");
            symbols.put(symbol, new Info(symbol, exchange.isEmpty() ? null : exchange,
                    calendar.isEmpty() ? defaultCalendar : calendar));
        }
        return new SymbolReference(symbols, defaultCalendar);
    }

    /** Python {@code SymbolReference.lookup}: unknown symbols get no exchange and the default calendar. */
    Info lookup(String symbol) {
        Info info = symbols.get(symbol);
        return info != null ? info : new Info(symbol, null, defaultCalendar);
    }
}
