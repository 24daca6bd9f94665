package dev.marketpipe.bars;

import java.time.LocalTime;
import java.util.List;
import java.util.Map;

/**
 * The configurable parts of the bar rules; mirrors Python {@code udfs.bars.model.BarRules} (defaults and
 * validation included).
 */
public final class BarRules {
    /** Python {@code ROLLUPS}: rollup timeframes and their length in ns (1d is the regular session: 0). */
    static final Map<String, Long> ROLLUPS = Map.of("5m", 5 * BarEngine.MINUTE_NS, "15m", 15 * BarEngine.MINUTE_NS,
            "1h", 60 * BarEngine.MINUTE_NS, "1d", 0L);

    public final long graceMs;
    public final String emptyMinutes;
    public final String ineligibleMinutes;
    public final boolean extendedHours;
    public final LocalTime preOpen;
    public final LocalTime postClose;
    public final long closingPrintWaitMs;
    public final List<String> rollups;
    public final double outlierFraction;
    public final String unknownConditions;

    private BarRules(long graceMs, String emptyMinutes, String ineligibleMinutes, boolean extendedHours,
                     LocalTime preOpen, LocalTime postClose, long closingPrintWaitMs, List<String> rollups,
                     double outlierFraction, String unknownConditions) {
        this.graceMs = graceMs;
        this.emptyMinutes = emptyMinutes;
        this.ineligibleMinutes = ineligibleMinutes;
        this.extendedHours = extendedHours;
        this.preOpen = preOpen;
        this.postClose = postClose;
        this.closingPrintWaitMs = closingPrintWaitMs;
        this.rollups = rollups;
        this.outlierFraction = outlierFraction;
        this.unknownConditions = unknownConditions;
        validate();
    }

    /**
     * Python {@code BarRules(**rules)} with the config's {@code "rules"} object (as
     * {@code udfs.bars.config.Reference} reads it: times as ISO strings, rollups as a list).
     */
    static BarRules fromMap(Map<String, Object> m) {
        long grace = 60_000;
        String empty = "none";
        String ineligible = "previous_close";
        boolean extended = true;
        LocalTime pre = LocalTime.of(4, 0);
        LocalTime post = LocalTime.of(20, 0);
        long wait = 60_000;
        List<String> rollups = List.of("5m", "15m", "1h", "1d");
        double outlier = 0.0;
        String unknown = "volume_only";
        for (Map.Entry<String, Object> e : m.entrySet()) {
            Object v = e.getValue();
            String k = e.getKey();
            switch (k) {
                case "grace_ms": grace = Json.integer(v, k); break;
                case "empty_minutes": empty = Json.string(v, k); break;
                case "ineligible_minutes": ineligible = Json.string(v, k); break;
                case "extended_hours":
                    if (!(v instanceof Boolean)) {
                        throw new IllegalArgumentException("extended_hours must be true or false");
                    }
                    extended = (Boolean) v;
                    break;
                case "pre_open": pre = LocalTime.parse(Json.string(v, k)); break;
                case "post_close": post = LocalTime.parse(Json.string(v, k)); break;
                case "closing_print_wait_ms": wait = Json.integer(v, k); break;
                case "rollups": {
                    if (!(v instanceof List)) {
                        throw new IllegalArgumentException("rollups must be a list");
                    }
                    List<String> r = new java.util.ArrayList<>();
                    for (Object x : (List<?>) v) {
                        r.add(Json.string(x, "a rollup"));
                    }
                    rollups = List.copyOf(r);
                    break;
                }
                case "outlier_fraction": outlier = Json.number(v, k); break;
                case "unknown_conditions": unknown = Json.string(v, k); break;
                default: throw new IllegalArgumentException("unknown bar rule '" + k + "'");
            }
        }
        return new BarRules(grace, empty, ineligible, extended, pre, post, wait, rollups, outlier, unknown);
    }

    /** Python {@code BarRules.__post_init__}. */
    private void validate() {
        if (!emptyMinutes.equals("none") && !emptyMinutes.equals("flat")) {
            throw new IllegalArgumentException("empty_minutes must be 'none' or 'flat', not '" + emptyMinutes + "'");
        }
        if (!ineligibleMinutes.equals("previous_close") && !ineligibleMinutes.equals("carry")) {
            throw new IllegalArgumentException(
                    "ineligible_minutes must be 'previous_close' or 'carry', not '" + ineligibleMinutes + "'");
        }
        if (!unknownConditions.equals("volume_only") && !unknownConditions.equals("dead_letter")) {
            throw new IllegalArgumentException(
                    "unknown_conditions must be 'volume_only' or 'dead_letter', not '" + unknownConditions + "'");
        }
        if (!(0 <= outlierFraction)) {
            throw new IllegalArgumentException("outlier_fraction must be >= 0, not " + outlierFraction);
        }
        if (graceMs < 0 || closingPrintWaitMs < 0) {
            throw new IllegalArgumentException("grace_ms and closing_print_wait_ms must be >= 0");
        }
        for (String r : rollups) {
            if (!ROLLUPS.containsKey(r)) {
                throw new IllegalArgumentException("unknown rollup timeframe '" + r + "'; use [5m, 15m, 1h, 1d]");
            }
        }
    }
}
