package dev.marketpipe.bars;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Mirrors Python {@code udfs.market.csvrows.read_rows}: the small reference CSV files with line
 * numbers, blank and {@code #} lines skipped, the first other line the header. Errors are
 * {@link IllegalArgumentException}s with the same {@code file:line} messages as Python's ValueError.
 */
final class CsvRows {
    /** One data row: where it is ({@code file:line}, 1-based) and {column: stripped value}. */
    static final class Row {
        final String where;
        final Map<String, String> values;

        Row(String where, Map<String, String> values) {
            this.where = where;
            this.values = values;
        }

        /** A bad value in this row: {@code file:line: message}, like the tables' Python ValueErrors. */
        IllegalArgumentException error(String message) {
            return new IllegalArgumentException(where + ": " + message);
        }

        /**
         * The value of {@code column}, which names something (a condition code, a symbol): non-empty,
         * without white space; else fails with "bad <column> '<value>'" and {@code hint}.
         */
        String name(String column, String hint) {
            String v = values.get(column);
            if (v.isEmpty() || PyText.hasSpace(v)) {
                throw error("bad " + column + " '" + v + "'" + hint);
            }
            return v;
        }
    }

    private CsvRows() {
    }

    /** Python {@code read_rows(path, required)} (collected into a list). */
    static List<Row> read(String path, List<String> required) {
        String text;
        try {
            text = Files.readString(Path.of(path), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException(path + ": cannot read: " + e, e);
        }
        if (text.startsWith("\ufeff")) {
            text = text.substring(1);
        }
        List<Row> rows = new ArrayList<>();
        List<String> header = null;
        int lineno = 0;
        for (String line : PyText.splitlines(text)) {
            lineno++;
            if (PyText.strip(line).isEmpty() || PyText.lstrip(line).startsWith("#")) {
                continue;
            }
            List<String> fields = new ArrayList<>();
            for (String f : PyText.csvFields(line)) {
                fields.add(PyText.strip(f));
            }
            if (header == null) {
                header = fields;
                List<String> missing = new ArrayList<>();
                for (String c : required) {
                    if (!header.contains(c)) {
                        missing.add(c);
                    }
                }
                if (!missing.isEmpty()) {
                    throw new IllegalArgumentException(
                            path + ":" + lineno + ": header lacks column(s) " + String.join(", ", missing));
                }
                continue;
            }
            if (fields.size() != header.size()) {
                throw new IllegalArgumentException(
                        path + ":" + lineno + ": expected " + header.size() + " fields, got " + fields.size());
            }
            Map<String, String> values = new LinkedHashMap<>();
            for (int i = 0; i < fields.size(); i++) {
                values.put(header.get(i), fields.get(i));
            }
            rows.add(new Row(path + ":" + lineno, values));
        }
        if (header == null) {
            throw new IllegalArgumentException(path + ": no header row");
        }
        return rows;
    }
}
