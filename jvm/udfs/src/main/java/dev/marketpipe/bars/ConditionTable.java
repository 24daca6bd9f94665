package dev.marketpipe.bars;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Sale-condition code to {@link Eligibility}, per session, with a {@code *} fallback row; mirrors
 * Python {@code udfs.market.conditions.ConditionTable} (docs/conditions.md). Not thread-safe (the
 * answer cache): one per engine context, like the Python object.
 */
public final class ConditionTable {
    static final List<String> SESSIONS = List.of("pre", "regular", "post");
    private static final String ALL = "all";
    private static final String FALLBACK = "*";
    private static final String REGULAR_SALE = "@";
    private static final List<String> COLUMNS = List.of("code", "session", "updates_open_close",
            "updates_high_low", "updates_volume", "is_opening_print", "is_closing_print", "is_official_report",
            "description");
    private static final int CACHE_LIMIT = 4096;

    private final String source;
    private final Map<String, Eligibility> rows; // key: code + '\0' + session
    private final Set<String> codes;
    private final Map<String, Map<String, Eligibility>> cache = new HashMap<>(); // session -> conditions ->
    private int cached;

    private ConditionTable(Map<String, Eligibility> rows, Set<String> codes, String source) {
        this.rows = rows;
        this.codes = codes;
        this.source = source;
        for (String s : SESSIONS) {
            cache.put(s, new HashMap<>());
        }
    }

    /** Python {@code ConditionTable.from_csv}: a bad row raises with file:line. */
    public static ConditionTable fromCsv(String path) {
        Map<String, Eligibility> rows = new HashMap<>();
        Set<String> codes = new HashSet<>();
        for (CsvRows.Row row : CsvRows.read(path, COLUMNS)) {
            String code = row.name("code", " (non-empty, no spaces)");
            String session = row.values.get("session");
            if (!session.equals(ALL) && !SESSIONS.contains(session)) {
                throw row.error("bad session '" + session + "' (all, pre, regular, post)");
            }
            String key = code + '\0' + session;
            if (rows.containsKey(key)) {
                throw row.error("duplicate row for code '" + code + "' session '" + session + "'");
            }
            boolean[] f = new boolean[6];
            for (int i = 0; i < 6; i++) {
                f[i] = parseBool(row, COLUMNS.get(i + 2));
            }
            Eligibility elig = new Eligibility(f[0], f[1], f[2], f[3], f[4], f[5]);
            if (elig.officialReport && (elig.openClose || elig.highLow || elig.volume)) {
                throw row.error("an official report ('" + code + "') may not update price or volume");
            }
            rows.put(key, elig);
            if (!code.equals(FALLBACK)) {
                codes.add(code);
            }
        }
        return new ConditionTable(rows, codes, path);
    }

    /** Where the table came from (its file). */
    public String source() {
        return source;
    }

    /** Python {@code ConditionTable.eligibility}: what a trade with these conditions may do in a session. */
    public Eligibility eligibility(String conditions, String session) {
        Map<String, Eligibility> bySession = cache.get(session);
        if (bySession == null) {
            throw new IllegalArgumentException("unknown session '" + session + "'; expected one of " + SESSIONS);
        }
        Eligibility hit = bySession.get(conditions);
        if (hit != null) {
            return hit;
        }
        Eligibility result = Eligibility.REGULAR;
        for (String code : splitCodes(conditions)) {
            result = Eligibility.combine(result, code(code, session));
        }
        if (cached >= CACHE_LIMIT) {
            for (Map<String, Eligibility> m : cache.values()) {
                m.clear();
            }
            cached = 0;
        }
        bySession.put(conditions, result);
        cached++;
        return result;
    }

    /** Python {@code ConditionTable.unknown_codes}: codes the table does not list, in order, once each. */
    public List<String> unknownCodes(String conditions) {
        Set<String> unknown = new LinkedHashSet<>();
        for (String c : splitCodes(conditions)) {
            if (!codes.contains(c)) {
                unknown.add(c);
            }
        }
        return new ArrayList<>(unknown);
    }

    /** Python {@code split_codes}: None or blank is a regular sale. */
    static List<String> splitCodes(String conditions) {
        List<String> codes = conditions == null || conditions.isEmpty() ? List.of() : PyText.split(conditions);
        return codes.isEmpty() ? List.of(REGULAR_SALE) : codes;
    }

    /** Python {@code ConditionTable._code}: the row of a code in a session, else the fallback. */
    private Eligibility code(String code, String session) {
        Eligibility found = rows.get(code + '\0' + session);
        if (found == null) {
            found = rows.get(code + '\0' + ALL);
        }
        if (found == null) {
            found = rows.get(FALLBACK + '\0' + session);
            if (found == null) {
                found = rows.get(FALLBACK + '\0' + ALL);
            }
            if (found == null) {
                found = Eligibility.VOLUME_ONLY;
            }
        }
        return found;
    }

    private static boolean parseBool(CsvRows.Row row, String column) {
        String text = row.values.get(column);
        String t = PyText.lower(text);
        if (t.equals("true")) {
            return true;
        }
        if (t.equals("false")) {
            return false;
        }
        throw row.error(column + " must be true or false, got '" + text + "'");
    }
}
